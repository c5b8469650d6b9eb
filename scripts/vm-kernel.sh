#!/usr/bin/env bash
# What the cgroup v2 test's VM needs (crates/cli/tests/cgroup2.rs): qemu,
# objcopy, and Debian's kernel (linux-image-amd64's current package, unpacked
# into /var/cache/berth-test/kernel, not installed). Needs root; scripts/test.sh
# runs it after deps.sh.
set -euo pipefail
"$(dirname "$0")/install-packages.sh" qemu-system-x86 binutils
kernel=/var/cache/berth-test/kernel
if [[ ! -f $kernel/vmlinuz || ! -f $kernel/overlay.ko ]]; then
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  if [[ -z $pkg ]]; then
    apt-get update -q
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
  fi
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q "$pkg" 2>&1 | grep -v "unsandboxed" || true)
  dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/k"
  mkdir -p "$kernel"
  cp "$tmp"/k/boot/vmlinuz-* "$kernel/vmlinuz"
  find "$tmp/k/lib/modules" -name overlay.ko -exec cp {} "$kernel/overlay.ko" \;
  rm -rf "$tmp"
fi
