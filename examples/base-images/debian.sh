#!/usr/bin/env bash
# Make your own base image: a minimal Debian (debootstrap --variant=minbase) imported into berth as
# debian:bookworm, with the config a user of Docker's debian image expects (CMD bash, PATH, LANG).
# No public registry is needed: debootstrap fetches the packages from the Debian mirror itself.
# An image that is there already is kept, so running this again costs nothing.
#
# Usage (as root): examples/base-images/debian.sh
#   BERTH=path/to/berth   the berth to import with (default: berth on PATH)
#   IMAGE=name:tag        the image to make (default: debian:bookworm)
#   SUITE=bookworm        the Debian release
#   MIRROR=http://deb.debian.org/debian
set -euo pipefail
berth=${BERTH:-berth}
image=${IMAGE:-debian:bookworm}
suite=${SUITE:-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}

if "$berth" image inspect "$image" >/dev/null 2>&1; then
  echo "$image is there already: $("$berth" image inspect --format '{{.Id}}' "$image")"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }

work=$(mktemp -d /tmp/berth-base-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
echo "bootstrapping Debian $suite from $mirror (a minute or two)"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  echo "debootstrap failed: is $mirror reachable?" >&2
  exit 1
}

# What an image should not carry: downloaded packages, package lists (every build that installs
# something runs apt-get update first), logs, and this host's identity.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.bash_history
mkdir -p "$rootfs/var/lib/apt/lists/partial"
: > "$rootfs/etc/hostname"
: > "$rootfs/etc/resolv.conf"
# As Docker's image does: no documentation or caches kept by the apt-get of later builds.
cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
echo 'Acquire::Languages "none";' > "$rootfs/etc/apt/apt.conf.d/docker-no-languages"

tar --numeric-owner --xattrs -C "$rootfs" -cf "$work/rootfs.tar" .
"$berth" import \
  --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --message "Debian $suite (debootstrap --variant=minbase)" \
  "$work/rootfs.tar" "$image"
