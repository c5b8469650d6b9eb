#!/usr/bin/env bash
# Benchmark: `cp` into and out of a container and `commit` of a ~100 MB
# tree, berth against docker (Debian's docker.io), side by side in one run.
# Run as root. Writes a markdown report to docs/BENCH-DATA.md (or $OUT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine dockerd:docker.io busybox:busybox-static
out=${OUT:-docs/BENCH-DATA.md}
runs=${RUNS:-5}
work=$(mktemp -d /tmp/berth-bench-data.XXXXXX)
export BERTH_ROOT=$work/berth BERTH_RUNROOT=$work/berth-run
cleanup() {
  set +e
  $berth ps -aq --no-trunc 2>/dev/null | xargs -r $berth rm -f >/dev/null 2>&1
  bench_stop_dockerd "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# A busybox image, in both engines.
bench_busybox_image "$work" bench/busybox:1 sh true sleep
bench_dockerd "$work" "$work/docker-exec"
docker load -q -i "$work/image.tar" >/dev/null

# The tree: 20 files of 4 MB and 2000 of 8 kB (about 100 MB).
mkdir -p "$work/tree/big" "$work/tree/small"
for i in $(seq 1 20); do head -c 4M /dev/urandom > "$work/tree/big/f$i"; done
for i in $(seq 1 2000); do head -c 8192 /dev/urandom > "$work/tree/small/f$i"; done
size=$(du -sm "$work/tree" | cut -f1)

b=$($berth create --network none bench/busybox:1 sleep 1000)
d=$(docker create --network none bench/busybox:1 sleep 1000)
$berth cp "$work/tree" "$b:/tree"
docker cp "$work/tree" "$d:/tree"

hyperfine --warmup 1 --runs "$runs" --export-markdown "$work/cp-in.md" \
  -n "berth cp DIR CTR:" "$berth cp $work/tree $b:/tree-in" \
  -n "docker cp DIR CTR:" "docker cp $work/tree $d:/tree-in"
hyperfine --warmup 1 --runs "$runs" --export-markdown "$work/cp-out.md" \
  --prepare "rm -rf $work/out-b" -n "berth cp CTR: DIR" "$berth cp $b:/tree $work/out-b" \
  --prepare "rm -rf $work/out-d" -n "docker cp CTR: DIR" "docker cp $d:/tree $work/out-d"
hyperfine --warmup 1 --runs "$runs" --export-markdown "$work/commit.md" \
  --prepare "$berth rmi -f committed:1 >/dev/null 2>&1 || true" -n "berth commit" "$berth commit $b committed:1" \
  --prepare "docker rmi -f committed:1 >/dev/null 2>&1 || true" -n "docker commit" "docker commit $d committed:1"

{
  echo "# Benchmark: cp and commit"
  echo
  echo "Measured by \`bench/data.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r),"
  echo "$(docker version --format 'dockerd {{.Server.Version}}'), berth $($berth version --format '{{.Client.Version}}')."
  echo "Tree: ${size} MB (20 files of 4 MB, 2000 of 8 kB); stopped containers; $runs runs each."
  echo "The container holds the tree twice (/tree and /tree-in) when commit runs."
  echo
  echo "## cp into a container"
  echo
  cat "$work/cp-in.md"
  echo
  echo "## cp out of a container"
  echo
  cat "$work/cp-out.md"
  echo
  echo "## commit"
  echo
  cat "$work/commit.md"
} > "$out"
cat "$out"
