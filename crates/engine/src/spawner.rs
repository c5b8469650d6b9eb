//! The fork server: how a caller with threads (the API server) starts a container's monitor or an
//! exec helper as fast as the single-threaded CLI does.
//!
//! The CLI forks those helpers from its own sealed, single-threaded process. A process with threads
//! cannot fork safely, and spawning `berth container-monitor` instead costs an exec of the whole
//! binary and its sealing at every start (about 15 ms of a 60 ms `docker run`). So such a caller
//! starts one `berth container-spawner` (`start_spawner`): it seals itself once, stays
//! single-threaded, and forks a helper per request. A request is one message on a private
//! SOCK_SEQPACKET pair: the job as JSON, and the fds it needs (SCM_RIGHTS). The job's own status
//! pipe is the only answer: the caller reads it as from a helper it started itself, and a job that
//! never started closes it unread. Each helper is forked twice over, so that init adopts it and the
//! spawner has no children to reap; the spawner ends when its caller's end of the pair closes.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use serde::{Deserialize, Serialize};

use crate::containers::exec::Request as ExecRequest;
use crate::{Engine, Error, Options, Result};

/// The most fds one job hands over (a monitor's: status, start lock, stdin, stdout, stderr).
const MAX_FDS: usize = 5;
/// The largest job message; a bigger one (an exec with a huge environment) is started the slow way.
const MAX_MESSAGE: usize = 64 * 1024;

/// What the spawner forks a process for.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Job {
    /// A container's monitor. Fds: the status pipe, the start lock, then the attached caller's
    /// stdin, stdout and stderr.
    Monitor {
        id: String,
        attached: bool,
        open_stdin: bool,
    },
    /// An exec helper. Fds: the status pipe, then the process's stdin, stdout and stderr.
    Exec(ExecRequest),
}

/// One request on the wire: the job, and which of its fd slots came filled, in order.
#[derive(Serialize, Deserialize)]
struct Message {
    job: Job,
    filled: Vec<bool>,
}

/// The caller's side: its end of the pair to a running spawner, started again if it died.
pub(crate) struct Spawner {
    options: Options,
    socket: Mutex<Option<OwnedFd>>,
}

static SPAWNER: OnceLock<Spawner> = OnceLock::new();

/// Starts the fork server for a long-lived caller with threads (the API server): from then on the
/// engine hands it the monitors and exec helpers this process starts. Call once, early.
pub fn start_spawner(options: &Options) -> Result<()> {
    let spawner = Spawner {
        options: options.clone(),
        socket: Mutex::new(None),
    };
    let socket = spawner.launch()?;
    *spawner.socket.lock().unwrap_or_else(|e| e.into_inner()) = Some(socket);
    let _ = SPAWNER.set(spawner);
    Ok(())
}

/// The fork server this process started, if it did.
pub(crate) fn spawner() -> Option<&'static Spawner> {
    SPAWNER.get()
}

