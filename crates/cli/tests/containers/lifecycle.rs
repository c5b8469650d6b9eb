//! A container's life after `run -d` or `create`: stop, start, wait, rm, pause, rename, update,
//! exec beside it; commands side by side; its monitor dying, and the shim it idles as.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::{assert_gone, stdout};
use serde_json::Value;

#[test]
fn detached_lifecycle_logs_stop_start_wait_rm() {
    let Some(berth) = with_busybox() else { return };
    let id = berth
        .ok(&[
            "run",
            "-d",
            "--name",
            "ticker",
            "busybox",
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !berth.ok(&["logs", "ticker"]).contains("started") {
        assert!(Instant::now() < deadline, "no output in the log");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ps = berth.ok(&["ps"]);
    assert!(ps.contains("ticker") && ps.contains("Up "), "{ps}");
    assert_eq!(berth.ok(&["ps", "-q"]).trim(), &id[..12]);
    let sized = berth.ok(&["ps", "-s", "--format", "{{.Size}}"]);
    assert!(sized.contains("(virtual "), "{sized}");
    let name_conflict = berth.run(&["run", "-d", "--name", "ticker", "busybox", "true"]);
    assert_eq!(code(&name_conflict), 125);
    assert!(String::from_utf8_lossy(&name_conflict.stderr).contains("already in use"));
    let err = berth.fails(&["rm", "ticker"]);
    assert!(err.contains("stop the container"), "{err}");

    berth.ok(&["stop", "ticker"]);
    assert_eq!(berth.ok(&["wait", "ticker"]).trim(), "0");
    assert!(berth.ok(&["logs", "ticker"]).contains("bye"));
    let inspect: Value = serde_json::from_str(&berth.ok(&["inspect", "ticker"])).expect("json");
    assert_eq!(inspect[0]["State"]["Status"], "exited");
    assert_eq!(inspect[0]["Name"], "/ticker");
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert!(berth.ok(&["ps", "-a"]).contains("Exited (0)"));

    // Start again; a process ignoring TERM is killed after the timeout.
    berth.ok(&["start", "ticker"]);
    assert_eq!(
        berth
            .ok(&["inspect", "--format", "{{.State.Running}}", "ticker"])
            .trim(),
        "true"
    );
    berth.ok(&["rm", "-f", "ticker"]);
    assert_gone(&berth, &id);

    let stubborn = berth.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    let stubborn = stubborn.trim();
    let started = Instant::now();
    berth.ok(&["stop", "-t", "1", stubborn]);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "stop waited for the timeout"
    );
    assert_eq!(berth.ok(&["wait", stubborn]).trim(), "137");
    berth.ok(&["rm", stubborn]);
    assert_gone(&berth, stubborn);
}

/// Two `start`s of one container at once: both succeed and the container runs once (both failed, each on
/// the network namespace the other was setting up).
#[test]
fn concurrent_starts_run_the_container_once() {
    let Some(berth) = with_busybox() else { return };
    for _ in 0..3 {
        let id = berth.ok(&["create", "busybox", "sleep", "1000"]).trim().to_string();
        let starts: Vec<_> = (0..2)
            .map(|_| {
                berth
                    .cmd(&["start", &id])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn start")
            })
            .collect();
        for start in starts {
            let out = start.wait_with_output().expect("start");
            assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        }
        assert_eq!(
            berth.ok(&["inspect", "--format", "{{.State.Status}}", &id]).trim(),
            "running"
        );
        let top = berth.ok(&["top", &id]);
        assert_eq!(top.matches("sleep 1000").count(), 1, "{top}");
        berth.ok(&["rm", "-f", &id]);
    }
}

/// A detached container's monitor writes to its log (run root, containers/ID/monitor.log), whether it was
/// forked or exec'd. When it dies, the next command records the container as exited, and the error quotes
/// the log's last line.
#[test]
fn a_dead_monitor_is_recorded_with_its_last_words() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&["run", "-d", "busybox", "sleep", "1000"]).trim().to_string();
    let pid = berth
        .ok(&["inspect", "--format", "{{.State.Pid}}", &id])
        .trim()
        .to_string();
    let shim = parent_of(&pid).expect("parent pid") as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{shim}/comm"))
        .unwrap_or_default()
        .trim()
        != "berth-shim"
    {
        assert!(Instant::now() < deadline, "no hand-over to berth-shim");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = berth.dir.path().join("run/containers").join(&id).join("monitor.log");
    assert_eq!(
        std::fs::read_link(format!("/proc/{shim}/fd/2")).expect("shim stderr"),
        log
    );
    std::fs::write(&log, "berth-shim: the test's last words\n").expect("write the log");
    let shim = rustix::process::Pid::from_raw(shim).expect("shim pid");
    rustix::process::kill_process(shim, rustix::process::Signal::KILL).expect("kill the shim");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = berth.ok(&["inspect", "--format", "{{.State.Status}}|{{.State.Error}}", &id]);
        if state.starts_with("exited|") {
            assert!(
                state.contains("monitor process died (its log ends: berth-shim: the test's last words)"),
                "{state}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "still {state}");
        std::thread::sleep(Duration::from_millis(20));
    }
    berth.ok(&["rm", "-f", &id]);
    assert_gone(&berth, &id);
}

#[test]
fn ambiguous_prefix_and_unknown_container() {
    let Some(berth) = with_busybox() else { return };
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(berth.ok(&["create", "busybox", "true"]).trim().to_string());
    }
    // Some pair shares a first hex digit among 20 containers.
    let shared = ids
        .iter()
        .find(|a| ids.iter().filter(|b| b.as_bytes()[0] == a.as_bytes()[0]).count() > 1)
        .map(|a| a[..1].to_string())
        .unwrap_or_default();
    let err = berth.fails(&["inspect", "--type", "container", &shared]);
    assert!(err.contains("multiple IDs"), "{err}");
    let err = berth.fails(&["rm", "nosuchcontainer"]);
    assert!(err.contains("No such container"), "{err}");
    for id in &ids {
        berth.ok(&["rm", id]);
    }
}

#[test]
fn parallel_runs_and_removals_keep_state_consistent() {
    let Some(berth) = with_busybox() else { return };
    let children: Vec<_> = (0..20)
        .map(|_| {
            berth
                .cmd(&["run", "-d", "busybox", "sleep", "100"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut ids = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ids.push(stdout(&out).trim().to_string());
    }
    assert_eq!(berth.ok(&["ps", "-q"]).lines().count(), 20);
    let removers: Vec<_> = ids
        .iter()
        .map(|id| {
            berth
                .cmd(&["rm", "-f", id])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut r in removers {
        assert!(r.wait().expect("wait").success());
    }
    assert_eq!(berth.ok(&["ps", "-a", "-q"]).trim(), "");
    for id in &ids {
        assert_gone(&berth, id);
    }
}

#[test]
fn exec_pause_rename_update_top_stats() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "busybox",
        "sh",
        "-c",
        "echo up; sleep 100",
    ]);
    let id = id.trim().to_string();
    let out = berth.ok(&[
        "exec",
        "-e",
        "X=42",
        "-w",
        "/tmp",
        "svc",
        "sh",
        "-c",
        "echo $X $(pwd) $$",
    ]);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(&fields[..2], &["42", "/tmp"]);
    assert_ne!(fields.get(2), Some(&"1"), "exec runs beside init, not as it");
    assert_eq!(berth.ok(&["exec", "-u", "alice", "svc", "id", "-u"]).trim(), "1001");
    assert_eq!(code(&berth.run(&["exec", "svc", "sh", "-c", "exit 4"])), 4);
    assert_eq!(code(&berth.run(&["exec", "svc", "nosuchcommand"])), 127);
    let echoed = berth.run_stdin(&["exec", "-i", "svc", "cat"], b"through stdin\n");
    assert_eq!(stdout(&echoed), "through stdin\n");
    berth.ok(&["exec", "-d", "svc", "touch", "/tmp/detached"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !berth.run(&["exec", "svc", "ls", "/tmp/detached"]).status.success() {
        assert!(Instant::now() < deadline, "exec -d never ran");
        std::thread::sleep(Duration::from_millis(20));
    }

    berth.ok(&["pause", "svc"]);
    assert_eq!(
        berth
            .ok(&["inspect", "--format", "{{.State.Status}} {{.State.Paused}}", "svc"])
            .trim(),
        "paused true"
    );
    assert!(berth.ok(&["ps"]).contains("(Paused)"));
    let frozen =
        std::fs::read_to_string(format!("/sys/fs/cgroup/freezer/berth/{id}/freezer.state")).unwrap_or_default();
    assert!(frozen.is_empty() || frozen.trim() == "FROZEN", "{frozen}");
    berth.fails(&["exec", "svc", "true"]);
    berth.ok(&["unpause", "svc"]);
    assert_eq!(
        berth.ok(&["inspect", "--format", "{{.State.Status}}", "svc"]).trim(),
        "running"
    );

    berth.ok(&["rename", "svc", "renamed"]);
    // A paused container can still be stopped or removed.
    let frozen = berth.ok(&["run", "-d", "busybox", "sleep", "100"]);
    berth.ok(&["pause", frozen.trim()]);
    berth.ok(&["rm", "-f", frozen.trim()]);
    assert_gone(&berth, frozen.trim());
    assert_eq!(berth.ok(&["inspect", "--format", "{{.Name}}", &id]).trim(), "/renamed");
    berth.ok(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--restart",
        "unless-stopped",
        "renamed",
    ]);
    let hc = berth.ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}",
        "renamed",
    ]);
    assert_eq!(hc.trim(), "67108864 50 unless-stopped");
    if let Ok(limit) = std::fs::read_to_string(format!("/sys/fs/cgroup/memory/berth/{id}/memory.limit_in_bytes")) {
        assert_eq!(limit.trim(), "67108864", "update applies to the running container");
    }
    assert_eq!(berth.ok(&["info", "--format", "{{.ContainersRunning}}"]).trim(), "1");
    let df = berth.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"]);
    assert!(df.contains("Containers 1 1"), "{df}");
    let top = berth.ok(&["top", "renamed"]);
    assert!(top.starts_with("UID") && top.contains("sleep 100"), "{top}");
    let stats = berth.ok(&["stats", "--no-stream", "renamed"]);
    assert!(
        stats.contains("MEM USAGE / LIMIT") && stats.contains("renamed"),
        "{stats}"
    );
    berth.ok(&["rm", "-f", "renamed"]);
    assert_gone(&berth, &id);
}

#[test]
fn an_idle_container_costs_a_shim_under_2_mb() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&["run", "-d", "busybox", "sh", "-c", "echo up; sleep 100"]);
    let id = id.trim();
    let pid = berth.ok(&["inspect", "--format", "{{.State.Pid}}", id]);
    let monitor = parent_of(pid.trim()).expect("the container's monitor");
    // The monitor hands the container over to berth-shim (same pid) after its first 100 ms.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{monitor}/comm"))
        .unwrap_or_default()
        .trim()
        != "berth-shim"
    {
        assert!(std::time::Instant::now() < deadline, "no hand-over to berth-shim");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Once it idles (at once, unless the machine is busy), it holds under 2 MB.
    let rss_kb = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{monitor}/status")).expect("shim status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while rss_kb() >= 2048 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let rss_kb = rss_kb();
    assert!(rss_kb < 2048, "idle shim holds {rss_kb} kB");
    // Having let go of its start-up pages, the shim still relays, logs and reaps.
    assert_eq!(berth.ok(&["logs", id]), "up\n");
    berth.ok(&["stop", "-t", "1", id]);
    assert_eq!(berth.ok(&["wait", id]).trim(), "137");
    berth.ok(&["rm", id]);
}

