//! The streams of whoever a container or exec'd process is attached to, handed in as fds, and the
//! two ways a process takes them on: as copies of its own stdio, or as its fds 0-2.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The attached caller's streams: the container's output is copied to
/// `stdout` and `stderr` (a tty's all to `stdout`), and `stdin` is read into
/// the container. Any may be absent.
#[derive(Debug, Default)]
pub struct Caller {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Caller {
    /// Copies of this process's own stdio: its stdout and stderr, and its
    /// stdin when `input`.
    pub fn own_stdio(input: bool) -> std::io::Result<Caller> {
        // SAFETY: fds 0, 1 and 2 are this process's stdio, open for its lifetime; they are only
        // borrowed to be duplicated.
        #[allow(unsafe_code)]
        let (stdin, stdout, stderr) = unsafe {
            (
                BorrowedFd::borrow_raw(0),
                BorrowedFd::borrow_raw(1),
                BorrowedFd::borrow_raw(2),
            )
        };
        let dup = |fd: BorrowedFd<'_>| rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(std::io::Error::from);
        Ok(Caller {
            stdin: if input { Some(dup(stdin)?) } else { None },
            stdout: Some(dup(stdout)?),
            stderr: Some(dup(stderr)?),
        })
    }

    /// Makes these streams this process's fds 0-2, /dev/null for each one absent (and for stdin
    /// unless `input`), so that nothing of whoever started the process stays open in it: a forked
    /// monitor or exec helper takes its caller's streams, or none, this way.
    pub fn become_stdio(&self, input: bool) -> std::io::Result<()> {
        let null = File::options().read(true).write(true).open("/dev/null")?;
        let null = null.as_fd();
        let stdin = if input { self.stdin.as_ref() } else { None };
        rustix::stdio::dup2_stdin(stdin.map_or(null, |fd| fd.as_fd()))?;
        rustix::stdio::dup2_stdout(self.stdout.as_ref().map_or(null, |fd| fd.as_fd()))?;
        rustix::stdio::dup2_stderr(self.stderr.as_ref().map_or(null, |fd| fd.as_fd()))?;
        Ok(())
    }
}

/// A pipe whose ends are closed on exec: (read, write).
pub fn cloexec_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}
