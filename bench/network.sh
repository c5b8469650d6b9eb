#!/usr/bin/env bash
# Benchmark: networking. `run --rm IMG true` on each engine's default network
# against its `--network none`, for berth, podman (CNI bridge) and docker
# (docker0 bridge); and TCP throughput through a published port (iperf3 in the
# container, the client on the host), berth against docker, side by side in
# one run. Run as root. Writes a markdown report to docs/BENCH-NETWORK.md.
#
# docker and podman run in a network namespace of their own: docker turns the
# iptables FORWARD policy to DROP, which would cut off every other engine's
# containers on the host. Their loopback, bridge and NAT paths are the same
# kernel code as the host's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine podman:podman dockerd:docker.io busybox:busybox-static iperf3:iperf3 \
  iptables:iptables -- containernetworking-plugins
out=${OUT:-docs/BENCH-NETWORK.md}
runs=${RUNS:-30}
secs=${SECS:-5}
work=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
ns=berth-bench-$$
export BERTH_ROOT=$work/berth BERTH_RUNROOT=$work/berth-run
# nsenter, not `ip netns exec`: that also remounts /sys, hiding the cgroup mounts.
peer() { nsenter --net="/run/netns/$ns" "$@"; }
cleanup() {
  set +e
  $berth ps -aq --no-trunc 2>/dev/null | xargs -r $berth rm -f >/dev/null 2>&1
  $berth system network-reset >/dev/null 2>&1
  bench_stop_dockerd "$work"
  peer podman --root "$work/podman" --runroot "$work/podman-run" system reset -f >/dev/null 2>&1
  umount -R "$work/podman" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
peer ip link set lo up

# One busybox image for everyone; /usr comes from the host read-only, for iperf3.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/usr" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
ln -s usr/lib "$work/rootfs/lib"
ln -s usr/lib64 "$work/rootfs/lib64"
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
touch "$work/rootfs/etc/hosts" "$work/rootfs/etc/hostname" "$work/rootfs/etc/resolv.conf"
tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
$berth import "$work/rootfs.tar" bench/busybox:1 >/dev/null
$berth save -o "$work/image.tar" bench/busybox:1

bench_podman_conf "$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
podman="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay"
peer $podman load -q -i "$work/image.tar" >/dev/null

# The bridge is made on first use; warm-ups cover it for every engine.
hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/berth.md" \
  -n "berth run --rm (bridge)" "$berth run --rm bench/busybox:1 true" \
  -n "berth run --rm --network none" "$berth run --rm --network none bench/busybox:1 true"
hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/podman.md" \
  -n "podman run --rm (podman bridge)" "nsenter --net=/run/netns/$ns $podman run --rm bench/busybox:1 true" \
  -n "podman run --rm --network none" "nsenter --net=/run/netns/$ns $podman run --rm --network none bench/busybox:1 true"

# Throughput through a published port: iperf3 server in the container.
throughput() { # ADDR PORT [netns] -> Gbit/s received
  local cmd=(iperf3 -c "$1" -p "$2" -t "$secs" -J)
  [[ -n ${3:-} ]] && cmd=(nsenter --net="/run/netns/$3" "${cmd[@]}")
  "${cmd[@]}" | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
wait_port() { # ADDR PORT [netns]
  for _ in $(seq 1 50); do
    if [[ -n ${3:-} ]]; then nsenter --net="/run/netns/$3" bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return; else
      bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return; fi
    sleep 0.1
  done
}
host_ip=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
$berth run -d --name iperf -p 127.0.0.1:15201:5201 -p 15202:5201 -v /usr:/usr:ro bench/busybox:1 \
  /usr/bin/iperf3 -s >/dev/null
berth_ip=$($berth inspect -f '{{.NetworkSettings.IPAddress}}' iperf)
wait_port 127.0.0.1 15201
b_lo=$(throughput 127.0.0.1 15201)
b_host=$(throughput "$host_ip" 15202)
b_direct=$(throughput "$berth_ip" 5201)
$berth rm -f iperf >/dev/null

# Docker with private state and its default bridge (on a subnet clear of berth's).
peer dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
  --host "unix://$work/docker.sock" --bip 10.199.0.1/24 >"$work/dockerd.log" 2>&1 &
export DOCKER_HOST=unix://$work/docker.sock
for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
docker load -q -i "$work/image.tar" >/dev/null
hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/docker.md" \
  -n "docker run --rm (docker0 bridge)" "docker run --rm bench/busybox:1 true" \
  -n "docker run --rm --network none" "docker run --rm --network none bench/busybox:1 true"
# A "host address" in docker's namespace (local traffic to it takes the lo path, as to the host's own).
peer ip addr add 10.198.0.1/32 dev lo
docker run -d --name iperf -p 127.0.0.1:15201:5201 -p 15202:5201 -v /usr:/usr:ro bench/busybox:1 \
  /usr/bin/iperf3 -s >/dev/null
docker_ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' iperf)
wait_port 127.0.0.1 15201 "$ns"
d_lo=$(throughput 127.0.0.1 15201 "$ns")
d_host=$(throughput 10.198.0.1 15202 "$ns")
d_direct=$(throughput "$docker_ip" 5201 "$ns")
docker rm -f iperf >/dev/null

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
{
  echo "# Benchmark: networking"
  echo
  echo "Measured by \`bench/network.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r),"
  echo "$(podman --version) (CNI bridge), $(docker version --format 'dockerd {{.Server.Version}}'), berth $($berth version --format '{{.Client.Version}}'), $(iperf3 --version | head -1 | cut -d' ' -f1-2)."
  echo "docker and podman ran in a network namespace of their own (docker sets the FORWARD policy to DROP);"
  echo "the bridge, veth and NAT work is the same kernel code there."
  echo
  echo "## Starting a container on the default network"
  echo
  echo "busybox \`true\`, $runs runs each after 3 warm-ups; each engine against its own \`--network none\`."
  echo
  cat "$work/berth.md"
  tail -n 2 "$work/podman.md"
  tail -n 2 "$work/docker.md"
  echo
  echo "## TCP throughput through a published port"
  echo
  echo "iperf3 server in the container (\`-p 127.0.0.1:15201:5201 -p 15202:5201\`), client on the host, $secs s, one stream."
  echo
  echo "| path | berth Gbit/s | docker Gbit/s | berth / docker |"
  echo "|:---|---:|---:|---:|"
  echo "| 127.0.0.1:15201 (docker: docker-proxy) | $b_lo | $d_lo | $(ratio "$b_lo" "$d_lo") |"
  echo "| host address:15202 (NAT on both) | $b_host | $d_host | $(ratio "$b_host" "$d_host") |"
  echo "| container address:5201 (no NAT, for reference) | $b_direct | $d_direct | $(ratio "$b_direct" "$d_direct") |"
} > "$out"
cat "$out"
