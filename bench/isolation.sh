#!/usr/bin/env bash
# Benchmark: what berth's isolation costs at start. `berth run --rm` and
# `berth exec` (both run from the sealed view of the binary; run also mounts
# the cgroup hierarchies read-only) beside `crun run` and `runc run` of the
# very bundle berth generates. OLD=/path/to/an/earlier/berth adds that build's
# rows, for a before/after in the same run. Prints a markdown table of medians.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine runc:runc crun:crun busybox:busybox-static
runs=${RUNS:-60}
work=$(mktemp -d /tmp/berth-bench-isolation.XXXXXX)
run=$work/run
mkdir -p "$run" && mount -t tmpfs tmpfs "$run"
declare -A bins=([berth]=$berth)
[[ -n ${OLD:-} ]] && bins[old]=$OLD
as() { env BERTH_ROOT="$work/$1" BERTH_RUNROOT="$run/$1" "${bins[$1]}" "${@:2}"; }
cleanup() {
  set +e
  for v in "${!bins[@]}"; do as "$v" ps -aq --no-trunc | xargs -r env BERTH_ROOT="$work/$v" BERTH_RUNROOT="$run/$v" "${bins[$v]}" rm -f >/dev/null; done
  umount -R "$run"
  for d in /sys/fs/cgroup/*/berth-bench; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

bench_bundle_rootfs "$work"
for v in "${!bins[@]}"; do
  as "$v" import "$work/rootfs.tar" bench/busybox:1 >/dev/null
  as "$v" run -d --name sleeper --network none bench/busybox:1 sleep 1000 >/dev/null
done

# runc and crun run berth's own spec for the container, on a copy of its root filesystem.
BERTH_ROOT=$work/berth BERTH_RUNROOT=$run/berth bench_bundle_spec "$work"

# crun refuses this machine's hybrid cgroups: it runs where the cgroup2 mount is gone (see run.sh).
unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; \
  hyperfine -N --warmup 3 --runs $runs --export-json $work/crun.json \
  -n 'crun run' 'crun --root $run/crun run -b $work/bundle c1'" >/dev/null
commands=(-n "runc run" "runc --root $run/runc run -b $work/bundle r1")
for v in "${!bins[@]}"; do
  env="env BERTH_ROOT=$work/$v BERTH_RUNROOT=$run/$v ${bins[$v]}"
  commands+=(-n "$v run --rm" "$env run --rm --network none bench/busybox:1 true")
  commands+=(-n "$v exec" "$env exec sleeper true")
done
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/rest.json" "${commands[@]}" >/dev/null

python3 - "$work/crun.json" "$work/rest.json" <<'PY'
import json, sys
print("| command | median | mean |")
print("| --- | ---: | ---: |")
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        print(f"| {r['command']} | {r['median'] * 1000:.1f} ms | {r['mean'] * 1000:.1f} ms |")
PY
