//! delete: remove a container's runtime state and cgroups, the quick way when its processes are gone.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libcontainer::container::Container;

use crate::error::Error;

use super::{chain, check_id, lc_error, Launcher};

impl Launcher {
    /// Removes libcontainer's state and the container's cgroup, SIGKILLing whatever still runs in the cgroup
    /// first; tolerant of a container that already exited and of state that is already gone.
    pub fn delete(&self, id: &str) -> Result<(), Error> {
        check_id(id)?;
        let dir = self.state_dir(id);
        if dir.symlink_metadata().is_err() {
            return Ok(());
        }
        if self.delete_exited(&dir) {
            return Ok(());
        }
        let mut container = match Container::load(dir.clone()) {
            Ok(container) => container,
            Err(err) => {
                // No readable state.json: creation stopped right after making the directory, before any process
                // or cgroup existed.
                tracing::debug!(id, error = %chain(&err), "removing runtime state that has no readable state file");
                return remove_dir_all(&dir);
            }
        };
        // The cgroup may stay busy for a moment while SIGKILLed processes exit (libcontainer itself retries for
        // about 100 ms); try a few more times before giving up.
        let cgroup_path = container.spec().ok().map(|config| config.cgroup_path);
        let mut attempt = 0;
        loop {
            match container.delete(true) {
                Ok(()) => {
                    // libcontainer's manager knows only the controllers; the named hierarchies' cgroup is ours.
                    if let Some(path) = &cgroup_path {
                        let _ = crate::cgroupfs::mount_points()
                            .and_then(|mounts| crate::cgroupfs::remove_empty(&mounts, path));
                    }
                    return Ok(());
                }
                Err(err) if attempt < 4 => {
                    attempt += 1;
                    tracing::debug!(id, attempt, error = %chain(&err), "retrying delete");
                    std::thread::sleep(Duration::from_millis(50 * attempt));
                }
                Err(err) => return Err(lc_error("delete", id, err)),
            }
        }
    }

    /// The quick way to delete a container whose processes are all gone (the usual case: the monitor reaped
    /// the init): rmdir of its cgroup in each hierarchy, then the state dir. Returns false, having removed at
    /// most some empty cgroups, when the full delete is needed: processes left in the cgroup, poststop hooks
    /// to run, or state that does not say where the cgroup is.
    fn delete_exited(&self, dir: &Path) -> bool {
        #[derive(serde::Deserialize)]
        struct YoukiConfig {
            hooks: Option<serde_json::Value>,
            cgroup_path: PathBuf,
        }
        let Ok(text) = fs::read(dir.join("youki_config.json")) else {
            return false;
        };
        let Ok(config) = serde_json::from_slice::<YoukiConfig>(&text) else {
            return false;
        };
        // serde reads a null as None.
        if config.hooks.is_some() {
            return false;
        }
        let removed = crate::cgroupfs::mount_points()
            .and_then(|mounts| crate::cgroupfs::remove_empty(&mounts, &config.cgroup_path));
        if let Err(err) = removed {
            tracing::debug!(dir = %dir.display(), error = %err, "cgroup not removable directly; full delete");
            return false;
        }
        remove_dir_all(dir).is_ok()
    }
}

fn remove_dir_all(dir: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}
