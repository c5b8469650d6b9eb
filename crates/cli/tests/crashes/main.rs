//! Kill -9 and races outside the image store (issue 14): each module kills the berth process at
//! random moments of one kind of operation, or runs operations on one object side by side, and
//! checks that what is left is consistent and that nothing leaks.

#[path = "../common/mod.rs"]
mod common;

mod pulls;
mod save;
mod volumes;

use std::process::{Child, Command};
use std::time::Duration;

/// Starts `cmd`, kills it (SIGKILL) after a random delay below `within`, and reaps it.
fn kill_at_random(mut cmd: Command, within: Duration) {
    let mut child: Child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn berth");
    let micros = rand::random::<u64>() % within.as_micros().max(1) as u64;
    std::thread::sleep(Duration::from_micros(micros));
    let _ = child.kill();
    let _ = child.wait();
}