impl Spawner {
    /// Hands `job` and its fd slots to the spawner, starting a new one once if the last one is gone.
    /// An error means the job was not handed over: the caller starts it another way.
    pub(crate) fn hand(&self, job: Job, fds: &[Option<BorrowedFd<'_>>]) -> Result<()> {
        let message = Message {
            job,
            filled: fds.iter().map(Option::is_some).collect(),
        };
        let bytes = serde_json::to_vec(&message).map_err(|e| Error::Internal(format!("a spawner job: {e}")))?;
        if bytes.len() > MAX_MESSAGE {
            return Err(Error::Internal("the job is too big for the spawner".into()));
        }
        let fds: Vec<BorrowedFd<'_>> = fds.iter().flatten().copied().collect();
        let mut socket = self.socket.lock().unwrap_or_else(|e| e.into_inner());
        let failed = match socket.as_ref().map(|s| send(s, &bytes, &fds)) {
            Some(Ok(())) => return Ok(()),
            Some(Err(e)) => e,
            None => std::io::Error::from(std::io::ErrorKind::NotConnected),
        };
        tracing::warn!(error = %failed, "the spawner is gone; starting a new one");
        *socket = None;
        let fresh = self.launch()?;
        let sent = send(&fresh, &bytes, &fds);
        *socket = Some(fresh);
        sent.map_err(|e| Error::Stream {
            context: "handing a job to the spawner".into(),
            source: e,
        })
    }

    /// Spawns `berth container-spawner` with the other end of a new pair; returns this end.
    fn launch(&self) -> Result<OwnedFd> {
        let failed = |context: &str, source: std::io::Error| Error::Stream {
            context: context.into(),
            source,
        };
        let (ours, theirs) =
            rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
                .map_err(|e| failed("creating the spawner's socket pair", e.into()))?;
        let exe = crate::berth_executable().map_err(|e| failed("finding the berth binary for the spawner", e))?;
        let mut command = Command::new(exe);
        command
            .arg("--root")
            .arg(&self.options.root)
            .arg("--runroot")
            .arg(&self.options.runroot)
            .arg("container-spawner")
            .arg("--socket-fd")
            .arg(theirs.as_raw_fd().to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        crate::inherit::keep_open_in_child(&mut command, vec![theirs.as_raw_fd()]);
        let child = command.spawn().map_err(|e| failed("starting the spawner", e))?;
        crate::reap::release(child);
        Ok(ours)
    }
}

fn send(socket: &OwnedFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> std::io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(std::io::Error::other("too many fds for one spawner job"));
    }
    rustix::net::sendmsg(socket, &[IoSlice::new(bytes)], &mut control, SendFlags::NOSIGNAL)?;
    Ok(())
}

/// A job as received, its fd slots filled as the message said.
struct Received {
    job: Job,
    fds: Vec<Option<OwnedFd>>,
}

/// Reads the next job. Ok(None) once the caller's end is closed; a malformed message (which only
/// our own caller could send) is an error that skips it.
fn receive(socket: &OwnedFd) -> std::io::Result<Option<Received>> {
    let mut buffer = vec![0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let message = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut buffer)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    // Taken first, so that whatever happens next closes them.
    let mut fds: Vec<OwnedFd> = Vec::new();
    for part in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = part {
            fds.extend(rights);
        }
    }
    if message.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    let malformed = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    if message.flags.intersects(ReturnFlags::TRUNC | ReturnFlags::CTRUNC) {
        return Err(malformed("a truncated job".into()));
    }
    let text = buffer.get(..message.bytes).unwrap_or_default();
    let Message { job, filled } =
        serde_json::from_slice(text).map_err(|e| malformed(format!("a malformed job: {e}")))?;
    if filled.iter().filter(|f| **f).count() != fds.len() {
        return Err(malformed(format!("a job with {} fds, not as announced", fds.len())));
    }
    let mut given = fds.into_iter();
    let fds = filled
        .into_iter()
        .map(|f| if f { given.next() } else { None })
        .collect();
    Ok(Some(Received { job, fds }))
}

/// The `berth container-spawner` process: forks a helper for each job on `socket_fd` until the
/// caller's end closes. Runs sealed and single-threaded (the helpers it forks start containers).
pub fn serve_spawner(options: Options, socket_fd: RawFd) -> i32 {
    // SAFETY: the caller handed this fd open at this number, for this process alone.
    #[allow(unsafe_code)]
    let socket = unsafe { OwnedFd::from_raw_fd(socket_fd) };
    let _ = rustix::io::fcntl_setfd(&socket, rustix::io::FdFlags::CLOEXEC);
    // Not in the server's session: a signal to its process group (ctrl-c) is not for the spawner.
    let _ = rustix::process::setsid();
    let engine = match Engine::open(options) {
        Ok(engine) => engine,
        Err(e) => {
            tracing::error!(error = %e, "the spawner cannot open the data root");
            return 1;
        }
    };
    loop {
        let received = match receive(&socket) {
            Ok(Some(received)) => received,
            Ok(None) => return 0,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                tracing::warn!(error = %e, "the spawner skipped a job");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "the spawner cannot read its socket");
                return 1;
            }
        };
        fork_twice(&engine, &socket, received);
    }
}

