#!/usr/bin/env bash
# Benchmark: what crash safety costs on the paths it changed (issue 14), and how long `system check`
# takes. Each berth runs on its own data root: `run -d -p` then `rm -f` (ports recorded before they
# are published, tagged veth and rules, the start lock held by the monitor), `run --rm` on the
# default network, `network create` then `rm` (record before bridge, bridge before record), and
# `system check` of a root with the busybox image, 20 stopped containers and 2 running ones.
# OLD=/path/to/an/earlier/berth adds that build's rows for a before/after in the same run
# (`system check` has no before). Prints a markdown table of medians.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine busybox:busybox-static
runs=${RUNS:-30}
work=$(mktemp -d /tmp/berth-bench-crash.XXXXXX)
run=$work/run
mkdir -p "$run" && mount -t tmpfs tmpfs "$run"
declare -A bins=([berth]=$berth)
[[ -n ${OLD:-} ]] && bins[old]=$OLD
# Each build runs from a copy in a directory of its own, beside its shim: berth runs from a sealed
# view of its binary's directory, and that costs ~5 ms more from target/release than from a small one.
for v in "${!bins[@]}"; do
  mkdir -p "$work/bin-$v"
  cp "${bins[$v]}" "$(dirname "${bins[$v]}")/berth-shim" "$work/bin-$v/"
  bins[$v]=$work/bin-$v/berth
done
as() { env BERTH_ROOT="$work/$1" BERTH_RUNROOT="$run/$1" "${bins[$1]}" "${@:2}"; }
cleanup() {
  set +e
  for v in "${!bins[@]}"; do
    as "$v" ps -aq --no-trunc | xargs -r env BERTH_ROOT="$work/$v" BERTH_RUNROOT="$run/$v" "${bins[$v]}" rm -f >/dev/null
    as "$v" system network-reset >/dev/null 2>&1
  done
  umount -R "$run"
  rm -rf "$work"
}
trap cleanup EXIT

bench_bundle_rootfs "$work"
commands=()
for v in "${!bins[@]}"; do
  as "$v" import "$work/rootfs.tar" bench/busybox:1 >/dev/null
  # The default network exists before the timing starts.
  as "$v" run --rm bench/busybox:1 true
  env="env BERTH_ROOT=$work/$v BERTH_RUNROOT=$run/$v ${bins[$v]}"
  commands+=(-n "$v run -d -p, rm -f" "sh -c '$env rm -f \$($env run -d -p 80 bench/busybox:1 sleep 100) >/dev/null'")
  commands+=(-n "$v run --rm (bridge)" "$env run --rm bench/busybox:1 true")
  commands+=(-n "$v network create, rm" "sh -c '$env network create benchnet >/dev/null && $env network rm benchnet >/dev/null'")
done
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/ops.json" "${commands[@]}" >/dev/null

for i in $(seq 1 20); do as berth run --network none bench/busybox:1 true; done
for i in 1 2; do as berth run -d -p 80 bench/busybox:1 sleep 1000 >/dev/null; done
hyperfine -N --warmup 2 --runs 10 --export-json "$work/check.json" \
  -n "berth system check" "env BERTH_ROOT=$work/berth BERTH_RUNROOT=$run/berth ${bins[berth]} system check" >/dev/null

python3 - "$work/ops.json" "$work/check.json" <<'PY'
import json, sys
print("| command | median | mean |")
print("| --- | ---: | ---: |")
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        print(f"| {r['command']} | {r['median'] * 1000:.1f} ms | {r['mean'] * 1000:.1f} ms |")
PY
