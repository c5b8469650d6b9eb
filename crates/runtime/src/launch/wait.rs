//! Waiting for and reaping the container's processes (and orphans, as a child subreaper).

use std::time::Duration;

use rustix::process::{Pid, WaitIdOptions, WaitOptions, WaitStatus};

use crate::error::Error;

/// Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER), so that processes orphaned below it (a
/// container sharing the host pid namespace leaves its daemons behind, for one) are reparented to it and
/// `wait_exit` can reap them. The container's init and exec'd processes are direct children already.
pub fn become_subreaper() -> Result<(), Error> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|err| Error::Runtime(format!("become a child subreaper: {err}")))
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called exit with this code.
    Code(i32),
    /// This signal killed it (SIGKILL from the OOM killer included).
    Signal(i32),
}

impl Exit {
    /// The shell's and Docker's single number: the code, or 128 + the signal.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }
}

/// Blocks until `pid` (our child or reparented to us) exits and returns how; reaps and discards other children
/// that exit meanwhile (use [`wait_child`] to keep their statuses, e.g. for exec'd processes).
pub fn wait_exit(pid: i32) -> Result<Exit, Error> {
    let target = Pid::from_raw(pid).ok_or_else(|| Error::InvalidArgument(format!("invalid pid {pid}")))?;
    // Peek first: waiting for "any child" would block forever on unrelated children if `pid` is not ours.
    match rustix::process::waitid(
        rustix::process::WaitId::Pid(target),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
    ) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(rustix::io::Errno::CHILD) => {
            return Err(Error::Runtime(format!(
                "wait for process {pid}: it is not a child of this process (already reaped, or started by another \
                 process)"
            )))
        }
        Err(err) => return Err(Error::Runtime(format!("wait for process {pid}: {err}"))),
    }
    loop {
        let (reaped, exit) = wait_child()?;
        if reaped == pid {
            return Ok(exit);
        }
        tracing::debug!(pid = reaped, ?exit, "reaped a process");
    }
}

/// [`wait_exit`], but gives up after `timeout`: `None` when `pid` is still running then.
pub fn wait_exit_within(pid: i32, timeout: Duration) -> Result<Option<Exit>, Error> {
    let target = Pid::from_raw(pid).ok_or_else(|| Error::InvalidArgument(format!("invalid pid {pid}")))?;
    let pidfd = rustix::process::pidfd_open(target, rustix::process::PidfdFlags::empty())
        .map_err(|err| Error::Runtime(format!("wait for process {pid}: {err}")))?;
    let timeout = rustix::time::Timespec::try_from(timeout).unwrap_or(rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 });
    let mut fds = [rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN)];
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(0) => Ok(None),
        _ => wait_exit(pid).map(Some),
    }
}

/// Blocks until any child exits; returns its pid and how it ended. Fails when there are no children.
pub fn wait_child() -> Result<(i32, Exit), Error> {
    loop {
        match reap(WaitOptions::empty()) {
            Ok(Some(found)) => return Ok(found),
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::CHILD) => return Err(Error::Runtime("wait: this process has no children".into())),
            Err(err) => return Err(Error::Runtime(format!("wait: {err}"))),
        }
    }
}

/// Reaps one exited child if there is one, without blocking (for a monitor's SIGCHLD handling); `None` when no
/// child has exited, or there are no children.
pub fn try_wait_child() -> Result<Option<(i32, Exit)>, Error> {
    loop {
        match reap(WaitOptions::NOHANG) {
            Ok(found) => return Ok(found),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::CHILD) => return Ok(None),
            Err(err) => return Err(Error::Runtime(format!("wait: {err}"))),
        }
    }
}

/// One wait(2); `None` when NOHANG found nothing (or for a status that is not an exit, which these options do not
/// report).
fn reap(options: WaitOptions) -> Result<Option<(i32, Exit)>, rustix::io::Errno> {
    Ok(rustix::process::wait(options)?
        .and_then(|(pid, status)| exit_of(status).map(|exit| (pid.as_raw_nonzero().get(), exit))))
}

pub(super) fn exit_of(status: WaitStatus) -> Option<Exit> {
    if let Some(code) = status.exit_status() {
        Some(Exit::Code(code))
    } else {
        status.terminating_signal().map(Exit::Signal)
    }
}
