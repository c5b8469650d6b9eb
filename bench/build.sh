#!/usr/bin/env bash
# Benchmark: `build` of a small multi-step Dockerfile (RUN, COPY of a 2000-file tree, ENV, CMD),
# berth against docker's classic builder (Debian's docker.io, DOCKER_BUILDKIT=0), side by side in one
# run: a rebuild where nothing changed (all cache hits), and a rebuild after one copied file changed.
# Run as root. Writes a markdown report to docs/BENCH-BUILD.md (or $OUT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine dockerd:docker.io busybox:busybox-static
out=${OUT:-docs/BENCH-BUILD.md}
runs=${RUNS:-10}
work=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
export BERTH_ROOT=$work/berth BERTH_RUNROOT=$work/berth-run
cleanup() {
  set +e
  bench_stop_dockerd "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# The base image, in both engines.
bench_busybox_image "$work" bench/base:1 sh true cat echo mkdir

# The context: 2000 small files and a Dockerfile.
ctx=$work/ctx
mkdir -p "$ctx/src"
for i in $(seq 1 2000); do echo "file $i" > "$ctx/src/f$i.txt"; done
cat > "$ctx/Dockerfile" <<'EOF'
FROM bench/base:1
ENV APP=/app
RUN mkdir -p /app && echo built > /app/stamp
COPY src /app/src
RUN cat /app/src/f1.txt > /app/first
CMD ["cat", "/app/first"]
EOF

bench_dockerd "$work" "$work/docker-exec"
export DOCKER_BUILDKIT=0
docker load -q -i "$work/image.tar" >/dev/null

# Warm both caches, then time rebuilds with nothing changed.
$berth build -q --network none -t bench/app:1 "$ctx" >/dev/null
docker build -q --network none -t bench/app:1 "$ctx" >/dev/null
hyperfine -N --warmup 2 --runs "$runs" --export-markdown "$work/cached.md" \
  -n "berth build (all cached)" "$berth build -q --network none -t bench/app:1 $ctx" \
  -n "docker build (classic, all cached)" "docker build -q --network none -t bench/app:1 $ctx"

# One copied file changes before every run: the COPY and the steps after it run again.
hyperfine -N --warmup 1 --runs "$runs" --export-markdown "$work/changed.md" \
  --prepare "sh -c 'date +%s%N > $ctx/src/f1.txt'" \
  -n "berth build (one file changed)" "$berth build -q --network none -t bench/app:1 $ctx" \
  --prepare "sh -c 'date +%s%N > $ctx/src/f1.txt'" \
  -n "docker build (classic, one file changed)" "docker build -q --network none -t bench/app:1 $ctx"

{
  echo "# Benchmark: build"
  echo
  echo "Measured by \`bench/build.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r),"
  echo "$(docker version --format 'dockerd {{.Server.Version}}') (classic builder, DOCKER_BUILDKIT=0), berth $($berth version --format '{{.Client.Version}}')."
  echo "Dockerfile: FROM, ENV, RUN, COPY of 2000 files, RUN, CMD; RUN steps with --network none on both."
  echo
  echo "## Rebuild, nothing changed"
  echo
  cat "$work/cached.md"
  echo
  echo "## Rebuild, one copied file changed (COPY and the RUN after it run again)"
  echo
  cat "$work/changed.md"
} > "$out"
cat "$out"
