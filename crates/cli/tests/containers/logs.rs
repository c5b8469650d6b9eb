//! `logs`: tail, timestamps, rotation, the none driver, and `--details`.

use crate::common::*;

#[test]
fn logs_tail_timestamps_and_rotation() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&[
        "run",
        "-d",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 100); do echo line-$i; done; echo oops >&2",
    ]);
    let id = id.trim();
    assert_eq!(berth.ok(&["wait", id]).trim(), "0");
    let all = berth.ok(&["logs", id]);
    assert!(all.trim_end().ends_with("line-100"), "{all}");
    assert!(!all.contains("line-1\n"), "rotation dropped the oldest lines");
    let tail = berth.ok(&["logs", "--tail", "3", id]);
    assert_eq!(tail.lines().collect::<Vec<_>>(), vec!["line-99", "line-100"]);
    let out = berth.run(&["logs", "--tail", "1", id]);
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "oops");
    let stamped = berth.ok(&["logs", "-t", "--tail", "2", id]);
    assert!(stamped.starts_with("20") && stamped.contains("Z line-100"), "{stamped}");
    assert_eq!(berth.ok(&["logs", "--since", "2099-01-01T00:00:00Z", id]), "");
    let log = berth.root().join("containers").join(id).join(format!("{id}-json.log"));
    assert!(std::fs::metadata(&log).expect("log").len() <= 1024);
    berth.ok(&["rm", id]);
    let none = berth.ok(&["run", "-d", "--log-driver", "none", "busybox", "echo", "quiet"]);
    berth.ok(&["wait", none.trim()]);
    assert!(berth.fails(&["logs", none.trim()]).contains("does not support reading"));
    berth.ok(&["rm", none.trim()]);
}

#[test]
fn logs_details_show_the_chosen_labels_and_env() {
    let Some(berth) = with_busybox() else { return };
    // One line at once (written by the monitor) and one after its hand-over to the shim.
    let id = berth.ok(&[
        "run",
        "-d",
        "--label",
        "app=web shop",
        "--label",
        "unlisted=x",
        "-e",
        "REGION=eu",
        "--log-opt",
        "labels=app,missing",
        "--log-opt",
        "env=REGION",
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 0.5; echo second >&2",
    ]);
    let id = id.trim();
    assert_eq!(berth.ok(&["wait", id]).trim(), "0");
    assert_eq!(berth.ok(&["logs", "--details", id]), "REGION=eu,app=web+shop first\n");
    let out = berth.run(&["logs", "--details", id]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "REGION=eu,app=web+shop second\n");
    // Without the option the lines are as they were.
    assert_eq!(berth.ok(&["logs", id]), "first\n");
    let stamped = berth.ok(&["logs", "-t", "--details", id]);
    assert!(stamped.contains("Z REGION=eu,app=web+shop first"), "{stamped}");
    berth.ok(&["rm", id]);
    // No attributes: docker still puts the separating space in front.
    let plain = berth.ok(&["run", "-d", "busybox", "echo", "bare"]);
    berth.ok(&["wait", plain.trim()]);
    assert_eq!(berth.ok(&["logs", "--details", plain.trim()]), " bare\n");
    berth.ok(&["rm", plain.trim()]);
}
