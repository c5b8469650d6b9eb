#!/usr/bin/env bash
# Boots a throw-away VM (qemu, software emulation, no network) whose only
# filesystem is an initramfs holding berth, busybox and the checks, on the
# kernel in KERNEL_DIR (vmlinuz and overlay.ko, from Debian's linux-image
# package: scripts/vm-kernel.sh unpacks them); prints the VM's console.
# Usage: boot.sh WORK_DIR KERNEL_DIR BIN_DIR
set -euo pipefail
work=$1 kernel=$2 bin=$3
here=$(dirname "$0")
root=$work/root
rm -rf "$root"
mkdir -p "$root/bin" "$root/berth" "$root/etc" "$root/lib64" "$root/image/bin" "$root/image/etc"
cp /bin/busybox "$root/bin/"
ln -s busybox "$root/bin/sh"
for b in berth berth-shim; do
  # Without debug info the initramfs is a tenth of the size.
  objcopy --strip-debug "$bin/$b" "$root/berth/$b"
done
ldd "$bin/berth" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
cp "$kernel/overlay.ko" "$root/"
cp "$here/guest-init.sh" "$root/init"
cp "$here/checks.sh" "$root/checks.sh"
chmod +x "$root/init"
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
# The container image: busybox with the applets the checks use.
cp /bin/busybox "$root/image/bin/"
for a in sh echo cat head tr sleep true seq; do ln -s busybox "$root/image/bin/$a"; done
cp "$root/etc/passwd" "$root/image/etc/"
tar --numeric-owner -C "$root/image" -cf "$root/image.tar" .
rm -rf "$root/image"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.gz"
timeout 900 qemu-system-x86_64 -m 1536 -smp 2 -nographic -no-reboot -nic none \
  -kernel "$kernel/vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet"