/// Runs `job` in a grandchild that init adopts at once: the child between them exits as soon as it
/// has forked, and is reaped here. The job's fds close here as `received` is dropped.
fn fork_twice(engine: &Engine, socket: &OwnedFd, received: Received) {
    // Neither process may carry an open database across the fork (see Store::close_db).
    engine.store().close_db();
    // SAFETY: this process has a single thread (it never starts one), so the child may run any
    // Rust code after the fork; the child never returns from this block: it ends with _exit.
    #[allow(unsafe_code)]
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: the spawner's end of the pair, which no helper may keep: while a helper held it,
        // a dead spawner's caller would not see it gone. The owning object is never dropped here.
        #[allow(unsafe_code)]
        unsafe {
            libc::close(socket.as_fd().as_raw_fd());
        }
        // SAFETY: as above: still one thread; the grandchild ends with _exit too.
        #[allow(unsafe_code)]
        let grandchild = unsafe { libc::fork() };
        let code = match grandchild {
            0 => run_job(engine, received),
            pid if pid > 0 => 0,
            _ => 1,
        };
        // SAFETY: ends the process without running the spawner's destructors or atexit handlers.
        #[allow(unsafe_code)]
        unsafe {
            libc::_exit(code)
        }
    }
    drop(received);
    if let Some(pid) = rustix::process::Pid::from_raw(child) {
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
    } else {
        tracing::error!(error = %std::io::Error::last_os_error(), "the spawner cannot fork");
    }
}

/// The forked helper's body; returns its exit code.
fn run_job(engine: &Engine, received: Received) -> i32 {
    let mut fds = received.fds.into_iter();
    let mut next = || fds.next().flatten();
    match received.job {
        Job::Monitor {
            id,
            attached,
            open_stdin,
        } => {
            let (Some(status), Some(lock)) = (next(), next()) else {
                return 1;
            };
            let mode = match attached {
                true => crate::containers::StartMode::Attached(berth_relay::Caller {
                    stdin: next(),
                    stdout: next(),
                    stderr: next(),
                }),
                false => crate::containers::StartMode::Detached,
            };
            // The shim the monitor becomes takes the status pipe across exec, as from a forking CLI.
            let _ = rustix::io::fcntl_setfd(&status, rustix::io::FdFlags::empty());
            engine.forked_monitor(&id, &mode, open_stdin, status, None, lock.into_raw_fd())
        }
        Job::Exec(request) => {
            let Some(status) = next() else {
                return 1;
            };
            let stdio = crate::containers::exec::HelperStdio {
                stdin: next(),
                stdout: next(),
                stderr: next(),
            };
            engine.forked_exec_helper(&request, stdio, status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (OwnedFd, OwnedFd) {
        rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None).unwrap()
    }

    fn monitor_job(id: &str) -> Job {
        Job::Monitor {
            id: id.into(),
            attached: true,
            open_stdin: false,
        }
    }

    #[test]
    fn a_job_arrives_with_its_fds_in_their_slots() {
        let (ours, theirs) = pair();
        let (read, write) = rustix::pipe::pipe().unwrap();
        let file = tempfile::tempfile().unwrap();
        let other = tempfile::tempfile().unwrap();
        send(
            &ours,
            &serde_json::to_vec(&Message {
                job: monitor_job("abc"),
                filled: vec![true, true, false, true, false],
            })
            .unwrap(),
            &[write.as_fd(), file.as_fd(), other.as_fd()],
        )
        .unwrap();
        let received = receive(&theirs).unwrap().unwrap();
        assert!(matches!(&received.job, Job::Monitor { id, .. } if id == "abc"));
        let filled: Vec<bool> = received.fds.iter().map(Option::is_some).collect();
        assert_eq!(filled, [true, true, false, true, false]);
        // The first slot is the pipe's write end: what goes in comes out of our read end.
        let status = received.fds.into_iter().next().flatten().unwrap();
        rustix::io::write(&status, b"started").unwrap();
        let mut buf = [0u8; 7];
        rustix::io::read(&read, &mut buf).unwrap();
        assert_eq!(&buf, b"started");
    }

    #[test]
    fn lying_or_garbled_messages_are_skipped_and_their_fds_closed() {
        let (ours, theirs) = pair();
        let (read, write) = rustix::pipe::pipe().unwrap();
        // Announces two fds, sends one.
        let lying = serde_json::to_vec(&Message {
            job: monitor_job("x"),
            filled: vec![true, true],
        })
        .unwrap();
        send(&ours, &lying, &[write.as_fd()]).unwrap();
        drop(write);
        let err = receive(&theirs).err().expect("a lying message");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        // The fd that came was closed with the message: the pipe's reader sees its end.
        let mut buf = [0u8; 1];
        assert_eq!(rustix::io::read(&read, &mut buf).unwrap(), 0);
        send(&ours, b"{not json", &[]).unwrap();
        assert_eq!(receive(&theirs).err().unwrap().kind(), std::io::ErrorKind::InvalidData);
        // The caller's end closed: the spawner's loop ends.
        drop(ours);
        assert!(receive(&theirs).unwrap().is_none());
    }
}
