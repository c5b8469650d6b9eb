//! The monitor's main loop: one run after another as the restart policy asks, with Docker's back-off
//! between them, reported on the status pipe.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use berth_runtime::launch;

use super::cleanup::cleanup_runtime;
use super::paths::stop_marker;
use super::record::Monitor;
use super::shim::close_inherited_sockets;
use crate::ContainerState;
use crate::Engine;

/// Reports to whoever started the monitor; a reader that went away is fine.
/// The status pipe, and the container's start lock until the first status line: a start is in
/// progress until the container runs or fails, also when the command that started it was killed, and
/// `rm` waits for it rather than removing a container that then starts without a record.
pub(super) struct Status(Option<File>, Option<OwnedFd>);

impl Status {
    pub(super) fn say(&mut self, line: &str) {
        if let Some(f) = self.0.as_mut() {
            if f.write_all(format!("{line}\n").as_bytes()).is_err() {
                self.0 = None;
            }
        }
        self.1 = None;
    }
}

/// Where a monitor picks up after its shim (see the berth-shim binary):
/// the container's exit status and the restart bookkeeping.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// The exit status the shim reaped (128+N for a signal); None on a first start.
    pub status: Option<i32>,
    pub restarts: u32,
    pub backoff_ms: u64,
    /// When the run that just ended started, in ms since the epoch.
    pub started_ms: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The monitor's main: runs until the container is gone for good. `start_lock_fd` is the starter's
/// start lock (-1: none), held until the container runs or fails to start.
/// Returns the process exit status.
pub fn run(engine: &Engine, id: &str, status_fd: i32, start_lock_fd: i32, attach: bool, resume: Resume) -> i32 {
    // SAFETY: the fd numbers were handed to us by our parent (or the shim we
    // were) for these purposes and nothing else in this process owns them.
    #[allow(unsafe_code)]
    let status_file = (status_fd >= 0).then(|| File::from(unsafe { OwnedFd::from_raw_fd(status_fd) }));
    // SAFETY: as for the status fd: the start lock's fd is ours alone, handed over by the starter.
    #[allow(unsafe_code)]
    let start_lock = (start_lock_fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(start_lock_fd) });
    // Handed over open across exec; nothing this monitor spawns may keep it: a network's DNS
    // server, started by the first container on its network, held it for its whole life, and every
    // `rm` of that container waited for it.
    if let Some(lock) = &start_lock {
        let _ = rustix::io::fcntl_setfd(lock, rustix::io::FdFlags::CLOEXEC);
    }
    let mut status = Status(status_file, start_lock);
    if resume.status.is_none() {
        // Our own session: the terminal's signals for the CLI never reach us.
        let _ = rustix::process::setsid();
        let _ = launch::become_subreaper();
    }

    if resume.status.is_some() {
        // What the shim passed on besides the status pipe (reserved host ports, the attach socket) belonged
        // to the run that just ended.
        close_inherited_sockets(status_fd);
    }
    let container = match engine.container(id) {
        Ok(c) => c,
        Err(e) => {
            status.say(&format!("error 125 {e}"));
            return 125;
        }
    };
    if resume.status.is_none() {
        let _ = fs::remove_file(stop_marker(engine, id));
    }
    let policy = container.config.host.restart_policy;
    let mut monitor = Monitor {
        engine,
        container,
        attach,
        restarts: resume.restarts,
        status_fd,
        held_ports: Vec::new(),
    };
    let mut first = resume.status.is_none();
    let mut backoff = Duration::from_millis(resume.backoff_ms.max(100));
    let mut pending = resume.status.map(|s| (s, resume.started_ms));
    loop {
        let (code, failed_to_start, ran_ms) = match pending.take() {
            Some((exit_status, started_ms)) => (monitor.finish_run(exit_status), false, now_ms() - started_ms),
            None => {
                let started_ms = now_ms();
                match monitor.run_once(&mut status, first, backoff, started_ms) {
                    Ok(code) => (code, false, now_ms() - started_ms),
                    Err((code, message)) => {
                        monitor.record_failure(code, &message);
                        status.say(&format!("error {code} {message}"));
                        (code, true, 0)
                    }
                }
            }
        };
        first = false;
        let stopped_by_user = stop_marker(engine, id).exists();
        let again = !failed_to_start && !stopped_by_user && policy.restarts_after(code, monitor.restarts);
        if !again {
            // discard_container cleans the runtime up itself.
            if monitor.container.config.host.auto_remove {
                let _ = engine.discard_container(id);
                engine.remove_anonymous_volumes(&monitor.container.config);
            } else {
                let _ = cleanup_runtime(engine, id);
            }
            status.say(&format!("exit {code}"));
            return 0;
        }
        // Docker's back-off: doubling from 100 ms, reset after 10 s of running.
        if ran_ms > 10_000 {
            backoff = Duration::from_millis(100);
        }
        monitor.set_state(ContainerState::Restarting);
        // The back-off grows to a minute: a stop or kill during it ends the wait, so it never waits that long.
        let wake = std::time::Instant::now() + backoff;
        while std::time::Instant::now() < wake && !stop_marker(engine, id).exists() {
            std::thread::sleep(
                wake.saturating_duration_since(std::time::Instant::now())
                    .min(Duration::from_millis(20)),
            );
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
        if stop_marker(engine, id).exists() {
            let _ = cleanup_runtime(engine, id);
            monitor.set_state(ContainerState::Exited);
            status.say(&format!("exit {code}"));
            return 0;
        }
        monitor.restarts += 1;
    }
}
