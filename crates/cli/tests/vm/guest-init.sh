#!/bin/sh
# PID 1 of the test VM (see boot.sh): a host with cgroup v2 only, on which
# checks.sh runs berth and prints "GUEST: key: value" lines on the console.
# The initramfs root cannot be pivoted away from, which every container
# start does: move everything to a tmpfs first.
if [ ! -e /switched ]; then
  /bin/busybox mkdir -p /newroot
  /bin/busybox mount -t tmpfs -o size=900m tmpfs /newroot
  /bin/busybox cp -a /bin /berth /lib /lib64 /etc /init /checks.sh /image.tar /overlay.ko /newroot/
  /bin/busybox mkdir -p /newroot/proc /newroot/sys /newroot/dev
  /bin/busybox touch /newroot/switched
  exec /bin/busybox switch_root /newroot /init
fi
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /run /tmp /var/lib
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /var/lib
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+memory +pids +cpu +io" > /sys/fs/cgroup/cgroup.subtree_control
insmod /overlay.ko
export BERTH_ROOT=/var/lib/berth BERTH_RUNROOT=/run/berth
echo "GUEST: controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
/berth/berth import /image.tar busybox >/dev/null && echo "GUEST: imported: yes"
sh /checks.sh 2>&1 | sed 's/^/GUEST: /'
echo "GUEST: done: yes"
poweroff -f
