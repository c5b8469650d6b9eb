//! Which process is which: a monitor or an owner known by pid, start time and boot, and whether it still runs.

use std::fs;

use berth_store::containers::ContainerRow;

/// A process's state letter and start time (clock ticks since boot), from one read of /proc/PID/stat: `ps`
/// asks this of every container's monitor.
fn process_stat(pid: i64) -> Option<(char, i64)> {
    if pid <= 0 {
        return None;
    }
    let mut buf = [0u8; 1024];
    let n = fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| std::io::Read::read(&mut f, &mut buf))
        .ok()?;
    let stat = std::str::from_utf8(&buf[..n]).ok()?;
    // After "pid (comm) ": state is field 3, starttime field 22.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Start time of a process in clock ticks since boot, from /proc/PID/stat.
pub fn process_start(pid: i64) -> Option<i64> {
    process_stat(pid).map(|(_, start)| start)
}

/// Whether the monitor recorded as (pid, start time) is still that process
/// (a zombie nobody reaped yet counts as dead).
fn is_alive(pid: i64, start: i64) -> bool {
    matches!(process_stat(pid), Some((state, s)) if s == start && !matches!(state, 'Z' | 'X'))
}

/// A process by pid, start time and boot, so that a later process with the same pid is not it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub pid: i64,
    pub start: i64,
    pub boot: String,
}

impl Owner {
    pub fn this_process() -> Owner {
        let pid = i64::from(std::process::id());
        Owner {
            pid,
            start: process_start(pid).unwrap_or(0),
            boot: boot_id().to_string(),
        }
    }

    pub fn alive(&self) -> bool {
        (self.boot.is_empty() || self.boot == boot_id()) && is_alive(self.pid, self.start)
    }
}

/// This boot's id, read once per process; empty if the kernel does not say.
pub(super) fn boot_id() -> &'static str {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// Whether a container's recorded monitor still runs: the same boot (after a reboot, a new process can have
/// the old pid and start time), then the same pid and start time. Rows from before the boot was recorded
/// match any boot.
pub(crate) fn monitor_alive(row: &ContainerRow) -> bool {
    (row.monitor_boot.is_empty() || row.monitor_boot == boot_id()) && is_alive(row.monitor_pid, row.monitor_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_from_another_boot_is_dead() {
        let me = std::process::id() as i64;
        let mut row = ContainerRow {
            id: "c".into(),
            name: "n".into(),
            state: crate::ContainerState::Running,
            monitor_pid: me,
            monitor_start: process_start(me).expect("our own start time"),
            monitor_boot: boot_id().to_string(),
            ..Default::default()
        };
        assert!(!boot_id().is_empty());
        assert!(monitor_alive(&row));
        // The same pid and start time in a boot before this one: not this process.
        row.monitor_boot = "00000000-0000-0000-0000-000000000000".into();
        assert!(!monitor_alive(&row));
        // A row written before boots were recorded falls back to pid and start time.
        row.monitor_boot = String::new();
        assert!(monitor_alive(&row));
    }

    #[test]
    fn liveness_is_pid_and_start_time() {
        let me = std::process::id() as i64;
        let start = process_start(me).expect("our own start time");
        assert!(is_alive(me, start));
        // The same pid with another start time is a reused pid: not the monitor we recorded.
        assert!(!is_alive(me, start + 1));
        assert!(!is_alive(0, start));
        assert_eq!(process_start(-1), None);
        // A reaped child is gone; an unreaped one is a zombie, which counts as dead too.
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id() as i64;
        let child_start = process_start(pid).expect("the child's start time");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while is_alive(pid, child_start) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!is_alive(pid, child_start), "an exited, unreaped child is a zombie");
        assert_eq!(process_start(pid), Some(child_start), "still there until reaped");
        child.wait().expect("reap");
        assert_eq!(process_start(pid), None);
    }
}
