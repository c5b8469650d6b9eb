//! The fork server behind `berth serve`: the threaded server has its spawner fork each monitor and
//! exec helper (no exec of berth per start), a killed spawner is replaced at the next start, and
//! the spawner ends with the server.

use std::time::{Duration, Instant};

use crate::common::{code, parent_of as parent};
use crate::{said, serve_busybox, text};

/// Live processes whose command line holds all of `words`.
fn processes_with(words: &[&str]) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            words.iter().all(|w| args.iter().any(|a| a == w))
        })
        .collect()
}

/// The server's spawner: its child running `container-spawner`.
fn spawner_of(server: u32) -> Option<u32> {
    processes_with(&["container-spawner"])
        .into_iter()
        .find(|pid| parent(*pid) == Some(server))
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_server_forks_monitors_and_exec_helpers_through_its_spawner() {
    let Some((berth, mut server)) = serve_busybox() else {
        return;
    };
    let server_pid = server.child.id();
    let spawner = spawner_of(server_pid).expect("berth serve started no container-spawner");

    server.docker_ok(&["run", "-d", "--name", "bg", "busybox", "sleep", "600"]);
    let pid: u32 = berth
        .ok(&["inspect", "--format", "{{.State.Pid}}", "bg"])
        .trim()
        .parse()
        .expect("a pid");
    let monitor = parent(pid).expect("the container's monitor");
    // Forked twice over by the spawner, the monitor is init's: neither the server's child (as a
    // spawned `berth container-monitor` was) nor the spawner's.
    let adopted_by = parent(monitor).expect("the monitor's parent");
    assert_ne!(adopted_by, server_pid, "the server spawned the monitor itself");
    assert_ne!(adopted_by, spawner, "the spawner kept the monitor as its child");

    // An exec'd process's helper (its parent) comes from the spawner the same way.
    server.docker_ok(&["exec", "-d", "bg", "sleep", "3001"]);
    let mut exec_pid = None;
    eventually("the exec'd process runs", || {
        exec_pid = processes_with(&["sleep", "3001"]).into_iter().next();
        exec_pid.is_some()
    });
    let helper = exec_pid.and_then(parent).expect("the exec helper");
    assert_ne!(
        parent(helper),
        Some(server_pid),
        "the server spawned the exec helper itself"
    );

    // A killed spawner is replaced at the next start, which works as before.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(spawner as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill the spawner");
    eventually("the killed spawner is gone", || spawner_of(server_pid) != Some(spawner));
    let out = server.docker(&["run", "--rm", "busybox", "sh", "-c", "echo again; exit 5"]);
    assert_eq!(
        (code(&out), text(&out.stdout).as_str()),
        (5, "again\n"),
        "{}",
        said(&out)
    );
    let second = spawner_of(server_pid).expect("no new spawner after the first one was killed");
    assert_ne!(second, spawner);
    let out = server.docker(&["exec", "bg", "echo", "exec-again"]);
    assert_eq!(text(&out.stdout), "exec-again\n", "{}", said(&out));

    // The spawner ends with the server; the containers it started stay theirs (the monitor lives).
    server.stop();
    eventually("the spawner ends with the server", || {
        !std::path::Path::new(&format!("/proc/{second}")).exists()
            || std::fs::read_to_string(format!("/proc/{second}/stat")).is_ok_and(|s| s.contains(") Z "))
    });
    assert!(
        parent(monitor).is_some(),
        "the container's monitor ended with the server"
    );
    berth.ok(&["rm", "-f", "bg"]);
}
