//! End-to-end: running containers through the real binary, with a busybox
//! image, real namespaces and cgroups.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Nothing of the container may remain: mounts, cgroups, files.
fn assert_gone(berth: &Berth, id: &str) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(id), "a mount of {id} remains");
    for controller in [
        "memory", "pids", "cpu", "freezer", "devices", "blkio", "cpuset", "unified",
    ] {
        let cg = Path::new("/sys/fs/cgroup").join(controller).join("berth").join(id);
        assert!(!cg.exists(), "cgroup {} remains", cg.display());
    }
    assert!(
        !berth.root().join("containers").join(id).exists(),
        "the container's files remain"
    );
    let console = std::fs::read_dir(berth.dir.path().join("run/console"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(
        !console.iter().any(|f| f.starts_with(&id[..12])),
        "console files remain: {console:?}"
    );
    assert!(
        !berth.dir.path().join("run/runtime").join(id).exists(),
        "the runtime's state remains"
    );
}

#[test]
fn run_basics_pid_one_hostname_env_workdir_user() {
    let Some(berth) = with_busybox() else { return };
    assert_eq!(berth.ok(&["run", "--rm", "busybox", "sh", "-c", "echo $$"]).trim(), "1");
    let ps = berth.ok(&["run", "--rm", "busybox", "ps", "-o", "pid"]);
    assert!(
        ps.lines().count() <= 3,
        "the container sees only its own processes:\n{ps}"
    );
    assert_eq!(
        berth
            .ok(&["run", "--rm", "--hostname", "box1", "busybox", "hostname"])
            .trim(),
        "box1"
    );
    let env_file = berth.path("env.list");
    std::fs::write(&env_file, "FROM_FILE=yes\n# comment\n").expect("write");
    let out = berth.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "--env-file",
        env_file.to_str().unwrap_or_default(),
        "-w",
        "/tmp",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING $FROM_FILE $(pwd)",
    ]);
    assert_eq!(out.trim(), "hi yes /tmp");
    assert_eq!(
        berth
            .ok(&["run", "--rm", "-u", "1000:1000", "busybox", "id", "-u"])
            .trim(),
        "1000"
    );
    assert_eq!(
        berth
            .ok(&["run", "--rm", "-u", "1000:1000", "busybox", "id", "-g"])
            .trim(),
        "1000"
    );
    let alice = berth.ok(&["run", "--rm", "-u", "alice", "busybox", "id"]);
    assert!(
        alice.contains("uid=1001") && alice.contains("gid=1002") && alice.contains("2000"),
        "{alice}"
    );
    // The default hostname is the short container ID.
    let id = berth.ok(&["run", "-d", "busybox", "hostname"]).trim().to_string();
    assert_eq!(berth.ok(&["wait", &id]).trim(), "0");
    assert_eq!(berth.ok(&["logs", &id]).trim(), &id[..12]);
    berth.ok(&["rm", &id]);
    assert_gone(&berth, &id);
}

