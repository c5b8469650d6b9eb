# Run inside the test VM by guest-init.sh; each result is one "key: value" line.
b=/berth/berth
cg=/sys/fs/cgroup/berth
echo "hello: $($b run --rm --network none busybox echo hi)"
# --memory: a hog is killed inside the container only, and inspect says so.
$b run --name hog --network none --memory 32m busybox sh -c 'x=$(head -c 100000000 /dev/zero | tr "\0" a); echo survived'
echo "hog exit: $?"
echo "hog oom: $($b inspect --format '{{.State.OOMKilled}}' hog)"
$b rm hog >/dev/null
# The limits land in the container's v2 cgroup; update changes them.
id=$($b run -d --network none --memory 48m --pids-limit 20 --cpus 0.5 busybox sleep 100)
echo "memory.max: $(cat $cg/$id/memory.max)"
echo "pids.max: $(cat $cg/$id/pids.max)"
echo "cpu.max: $(cat $cg/$id/cpu.max)"
$b update --memory 64m --pids-limit 30 $id >/dev/null
echo "updated memory.max: $(cat $cg/$id/memory.max)"
echo "updated pids.max: $(cat $cg/$id/pids.max)"
echo "stats: $($b stats --no-stream --format '{{.MemUsage}} pids={{.PIDs}}' $id)"
echo "top: $($b top $id | tail -n +2 | grep -c 'sleep 100')"
$b pause $id >/dev/null
echo "paused: $($b inspect --format '{{.State.Status}}' $id) freeze=$(cat $cg/$id/cgroup.freeze)"
$b unpause $id >/dev/null
$b rm -f $id >/dev/null
echo "cgroup after rm: $(ls $cg | grep -c $id)"
# --pids-limit contains a fork bomb: fewer than 20 of 100 children start (all 100 without the limit).
echo "forked with limit: $($b run --rm --network none --pids-limit 20 busybox sh -c 'for i in $(seq 1 100); do (echo forked; exec sleep 5) & done; wait' 2>/dev/null | grep -c forked)"
echo "forked without: $($b run --rm --network none busybox sh -c 'for i in $(seq 1 100); do (echo forked; exec sleep 1) & done; wait' 2>/dev/null | grep -c forked)"
# A container cannot lift its own limits: its cgroup mount is read-only (each write that lands counts).
echo "cgroup writes: $($b run --rm --network none --pids-limit 20 busybox sh -c 'n=0; echo max > /sys/fs/cgroup/pids.max 2>/dev/null && n=$((n+1)); mkdir /sys/fs/cgroup/escape 2>/dev/null && n=$((n+1)); echo 1 > /sys/fs/cgroup/cgroup.procs 2>/dev/null && n=$((n+1)); echo $n')"
echo "containers left: $($b ps -aq | wc -l)"
echo "cgroups left: $(find $cg -mindepth 1 -type d | wc -l)"
