#!/usr/bin/env bash
# Benchmark: the Docker Engine API. The stock docker client against `berth serve` and against dockerd
# (Debian's docker.io, private state), side by side in one run: `docker run --rm IMG true`, 50
# `docker ps` at once, `docker-compose up -d` of a project shaped as the demo's app, and each
# server's idle memory (dockerd with its containerd).
# Run as root. Writes a markdown report to docs/BENCH-SERVE.md (or $OUT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine dockerd:docker.io busybox:busybox-static docker-compose:docker-compose
out=${OUT:-docs/BENCH-SERVE.md}
runs=${RUNS:-30}
clients=${CLIENTS:-50}
work=$(mktemp -d /tmp/berth-bench-serve.XXXXXX)
run=$work/run
mkdir -p "$run" && mount -t tmpfs tmpfs "$run"
export BERTH_ROOT=$work/berth BERTH_RUNROOT=$run/berth
berth_sock=$work/berth.sock
serve_pid=
null_pid=
cleanup() {
  set +e
  [[ -n $null_pid ]] && kill "$null_pid" 2>/dev/null
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  $berth ps -aq --no-trunc 2>/dev/null | xargs -r $berth rm -f >/dev/null 2>&1
  bench_stop_dockerd "$work"
  umount -R "$run" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

bench_busybox_image "$work" bench/busybox:1 true sh sleep httpd
# The demo app's shape (examples/sinatra-redis/compose.yml) on busybox: a store with its data in a
# named volume, and a web server on an ephemeral published port that starts once the store is up,
# both on the project's network. (The demo's own images are built from Debian by the demo.)
cat > "$work/compose.yml" <<'YAML'
version: "2.4"
services:
  store:
    image: bench/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    volumes: [store-data:/data]
    networks: [app]
  web:
    image: bench/busybox:1
    command: ["httpd", "-f", "-p", "4567"]
    ports: ["127.0.0.1::4567"]
    networks: [app]
    depends_on: [store]
networks:
  app: {}
volumes:
  store-data: {}
YAML
compose_runs=${COMPOSE_RUNS:-10}
# compose_bench NAME HOST: `up -d` of the project, each from nothing (`down -v` before each run).
compose_bench() {
  local compose="env DOCKER_HOST=$2 docker-compose -p benchapp -f $work/compose.yml"
  hyperfine --warmup 1 --runs "$compose_runs" --export-json "$work/$1-compose.json" \
    --prepare "$compose down -v -t 1" --cleanup "$compose down -v -t 1" -n "$1" "$compose up -d"
}

# berth serve first, alone; dockerd only once berth's runs are done, so neither idles beside the other.
$berth serve --host "unix://$berth_sock" 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 1 100); do [[ -S $berth_sock ]] && break; sleep 0.05; done
berth_docker="docker -H unix://$berth_sock"
# Memory of the idle server, after it has served a few requests.
$berth_docker version >/dev/null
$berth_docker ps -a >/dev/null
sleep 1
berth_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$serve_pid/status")

hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/berth-run.json" \
  -n "berth serve" "$berth_docker run --rm --network none bench/busybox:1 true"
# The floor under any server: the docker client's own start and one round trip.
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/client.json" \
  -n "docker version" "$berth_docker version --format '{{.Server.APIVersion}}'"
# The floor under any server for a run: the docker client's own part, against a server that answers
# each call of `docker run --rm` at once and does nothing (bench/null_engine.py).
null_sock=$work/null.sock
python3 "$(dirname "$0")/null_engine.py" "$null_sock" &
null_pid=$!
for _ in $(seq 1 100); do [[ -S $null_sock ]] && break; sleep 0.05; done
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/null-run.json" \
  -n "null engine" "docker -H unix://$null_sock run --rm --network none bench/busybox:1 true"
kill "$null_pid" && null_pid=
# berth's own start of the same container, without the API and the client.
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/cli-run.json" \
  -n "berth run" "$berth run --rm --network none bench/busybox:1 true"
hyperfine --warmup 1 --runs 10 --export-json "$work/berth-ps.json" \
  -n "berth serve" "seq $clients | xargs -P $clients -I{} $berth_docker ps -q"