#[test]
fn exit_codes_follow_docker() {
    let Some(berth) = with_busybox() else { return };
    assert_eq!(code(&berth.run(&["run", "--rm", "busybox", "true"])), 0);
    assert_eq!(code(&berth.run(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])), 3);
    assert_eq!(code(&berth.run(&["run", "--rm", "busybox", "nosuchcommand"])), 127);
    assert_eq!(code(&berth.run(&["run", "--rm", "busybox", "/etc/passwd"])), 126);
    assert_eq!(code(&berth.run(&["run", "--rm", "nosuchimage"])), 125);
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--memory", "abc", "busybox", "true"])),
        125
    );
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--cpus", "-1", "busybox", "true"])),
        125
    );
    let out = berth.run(&["run", "--rm", "-u", "nosuchuser", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchuser"));
    // A program that only a bind mount brings is found, by path and on PATH, and exec sees it too.
    let tools = berth.path("tools");
    std::fs::create_dir_all(&tools).expect("tools");
    std::fs::write(tools.join("hello"), "#!/bin/sh\necho bound\n").expect("script");
    std::fs::set_permissions(tools.join("hello"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let bind = format!("{}:/opt/tools:ro", tools.display());
    assert_eq!(
        berth.ok(&["run", "--rm", "-v", &bind, "busybox", "/opt/tools/hello"]),
        "bound\n"
    );
    let file_bind = format!("{}:/usr/local/bin/hello:ro", tools.join("hello").display());
    assert_eq!(
        berth.ok(&["run", "--rm", "-v", &file_bind, "busybox", "hello"]),
        "bound\n"
    );
    let id = berth
        .ok(&["run", "-d", "-v", &bind, "busybox", "sleep", "100"])
        .trim()
        .to_string();
    assert_eq!(berth.ok(&["exec", &id, "/opt/tools/hello"]), "bound\n");
    assert_eq!(code(&berth.run(&["exec", &id, "/opt/tools/nothere"])), 127);
    berth.ok(&["kill", &id]);
    assert_eq!(berth.ok(&["wait", &id]).trim(), "137");
    berth.ok(&["rm", &id]);
    // Failed runs leave no container behind.
    assert_eq!(berth.ok(&["ps", "-a", "-q"]).trim(), "", "no half-created containers");
}

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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("container stat");
    let shim: i32 = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
        .expect("parent pid");
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
fn limits_and_confinement() {
    let Some(berth) = with_busybox() else { return };
    // A memory hog dies inside the container only.
    let out = berth.run(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\000' a); echo survived",
    ]);
    assert_eq!(code(&out), 137, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        berth.ok(&["inspect", "--format", "{{.State.OOMKilled}}", "hog"]).trim(),
        "true"
    );
    berth.ok(&["rm", "hog"]);
    // A fork bomb is contained by the pids limit: each child that got forked
    // says so, and busybox sh gives up at the first fork the kernel refuses.
    let out = berth.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 100); do (echo forked; exec sleep 5) & done; wait",
    ]);
    let forked = stdout(&out).matches("forked").count();
    assert!(forked < 20, "pids limit not applied: {forked} children forked");
    // The control: without the limit all 100 fork.
    let free = berth.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 100); do (echo forked; exec sleep 1) & done; wait",
    ]);
    assert_eq!(stdout(&free).matches("forked").count(), 100);
    assert!(String::from_utf8_lossy(&out.stderr).contains("can't fork"));
    // Default capabilities deny mount and raw sockets.
    let mount = berth.run(&["run", "--rm", "busybox", "mount", "-t", "tmpfs", "none", "/mnt"]);
    assert_ne!(code(&mount), 0, "mount must be denied");
    let raw = berth.run(&["run", "--rm", "busybox", "sh", "-c", "ping -c 1 -W 1 127.0.0.1 2>&1"]);
    let text = stdout(&raw);
    assert!(
        !text.contains("1 packets received"),
        "raw sockets must be denied: {text}"
    );
    // --read-only denies writes outside tmpfs.
    let ro = berth.run(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /scratch/ok && touch /denied",
    ]);
    assert_ne!(code(&ro), 0);
    assert!(
        String::from_utf8_lossy(&ro.stderr).contains("Read-only"),
        "{}",
        String::from_utf8_lossy(&ro.stderr)
    );
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
        let monitor = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().nth(1))
                    .map(String::from)
            })
            .unwrap_or_default();
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

/// A pseudo-terminal for driving `run -it` and `attach` as a user would.
struct Pty {
    master: std::fs::File,
}

impl Pty {
    /// Spawns berth with its stdin, stdout and stderr on a new pty's slave.
    fn spawn(berth: &Berth, args: &[&str]) -> (Pty, std::process::Child) {
        Pty::spawn_sized(berth, args, 24, 80)
    }

    /// The same, with a terminal of `rows` x `cols`.
    fn spawn_sized(berth: &Berth, args: &[&str], rows: u16, cols: u16) -> (Pty, std::process::Child) {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, size).expect("window size");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().expect("utf-8 pts name"))
            .expect("open slave");
        let child = berth
            .cmd(args)
            .stdin(slave.try_clone().expect("dup"))
            .stdout(slave.try_clone().expect("dup"))
            .stderr(slave)
            .spawn()
            .expect("spawn");
        let master = std::fs::File::from(master);
        rustix::fs::fcntl_setfl(&master, rustix::fs::OFlags::NONBLOCK).expect("nonblock");
        (Pty { master }, child)
    }

    /// Reads until `want` shows up (or fails after 10 s); returns all read.
    fn expect(&mut self, want: &str) -> String {
        use std::io::Read;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.master.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&seen).contains(want) {
                        return String::from_utf8_lossy(&seen).into_owned();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        panic!(
            "never saw {want:?} on the terminal; got {:?}",
            String::from_utf8_lossy(&seen)
        );
    }

    fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).expect("write to pty");
    }
}

