# Set-up shared by the bench scripts; each sources it after `set -euo pipefail`.
# Run as root on Debian.

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

# bench_need TOOL:PACKAGE... [-- EXTRA_PACKAGE...]: installs every package
# (and the extras) when any tool is missing, then builds berth; sets $berth.
bench_need() {
  local missing=0 packages=() spec
  while (($#)) && [[ $1 != -- ]]; do
    spec=$1; shift
    command -v "${spec%%:*}" >/dev/null || missing=1
    packages+=("${spec#*:}")
  done
  [[ ${1:-} == -- ]] && shift
  packages+=("$@")
  if ((missing)); then
    apt-get update -q
    apt-get install -y -q "${packages[@]}"
  fi
  cargo build --release --locked
  berth=$PWD/target/release/berth
}

# bench_busybox_image DIR NAME APPLET...: a root filesystem of the host's
# static busybox with those applets (plus an /etc/passwd) in DIR/rootfs,
# imported into berth as NAME and saved as DIR/image.tar for the other engines.
bench_busybox_image() {
  local dir=$1 name=$2 applet
  shift 2
  mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc" "$dir/rootfs/tmp"
  cp /bin/busybox "$dir/rootfs/bin/"
  for applet in "$@"; do ln -s busybox "$dir/rootfs/bin/$applet"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/rootfs/etc/passwd"
  tar --numeric-owner -C "$dir/rootfs" -cf "$dir/rootfs.tar" .
  $berth import "$dir/rootfs.tar" "$name" >/dev/null
  $berth save -o "$dir/image.tar" "$name"
}

# bench_dockerd WORK EXEC_ROOT: a private dockerd (state in WORK/docker, no
# networking of its own); exports DOCKER_HOST and waits for it to answer.
bench_dockerd() {
  dockerd --data-root "$1/docker" --exec-root "$2" --pidfile "$1/docker.pid" \
    --host "unix://$1/docker.sock" --iptables=false --ip6tables=false --bridge=none \
    >"$1/dockerd.log" 2>&1 &
  export DOCKER_HOST=unix://$1/docker.sock
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
}

# bench_stop_dockerd WORK: stops it and unmounts what it left.
bench_stop_dockerd() {
  if [[ -f $1/docker.pid ]] && kill "$(cat "$1/docker.pid")" 2>/dev/null; then sleep 2; fi
  umount -R "$1/docker" 2>/dev/null || true
}

# bench_bundle_rootfs WORK: one busybox root filesystem for every engine, in
# WORK/bundle/rootfs, and as WORK/rootfs.tar for `berth import`.
bench_bundle_rootfs() {
  local work=$1 a
  mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/etc"
  cp /bin/busybox "$work/bundle/rootfs/bin/"
  for a in sh true sleep; do ln -s busybox "$work/bundle/rootfs/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$work/bundle/rootfs/etc/passwd"
  touch "$work/bundle/rootfs/etc/hosts" "$work/bundle/rootfs/etc/hostname" "$work/bundle/rootfs/etc/resolv.conf"
  tar --numeric-owner -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
}

# bench_bundle_spec WORK: the OCI bundle for runc and crun, WORK/bundle/config.json:
# the very spec $berth generates for bench/busybox:1 (Docker's capabilities,
# seccomp profile, masked paths and mounts; $BERTH_ROOT and $BERTH_RUNROOT set),
# running `true` on the plain copy of the root filesystem.
bench_bundle_spec() {
  local work=$1 probe
  probe=$($berth run -d --network none bench/busybox:1 sleep 1000)
  cp "$BERTH_ROOT/containers/$probe/"{hosts,hostname,resolv.conf} "$work/"
  python3 - "$BERTH_RUNROOT/containers/$probe/bundle/config.json" "$work" <<'PY'
import json, sys
spec, work = json.load(open(sys.argv[1])), sys.argv[2]
spec["process"]["args"] = ["true"]
spec["root"]["path"] = f"{work}/bundle/rootfs"
for m in spec["mounts"]:
    if m["destination"] in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
        m["source"] = f"{work}/{m['destination'].rsplit('/', 1)[1]}"
spec["linux"]["cgroupsPath"] = "/berth-bench/oci"
json.dump(spec, open(f"{work}/bundle/config.json", "w"))
PY
  $berth rm -f "$probe" >/dev/null
}

# bench_podman_conf FILE: Podman's settings for the benches: cgroupfs and file events (this host has
# no systemd), runc, and small ulimits (Podman's defaults ask for more than this machine's nofile hard
# limit and runc then fails; they do not affect timing).
bench_podman_conf() {
  mkdir -p "$(dirname "$1")"
  cat > "$1" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF
}
