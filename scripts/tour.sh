#!/usr/bin/env bash
# A tour of the commands on a busybox image made from Debian's busybox-static: images, save and
# load, run, logs, exec, stats, volumes, a Dockerfile build with its cache, a user network and a
# published port. Quicker than the demo (scripts/demo.sh) and needs no Debian mirror.
# Run as root. Uses a throwaway data root unless BERTH_ROOT is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --locked
berth=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
export BERTH_ROOT=${BERTH_ROOT:-$work/root} BERTH_RUNROOT=${BERTH_RUNROOT:-$work/run}
cleanup() {
  set +e
  "$berth" ps -aq --no-trunc 2>/dev/null | xargs -r "$berth" rm -f >/dev/null 2>&1
  "$berth" system network-reset >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# A root filesystem: busybox and its applets.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ $applet == busybox ]] || ln -s busybox "$work/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
echo 'root:x:0:' > "$work/rootfs/etc/group"
tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .

step "$berth" import --change 'CMD ["/bin/sh"]' --message "busybox from Debian" "$work/rootfs.tar" busybox:demo
step "$berth" tag busybox:demo localhost:5000/demo/busybox:1.0
step "$berth" images
step "$berth" image inspect --format '{{.Id}} {{.Os}}/{{.Architecture}} {{json .Config.Cmd}}' busybox:demo
step "$berth" history busybox:demo
step "$berth" save -o "$work/busybox.tar" busybox:demo
step "$berth" rmi busybox:demo localhost:5000/demo/busybox:1.0
step "$berth" load -i "$work/busybox.tar"
step "$berth" images --format 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}'
step "$berth" run --rm busybox:demo sh -c 'echo "hello from pid $$ in $(hostname)"; id'
step "$berth" run -d --name ticker --memory 32m busybox:demo sh -c 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done'
sleep 1
step "$berth" ps
step "$berth" logs --tail 3 ticker
step "$berth" exec ticker sh -c 'echo "exec sees $(ps | wc -l) lines of ps in the container"'
step "$berth" stats --no-stream ticker
step "$berth" stop -t 1 ticker
step "$berth" ps -a
step "$berth" rm ticker
step "$berth" run --rm -v demo-data:/data busybox:demo sh -c 'echo "written by one container" > /data/note'
step "$berth" run --rm -v demo-data:/data busybox:demo cat /data/note
step "$berth" volume ls
step "$berth" volume rm demo-data
# A web server image built from a Dockerfile, run on a user network, reached from the host through a
# published port and from another container by name.
mkdir -p "$work/site"
echo "hello from a berth container" > "$work/site/index.html"
cat > "$work/site/Dockerfile" <<'DOCKERFILE'
FROM busybox:demo
COPY index.html /www/
EXPOSE 80
HEALTHCHECK --interval=1s CMD wget -q -O /dev/null http://127.0.0.1/
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
DOCKERFILE
step "$berth" build -t demo/web:1 "$work/site"
step "$berth" build -t demo/web:1 "$work/site"   # again: every step is a cache hit
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "$berth" network create demo-net
step "$berth" run -d --name web --network demo-net -p "127.0.0.1:$port:80" demo/web:1
step "$berth" port web
step curl -s --retry 5 --retry-connrefused --retry-delay 0 "http://127.0.0.1:$port/"
step "$berth" run --rm --network demo-net busybox:demo wget -q -O - http://web/
step "$berth" network ls
sleep 2
step "$berth" ps --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
step "$berth" rm -f web
step "$berth" network rm demo-net
step "$berth" system df
