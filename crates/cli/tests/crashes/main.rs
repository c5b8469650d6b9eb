//! Kill -9 and races outside the image store (issue 14): each module kills the berth process at
//! random moments of one kind of operation, or runs operations on one object side by side, and
//! checks that what is left is consistent and that nothing leaks.

#[path = "../common/mod.rs"]
mod common;

mod builds;
mod check;
mod check_host;
mod containers;
mod networks;
mod ports;
mod pulls;
mod rmi;
mod save;
mod userns;
mod volumes;

use std::process::{Child, Command};
use std::time::Duration;

/// Runs berth with each of `commands` at once and returns their outputs, in order.
fn side_by_side(berth: &common::Berth, commands: &[&[&str]]) -> Vec<std::process::Output> {
    let children: Vec<Child> = commands
        .iter()
        .map(|args| {
            berth
                .cmd(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn berth")
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().expect("wait for berth"))
        .collect()
}

/// Starts `cmd` (its output dropped) and waits a random time below `within`.
fn start_and_wait_at_random(mut cmd: Command, within: Duration) -> Child {
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn berth");
    let micros = rand::random::<u64>() % within.as_micros().max(1) as u64;
    std::thread::sleep(Duration::from_micros(micros));
    child
}

/// How much of berth a kill takes: the CLI process alone, or it and every process it started (the
/// monitor and the container's processes too, as a power cut or an OOM kill of the group would).
#[derive(Clone, Copy, Debug)]
enum Kill {
    Cli,
    Tree,
}

/// `system check` finds nothing wrong in `berth`'s root: run after a kill once the next command has
/// finished or undone what the killed one left.
fn assert_checked(berth: &common::Berth, what: &str) {
    let out = berth.run(&["system", "check"]);
    assert!(
        out.status.success(),
        "{what}: system check:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The lines of /proc/self/mountinfo under the test's directory (its data root and run root).
fn mounts_of_test(berth: &common::Berth) -> Vec<String> {
    let dir = berth
        .root()
        .parent()
        .expect("the test's directory")
        .to_string_lossy()
        .into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mounts
        .lines()
        .filter(|l| l.contains(&dir))
        .map(str::to_string)
        .collect()
}

/// The CLI alone in even rounds, the whole tree in odd ones.
fn kill_mode(round: usize) -> Kill {
    if round.is_multiple_of(2) {
        Kill::Cli
    } else {
        Kill::Tree
    }
}

/// Starts `cmd`, and after a random delay below `within` kills it alone or with its whole process
/// tree (each process is stopped first, so none forks out of reach), and reaps it.
#[allow(unsafe_code)]
fn kill_at_random_as(kill: Kill, cmd: Command, within: Duration) {
    let mut child = start_and_wait_at_random(cmd, within);
    if matches!(kill, Kill::Cli) {
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let root = child.id() as i32;
    let mut tree = vec![root];
    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
    unsafe { libc::kill(root, libc::SIGSTOP) };
    loop {
        let children: Vec<i32> = parents()
            .into_iter()
            .filter(|(pid, ppid)| tree.contains(ppid) && !tree.contains(pid))
            .map(|(pid, _)| pid)
            .collect();
        if children.is_empty() {
            break;
        }
        for pid in children {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            tree.push(pid);
        }
    }
    for pid in &tree {
        // SAFETY: as above.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    let _ = child.wait();
}

/// (pid, parent pid) of every process.
fn parents() -> Vec<(i32, i32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 2..];
            Some((pid, after_name.split(' ').nth(1)?.parse().ok()?))
        })
        .collect()
}

/// Imports a 40 MB image `name` (one layer of bytes that do not compress away), so that saving or
/// removing it takes long enough for a kill to land in the middle.
fn big_image(berth: &common::Berth, name: &str) {
    let tarball = berth.path("big-rootfs.tar");
    if !tarball.exists() {
        big_tarball(berth, &tarball);
    }
    berth.ok(&["import", &tarball.to_string_lossy(), name]);
}

fn big_tarball(berth: &common::Berth, tarball: &std::path::Path) {
    let rootfs = berth.path("big-rootfs");
    std::fs::create_dir_all(&rootfs).expect("mkdir");
    let mut bytes = vec![0u8; 40 << 20];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    }
    std::fs::write(rootfs.join("big"), &bytes).expect("write");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(tarball)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&rootfs);
}
