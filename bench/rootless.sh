#!/usr/bin/env bash
# Benchmark: containers without root. `berth run --rm IMG true` against `podman run --rm IMG true`,
# both run by the same ordinary user (one this script makes, with its own subordinate ids), side by
# side in one run, with no network and with each engine's default network (berth: a bridge in the
# user's network namespace behind one slirp4netns; Podman 4.3: slirp4netns per container).
# Run as root. Writes a markdown report to docs/BENCH-ROOTLESS.md (or $OUT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_need hyperfine:hyperfine podman:podman newuidmap:uidmap slirp4netns:slirp4netns busybox:busybox-static
out=${OUT:-docs/BENCH-ROOTLESS.md}
runs=${RUNS:-30}
user=berth-bench-rootless
id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
grep -q "^$user:" /etc/subuid || usermod --add-subuids 1700000000-1700065535 "$user"
grep -q "^$user:" /etc/subgid || usermod --add-subgids 1700000000-1700065535 "$user"
# Rootless networks need /dev/net/tun usable by users, as distributions ship it.
chmod 0666 /dev/net/tun
work=$(mktemp -d /tmp/berth-bench-rootless.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/home" "$work/bin"
cp "$berth" "$PWD/target/release/berth-shim" "$work/bin/"
as_user() {
  setpriv --reuid "$user" --regid "$user" --clear-groups -- env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    HOME="$work/home" XDG_RUNTIME_DIR="$work/home/run" "$@"
}
cleanup() {
  set +e
  as_user "$work/bin/berth" ps -aq --no-trunc 2>/dev/null | xargs -r -n1 as_user "$work/bin/berth" rm -f >/dev/null 2>&1
  pkill -u "$user" -f "berth rootless-pause"
  as_user podman system reset -f >/dev/null 2>&1
  pkill -u "$user"
  $berth rm -f $($berth ps -aq) >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# The image is made by root berth in a root of the script's own, then loaded by the user.
export BERTH_ROOT=$work/root-berth BERTH_RUNROOT=$work/root-run
bench_busybox_image "$work" bench/busybox:1 sh true
chown -R "$user:$user" "$work/home" "$work/image.tar"
bench_podman_conf "$work/home/.config/containers/containers.conf"
chown -R "$user:$user" "$work/home"
as_user "$work/bin/berth" load -q -i "$work/image.tar" >/dev/null
as_user podman load -q -i "$work/image.tar" >/dev/null
b="$work/bin/berth"
as_user hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/home/berth.md" --export-json "$work/home/berth.json" \
  -n "berth (rootless) --network none" "$b run --rm --network none bench/busybox:1 true" \
  -n "berth (rootless), default network" "$b run --rm bench/busybox:1 true"
# Podman rootless on this host (cgroup v1 controllers, no systemd) can only use runc with cgroupfs (crun
# refuses the hybrid layout, runc refuses --cgroups=disabled), and each run then waits ~20 s: fewer runs.
podman_runs=${PODMAN_RUNS:-5}
as_user hyperfine -N --warmup 1 --runs "$podman_runs" --export-markdown "$work/home/podman.md" --export-json "$work/home/podman.json" \
  -n "podman (rootless) --network none" "podman run --rm --network none bench/busybox:1 true" \
  -n "podman (rootless), default network" "podman run --rm bench/busybox:1 true"

{
  echo "# Benchmark: containers without root"
  echo
  echo "Measured by \`bench/rootless.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r),"
  echo "$(podman --version) (runc, cgroupfs), $(slirp4netns --version | head -1), berth $($berth version --format '{{.Client.Version}}')."
  echo "Both run by the same ordinary user with a subordinate id range; busybox \`true\` with \`run --rm\`,"
  echo "$runs runs each after 3 warm-ups. This host delegates no cgroups to users: neither engine sets limits."
  echo
  echo "Default network: berth's bridge in the user's network namespace, one slirp4netns for all"
  echo "containers; Podman 4.3's slirp4netns per container. Podman ran $podman_runs times after 1 warm-up:"
  echo "on this host (cgroup v1 controllers, no systemd) rootless Podman can only use runc with cgroupfs,"
  echo "and then waits about 20 s in every run after 'Failed to add conmon to cgroupfs sandbox cgroup'"
  echo "(crun refuses the hybrid layout; runc refuses --cgroups=disabled). That wait is this host's, not"
  echo "Podman's on a systemd host with cgroup v2, so the ratio below says little about Podman elsewhere."
  echo
  cat "$work/home/berth.md"
  echo
  cat "$work/home/podman.md"
  echo
  python3 - "$work/home/berth.json" "$work/home/podman.json" <<'PY'
import json, sys
median = {}
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        median[r["command"]] = r["median"] * 1000
print("| median | berth ms | podman ms | berth faster |")
print("| --- | ---: | ---: | ---: |")
for label, b, p in [
    ("no network", "berth (rootless) --network none", "podman (rootless) --network none"),
    ("default network", "berth (rootless), default network", "podman (rootless), default network"),
]:
    print(f"| {label} | {median[b]:.1f} | {median[p]:.1f} | {median[p] / median[b]:.1f}x |")
PY
} > "$out"
cat "$out"
