//! kill, pause and resume: signals to a running container's init, and the cgroup freezer.

use libcontainer::container::ContainerStatus;
use rustix::process::{Pid, Signal};

use crate::error::Error;

use super::{lc_error, Launcher};

impl Launcher {
    /// Sends `signal` to the container's init process. Succeeds when the process is already gone. SIGKILL to a
    /// paused container also thaws it (a cgroup v1 freezer holds even SIGKILL until the thaw).
    ///
    /// The init process stays a zombie child of the monitor until `wait_exit` reaps it, so its pid cannot be
    /// reused before then; do not call `kill` after reaping it (call `delete`).
    pub fn kill(&self, id: &str, signal: i32) -> Result<(), Error> {
        let sig = to_signal(signal)?;
        let mut container = self.load(id)?;
        let pid = match (container.status(), container.pid()) {
            (ContainerStatus::Stopped, _) | (_, None) => return Ok(()),
            (_, Some(pid)) => pid,
        };
        let Some(pid) = Pid::from_raw(pid.as_raw()) else {
            return Ok(());
        };
        match rustix::process::kill_process(pid, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(err) => {
                return Err(Error::Runtime(format!(
                    "signal {signal} to container {id} (pid {pid}): {err}"
                )))
            }
        }
        if sig == Signal::KILL && container.status() == ContainerStatus::Paused {
            container.resume().map_err(|err| lc_error("thaw", id, err))?;
        }
        Ok(())
    }

    /// Freezes every process of the container (cgroup freezer).
    pub fn pause(&self, id: &str) -> Result<(), Error> {
        self.load(id)?.pause().map_err(|err| lc_error("pause", id, err))
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<(), Error> {
        self.load(id)?.resume().map_err(|err| lc_error("resume", id, err))
    }
}

#[allow(unsafe_code)]
fn to_signal(signal: i32) -> Result<Signal, Error> {
    if let Some(sig) = Signal::from_named_raw(signal) {
        return Ok(sig);
    }
    // Real-time signals (glibc reserves 32 and 33 for itself; the kernel accepts up to 64).
    if (34..=64).contains(&signal) {
        // SAFETY: `signal` is a valid Linux signal number; it is only sent to another process, never installed or
        // raised here, so libc's internal use of some real-time signals is not disturbed.
        return Ok(unsafe { Signal::from_raw_unchecked(signal) });
    }
    Err(Error::InvalidArgument(format!("invalid signal {signal}")))
}
