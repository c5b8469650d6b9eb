//! A container cannot lift its own resource limits or write to the host's cgroup tree: every cgroup
//! mount inside it is read-only (libcontainer bound each v1 hierarchy read-write, so `echo max >
//! pids.max` undid `--pids-limit`), and its `name=systemd` hierarchy shows its own cgroup, not the
//! host's root. The host-side cgroup files keep the limits berth set.

use crate::common::*;
use std::fs;
use std::path::Path;

/// Each attempt prints "wrote <what>" or "refused <what>". The script runs inside the container; its writes
/// would change nothing if they landed (the value in place, or directories the container's removal reports).
const ATTACK: &str = r#"
try() { if sh -c "$2" 2>/dev/null; then echo "wrote $1"; else echo "refused $1"; fi; }
try pids.max 'echo max > /sys/fs/cgroup/pids/pids.max'
try memory.limit_in_bytes 'echo 1073741824 > /sys/fs/cgroup/memory/memory.limit_in_bytes'
try cpu.cfs_quota_us 'echo -1 > /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us || echo -1 > /sys/fs/cgroup/cpu/cpu.cfs_quota_us'
try systemd-notify 'echo 0 > /sys/fs/cgroup/systemd/notify_on_release'
try tmpfs-file 'echo x > /sys/fs/cgroup/x'
for d in /sys/fs/cgroup/*/; do try "mkdir $d" "mkdir ${d}escape"; done
try mkdir-tmpfs 'mkdir /sys/fs/cgroup/escape'
"#;

#[test]
fn a_container_cannot_write_its_cgroups() {
    let Some(berth) = with_busybox() else { return };
    if !Path::new("/sys/fs/cgroup/pids").is_dir() {
        eprintln!("skipped: this host has no cgroup v1 pids hierarchy (the v2 case runs in tests/vm)");
        return;
    }
    let id = berth.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--pids-limit",
        "20",
        "--memory",
        "32m",
        "--cpus",
        "0.5",
        "busybox",
        "sleep",
        "100",
    ]);
    let id = id.trim();
    let out = berth.ok(&["exec", id, "sh", "-c", ATTACK]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 8, "every attempt reports: {out}");
    let wrote: Vec<&&str> = lines.iter().filter(|l| !l.starts_with("refused ")).collect();
    assert!(wrote.is_empty(), "the container wrote its cgroups: {wrote:?}\n{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("refused mkdir /sys/fs/cgroup/pids/")),
        "the hierarchies are mounted inside: {out}"
    );

    // Every cgroup mount a process sees is read-only (the read-only binds cover the runtime's writable
    // ones; unmounting them needs CAP_SYS_ADMIN), and name=systemd shows the container's own cgroup.
    let mountinfo = berth.ok(&["exec", id, "cat", "/proc/self/mountinfo"]);
    let mounts: Vec<Vec<&str>> = mountinfo
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .filter(|f| f.len() > 5 && f[4].starts_with("/sys/fs/cgroup"))
        .collect();
    let tmpfs = mounts
        .iter()
        .find(|m| m[4] == "/sys/fs/cgroup" && !mounts.iter().any(|p| p[0] == m[1]));
    let tmpfs = visible_at(&mounts, tmpfs.expect("a /sys/fs/cgroup mount"));
    let mut visible = vec![tmpfs];
    for m in mounts.iter().filter(|m| m[1] == tmpfs[0] && m[4] != "/sys/fs/cgroup") {
        visible.push(visible_at(&mounts, m));
    }
    assert!(visible.len() >= 2, "{mountinfo}");
    for m in &visible {
        assert!(
            m[5].split(',').any(|o| o == "ro"),
            "a writable cgroup mount: {}",
            m.join(" ")
        );
    }
    let own = berth.ok(&["exec", id, "cat", "/proc/1/cgroup"]);
    if own.lines().any(|l| l.contains(":name=systemd:")) {
        let systemd = own.lines().find(|l| l.contains(":name=systemd:")).unwrap_or_default();
        assert!(systemd.ends_with(&format!(":/berth/{id}")), "{own}");
    }

    // The limits berth set are still the host's view.
    let read = |path: &str| {
        fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(read(&format!("/sys/fs/cgroup/pids/berth/{id}/pids.max")), "20");
    assert_eq!(
        read(&format!("/sys/fs/cgroup/memory/berth/{id}/memory.limit_in_bytes")),
        (32u64 << 20).to_string()
    );
    let quota = ["cpu,cpuacct", "cpu"]
        .iter()
        .map(|h| read(&format!("/sys/fs/cgroup/{h}/berth/{id}/cpu.cfs_quota_us")))
        .find(|q| !q.is_empty());
    assert_eq!(quota.as_deref(), Some("50000"));
    assert!(!Path::new("/sys/fs/cgroup/pids/escape").exists());
    assert!(!Path::new("/sys/fs/cgroup/systemd/escape").exists());

    // The fork bomb the write used to let through stays contained.
    let forked = berth.run(&[
        "exec", id, "sh", "-c",
        "echo max > /sys/fs/cgroup/pids/pids.max 2>/dev/null; for i in $(seq 1 60); do (echo forked; exec sleep 5) & done 2>/dev/null; wait",
    ]);
    let forked = String::from_utf8_lossy(&forked.stdout);
    let count = forked.lines().filter(|l| *l == "forked").count();
    assert!(count < 20, "{count} processes started under --pids-limit 20");

    berth.ok(&["rm", "-f", id]);
    for hierarchy in ["pids", "memory", "systemd"] {
        let dir = format!("/sys/fs/cgroup/{hierarchy}/berth/{id}");
        assert!(!Path::new(&dir).exists(), "{dir} left after rm");
    }
}

/// The mount a path lookup reaches at `base`'s mount point: the last of the mounts stacked on it there.
fn visible_at<'a>(mounts: &'a [Vec<&'a str>], base: &'a Vec<&'a str>) -> &'a Vec<&'a str> {
    let mut top = base;
    while let Some(over) = mounts.iter().find(|m| m[1] == top[0] && m[4] == top[4]) {
        top = over;
    }
    top
}
