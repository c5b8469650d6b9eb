#!/usr/bin/env bash
# Benchmark: pulling an image from a registry on loopback (Debian's docker-registry), berth against
# `docker pull` (Debian's docker.io), `podman pull` and `skopeo copy` to a plain OCI layout, side by
# side in one run; and pushing it to an empty registry, berth against docker and skopeo.
# Each pull starts from an empty store (every engine's image removed before each run).
# Run as root. Writes a markdown report to docs/BENCH-PULL.md (or $OUT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine podman:podman dockerd:docker.io skopeo:skopeo docker-registry:docker-registry \
  busybox:busybox-static
out=${OUT:-docs/BENCH-PULL.md}
runs=${RUNS:-5}
work=$(mktemp -d /tmp/berth-bench-pull.XXXXXX)
export BERTH_ROOT=$work/berth BERTH_RUNROOT=$work/berth-run
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
cleanup() {
  set +e
  [[ -n ${registry_pid:-} ]] && kill "$registry_pid" 2>/dev/null
  [[ -n ${registry2_pid:-} ]] && kill "$registry2_pid" 2>/dev/null
  bench_stop_dockerd "$work"
  podman --root "$work/podman" --runroot "$work/podman-run" system reset -f >/dev/null 2>&1
  umount -R "$work/podman" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: $reg
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# The image: busybox plus three layers of random data and text (about 190 MB unpacked, 6000 files).
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/"
ln -s busybox "$work/rootfs/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
$berth import "$work/rootfs.tar" bench/base:1 >/dev/null
$berth run --name l1 bench/base:1 sh -c 'head -c 80000000 /dev/urandom > /random1' >/dev/null
$berth commit l1 bench/l1:1 >/dev/null
$berth run --name l2 bench/l1:1 sh -c 'head -c 60000000 /dev/urandom > /random2' >/dev/null
$berth commit l2 bench/l2:1 >/dev/null
$berth run --name l3 bench/l2:1 sh -c 'mkdir /text; i=0; while [ $i -lt 6000 ]; do seq $i $((i+800)) > /text/f$i; i=$((i+1)); done' >/dev/null
$berth commit l3 "$reg/bench/image:1" >/dev/null
$berth rm -f l1 l2 l3 >/dev/null
# berth gzips a plain tar layer once, at its first push, and keeps the gzip blob: time that first push.
TIMEFORMAT=%R
first_push=$( { time $berth push -q "$reg/bench/image:1" >/dev/null; } 2>&1 )
size=$($berth image inspect -f '{{.Size}}' "$reg/bench/image:1")

# berth: a fresh data root for every pull.
hyperfine -N --warmup 1 --runs "$runs" --export-markdown "$work/berth.md" \
  --prepare "sh -c 'rm -rf $work/fresh'" \
  -n "berth pull" "env BERTH_ROOT=$work/fresh BERTH_RUNROOT=$work/fresh-run $berth pull -q $reg/bench/image:1"

podman="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay"
hyperfine -N --warmup 1 --runs "$runs" --export-markdown "$work/podman.md" \
  --prepare "sh -c '$podman rmi -af >/dev/null 2>&1; true'" \
  -n "podman pull" "$podman pull -q --tls-verify=false $reg/bench/image:1" \
  --prepare "rm -rf $work/oci" \
  -n "skopeo copy to oci: (no unpacking)" "skopeo copy -q --src-tls-verify=false docker://$reg/bench/image:1 oci:$work/oci:1"

bench_dockerd "$work" "$work/docker-exec"
hyperfine -N --warmup 1 --runs "$runs" --export-markdown "$work/docker.md" \
  --prepare "sh -c 'docker rmi -f $reg/bench/image:1 >/dev/null 2>&1; docker image prune -af >/dev/null 2>&1; true'" \
  -n "docker pull" "docker pull -q $reg/bench/image:1"

# Push to a second, empty registry each time: nothing to skip and nothing to mount.
port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg2=127.0.0.1:$port2
sed -e "s|$work/registry|$work/registry2|" -e "s|$reg|$reg2|" "$work/registry.yml" > "$work/registry2.yml"
docker-registry serve "$work/registry2.yml" >"$work/registry2.log" 2>&1 &
registry2_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port2") 2>/dev/null && break; sleep 0.1; done
docker tag "$reg/bench/image:1" "$reg2/bench/image:1" >/dev/null
$berth tag "$reg/bench/image:1" "$reg2/bench/image:1"
wipe="rm -rf $work/registry2"
hyperfine -N --warmup 1 --runs "$runs" --export-markdown "$work/push.md" \
  --prepare "$wipe" -n "berth push" "$berth push -q $reg2/bench/image:1" \
  --prepare "$wipe" -n "docker push" "docker push -q $reg2/bench/image:1" \
  --prepare "$wipe" -n "skopeo copy oci: -> registry" "skopeo copy -q --dest-tls-verify=false oci:$work/oci:1 docker://$reg2/bench/image:1"
kill "$registry2_pid"

{
  echo "# Benchmark: pull and push"
  echo
  echo "Measured by \`bench/pull.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r),"
  echo "$(docker version --format 'dockerd {{.Server.Version}}'), $(podman --version), $(skopeo --version), berth $($berth version --format '{{.Client.Version}}'),"
  echo "registry: Debian's docker-registry on 127.0.0.1. Image: 4 layers, $((size / 1000000)) MB unpacked (160 MB random, 6000 text files)."
  echo "$runs runs each after a warm-up; every pull starts with the image (and its layers) removed."
  echo
  echo "## pull"
  echo
  cat "$work/berth.md"
  tail -n 2 "$work/podman.md"
  tail -n 1 "$work/docker.md"
  echo
  echo "## push (to an empty registry)"
  echo
  echo "The layers are plain tar (made by \`berth commit\`): docker gzips them on every push; berth gzips them"
  echo "once, at the first push (${first_push} s, to the registry the pulls use), keeping the gzip blobs; skopeo sends them as they are."
  echo
  cat "$work/push.md"
} > "$out"
cat "$out"
