//! exec into a container with a user namespace of its own. libcontainer 0.7's tenant joins the
//! container's ipc, uts, net, pid, mount, cgroup and time namespaces, never its user namespace
//! (`NAMESPACE_TYPES` in its tenant_builder.rs): a process exec'd into a `--userns=auto` container
//! would run as the host's root. So the tenant is built by a forked child that has joined the user
//! namespace first; the exec'd process is adopted by the caller (a child subreaper) when that child
//! exits, and the caller itself never leaves the host's user namespace.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::error::Error;

/// The user namespace of process `pid` when it is not the caller's.
pub(super) fn foreign_userns(pid: i32) -> Result<Option<File>, Error> {
    let open = |path: String| {
        File::open(&path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    };
    let theirs = open(format!("/proc/{pid}/ns/user"))?;
    let ours = open("/proc/self/ns/user".to_string())?;
    let ino = |f: &File| rustix::fs::fstat(f).map(|s| (s.st_dev, s.st_ino));
    match (ino(&theirs), ino(&ours)) {
        (Ok(a), Ok(b)) if a == b => Ok(None),
        (Ok(_), Ok(_)) => Ok(Some(theirs)),
        (Err(e), _) | (_, Err(e)) => Err(Error::Runtime(format!("user namespace of process {pid}: {e}"))),
    }
}

/// Runs `start` (which starts a process and returns its pid) in a forked child that joined `userns`;
/// returns that pid once the child is gone and the process is the caller's. The caller must be a
/// child subreaper and single-threaded.
pub(super) fn start_in(userns: File, start: impl FnOnce() -> Result<i32, Error>) -> Result<i32, Error> {
    let (read, write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::Runtime(format!("pipe: {e}")))?;
    // SAFETY: the caller is single-threaded (checked by Launcher::exec), so the child inherits no lock
    // another thread held and may run ordinary Rust code, as libcontainer's own clones do.
    #[allow(unsafe_code)]
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::Runtime(format!("fork: {}", std::io::Error::last_os_error())));
    }
    if child == 0 {
        drop(read);
        let outcome = move_into_link_name_space(userns.as_fd(), Some(LinkNameSpaceType::User))
            .map_err(|e| Error::Runtime(format!("joining the container's user namespace: {e}")))
            .and_then(|()| start());
        let report = match outcome {
            Ok(pid) => format!("ok {pid}"),
            Err(e) => format!("err {e}"),
        };
        let _ = File::from(write).write_all(report.as_bytes());
        // SAFETY: ends the forked child without running the parent's exit handlers twice.
        #[allow(unsafe_code)]
        unsafe {
            libc::_exit(0)
        }
    }
    drop(write);
    let mut report = String::new();
    let read_done = File::from(read).read_to_string(&mut report);
    let mut status = 0;
    // SAFETY: reaps the child forked above; once it is reaped, the process it started is ours.
    #[allow(unsafe_code)]
    unsafe {
        libc::waitpid(child, &mut status, 0)
    };
    read_done.map_err(|e| Error::Runtime(format!("reading the exec starter's report: {e}")))?;
    match report.split_once(' ') {
        Some(("ok", pid)) => pid
            .parse()
            .map_err(|_| Error::Runtime(format!("the exec starter reported {report:?}"))),
        Some(("err", message)) => Err(Error::Runtime(message.to_string())),
        _ => Err(Error::Runtime(format!(
            "the exec starter ended without a report (wait status {status})"
        ))),
    }
}