fn wait_child(child: &mut std::process::Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "berth did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interactive_tty_detach_and_attach() {
    let Some(berth) = with_busybox() else { return };
    let (mut pty, mut child) = Pty::spawn_sized(&berth, &["run", "-it", "--name", "shell", "busybox", "sh"], 40, 120);
    pty.expect("# ");
    pty.send(b"stty size\r");
    pty.expect("40 120");
    // A real terminal inside: stdin is a tty, and what we type is run.
    pty.send(b"[ -t 0 ] && echo is-a-$((6*7))-tty\r");
    pty.expect("is-a-42-tty");
    // ctrl-p ctrl-q detaches; the container keeps running.
    pty.send(b"\x10\x11");
    assert_eq!(wait_child(&mut child), 0);
    assert_eq!(
        berth.ok(&["inspect", "--format", "{{.State.Status}}", "shell"]).trim(),
        "running"
    );
    // attach brings the terminal back, at the attaching terminal's size;
    // the shell's exit code is attach's.
    let (mut pty, mut child) = Pty::spawn_sized(&berth, &["attach", "shell"], 33, 101);
    std::thread::sleep(Duration::from_millis(300));
    pty.send(b"stty size\r");
    pty.expect("33 101");
    pty.send(b"echo back-$((1+1))\r");
    pty.expect("back-2");
    pty.send(b"exit 3\r");
    assert_eq!(wait_child(&mut child), 3);
    assert_eq!(berth.ok(&["wait", "shell"]).trim(), "3");
    assert!(
        berth.ok(&["logs", "shell"]).contains("is-a-42-tty"),
        "a tty's output is logged"
    );
    berth.ok(&["rm", "shell"]);
}

#[test]
fn attach_streams_stdout_and_stderr_apart() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; for i in 1 2 3; do echo out-$i; echo err-$i >&2; sleep 0.1; done; exit 4",
    ]);
    let out = berth.run(&["attach", id.trim()]);
    assert_eq!(code(&out), 4);
    assert!(
        stdout(&out).contains("out-3") && !stdout(&out).contains("err-"),
        "{}",
        stdout(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("err-3"));
    berth.ok(&["rm", id.trim()]);
}

#[test]
fn init_forwards_signals_and_reaps_orphans() {
    let Some(berth) = with_busybox() else { return };
    let out = berth.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "echo $$; cat /proc/1/cmdline",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("2"), "the command runs under the init: {out}");
    assert!(
        lines.next().unwrap_or_default().starts_with("/sbin/docker-init"),
        "{out}"
    );
    // An orphan that exits is reaped by the init: no zombie remains.
    let zombies = berth.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "sh -c 'sleep 0.2 & exit 0'; sleep 1; ps -o stat | grep -c Z || true",
    ]);
    assert_eq!(zombies.trim(), "0");
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"])),
        7
    );
    // The init passes SIGTERM on, so stop needs no timeout.
    let id = berth.ok(&["run", "-d", "--init", "busybox", "sleep", "100"]);
    // Once the init runs its command it holds every signal; before that a
    // pid 1 drops TERM, as with any init.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !berth.ok(&["top", id.trim()]).contains("sleep 100") {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    berth.ok(&["stop", id.trim()]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(berth.ok(&["wait", id.trim()]).trim(), "143");
    berth.ok(&["rm", id.trim()]);
}

#[test]
fn external_runtime_runc() {
    let Some(berth) = with_busybox() else { return };
    if !need("runc") {
        return;
    }
    assert_eq!(
        berth
            .ok(&["run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "echo $$"])
            .trim(),
        "1"
    );
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "exit 5"])),
        5
    );
    let id = berth.ok(&["run", "-d", "--runtime", "runc", "busybox", "sleep", "100"]);
    let id = id.trim();
    assert_eq!(berth.ok(&["exec", id, "sh", "-c", "echo inside"]).trim(), "inside");
    assert_eq!(
        berth.ok(&["inspect", "--format", "{{.HostConfig.Runtime}}", id]).trim(),
        "runc"
    );
    berth.ok(&["rm", "-f", id]);
    assert_gone(&berth, id);
    assert!(
        !berth.dir.path().join("run/runtime-runc").join(id).exists(),
        "runc's state remains"
    );
    let out = berth.run(&["run", "--rm", "--runtime", "nosuchruntime", "busybox", "true"]);
    assert_eq!(code(&out), 125);
}

