#!/usr/bin/env bash
# Benchmark: what a user namespace of its own costs a container start. `berth run --rm IMG true`
# with --userns=host and --userns=auto, and Podman's (Debian's podman, as root, runc) with the same
# two modes, side by side in one run, with no network and with each engine's default bridge.
# Run as root. Writes a markdown report to docs/BENCH-USERNS.md (or $OUT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine podman:podman busybox:busybox-static
out=${OUT:-docs/BENCH-USERNS.md}
runs=${RUNS:-30}
work=$(mktemp -d /tmp/berth-bench-userns.XXXXXX)
# --userns=auto: the containers' unprivileged root must be able to reach their files.
chmod 755 "$work"
run=$work/run
mkdir -p "$run" && mount -t tmpfs tmpfs "$run"
export BERTH_ROOT=$work/berth BERTH_RUNROOT=$run/berth
# Podman's --userns=auto takes its ranges from the `containers` user's subordinate ids.
subid_line="containers:3000000000:65536000"
for f in /etc/subuid /etc/subgid; do touch "$f"; grep -qx "$subid_line" "$f" || echo "$subid_line" >> "$f"; done
cleanup() {
  set +e
  $berth ps -aq --no-trunc 2>/dev/null | xargs -r $berth rm -f >/dev/null 2>&1
  $berth system network-reset >/dev/null 2>&1
  podman --root "$work/podman" --runroot "$run/podman" system reset -f >/dev/null 2>&1
  umount -R "$work/podman" 2>/dev/null
  umount -R "$run" 2>/dev/null
  for f in /etc/subuid /etc/subgid; do sed -i "\|^$subid_line\$|d" "$f"; done
  rm -rf "$work"
}
trap cleanup EXIT

bench_busybox_image "$work" bench/busybox:1 sh true
bench_podman_conf "$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
podman="podman --root $work/podman --runroot $run/podman --storage-driver overlay"
$podman load -q -i "$work/image.tar" >/dev/null

hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/none.md" --export-json "$work/none.json" \
  -n "berth --userns=host --network none" "$berth run --rm --userns=host --network none bench/busybox:1 true" \
  -n "berth --userns=auto --network none" "$berth run --rm --userns=auto --network none bench/busybox:1 true" \
  -n "podman --userns=host --network none" "$podman run --rm --userns=host --network none bench/busybox:1 true" \
  -n "podman --userns=auto --network none" "$podman run --rm --userns=auto --network none bench/busybox:1 true"
hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/bridge.md" --export-json "$work/bridge.json" \
  -n "berth --userns=host (bridge)" "$berth run --rm --userns=host bench/busybox:1 true" \
  -n "berth --userns=auto (bridge)" "$berth run --rm --userns=auto bench/busybox:1 true"

{
  echo "# Benchmark: the cost of a user namespace (--userns=auto)"
  echo
  echo "Measured by \`bench/userns.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r),"
  echo "$(podman --version) (runc), berth $($berth version --format '{{.Client.Version}}')."
  echo "Each runs busybox \`true\` with \`run --rm\`; $runs runs each after 3 warm-ups."
  echo "With --userns=auto, berth makes a user namespace over the container's range and the network"
  echo "namespace inside it, and mounts the image layers through idmapped clones (no copy, no chown);"
  echo "Podman makes its own user namespace; how its storage gives the image's files the range (idmapped"
  echo "mounts, or a chowned copy made once per range and kept) is its own, and the warm-up runs cover it."
  echo
  echo "Without a network:"
  echo
  cat "$work/none.md"
  echo
  echo "On the default bridge network (a veth per container):"
  echo
  cat "$work/bridge.md"
  echo
  python3 - "$work/none.json" "$work/bridge.json" <<'PY'
import json, sys
median = {}
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        median[r["command"]] = r["median"] * 1000
def cost(host, auto):
    return median[auto] - median[host], median[auto] / median[host]
print("| median | --userns=host ms | --userns=auto ms | cost of the user namespace |")
print("| --- | ---: | ---: | ---: |")
for label, host, auto in [
    ("berth, no network", "berth --userns=host --network none", "berth --userns=auto --network none"),
    ("berth, bridge", "berth --userns=host (bridge)", "berth --userns=auto (bridge)"),
    ("podman, no network", "podman --userns=host --network none", "podman --userns=auto --network none"),
]:
    d, r = cost(host, auto)
    print(f"| {label} | {median[host]:.1f} | {median[auto]:.1f} | {d:+.1f} ms ({r:.2f}x) |")
b = median["berth --userns=auto --network none"]
p = median["podman --userns=auto --network none"]
print()
print(f"berth --userns=auto is {p / b:.1f}x faster than podman --userns=auto (no network).")
PY
} > "$out"
cat "$out"
