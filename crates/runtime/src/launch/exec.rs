//! exec: run an extra process in a running container (docker exec).

use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use libcontainer::container::Container;

use crate::error::Error;
use crate::filter;

use super::caller::{ensure_single_threaded, CallerState};
use super::{check_id, lc_error, Launcher, Stdio};

impl Launcher {
    /// Runs an extra process in a running container (docker exec); returns its pid, a child of the calling
    /// process. `process` is used as given (args, env, cwd, user, capabilities, rlimits, apparmor, no new
    /// privileges), except that `terminal` is set from `stdio`. Fails if the container is not running (paused
    /// included) or the executable cannot be run.
    pub fn exec(&self, id: &str, process: &oci_spec::runtime::Process, stdio: Stdio) -> Result<i32, Error> {
        check_id(id)?;
        ensure_single_threaded("exec in", id)?;
        self.ensure_sealed_caller()?;
        let dir = self.state_dir(id);
        if !dir.is_dir() {
            return Err(Error::NoSuchContainer(id.to_owned()));
        }
        let mut process = process.clone();
        process.set_terminal(Some(matches!(stdio, Stdio::Tty { .. })));
        let (executor, userns) = match Container::load(dir.clone()) {
            Ok(container) => {
                let userns = match container.pid() {
                    Some(pid) => super::userns_join::foreign_userns(pid.as_raw())?,
                    None => None,
                };
                (filter::prepare_exec(container.bundle(), &mut process)?, userns)
            }
            Err(err) => return Err(lc_error("exec in", id, err)),
        };
        let json = serde_json::to_vec(&process)
            .map_err(|err| Error::Runtime(format!("exec in container {id}: encode the process: {err}")))?;
        // libcontainer takes an exec'd process only as a process.json path.
        let path = dir.join(format!("berth-exec-{}.json", unique_suffix()));
        fs::write(&path, json).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let result = self.builder(id, stdio).and_then(|mut builder| {
            if let Some(executor) = executor {
                builder = builder.with_executor(executor);
            }
            let start = || {
                let caller = CallerState::save();
                let pid = builder.as_tenant().with_detach(true).with_process(Some(&path)).build();
                caller.restore();
                pid.map(|pid| pid.as_raw()).map_err(|err| lc_error("exec in", id, err))
            };
            match userns {
                Some(userns) => super::userns_join::start_in(userns, start),
                None => start(),
            }
        });
        if let Err(err) = fs::remove_file(&path) {
            tracing::debug!(path = %path.display(), error = %err, "removing the exec process file");
        }
        result
    }
}

pub(super) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