#[test]
fn exec_with_a_tty() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&["run", "-d", "busybox", "sleep", "100"]);
    let id = id.trim();
    let (mut pty, mut child) = Pty::spawn(&berth, &["exec", "-it", id, "sh"]);
    pty.expect("# ");
    pty.send(b"[ -t 0 ] && echo exec-tty-$((2+3))\r");
    pty.expect("exec-tty-5");
    pty.send(b"exit 4\r");
    assert_eq!(wait_child(&mut child), 4);
    berth.ok(&["rm", "-f", id]);
}

#[test]
fn custom_detach_keys() {
    let Some(berth) = with_busybox() else { return };
    let (mut pty, mut child) = Pty::spawn(
        &berth,
        &[
            "run",
            "-it",
            "--detach-keys",
            "ctrl-a,x",
            "--name",
            "keys",
            "busybox",
            "sh",
        ],
    );
    pty.expect("# ");
    // ctrl-p ctrl-q is just input now; ctrl-a x detaches.
    pty.send(b"\x10\x11echo still-$((3*3))\r");
    pty.expect("still-9");
    pty.send(b"\x01x");
    assert_eq!(wait_child(&mut child), 0);
    assert_eq!(
        berth.ok(&["inspect", "--format", "{{.State.Running}}", "keys"]).trim(),
        "true"
    );
    let bad = berth.run(&["run", "--detach-keys", "ctrl-1", "busybox", "true"]);
    assert_eq!(code(&bad), 125);
    berth.ok(&["rm", "-f", "keys"]);
}

