#!/usr/bin/env bash
# Benchmark: starting a container. `berth run --rm --network none IMG true`
# against `runc run` and `crun run` of the same bundle, `podman run` and
# `docker run` (Debian's podman and docker.io), side by side in one run.
# Also: the idle monitor's RSS and `berth ps` with 200 running containers.
# Run as root. Writes a markdown report to docs/BENCH-RUN.md (or $OUT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine runc:runc crun:crun podman:podman dockerd:docker.io busybox:busybox-static
out=${OUT:-docs/BENCH-RUN.md}
runs=${RUNS:-30}
many=${MANY:-200}
work=$(mktemp -d /tmp/berth-bench-run.XXXXXX)
# Data roots on disk, run roots on a tmpfs: each engine's default layout
# (/var/lib/... and /run/...). On this host's ext4, mounted with `discard`,
# every file removed under a disk run root would wait for a discard.
run=$work/run
mkdir -p "$run" && mount -t tmpfs tmpfs "$run"
export BERTH_ROOT=$work/berth BERTH_RUNROOT=$run/berth
cleanup() {
  set +e
  $berth ps -aq --no-trunc 2>/dev/null | xargs -r $berth rm -f >/dev/null 2>&1
  bench_stop_dockerd "$work"
  podman --root "$work/podman" --runroot "$run/podman" system reset -f >/dev/null 2>&1
  umount -R "$work/podman" 2>/dev/null
  umount -R "$run" 2>/dev/null
  # runc and crun leave the parent of the bundle's cgroup behind.
  for d in /sys/fs/cgroup/*/berth-bench; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# One busybox root filesystem for everyone, and the bundle runc and crun run.
bench_bundle_rootfs "$work"
$berth import "$work/rootfs.tar" bench/busybox:1 >/dev/null
$berth save -o "$work/image.tar" bench/busybox:1
bench_bundle_spec "$work"

# Podman with private state.
bench_podman_conf "$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
podman="podman --root $work/podman --runroot $run/podman --storage-driver overlay"
$podman load -q -i "$work/image.tar" >/dev/null

# crun refuses a hybrid cgroup layout (cgroup2 mounted with a controller on
# it), as this machine has: it runs in a private mount namespace where the
# cgroup2 mount is gone, which changes nothing else about the run.
crun_bench() {
  unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; \
    hyperfine -N --warmup 3 --runs $runs --export-markdown $work/crun.md --export-json $work/crun.json \
    -n 'crun run' 'crun --root $run/crun run -b $work/bundle c1'"
}
crun_bench

hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/run.md" --export-json "$work/run.json" \
  -n "berth run --rm --network none" "$berth run --rm --network none bench/busybox:1 true" \
  -n "runc run" "runc --root $run/runc run -b $work/bundle r1" \
  -n "podman run --rm --network none" "$podman run --rm --network none bench/busybox:1 true"

# dockerd only now, so an idle daemon does not disturb the others.
# Docker with private state, no networking of its own.
bench_dockerd "$work" "$run/docker"
docker load -q -i "$work/image.tar" >/dev/null
hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/docker.md" --export-json "$work/docker.json" \
  -n "docker run --rm --network none" "docker run --rm --network none bench/busybox:1 true"

# The idle monitor: RSS of the process that holds a detached container.
id=$($berth run -d --network none bench/busybox:1 sleep 1000)
sleep 0.5
pid=$($berth inspect --format '{{.State.Pid}}' "$id")
monitor=$(awk '{print $4}' "/proc/$pid/stat")
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$monitor/status")
pss_kb=$(awk '/^Pss:/ {print $2}' "/proc/$monitor/smaps_rollup")
$berth rm -f "$id" >/dev/null

# `ps` with many running containers.
echo "starting $many containers..."
for i in $(seq 1 "$many"); do $berth run -d --network none bench/busybox:1 sleep 1000 >/dev/null; done
hyperfine -N --warmup 2 --runs 10 --export-markdown "$work/ps.md" -n "berth ps ($many running)" "$berth ps"

{
  echo "# Benchmark: starting containers"
  echo
  echo "Measured by \`bench/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r),"
  echo "$(runc --version | head -1), $(crun --version | head -1), $(podman --version), $(docker version --format 'dockerd {{.Server.Version}}'), berth $($berth version --format '{{.Client.Version}}')."
  echo "Each runs busybox \`true\` from the same root filesystem; $runs runs each after 3 warm-ups."
  echo "runc and crun run the OCI bundle berth generates for that container (Docker's capabilities, seccomp"
  echo "profile, masked paths), so they do the same isolation work; berth's time also covers creating the"
  echo "container record, the overlay mount, the monitor, the log and removing everything again (--rm)."
  echo "Every engine keeps its data root on the disk (ext4, \`$(findmnt -no OPTIONS -T "$work" 2>/dev/null || echo '?')\`) and its run root on a tmpfs."
  echo
  cat "$work/run.md"
  tail -n 1 "$work/crun.md"
  tail -n 1 "$work/docker.md"
  echo
  # The targets, on medians (robust to this VM's occasional slow run).
  python3 - "$work/run.json" "$work/crun.json" "$work/docker.json" <<'PY'
import json, sys
median = {}
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        median[r["command"].split()[0]] = r["median"] * 1000
b = median["berth"]
print("| median | ms | compared with berth |")
print("| --- | ---: | ---: |")
print(f"| berth | {b:.1f} | 1 |")
print(f"| crun | {median['crun']:.1f} | berth takes {b / median['crun']:.2f}x crun's time (target: under 2x) |")
print(f"| runc | {median['runc']:.1f} | berth {median['runc'] / b:.1f}x faster |")
for name in ("podman", "docker"):
    print(f"| {name} | {median[name]:.1f} | berth {median[name] / b:.1f}x faster (target: 10x) |")
PY
  echo
  echo "crun ran in a private mount namespace without the cgroup2 mount (it refuses this machine's hybrid layout otherwise)."
  echo "cgroup2 mount: \`$(grep -m1 ' cgroup2 ' /proc/mounts || echo none)\` (favordynmods makes every runtime's cgroup.procs"
  echo "write ~8 ms faster; once set it stays in effect until reboot even if the mount stops listing it)."
  echo "crun and docker were timed in runs of their own (docker with its daemon started only then):"
  echo "their Relative column is relative to themselves; compare the means."
  echo
  echo "Idle monitor of a detached container: VmRSS ${rss_kb} kB, PSS ${pss_kb} kB (pages shared with other berth processes counted once)."
  echo
  cat "$work/ps.md"
} > "$out"
cat "$out"
