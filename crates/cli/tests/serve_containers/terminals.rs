//! `docker run -it`, detaching with ctrl-p ctrl-q, `docker attach`, and `docker exec -it`, each
//! driven through a pty as a user at a terminal would.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::pty::Pty;
use crate::serve_busybox;

fn wait_child(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("docker did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn docker_run_it_detaches_and_attaches_again() {
    let Some((berth, server)) = serve_busybox() else {
        return;
    };
    let mut command = server.docker_command("docker", &["run", "-it", "--name", "shell", "busybox", "sh"]);
    let (mut pty, mut child) = Pty::spawn_command(&mut command, 30, 100);
    pty.expect("# ");
    pty.send(b"echo typed-$((6*7))\r");
    pty.expect("typed-42");
    // The terminal is the client's size.
    pty.send(b"stty size\r");
    pty.expect("30 100");
    pty.send(b"\x10\x11");
    assert_eq!(wait_child(&mut child), 0, "docker run detached");
    let state = berth.ok(&["inspect", "--format", "{{.State.Status}}", "shell"]);
    assert_eq!(state.trim(), "running", "detaching left the container running");

    let mut command = server.docker_command("docker", &["attach", "shell"]);
    let (mut pty, mut child) = Pty::spawn_command(&mut command, 24, 80);
    // What is typed before the client has attached would go nowhere: give it a moment.
    std::thread::sleep(Duration::from_millis(700));
    pty.send(b"echo back-$((2*3))\r");
    pty.expect("back-6");
    pty.send(b"exit 5\r");
    assert_eq!(
        wait_child(&mut child),
        5,
        "docker attach exits with the container's code"
    );
    let state = berth.ok(&["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "shell"]);
    assert_eq!(state.trim(), "exited 5");
}

#[test]
fn docker_exec_it_runs_a_shell_on_a_terminal() {
    let Some((berth, server)) = serve_busybox() else {
        return;
    };
    server.docker_ok(&["run", "-d", "--name", "host", "busybox", "sleep", "1000"]);
    let mut command = server.docker_command("docker", &["exec", "-it", "host", "sh"]);
    let (mut pty, mut child) = Pty::spawn_command(&mut command, 33, 101);
    pty.expect("# ");
    pty.send(b"[ -t 0 ] && echo tty-$((6*7))\r");
    pty.expect("tty-42");
    pty.send(b"stty size\r");
    pty.expect("33 101");
    pty.send(b"exit 3\r");
    assert_eq!(wait_child(&mut child), 3, "docker exec exits with the process's code");
    // The container runs on.
    let state = berth.ok(&["inspect", "--format", "{{.State.Status}}", "host"]);
    assert_eq!(state.trim(), "running");
    server.docker_ok(&["rm", "-f", "host"]);
}