compose_bench berth "unix://$berth_sock"
kill "$serve_pid" && wait "$serve_pid" 2>/dev/null || true
serve_pid=

bench_dockerd "$work" "$run/docker"
docker load -q -i "$work/image.tar" >/dev/null
docker ps -a >/dev/null
sleep 1
dockerd_pid=$(cat "$work/docker.pid")
dockerd_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$dockerd_pid/status")
# dockerd starts its own containerd (a child), which it needs to run anything.
containerd_rss=0
for pid in $(pgrep -P "$dockerd_pid" containerd || true); do
  containerd_rss=$((containerd_rss + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")))
done
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/docker-run.json" \
  -n "dockerd" "docker run --rm --network none bench/busybox:1 true"
hyperfine --warmup 1 --runs 10 --export-json "$work/docker-ps.json" \
  -n "dockerd" "seq $clients | xargs -P $clients -I{} docker ps -q"
compose_bench dockerd "$DOCKER_HOST"

{
  echo "# Benchmark: the Docker Engine API"
  echo
  echo "Measured by \`bench/serve.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), the docker client"
  echo "$(docker version --format '{{.Client.Version}}') against \`berth serve\` (berth $($berth version --format '{{.Client.Version}}')) and against"
  echo "$(docker version --format 'dockerd {{.Server.Version}}') (private state, no networking of its own), one after the other in one run."
  echo "The same busybox image in both; $runs runs of \`docker run --rm --network none IMG true\` after 3 warm-ups;"
  echo "$clients \`docker ps\` at once, 10 times; $compose_runs \`docker-compose up -d\` ($(docker-compose version --short)) of a busybox project"
  echo "shaped as the demo's app, each from nothing (\`down -v\` before it, not timed)."
  echo "Both time the whole client, whose own start is part of each run."
  echo
  python3 - "$work" "$clients" "$berth_rss" "$dockerd_rss" "$containerd_rss" <<'PY'
import json, sys
work, clients, berth_rss, dockerd_rss, containerd_rss = sys.argv[1], *map(int, sys.argv[2:])
def median(name):
    return json.load(open(f"{work}/{name}.json"))["results"][0]["median"] * 1000
run_b, run_d = median("berth-run"), median("docker-run")
ps_b, ps_d = median("berth-ps"), median("docker-ps")
client, cli_run, null_run = median("client"), median("cli-run"), median("null-run")
up_b, up_d = median("berth-compose"), median("dockerd-compose")
print("| | berth serve | dockerd | compared |")
print("| --- | ---: | ---: | ---: |")
print(f"| `docker run --rm IMG true` (median) | {run_b:.1f} ms | {run_d:.1f} ms | berth {run_d / run_b:.1f}x faster (target: 5x) |")
print(f"| {clients} `docker ps` at once (median of the batch) | {ps_b:.1f} ms | {ps_d:.1f} ms | berth {ps_d / ps_b:.1f}x faster |")
print(f"| `docker-compose up -d`: two services, a network, a volume, a published port (median) | {up_b:.0f} ms | {up_d:.0f} ms | berth {up_d / up_b:.1f}x faster |")
print(f"| the docker client alone (`docker version`, one round trip) | {client:.1f} ms | | the floor under any server |")
print(f"| `docker run --rm IMG true` against a server that does nothing (`bench/null_engine.py`) | {null_run:.1f} ms | | the client's own part of a run |")
print(f"| `berth run --rm IMG true` (no API, no docker client) | {cli_run:.1f} ms | | |")
daemon = dockerd_rss + containerd_rss
print(f"| idle memory (VmRSS) | {berth_rss / 1024:.1f} MiB | {daemon / 1024:.1f} MiB (dockerd {dockerd_rss / 1024:.1f} + containerd {containerd_rss / 1024:.1f}) | berth {berth_rss / daemon:.2f} of it (target: at most 0.2) |")
PY
  echo
  echo "Through the API a run is the docker client's own cost, berth's container start, and the HTTP calls"
  echo "between them (create, attach, wait, start); dockerd's time is over the same client floor."
} > "$out"
cat "$out"
