#!/usr/bin/env bash
# Benchmark: `build` of a small multi-step Dockerfile (RUN, COPY of a 2000-file tree, ENV, CMD),
# berth against docker's classic builder (Debian's docker.io, DOCKER_BUILDKIT=0), side by side in one
# run: a rebuild where nothing changed (all cache hits), and a rebuild after one copied file changed.
# Run as root. Writes a markdown report to docs/BENCH-BUILD.md (or $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
for tool in hyperfine dockerd busybox; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
  apt-get update -q
  apt-get install -y -q hyperfine docker.io busybox-static
fi
cargo build --release --locked
berth=$PWD/target/release/berth
out=${OUT:-docs/BENCH-BUILD.md}
runs=${RUNS:-10}
work=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
export BERTH_ROOT=$work/berth BERTH_RUNROOT=$work/berth-run
cleanup() {
  set +e
  [[ -f $work/docker.pid ]] && kill "$(cat "$work/docker.pid")" 2>/dev/null && sleep 2
  umount -R "$work/docker" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The base image, in both engines.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true cat echo mkdir; do ln -s busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
$berth import "$work/rootfs.tar" bench/base:1 >/dev/null
$berth save -o "$work/base.tar" bench/base:1

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

dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
  --host "unix://$work/docker.sock" --iptables=false --ip6tables=false --bridge=none \
  >"$work/dockerd.log" 2>&1 &
export DOCKER_HOST=unix://$work/docker.sock DOCKER_BUILDKIT=0
for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
docker load -q -i "$work/base.tar" >/dev/null

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
