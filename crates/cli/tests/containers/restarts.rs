//! Restart policies and `restart`: on-failure counts, restarts racing other commands, stop, kill
//! and rm between two runs, and `system boot` after a reboot.

use std::time::{Duration, Instant};

use crate::assert_gone;
use crate::common::*;
use serde_json::Value;

#[test]
fn restart_on_failure_restarts_exactly_twice() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    let id = id.trim();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = berth.ok(&["inspect", "--format", "{{.State.Status}} {{.RestartCount}}", id]);
        if state.trim() == "exited 2" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {state}: {}",
            berth.ok(&["inspect", "--format", "{{json .State}}", id])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(berth.ok(&["logs", id]).matches("run").count(), 3);
    berth.ok(&["rm", id]);
}

/// Quickly failing containers restart inside their forked monitors while other commands open the store: each
/// monitor must hold its own database locks (a monitor that inherited the CLI's open database died of SIGBUS
/// when the next command reset the shared memory it had mapped).
#[test]
fn quick_restarts_survive_concurrent_commands() {
    let Some(berth) = with_busybox() else { return };
    let ids: Vec<String> = (0..10)
        .map(|_| {
            let id = berth.ok(&[
                "run",
                "-d",
                "--restart",
                "on-failure:4",
                "busybox",
                "sh",
                "-c",
                "exit 1",
            ]);
            id.trim().to_string()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &ids {
        loop {
            let state = berth.ok(&[
                "inspect",
                "--format",
                "{{.State.Status}} {{.RestartCount}}|{{.State.Error}}",
                id,
            ]);
            let (state, error) = state.trim().split_once('|').unwrap_or((&state, ""));
            assert_eq!(error, "", "{id} ({state})");
            if state == "exited 4" {
                break;
            }
            assert!(Instant::now() < deadline, "{id} still {state}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for id in &ids {
        berth.ok(&["rm", id]);
    }
}

/// `stop`, `kill` and `rm -f` reach a container between two runs of its restart loop (no process to signal):
/// each succeeds, and no restart brings the container back.
#[test]
fn a_restarting_container_can_be_stopped_killed_and_removed() {
    let Some(berth) = with_busybox() else { return };
    let restarting = || {
        let id = berth.ok(&["run", "-d", "--restart", "always", "busybox", "sh", "-c", "exit 1"]);
        let id = id.trim().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        while berth.ok(&["inspect", "--format", "{{.State.Status}}", &id]).trim() != "restarting" {
            assert!(Instant::now() < deadline, "{id} never restarted");
            std::thread::sleep(Duration::from_millis(5));
        }
        id
    };
    let stays_stopped = |id: &str| {
        // The last run's own exit, or SIGKILL's if a run was starting as the stop came.
        let code = berth.ok(&["wait", id]);
        assert!(matches!(code.trim(), "1" | "137"), "{id} exited with {code}");
        let before = berth.ok(&["inspect", "--format", "{{.State.Status}} {{.RestartCount}}", id]);
        std::thread::sleep(Duration::from_millis(1000));
        let after = berth.ok(&["inspect", "--format", "{{.State.Status}} {{.RestartCount}}", id]);
        assert_eq!(before, after, "{id} came back");
        assert!(after.starts_with("exited "), "{id}: {after}");
    };
    let id = restarting();
    berth.ok(&["stop", "-t", "5", &id]);
    stays_stopped(&id);
    berth.ok(&["rm", &id]);
    assert_gone(&berth, &id);

    let id = restarting();
    berth.ok(&["kill", &id]);
    stays_stopped(&id);
    berth.ok(&["rm", &id]);
    assert_gone(&berth, &id);

    let id = restarting();
    berth.ok(&["rm", "-f", &id]);
    assert_gone(&berth, &id);
}

/// `restart` starts the new run only once the old run's monitor has torn that run down: it records the exit
/// first, and tearing down a network with many published ports takes long enough that a run started at once
/// lost its root mount and its network to the old monitor (29 restarts in 30 failed so).
#[test]
fn restart_waits_for_the_last_run_to_be_torn_down() {
    let Some(berth) = with_busybox() else { return };
    let mut args = vec!["run".to_string(), "-d".to_string()];
    for port in 1000..1030 {
        args.extend(["-p".to_string(), format!("127.0.0.1::{port}")]);
    }
    args.extend(["busybox", "sleep", "1000"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = berth.ok(&args).trim().to_string();
    for _ in 0..5 {
        berth.ok(&["restart", "-t", "0", &id]);
        let devices = berth.ok(&["exec", &id, "cat", "/proc/net/dev"]);
        assert!(devices.contains("eth0:"), "no network after restart: {devices}");
    }
    berth.ok(&["rm", "-f", &id]);
    assert_gone(&berth, &id);
}

#[test]
fn system_boot_restarts_always_containers() {
    let Some(berth) = with_busybox() else { return };
    let always = berth
        .ok(&["run", "-d", "--restart", "always", "busybox", "sleep", "100"])
        .trim()
        .to_string();
    let plain = berth.ok(&["run", "-d", "busybox", "sleep", "100"]).trim().to_string();
    // Simulate a reboot: kill the monitors and the containers behind berth's back.
    for id in [&always, &plain] {
        let inspect: Value = serde_json::from_str(&berth.ok(&["inspect", id])).expect("json");
        let pid = inspect[0]["State"]["Pid"].as_i64().unwrap_or(0);
        let monitor = parent_of(pid).map(|p| p.to_string()).unwrap_or_default();
        let _ = std::process::Command::new("kill")
            .args(["-9", &monitor, &pid.to_string()])
            .status();
    }
    // The next command notices the dead monitors.
    let deadline = Instant::now() + Duration::from_secs(10);
    while berth.ok(&["ps", "-a"]).matches("Exited").count() < 2 {
        assert!(Instant::now() < deadline, "dead monitors were not noticed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(berth.ok(&["ps", "-q"]).trim(), "");
    let booted = berth.ok(&["system", "boot"]);
    assert_eq!(booted.lines().count(), 1, "{booted}");
    assert_eq!(berth.ok(&["ps", "-q", "--no-trunc"]).trim(), always);
    berth.ok(&["rm", "-f", &always, &plain]);
    assert_gone(&berth, &always);
    assert_gone(&berth, &plain);
}
