//! The console socket: where the runtime sends a container's pty master ([`Stdio::Tty`]).

use std::fs;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use crate::error::Error;

use super::Stdio;

/// A listening unix socket that receives pty masters from the runtime ([`Stdio::Tty`]). The socket file is
/// removed on drop.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Listens at `path` (absolute; at most 107 bytes, the unix socket limit), replacing a stale file there.
    pub fn bind(path: &Path) -> Result<ConsoleSocket, Error> {
        if !path.is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "console socket {} must be an absolute path",
                path.display()
            )));
        }
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        let listener = UnixListener::bind(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ConsoleSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The [`Stdio`] that sends the pty master here.
    pub fn stdio(&self) -> Stdio {
        Stdio::Tty {
            console_socket: self.path.clone(),
        }
    }

    /// Accepts the runtime's connection and receives the pty master (close-on-exec). Call it after `start` or
    /// `exec` returned: the master is already queued, so this does not block unless that failed; `timeout` bounds
    /// the wait anyway.
    pub fn receive_master(&self, timeout: Duration) -> Result<OwnedFd, Error> {
        let fail = |what: &str, err: &dyn std::fmt::Display| {
            Error::Runtime(format!("console socket {}: {what}: {err}", self.path.display()))
        };
        // accept(2) honours SO_RCVTIMEO on Linux.
        rustix::net::sockopt::set_socket_timeout(&self.listener, rustix::net::sockopt::Timeout::Recv, Some(timeout))
            .map_err(|err| fail("set timeout", &err))?;
        let (stream, _) = self.listener.accept().map_err(|err| match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => fail(
                "accept",
                &format_args!("no connection from the runtime within {timeout:?}"),
            ),
            _ => fail("accept", &err),
        })?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|err| fail("set timeout", &err))?;
        let mut data = [0u8; 64];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        rustix::net::recvmsg(
            &stream,
            &mut [IoSliceMut::new(&mut data)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(|err| fail("receive", &err))?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = message {
                if let Some(fd) = fds.next() {
                    return Ok(fd);
                }
            }
        }
        Err(fail("receive", &"the runtime sent no pty master"))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
