//! A `--rm` container whose monitor is killed is removed by the next command that notices it, as
//! its monitor would have removed it: no record, no mount, no cgroup, no process left (it stayed in
//! `ps -a` as exited).

use std::fs;
use std::path::Path;

use crate::common::{with_busybox, Berth};

#[test]
#[allow(unsafe_code)]
fn a_rm_container_whose_monitor_was_killed_is_removed_when_noticed() {
    let Some(berth) = with_busybox() else { return };
    for round in 0..3 {
        let (id, pid) = sleeper(&berth, &["--rm"]);
        // The monitor (or the shim it became) is the container's parent.
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
        let monitor: i32 = after_name.split(' ').nth(1).expect("ppid").parse().expect("ppid");
        assert!(monitor > 1, "round {round}: no monitor");
        // SAFETY: kill(2) with a pid and a signal number has no memory effects.
        assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
        while Path::new(&format!("/proc/{monitor}")).exists()
            && !fs::read_to_string(format!("/proc/{monitor}/stat"))
                .unwrap_or_default()
                .contains(") Z")
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let listed = berth.ok(&["ps", "-a", "-q", "--no-trunc"]);
        assert!(
            !listed.contains(&id),
            "round {round}: the --rm container stays: {listed}"
        );
        assert_nothing_left(&berth, &id, pid, round);
    }
}

/// `rm -f` of a running container killed at random moments: the container is listed or gone, a
/// second `rm -f` removes what is left, and no mount, cgroup or process of it survives.
#[test]
fn a_killed_rm_f_is_finished_by_the_next_one() {
    let Some(berth) = with_busybox() else { return };
    for round in 0..10 {
        let (id, pid) = sleeper(&berth, &[]);
        crate::kill_at_random_as(
            crate::kill_mode(round),
            berth.cmd(&["rm", "-f", &id]),
            std::time::Duration::from_millis(60),
        );
        let listed = berth.ok(&["ps", "-a", "-q", "--no-trunc"]);
        if listed.contains(&id) {
            berth.ok(&["rm", "-f", &id]);
        }
        assert!(
            !berth.ok(&["ps", "-a", "-q", "--no-trunc"]).contains(&id),
            "round {round}"
        );
        assert_nothing_left(&berth, &id, pid, round);
        crate::assert_checked(&berth, &format!("round {round}"));
    }
}

/// Starts `busybox sleep 100` detached with `flags`; returns its id and the pid of its process.
fn sleeper(berth: &Berth, flags: &[&str]) -> (String, i32) {
    let mut args = vec!["run", "-d", "--network", "none"];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sleep", "100"]);
    let id = berth.ok(&args).trim().to_string();
    let pid = berth
        .ok(&["inspect", "--format", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .expect("pid");
    (id, pid)
}

/// No mount, cgroup, file or process of container `id` (process `pid`) is left.
fn assert_nothing_left(berth: &Berth, id: &str, pid: i32, round: usize) {
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(id), "round {round}: a mount of the container is left");
    assert!(
        !Path::new(&format!("/sys/fs/cgroup/pids/berth/{id}")).exists(),
        "round {round}: cgroup left"
    );
    assert!(
        !berth.root().join("containers").join(id).exists(),
        "round {round}: files left"
    );
    let alive = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z"))
        .unwrap_or(false);
    assert!(!alive, "round {round}: the container's process still runs");
}
