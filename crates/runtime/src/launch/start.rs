//! start: create and start a container from its bundle (runc's `create` then `start`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::error::Error;
use crate::filter;

use super::caller::{ensure_single_threaded, CallerState};
use super::{check_id, lc_error, Launcher, Stdio};

impl Launcher {
    /// Creates and starts the container of `bundle` (a dir with config.json whose root.path is an absolute
    /// rootfs) as `id`; returns the pid (in the host pid namespace) of the container's init process, which is a
    /// child of the calling process. The bundle must stay in place until `delete`: libcontainer reads its
    /// config.json again for every `exec`.
    pub fn start(&self, id: &str, bundle: &Path, stdio: Stdio) -> Result<i32, Error> {
        check_id(id)?;
        ensure_single_threaded("start", id)?;
        self.ensure_sealed_caller()?;
        if let Stdio::Pipes { stdout, stderr, .. } = &stdio {
            reject_null_device(stdout, "stdout")?;
            reject_null_device(stderr, "stderr")?;
        }
        let existed = self.state_dir(id).symlink_metadata().is_ok();
        let prepared = filter::prepare(bundle, &self.filter_cache())?;
        let mut builder = self.builder(id, stdio)?;
        if let Some(executor) = prepared.executor {
            builder = builder.with_executor(executor);
        }
        let caller = CallerState::save();
        let named = prepared
            .cgroups_path
            .as_deref()
            .map(crate::cgroupfs::NamedHierarchies::join);
        let created = builder
            .as_init(&prepared.bundle)
            .with_systemd(false)
            .with_detach(true)
            .build();
        drop(named);
        caller.restore();
        let mut container = match created {
            Ok(container) => container,
            Err(err) => {
                let err = lc_error("create", id, err);
                // libcontainer removes what it made when the process side fails, but not when an earlier step
                // (console socket, spec copy) fails after it made the state dir.
                if !existed && !matches!(err, Error::ContainerExists(_)) {
                    if let Err(cleanup) = self.delete(id) {
                        tracing::warn!(id, error = %cleanup, "cleaning up after a failed create");
                    }
                    // The named hierarchies' cgroup is ours to remove, whatever libcontainer left.
                    if let Some(path) = &prepared.cgroups_path {
                        let _ = crate::cgroupfs::mount_points()
                            .and_then(|mounts| crate::cgroupfs::remove_empty(&mounts, path));
                    }
                }
                return Err(err);
            }
        };
        if let Err(err) = container.start() {
            let err = lc_error("start", id, err);
            if let Err(cleanup) = self.delete(id) {
                tracing::warn!(id, error = %cleanup, "cleaning up after a failed start");
            }
            return Err(err);
        }
        container
            .pid()
            .map(|pid| pid.as_raw())
            .ok_or_else(|| Error::Runtime(format!("start container {id}: the runtime recorded no init pid")))
    }
}

/// Refuses the host's null device as a container's stdout/stderr (see [`Stdio::Pipes`]).
fn reject_null_device(fd: &OwnedFd, name: &str) -> Result<(), Error> {
    let file = File::from(fd.try_clone().map_err(|source| Error::Io {
        path: name.into(),
        source,
    })?);
    let meta = file.metadata().map_err(|source| Error::Io {
        path: name.into(),
        source,
    })?;
    if meta.file_type().is_char_device() && meta.rdev() == rustix::fs::makedev(1, 3) {
        return Err(Error::InvalidArgument(format!(
            "the container's {name} is /dev/null, which the runtime reopens read-only: use a pipe or a file"
        )));
    }
    Ok(())
}
