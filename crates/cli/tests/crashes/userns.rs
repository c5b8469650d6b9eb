//! `run -d --userns=auto` with a volume, killed at random moments, the CLI alone or its whole process
//! tree: the range is allocated in the create transaction and the namespaces are held by fds, so a
//! kill leaves a whole container or none; after `rm -f` of whatever is listed, no mount (overlay,
//! idmapped volume clone) of this root is left, `system check` finds nothing, and every range is free.

use std::time::Duration;

use crate::common::with_busybox;
use crate::{assert_checked, kill_at_random_as, kill_mode, mounts_of_test};

#[test]
fn killed_userns_runs_leave_nothing_and_free_their_ranges() {
    let Some(berth) = with_busybox() else { return };
    let run = [
        "run",
        "-d",
        "--userns=auto",
        "-v",
        "kept:/data",
        "busybox",
        "sleep",
        "100",
    ];
    for round in 0..10 {
        let kill = kill_mode(round);
        kill_at_random_as(kill, berth.cmd(&run), Duration::from_millis(120));
        let what = format!("{kill:?} round {round}");
        for id in berth.ok(&["ps", "-a", "-q", "--no-trunc"]).lines() {
            berth.ok(&["rm", "-f", id]);
        }
        assert_eq!(mounts_of_test(&berth), Vec::<String>::new(), "{what}: mounts left");
        assert_checked(&berth, &what);
    }
    // Every range went with its container: the next one gets the pool's first.
    let map = berth.ok(&["run", "--rm", "--userns=auto", "busybox", "cat", "/proc/self/uid_map"]);
    assert_eq!(map.split_whitespace().collect::<Vec<_>>(), ["0", "2147483648", "65536"]);
}

/// A monitor killed between attaching a volume's idmapped clone and starting the container leaves the
/// clone attached under the run root: `system check` names it as the container's, and repair detaches it.
#[test]
fn check_finds_and_detaches_a_left_volume_clone() {
    let Some(berth) = with_busybox() else { return };
    let id = berth
        .ok(&["create", "--userns=auto", "-v", "kept:/data", "busybox", "sleep", "100"])
        .trim()
        .to_string();
    // What the monitor attaches (an idmapped clone there), made here as the plain bind it stands for.
    let left = berth.dir.path().join("run/containers").join(&id).join("idmapped/0");
    std::fs::create_dir_all(&left).expect("mkdir");
    let status = std::process::Command::new("mount")
        .args(["--bind", "/tmp"])
        .arg(&left)
        .status()
        .expect("mount");
    assert!(status.success());
    let out = berth.run(&["system", "check"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("idmapped/0: mounted, held by container"), "{report}");
    berth.ok(&["system", "check", "--repair"]);
    assert_eq!(mounts_of_test(&berth), Vec::<String>::new());
    assert_checked(&berth, "after repair");
}
