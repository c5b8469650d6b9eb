//! The hand-over to berth-shim: the monitor execs the small shim, which relays and reaps the container and
//! then execs a monitor again to record the exit; and what that monitor closes of what it inherited.

use std::fs;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::paths::{log_path, size_file_path};
use super::record::Monitor;
use crate::containers::logs;

/// The shim binary beside berth, if it is there.
pub(super) fn shim_path() -> Option<PathBuf> {
    let path = crate::berth_executable().ok()?.with_file_name("berth-shim");
    path.is_file().then_some(path)
}

/// Lets an fd survive exec.
fn inherit(fd: &impl std::os::fd::AsFd) -> std::io::Result<i32> {
    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
    Ok(std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()))
}

/// Closes the sockets a resumed monitor inherited from the shim (reserved host ports, the attach
/// socket): they belonged to the run that ended. Files (the store's database) and pipes stay.
pub(super) fn close_inherited_sockets(keep: i32) {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && *fd != keep)
        .collect();
    for fd in fds {
        // SAFETY: borrowed only for the fstat; the fd number comes from our own fd table.
        #[allow(unsafe_code)]
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let is_socket = rustix::fs::fstat(borrowed)
            .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Socket)
            .unwrap_or(false);
        if is_socket {
            // SAFETY: nothing in this process owns these sockets: they were inherited across exec.
            #[allow(unsafe_code)]
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

impl Monitor<'_> {
    /// Becomes berth-shim (same pid, so still the container's parent): it
    /// relays and reaps, then execs `berth container-monitor ... --resume-status`.
    /// Returns only if the exec failed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn exec_shim(
        &self,
        shim: &Path,
        pid: i32,
        outputs: &[(OwnedFd, usize)],
        input: Option<&OwnedFd>,
        listener: &UnixListener,
        backoff: Duration,
        started_ms: i64,
    ) -> std::io::Error {
        use std::os::unix::process::CommandExt;
        let c = &self.container.config;
        let id = &self.container.row.id;
        let mut cmd = std::process::Command::new(shim);
        cmd.arg("--pid").arg(pid.to_string());
        if c.tty {
            cmd.arg("--tty");
        }
        if self.attach {
            cmd.arg("--own-output");
            if c.open_stdin {
                cmd.arg("--own-input");
            }
        }
        cmd.arg("--size-file").arg(size_file_path(self.engine, id));
        let keys: String = self
            .container
            .detach_keys()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        cmd.arg("--detach-keys").arg(keys);
        if c.host.log_type == "json-file" {
            cmd.arg("--log").arg(log_path(self.engine, id));
            if let Some(size) = c.host.log_opts.get("max-size").and_then(|s| logs::parse_size(s)) {
                cmd.arg("--max-size").arg(size.to_string());
            }
            if let Some(files) = c.host.log_opts.get("max-file") {
                cmd.arg("--max-file").arg(files);
            }
            for (k, v) in logs::log_attrs(c) {
                cmd.arg("--log-attr").arg(format!("{k}={v}"));
            }
        }
        let fds = (|| -> std::io::Result<()> {
            if self.status_fd >= 0 {
                cmd.arg("--status-fd").arg(self.status_fd.to_string());
            }
            cmd.arg("--listen-fd").arg(inherit(listener)?.to_string());
            // The shim only keeps them open: a reserved port stays taken while the container runs.
            for fd in &self.held_ports {
                inherit(fd)?;
            }
            if let Some(input) = input {
                cmd.arg("--input-fd").arg(inherit(input)?.to_string());
            }
            for (fd, stream) in outputs {
                cmd.arg("--out").arg(format!("{}:{stream}", inherit(fd)?));
            }
            Ok(())
        })();
        if let Err(e) = fds {
            return e;
        }
        let exe = match crate::berth_executable() {
            Ok(e) => e,
            Err(e) => return e,
        };
        cmd.arg("--")
            .arg(exe)
            .arg("--root")
            .arg(self.engine.root())
            .arg("--runroot")
            .arg(self.engine.runroot())
            .arg("container-monitor");
        if self.status_fd >= 0 {
            cmd.arg("--status-fd").arg(self.status_fd.to_string());
        }
        if self.attach {
            cmd.arg("--attach");
        }
        cmd.arg("--restarts")
            .arg(self.restarts.to_string())
            .arg("--backoff-ms")
            .arg(backoff.as_millis().to_string())
            .arg("--started-ms")
            .arg(started_ms.to_string())
            .arg(id);
        cmd.exec()
    }
}