/// `stats -a` shows stopped containers too (the flag was accepted and ignored); without it, running ones.
#[test]
fn stats_all_shows_stopped_containers() {
    let Some(berth) = with_busybox() else { return };
    berth.ok(&["create", "--name", "idle", "busybox", "true"]);
    berth.ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "100"]);
    let running = berth.ok(&["stats", "--no-stream", "--format", "{{.Name}}"]);
    assert_eq!(running, "busy\n");
    let all = berth.ok(&["stats", "--no-stream", "-a", "--format", "{{.Name}} {{.PIDs}}"]);
    let mut lines: Vec<&str> = all.lines().collect();
    lines.sort();
    assert_eq!(lines, ["busy 1", "idle 0"]);
    berth.ok(&["rm", "-f", "busy", "idle"]);
}

#[test]
fn inspect_size_counts_the_writable_layer() {
    let Some(berth) = with_busybox() else { return };
    const WRITTEN: i64 = 3 * 1024 * 1024;
    berth.ok(&[
        "run",
        "--name",
        "writer",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        &format!("head -c {WRITTEN} /dev/zero > /blob"),
    ]);
    let inspect = |args: &[&str]| -> Value {
        let text = berth.ok(args);
        let all: Value = serde_json::from_str(&text).expect("json");
        all[0].clone()
    };
    for args in [
        &["inspect", "-s", "writer"][..],
        &["inspect", "--size", "--type", "container", "writer"],
        &["container", "inspect", "--size", "writer"],
    ] {
        let v = inspect(args);
        let rw = v["SizeRw"]
            .as_i64()
            .unwrap_or_else(|| panic!("{args:?}: no SizeRw in {v}"));
        let root_fs = v["SizeRootFs"].as_i64().expect("SizeRootFs");
        assert!(rw >= WRITTEN, "{args:?}: SizeRw {rw} < {WRITTEN}");
        // The root filesystem is the layer plus the image (busybox's binary alone is some hundreds of KB).
        assert!(root_fs > rw + 100_000, "{args:?}: SizeRootFs {root_fs}, SizeRw {rw}");
    }
    // Without --size both are left out, as Docker leaves them out.
    for args in [&["inspect", "writer"][..], &["container", "inspect", "writer"]] {
        let v = inspect(args);
        let object = v.as_object().expect("an object");
        assert!(
            !object.contains_key("SizeRw") && !object.contains_key("SizeRootFs"),
            "{args:?}"
        );
    }
}
