//! Terminals and streams: `run -it`, detach keys, `attach` and `exec -it`, driven through a real pty.

use std::time::{Duration, Instant};

use crate::common::pty::Pty;
use crate::common::*;
use crate::stdout;

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
