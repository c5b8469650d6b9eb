#!/usr/bin/env bash
# Benchmark: `load` and `save` of a ~200 MB multi-layer image, berth against
# docker (Debian's docker.io) and skopeo, side by side in one run. Run as root.
# Writes a markdown table to docs/BENCHMARKS.md (or $OUT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine skopeo:skopeo dockerd:docker.io
out=${OUT:-docs/BENCHMARKS.md}
runs=${RUNS:-5}
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
  umount "$work/cs/overlay" 2>/dev/null || true
  bench_stop_dockerd "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# The image: 4 layers, ~50 MB each: a few large files and many small ones,
# half random (incompressible) and half text, as a docker-archive written
# here with GNU tar (the 1.10-24 layout: <id>/layer.tar, <config>.json).
echo "building the test image..."
mkdir -p "$work/archive"
layers=()
for layer in 1 2 3 4; do
  dir=$work/src$layer
  mkdir -p "$dir/data$layer/small"
  head -c 20M /dev/urandom > "$dir/data$layer/random.bin"
  head -c 15M /dev/urandom | base64 -w 100 > "$dir/data$layer/text.txt"
  for i in $(seq 1 1500); do head -c 4096 /dev/urandom > "$dir/data$layer/small/f$i"; done
  tar --numeric-owner --sort=name -C "$dir" -cf "$work/layer$layer.tar" .
  id=$(sha256sum "$work/layer$layer.tar" | cut -d' ' -f1)
  mkdir -p "$work/archive/$id"
  mv "$work/layer$layer.tar" "$work/archive/$id/layer.tar"
  layers+=("$id")
done
python3 - "$work/archive" "${layers[@]}" <<'PY'
import hashlib, json, sys
out, layers = sys.argv[1], sys.argv[2:]
config = json.dumps({
    "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
    "config": {"Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + l for l in layers]},
    "history": [{"created_by": "layer %d" % i} for i in range(len(layers))],
}).encode()
cid = hashlib.sha256(config).hexdigest()
open(f"{out}/{cid}.json", "wb").write(config)
json.dump([{"Config": f"{cid}.json", "RepoTags": ["bench:1"], "Layers": [f"{l}/layer.tar" for l in layers]}],
          open(f"{out}/manifest.json", "w"))
PY
tar -C "$work/archive" -cf "$work/image.tar" .
size=$(du -m "$work/image.tar" | cut -f1)
echo "image archive: ${size} MB"

# A private dockerd, with no networking of its own.
bench_dockerd "$work" "$work/docker-exec"
docker version --format 'dockerd {{.Server.Version}}'

hyperfine --warmup 1 --runs "$runs" --export-markdown "$work/load.md" \
  --prepare "rm -rf $work/broot" -n "berth load" "$berth --root $work/broot load -i $work/image.tar" \
  --prepare "docker rmi -f bench:1 >/dev/null 2>&1 || true" -n "docker load" "docker load -q -i $work/image.tar" \
  --prepare "rm -rf $work/oci" -n "skopeo copy docker-archive: -> oci: (copies, does not unpack)" \
  "skopeo copy -q docker-archive:$work/image.tar oci:$work/oci:bench" \
  --prepare "umount $work/cs/overlay 2>/dev/null; rm -rf $work/cs $work/csrun" \
  -n "skopeo copy docker-archive: -> containers-storage: (podman load's path)" \
  "skopeo copy -q docker-archive:$work/image.tar containers-storage:[overlay@$work/cs+$work/csrun]bench:1"

hyperfine --warmup 1 --runs "$runs" --export-markdown "$work/save.md" \
  --prepare "rm -f $work/b.tar" -n "berth save" "$berth --root $work/broot save -o $work/b.tar bench:1" \
  --prepare "rm -f $work/d.tar" -n "docker save" "docker save -o $work/d.tar bench:1" \
  --prepare "rm -f $work/s.tar" -n "skopeo copy oci: -> docker-archive:" \
  "skopeo copy -q oci:$work/oci:bench docker-archive:$work/s.tar:bench:1"

{
  echo "# Benchmarks"
  echo
  echo "Measured by \`bench/save-load.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r),"
  echo "$(docker version --format 'dockerd {{.Server.Version}}'), $(skopeo --version), berth $($berth version --format '{{.Client.Version}}')."
  echo "Image: 4 layers, ${size} MB as a docker archive (random and text files, 6000 small files). $runs runs each, warm page cache."
  echo
  echo "## load"
  echo
  cat "$work/load.md"
  echo
  echo "## save"
  echo
  cat "$work/save.md"
} > "$out"
cat "$out"
