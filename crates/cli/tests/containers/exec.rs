//! `exec` through its helper process: what the caller's streams and signals do to it.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;

/// Runs `cmd` to its end on a thread; None if it has not ended within `limit` (a hang, not a
/// timing: the limit is far above any normal run).
fn output_within(mut cmd: std::process::Command, limit: Duration) -> Option<std::process::Output> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(cmd.output().expect("run berth"));
    });
    rx.recv_timeout(limit).ok()
}

/// Whether a process with exactly this command line runs in the container.
fn runs(berth: &Berth, container: &str, command: &str) -> bool {
    berth
        .ok(&["exec", container, "ps", "-o", "args"])
        .lines()
        .any(|l| l.trim() == command)
}

/// A running container `box` to exec into.
fn start_box(berth: &Berth) {
    berth.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
}

#[test]
fn exec_detached_returns_without_holding_the_callers_output_open() {
    let Some(berth) = with_busybox() else { return };
    start_box(&berth);
    // `output()` waits for the end of stdout and stderr: a helper that kept the caller's streams
    // would hold it until `sleep 900` ends.
    let out = output_within(
        berth.cmd(&["exec", "-d", "box", "sleep", "900"]),
        Duration::from_secs(60),
    )
    .expect("exec -d held the caller's stdout open after it returned");
    assert!(out.status.success(), "{out:?}");
    assert!(runs(&berth, "box", "sleep 900"));
    berth.ok(&["rm", "-f", "box"]);
}

#[test]
fn a_ctrl_c_at_the_callers_terminal_leaves_the_exec_running() {
    let Some(berth) = with_busybox() else { return };
    start_box(&berth);
    // The CLI in a process group of its own, as a shell runs a foreground job; the terminal's
    // ctrl-c is SIGINT to that whole group.
    let mut cli = berth.cmd(&["exec", "box", "sleep", "901"]);
    cli.stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    let mut cli = cli.spawn().expect("berth exec");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !runs(&berth, "box", "sleep 901") {
        assert!(Instant::now() < deadline, "the exec'd process never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let group = rustix::process::Pid::from_raw(cli.id() as i32).expect("pid");
    rustix::process::kill_process_group(group, rustix::process::Signal::INT).expect("SIGINT");
    let status = cli.wait().expect("wait");
    assert!(!status.success(), "the CLI took the ctrl-c");
    assert!(runs(&berth, "box", "sleep 901"), "the exec'd process died with the CLI");
    // Its helper lives on too, to see it end and record how.
    let ps = berth.ok(&["exec", "box", "ps", "-o", "pid,args"]);
    let pid = ps
        .lines()
        .find(|l| l.trim_end().ends_with("sleep 901"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the sleep's pid")
        .to_string();
    berth.ok(&["exec", "box", "kill", &pid]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let died = berth.ok(&[
            "events",
            "--since",
            "5m",
            "--until",
            "0s",
            "--filter",
            "event=exec_die",
            "--format",
            "{{.Actor.Attributes.exitCode}}",
        ]);
        if died.lines().any(|code| code == "143") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no exec_die for the interrupted exec: {died:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    berth.ok(&["rm", "-f", "box"]);
}
