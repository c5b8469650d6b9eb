#!/usr/bin/env bash
# The demo of "Learn You a Docker for Great Good", on berth: a Redis image and a Sinatra app on an
# ONBUILD Ruby image, all on a Debian base image made here (examples/). It installs what is missing,
# builds berth, makes the base image, then builds, runs, keeps and ships the app, checking each
# outcome. Run as root.
#
# The data root (default /var/lib/berth-demo) keeps the base image and the build cache for the next
# run; everything else the demo makes goes at the end. `scripts/demo.sh --clean` removes all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
export BERTH_ROOT=${BERTH_ROOT:-/var/lib/berth-demo} BERTH_RUNROOT=${BERTH_RUNROOT:-/run/berth-demo}
examples=$PWD/examples/sinatra-redis

if [[ ${1:-} == --clean ]]; then
  berth=${BERTH:-$PWD/target/release/berth}
  [[ -x $berth ]] && "$berth" system network-reset >/dev/null 2>&1 || true
  rm -rf "$BERTH_ROOT" "$BERTH_RUNROOT"
  echo "removed $BERTH_ROOT and $BERTH_RUNROOT"
  exit 0
fi

SECONDS=0
scripts/deps.sh
cargo build --release --locked -p berth-cli -p berth-relay
berth=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
registry_pid= serve_pid=
# The compose project's name: its containers, network and volume are named and labelled after it.
project=berthdemo
compose_file=examples/sinatra-redis/compose.yml
# The API server's pid, kept in the run root: a killed run's server is stopped by the next run.
serve_pidfile=$BERTH_RUNROOT/demo-serve.pid
stop_demo_server() {
  local pid
  pid=$(cat "$serve_pidfile" 2>/dev/null) || return 0
  [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *" serve --host unix:///tmp/berth-demo."* ]] && kill "$pid"
  rm -f "$serve_pidfile"
}
# What one run makes and the next must not find (also after a run that was killed).
remove_demo_objects() {
  stop_demo_server
  "$berth" rm -f web redis web-pulled >/dev/null 2>&1
  "$berth" ps -aq --filter "label=com.docker.compose.project=$project" | xargs -r "$berth" rm -f >/dev/null 2>&1
  "$berth" network rm demo >/dev/null 2>&1
  "$berth" network rm "${project}_demo" >/dev/null 2>&1
  "$berth" volume rm redis-data >/dev/null 2>&1
  "$berth" volume rm "${project}_redis-data" >/dev/null 2>&1
  "$berth" rmi sinatra:motd >/dev/null 2>&1
}
cleanup() {
  set +e
  [[ -n $registry_pid ]] && kill "$registry_pid" 2>/dev/null
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" && rm -f "$serve_pidfile"
  remove_demo_objects
  "$berth" system network-reset >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
remove_demo_objects || true

# Shows a command, runs it, and says how long it took.
step() {
  printf '\n\033[1m$ %s\033[0m\n' "${*/#$berth/berth}"
  local t0 t1
  t0=$(date +%s%N)
  "$@"
  t1=$(date +%s%N)
  printf '\033[2m(%d ms)\033[0m\n' $(((t1 - t0) / 1000000))
}
say() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }
fail() {
  printf '\n\033[1;31mdemo failed: %s\033[0m\n' "$*" >&2
  exit 1
}
# The page's visit count, fetched once through a published port (ADDRESS:PORT; the demo's by default).
visits() {
  local at=${1:-127.0.0.1:$port} page
  page=$(curl -sf --retry 50 --retry-connrefused --retry-delay 0 --retry-max-time 30 "http://$at/") ||
    fail "the app did not answer on $at"
  echo "$page" >&2
  sed -n 's/.*seen \([0-9]*\) times.*/\1/p' <<<"$page"
}
# expect_visits COUNT WHY [ADDRESS:PORT]
expect_visits() {
  local got
  got=$(visits "${3:-}")
  [[ $got == "$1" ]] || fail "the page says it was seen ${got:-no} times; expected $1 ($2)"
}
wait_healthy() {
  for _ in $(seq 100); do
    [[ $("$berth" inspect -f '{{.State.Health.Status}}' "$1") == healthy ]] && return
    sleep 0.2
  done
  fail "$1 never became healthy"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Containers reach the Debian mirror by the address the host resolved (no DNS queries of their own).
mirror=$(getent ahostsv4 deb.debian.org | awk '{ print $1; exit }')
[[ -n $mirror ]] || fail "deb.debian.org does not resolve: the builds need the Debian mirror"
to_mirror=(--add-host "deb.debian.org:$mirror")

say "A Debian base image, made here (examples/base-images/debian.sh)"
step env BERTH="$berth" examples/base-images/debian.sh

say "1. Build: a Redis image, an ONBUILD Ruby image, and the app on it"
step "$berth" build "${to_mirror[@]}" -t redis:demo "$examples/redis"
step "$berth" build "${to_mirror[@]}" -t ruby:3.1-onbuild "$examples/ruby-onbuild"
step "$berth" build "${to_mirror[@]}" -t sinatra:demo "$examples/app"
step "$berth" images
step "$berth" history sinatra:demo

say "2. Run: Redis with its data in a named volume, the app with --env-file and a published port"
port=$(free_port)
step "$berth" network create demo
step "$berth" volume create redis-data
step "$berth" run -d --name redis --network demo -v redis-data:/data redis:demo
step "$berth" run -d --name web --network demo --env-file "$examples/app/redis.env" -p "127.0.0.1:$port:4567" sinatra:demo
wait_healthy redis
step "$berth" ps

say "3. The page counts its visits in Redis"
expect_visits 1 "first visit"
expect_visits 2 "second visit"

say "4. Containers are cattle: a new app container, and the count goes on"
step "$berth" rm -f web
step "$berth" run -d --name web --network demo --env-file "$examples/app/redis.env" -p "127.0.0.1:$port:4567" sinatra:demo
expect_visits 3 "a new app container"

say "5. Data is a pet: a new Redis container on the same volume, and the count is kept"
step "$berth" rm -f redis
step "$berth" run -d --name redis --network demo -v redis-data:/data redis:demo
wait_healthy redis
expect_visits 4 "a new Redis container on the same volume"

say "6. Compose: the same app from a compose file, by docker-compose through berth serve (the Docker API)"
# The server runs on this demo's data root; docker-compose knows it only as a Docker engine.
"$berth" --root "$BERTH_ROOT" --runroot "$BERTH_RUNROOT" serve --host "unix://$work/berth.sock" >"$work/serve.log" 2>&1 &
serve_pid=$!
echo "$serve_pid" >"$serve_pidfile"
for _ in $(seq 100); do curl -sf --unix-socket "$work/berth.sock" http://berth/_ping >/dev/null && break; sleep 0.1; done
export DOCKER_HOST=unix://$work/berth.sock
compose() { step docker-compose -p "$project" -f "$compose_file" "$@"; }
compose_t0=$(date +%s%N)
compose up -d
web_at=$(docker-compose -p "$project" -f "$compose_file" port web 4567) || fail "docker-compose port found no port for web"
expect_visits 1 "the compose project's first visit (its own Redis volume)" "$web_at"
compose logs --no-color --tail 3
docker-compose -p "$project" -f "$compose_file" logs --no-color redis | grep -q "Ready to accept connections" ||
  fail "docker-compose logs did not show Redis's log"
compose up -d --scale web=3
compose ps
webs=$(docker-compose -p "$project" -f "$compose_file" ps -q web | wc -l)
[[ $webs == 3 ]] || fail "docker-compose ps shows $webs web containers after --scale web=3; expected 3"
step "$berth" ps --filter "label=com.docker.compose.project=$project"
webs=$("$berth" ps -q --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.service=web | wc -l)
[[ $webs == 3 ]] || fail "berth ps shows $webs running web containers after --scale web=3; expected 3"
# Each of the three answers on its own port, and they share one count in Redis.
for i in 1 2 3; do
  at=$(docker-compose -p "$project" -f "$compose_file" port --index="$i" web 4567) ||
    fail "docker-compose port found no port for web container $i"
  expect_visits $((i + 1)) "web container $i of 3" "$at"
done
compose down -v
left=$("$berth" ps -aq --filter "label=com.docker.compose.project=$project")
left+=$("$berth" network ls -q --filter "label=com.docker.compose.project=$project")
left+=$("$berth" volume ls -q --filter "label=com.docker.compose.project=$project")
[[ -z $left ]] || fail "docker-compose down -v left containers, networks or volumes of $project: $left"
printf '\033[2m(the compose step took %d ms, docker-compose and the checks included)\033[0m\n' $((($(date +%s%N) - compose_t0) / 1000000))
kill "$serve_pid"
wait "$serve_pid" || true
serve_pid=
rm -f "$serve_pidfile"
unset DOCKER_HOST

say "7. Ship: push to a private registry, remove the images, pull them back and run the pulled app"
registry_port=$(free_port)
registry=127.0.0.1:$registry_port
"$berth" registry serve --addr "$registry" --root "$work/registry" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -sf "http://$registry/v2/" >/dev/null && break; sleep 0.1; done
declare -A pushed
for image in redis:demo sinatra:demo; do
  pushed[$image]=$("$berth" image inspect -f '{{.Id}}' "$image")
  step "$berth" tag "$image" "$registry/demo/$image"
  step "$berth" push "$registry/demo/$image"
done
step "$berth" rm -f web
step "$berth" rmi "$registry/demo/sinatra:demo" sinatra:demo
step "$berth" pull "$registry/demo/sinatra:demo"
pulled=$("$berth" image inspect -f '{{.Id}}' "$registry/demo/sinatra:demo")
[[ $pulled == "${pushed[sinatra:demo]}" ]] || fail "the pulled image is $pulled, the pushed one ${pushed[sinatra:demo]}"
echo "pulled image ID = pushed image ID: $pulled"
step "$berth" run -d --name web-pulled --network demo --env-file "$examples/app/redis.env" -p "127.0.0.1:$port:4567" "$registry/demo/sinatra:demo"
expect_visits 5 "the app pulled back from the registry"

say "8. Commit: a change made in a running container becomes an image layer"
step "$berth" exec web-pulled sh -c 'echo "committed by the demo" > /usr/src/app/motd'
step "$berth" commit -m "add a motd" web-pulled sinatra:motd
step "$berth" history sinatra:motd
[[ $("$berth" run --rm --entrypoint cat sinatra:motd /usr/src/app/motd) == "committed by the demo" ]] ||
  fail "the committed image does not hold the change"

say "Clean up: containers, network, volume and the demo's images go; the base image and build cache stay"
step "$berth" rm -f web-pulled redis
step "$berth" network rm demo
step "$berth" volume rm redis-data
step "$berth" rmi sinatra:motd "$registry/demo/sinatra:demo" "$registry/demo/redis:demo" redis:demo ruby:3.1-onbuild
step "$berth" system df

printf '\n\033[1;32mThe demo ran to the end in %d s: built, ran, kept, composed and shipped (a second run reuses the base image and the build cache).\033[0m\n' "$SECONDS"
