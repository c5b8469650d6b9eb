//! What driving libcontainer asks of the calling process (sealed, single-threaded) and does to it (`CallerState`).

use std::fs;
use std::time::Duration;

use rustix::process::DumpableBehavior;

use crate::error::Error;

use super::Launcher;

impl Launcher {
    /// The container's processes begin as clones of this one: they must not run a binary they could write
    /// (see [`crate::sealed`]; the process calls `sealed::ensure_sealed` first thing).
    pub(super) fn ensure_sealed_caller(&self) -> Result<(), Error> {
        #[cfg(test)]
        if self.unsealed_caller_ok {
            return Ok(());
        }
        if crate::sealed::is_sealed() {
            return Ok(());
        }
        Err(Error::Unsealed(
            "this process did not re-execute itself sealed before starting a container".into(),
        ))
    }
}

/// libcontainer clones the calling process with a raw clone3 (no fork handlers), and the clone runs Rust code
/// (environment, allocation, logging) before it execs: a lock another thread of ours held at that instant stays
/// locked in the clone forever. Seen here: the container's init hung in `std::env::remove_var` on std's
/// environment lock, on the 67th start from a process with four busy threads. So refuse, instead of hanging.
pub(super) fn ensure_single_threaded(action: &str, id: &str) -> Result<(), Error> {
    // A thread that was just joined can stay counted for up to ~100 µs (seen about once in 2,000 joins here), so
    // look again for a few milliseconds before refusing.
    let mut attempts = 0;
    loop {
        let status = fs::read_to_string("/proc/self/status").map_err(|source| Error::Io {
            path: "/proc/self/status".into(),
            source,
        })?;
        let threads = status.lines().find_map(|l| l.strip_prefix("Threads:")).map(str::trim);
        match threads {
            Some("1") => return Ok(()),
            Some(_) if attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_micros(250));
            }
            Some(n) => {
                return Err(Error::Runtime(format!(
                    "{action} container {id}: the calling process has {n} threads; libcontainer must be driven from \
                     a single-threaded process (the monitor), or its clones can deadlock"
                )))
            }
            None => {
                return Err(Error::Runtime(format!(
                    "{action} container {id}: no thread count in /proc/self/status"
                )))
            }
        }
    }
}

/// What libcontainer changes in the calling process while it creates a container or an exec'd process: it marks
/// it non-dumpable (for the namespace joins) and writes the spec's `process.oomScoreAdj` to its
/// /proc/self/oom_score_adj (children inherit it). The long-lived monitor gets both back afterwards; lowering
/// oom_score_adj needs CAP_SYS_RESOURCE, so that part is best effort.
pub(super) struct CallerState {
    dumpable: Option<DumpableBehavior>,
    oom_score_adj: Option<String>,
    /// SIGPIPE's disposition before we set it to default for the clone.
    sigpipe: libc::sighandler_t,
}

pub(super) const OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";

impl CallerState {
    /// Also puts SIGPIPE back to its default for the container: Rust
    /// programs ignore it, ignored signals survive exec, and a process that
    /// ignores SIGPIPE (like `yes` in `yes | head`) spins forever on EPIPE.
    pub(super) fn save() -> CallerState {
        // SAFETY: signal(2) with a valid signal number and SIG_DFL; the old
        // disposition is kept and put back by `restore`.
        #[allow(unsafe_code)]
        let sigpipe = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        CallerState {
            dumpable: rustix::process::dumpable_behavior().ok(),
            oom_score_adj: fs::read_to_string(OOM_SCORE_ADJ).ok(),
            sigpipe,
        }
    }

    pub(super) fn restore(self) {
        if self.sigpipe != libc::SIG_ERR {
            // SAFETY: puts back the disposition `save` found.
            #[allow(unsafe_code)]
            unsafe {
                libc::signal(libc::SIGPIPE, self.sigpipe);
            }
        }
        if let Some(dumpable) = self.dumpable {
            if let Err(err) = rustix::process::set_dumpable_behavior(dumpable) {
                tracing::debug!(error = %err, "restoring the dumpable flag");
            }
        }
        if let Some(old) = self.oom_score_adj {
            if fs::read_to_string(OOM_SCORE_ADJ).is_ok_and(|now| now != old) {
                if let Err(err) = fs::write(OOM_SCORE_ADJ, old.trim()) {
                    tracing::debug!(error = %err, "restoring oom_score_adj");
                }
            }
        }
    }
}