#[test]
fn run_flags_take_effect() {
    let Some(berth) = with_busybox() else { return };
    let cidfile = berth.path("cid");
    let out = berth.ok(&[
        "run",
        "--name",
        "flags",
        "--cidfile",
        cidfile.to_str().unwrap_or_default(),
        "--ulimit",
        "nofile=1024:2048",
        "--add-host",
        "db.example:10.1.2.3",
        "--group-add",
        "1234",
        "--label",
        "team=core",
        "--security-opt",
        "no-new-privileges",
        "--shm-size",
        "1m",
        "--tmpfs",
        "/scratch:size=2m",
        "--device",
        "/dev/null:/dev/mynull",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; grep db.example /etc/hosts; id -G; grep NoNewPrivs /proc/self/status; \
         grep /dev/shm /proc/mounts; grep /scratch /proc/mounts; echo x > /dev/mynull && echo device-ok",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1024");
    assert_eq!(lines[1], "2048");
    assert!(
        lines[2].starts_with("10.1.2.3") && lines[2].contains("db.example"),
        "{out}"
    );
    assert!(lines[3].split_whitespace().any(|g| g == "1234"), "{out}");
    assert!(lines[4].ends_with('1'), "{out}");
    assert!(lines[5].contains("size=1024k"), "{out}");
    assert!(lines[6].contains("size=2048k"), "{out}");
    assert_eq!(lines[7], "device-ok");
    let id = std::fs::read_to_string(&cidfile).expect("cidfile");
    assert_eq!(
        berth
            .ok(&["ps", "-a", "-q", "--no-trunc", "--filter", "label=team=core"])
            .trim(),
        id
    );
    berth.ok(&["rm", "flags"]);
    // An explicit limit above the host's hard limit is refused up front.
    let too_many = berth.run(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=999999999:999999999",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&too_many), 125);
    assert!(String::from_utf8_lossy(&too_many.stderr).contains("nofile"));
    // cgroup settings land in the container's cgroup.
    let id = berth.ok(&[
        "run",
        "-d",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "busybox",
        "sleep",
        "100",
    ]);
    let id = id.trim();
    let read = |f: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{f}")).map(|s| s.trim().to_string());
    if let Ok(quota) = read(&format!("cpu/berth/{id}/cpu.cfs_quota_us")) {
        assert_eq!(quota, "50000");
        assert_eq!(read(&format!("cpu/berth/{id}/cpu.shares")).unwrap_or_default(), "512");
        assert_eq!(read(&format!("cpuset/berth/{id}/cpuset.cpus")).unwrap_or_default(), "0");
    }
    // The stop signal is the container's.
    berth.ok(&["rm", "-f", id]);
    let id = berth.ok(&[
        "run",
        "-d",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "5",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 9' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !berth.ok(&["logs", id]).contains("ready") {
        assert!(Instant::now() < deadline, "the trap was never set");
        std::thread::sleep(Duration::from_millis(20));
    }
    berth.ok(&["stop", id]);
    assert_eq!(berth.ok(&["wait", id]).trim(), "9");
    berth.ok(&["rm", id]);
}

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

#[test]
fn capabilities_privileged_and_seccomp_options() {
    let Some(berth) = with_busybox() else { return };
    let mount = "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo mounted";
    assert_ne!(code(&berth.run(&["run", "--rm", "busybox", "sh", "-c", mount])), 0);
    assert_eq!(
        berth
            .ok(&["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", mount])
            .trim(),
        "mounted"
    );
    assert_eq!(
        berth
            .ok(&["run", "--rm", "--privileged", "busybox", "sh", "-c", mount])
            .trim(),
        "mounted"
    );
    // Dropping a default capability takes it away.
    let chown = berth.run(&["run", "--rm", "busybox", "chown", "1:1", "/tmp"]);
    assert_eq!(code(&chown), 0, "{}", String::from_utf8_lossy(&chown.stderr));
    assert_ne!(
        code(&berth.run(&["run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "1:1", "/tmp"])),
        0
    );
    assert_ne!(
        code(&berth.run(&["run", "--rm", "--cap-drop", "ALL", "busybox", "chown", "1:1", "/tmp"])),
        0
    );
    // Seccomp: the default profile is on; unconfined and a custom profile are honoured.
    let seccomp = "grep Seccomp: /proc/self/status";
    assert!(berth.ok(&["run", "--rm", "busybox", "sh", "-c", seccomp]).contains('2'));
    let off = berth.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "sh",
        "-c",
        seccomp,
    ]);
    assert!(off.trim().ends_with('0'), "{off}");
    let profile = berth.path("deny-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .expect("write profile");
    let custom = format!("seccomp={}", profile.display());
    assert_ne!(
        code(&berth.run(&["run", "--rm", "--security-opt", &custom, "busybox", "mkdir", "/tmp/x"])),
        0
    );
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--security-opt", &custom, "busybox", "true"])),
        0
    );
    let bad = berth.run(&["run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true"]);
    assert_eq!(code(&bad), 125);
}

/// The status lines of a process that say what it may do: capability sets, seccomp, no_new_privs.
fn privileges(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(":\t"))
        .filter(|(k, _)| k.starts_with("Cap") || k.starts_with("Seccomp") || *k == "NoNewPrivs")
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn precompiled_seccomp_leaves_exactly_the_requested_privileges() {
    // berth loads the compiled filter itself just before the exec, borrowing CAP_SYS_ADMIN (and CAP_SETPCAP)
    // for that moment: the workload must see exactly the requested capabilities, the filter, and no
    // no_new_privs, in run and in exec, as root and as another user.
    let Some(berth) = with_busybox() else { return };
    let status = "cat /proc/self/status";
    // Docker's default set without NET_RAW: chown, dac_override, fowner, fsetid, kill, setgid, setuid,
    // setpcap, net_bind_service, sys_chroot, mknod, audit_write, setfcap.
    let defaults = "00000000a80405fb";
    let root = privileges(&berth.ok(&["run", "--rm", "busybox", "sh", "-c", status]));
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(root[set], defaults, "{set}: {root:?}");
    }
    assert_eq!(root["CapInh"], "0000000000000000", "{root:?}");
    assert_eq!(root["CapAmb"], "0000000000000000", "{root:?}");
    assert_eq!(root["Seccomp"], "2", "{root:?}");
    assert_eq!(
        root["Seccomp_filters"], "1",
        "one filter, not ours and libcontainer's: {root:?}"
    );
    assert_eq!(root["NoNewPrivs"], "0", "{root:?}");

    let user = privileges(&berth.ok(&["run", "--rm", "-u", "1000", "busybox", "sh", "-c", status]));
    assert_eq!(user["CapEff"], "0000000000000000", "{user:?}");
    assert_eq!(user["CapPrm"], "0000000000000000", "{user:?}");
    assert_eq!(user["CapBnd"], defaults, "{user:?}");
    assert_eq!(user["Seccomp"], "2", "{user:?}");
    assert_eq!(user["NoNewPrivs"], "0", "{user:?}");

    // Without CAP_SETPCAP of its own the container still ends up without the borrowed pair.
    let none = privileges(&berth.ok(&["run", "--rm", "--cap-drop", "ALL", "busybox", "sh", "-c", status]));
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(none[set], "0000000000000000", "{set}: {none:?}");
    }
    assert_eq!(none["Seccomp"], "2", "{none:?}");
    // Asked for, CAP_SYS_ADMIN stays (bit 21).
    let admin = privileges(&berth.ok(&["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", status]));
    assert_eq!(admin["CapEff"], "00000000a82405fb", "{admin:?}");
    assert_eq!(admin["Seccomp"], "2", "{admin:?}");
    // no-new-privileges needs no borrowing at all.
    let nnp = privileges(&berth.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sh",
        "-c",
        status,
    ]));
    assert_eq!(nnp["CapEff"], defaults, "{nnp:?}");
    assert_eq!(
        (nnp["Seccomp"].as_str(), nnp["NoNewPrivs"].as_str()),
        ("2", "1"),
        "{nnp:?}"
    );

    // exec'd processes get the same treatment.
    let id = berth.ok(&["run", "-d", "busybox", "sleep", "60"]);
    let id = id.trim();
    let exec = privileges(&berth.ok(&["exec", id, "sh", "-c", status]));
    assert_eq!(exec["CapEff"], defaults, "{exec:?}");
    assert_eq!(exec["CapBnd"], defaults, "{exec:?}");
    assert_eq!(exec["Seccomp"], "2", "{exec:?}");
    assert_eq!(exec["Seccomp_filters"], "1", "{exec:?}");
    let exec_user = privileges(&berth.ok(&["exec", "-u", "1000", id, "sh", "-c", status]));
    assert_eq!(exec_user["CapEff"], "0000000000000000", "{exec_user:?}");
    assert_eq!(exec_user["Seccomp"], "2", "{exec_user:?}");
    // And the filter is the default profile's: mount is refused in exec too.
    assert_ne!(
        code(&berth.run(&["exec", id, "mount", "-t", "tmpfs", "none", "/mnt"])),
        0
    );
    berth.ok(&["rm", "-f", id]);
}

#[test]
fn sigpipe_is_default_and_workdir_is_created() {
    let Some(berth) = with_busybox() else { return };
    // berth itself ignores SIGPIPE (as Rust programs do); containers must not
    // inherit that, or `yes | head` never ends.
    let started = Instant::now();
    let out = berth.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "yes piped | head -c 100000 | wc -c",
    ]);
    assert_eq!(out.trim(), "100000");
    assert!(started.elapsed() < Duration::from_secs(20));
    let id = berth.ok(&["run", "-d", "busybox", "sleep", "100"]);
    assert_eq!(
        berth
            .ok(&["exec", id.trim(), "sh", "-c", "yes x | head -c 10 | wc -c"])
            .trim(),
        "10"
    );
    berth.ok(&["rm", "-f", id.trim()]);
    // A missing working directory is created, as docker does.
    assert_eq!(
        berth
            .ok(&["run", "--rm", "-w", "/made/by/berth", "busybox", "pwd"])
            .trim(),
        "/made/by/berth"
    );
}

#[test]
fn runs_on_a_cgroup2_only_view() {
    let Some(berth) = with_busybox() else { return };
    if !need("unshare") {
        return;
    }
    // A private mount namespace where /sys/fs/cgroup is a plain cgroup2
    // mount, as on a host without cgroup v1: berth takes the v2 paths there.
    let script = format!(
        "umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && \
         BERTH_ROOT={root} BERTH_RUNROOT={run} {bin} run --rm busybox cat /proc/self/cgroup",
        root = berth.root().display(),
        run = berth.dir.path().join("run").display(),
        bin = env!("CARGO_BIN_EXE_berth"),
    );
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // On cgroup v2 the container gets a cgroup namespace of its own.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().last(), Some("0::/"));
}

#[test]
fn an_idle_container_costs_a_shim_under_2_mb() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&["run", "-d", "busybox", "sh", "-c", "echo up; sleep 100"]);
    let id = id.trim();
    let pid = berth.ok(&["inspect", "--format", "{{.State.Pid}}", id]);
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).expect("container stat");
    let monitor = stat[stat.rfind(')').expect("comm") + 2..]
        .split_whitespace()
        .nth(1)
        .expect("ppid")
        .to_string();
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
