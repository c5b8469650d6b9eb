//! The exec helper: the single-threaded process that makes an exec'd process (its child), reports its
//! pid or why it could not start, waits for it and reports how it ended. From a caller with one
//! thread (the CLI) it is a fork of the caller, which costs no exec; from any other (the API
//! server, a test) it is a fresh `berth container-exec`, which takes its request over a memfd.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use berth_runtime::launch;

use super::{exec_id, Report, Request};
use crate::{Engine, Error, ErrorKind, Options, Result};

/// The helper's ends of the process's stdio (none: the null device; all none with a terminal).
#[derive(Debug, Default)]
pub(crate) struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// A running helper, to be reaped.
#[derive(Debug)]
pub(super) enum Helper {
    Spawned(Child),
    Forked(rustix::process::Pid),
    /// Forked by the spawner: init's to reap, not ours.
    Handed,
}

impl Helper {
    pub fn wait(&mut self) {
        match self {
            Helper::Spawned(child) => {
                let _ = child.wait();
            }
            Helper::Forked(pid) => {
                let _ = rustix::process::waitpid(Some(*pid), rustix::process::WaitOptions::empty());
            }
            Helper::Handed => {}
        }
    }
}

impl Engine {
    /// Starts the helper for `request`, handing it `theirs` and the status pipe's write end; `ours`
    /// are the caller's ends, which a forked helper must not keep open.
    pub(super) fn start_helper(
        &self,
        request: &Request,
        theirs: Stdio,
        status: OwnedFd,
        ours: [Option<&OwnedFd>; 3],
    ) -> Result<Helper> {
        if crate::reap::single_threaded() && berth_runtime::sealed::is_sealed() {
            return self.fork_helper(request, theirs, status, ours);
        }
        if let Some(spawner) = crate::spawner::spawner() {
            let fds = [
                Some(status.as_fd()),
                theirs.stdin.as_ref().map(|fd| fd.as_fd()),
                theirs.stdout.as_ref().map(|fd| fd.as_fd()),
                theirs.stderr.as_ref().map(|fd| fd.as_fd()),
            ];
            match spawner.hand(crate::spawner::Job::Exec(request.clone()), &fds) {
                Ok(()) => return Ok(Helper::Handed),
                Err(e) => tracing::warn!(error = %e, "the spawner could not start the exec helper; spawning one"),
            }
        }
        self.spawn_helper(request, theirs, status)
    }

    fn fork_helper(
        &self,
        request: &Request,
        theirs: Stdio,
        status: OwnedFd,
        ours: [Option<&OwnedFd>; 3],
    ) -> Result<Helper> {
        // Neither process may carry an open database across the fork (see Store::close_db).
        self.store().close_db();
        // SAFETY: this process has a single thread, so the child may run any Rust code after the
        // fork; it never returns into our caller: it ends with _exit.
        #[allow(unsafe_code)]
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            for fd in ours.into_iter().flatten() {
                // SAFETY: the caller's end of a pipe, which this child must not hold open (its
                // stdin would never see an end); the owning object is never dropped here, as the
                // child ends with _exit.
                #[allow(unsafe_code)]
                unsafe {
                    libc::close(fd.as_raw_fd());
                }
            }
            let code = self.forked_exec_helper(request, theirs, status);
            // SAFETY: ends the child without running the parent's destructors or atexit handlers.
            #[allow(unsafe_code)]
            unsafe {
                libc::_exit(code)
            }
        }
        match rustix::process::Pid::from_raw(pid) {
            Some(pid) => Ok(Helper::Forked(pid)),
            None => Err(Error::Stream {
                context: "forking the exec helper".into(),
                source: std::io::Error::last_os_error(),
            }),
        }
    }

    /// A forked helper's work, once it is in its own process group and holds nothing of its
    /// caller's: its process's stdio are `theirs` (or a terminal).
    pub(crate) fn forked_exec_helper(&self, request: &Request, theirs: Stdio, status: OwnedFd) -> i32 {
        // Not in the caller's process group: a ctrl-c at the caller's terminal leaves the process
        // running, as Docker's does.
        let _ = rustix::process::setpgid(None, None);
        // Nor does it hold the caller's stdio: `out=$(berth exec -d ...)` must not wait for it.
        release_stdio();
        let stdio = match (&request.console_socket, theirs.stdout, theirs.stderr) {
            (Some(path), _, _) => Ok(launch::Stdio::Tty {
                console_socket: path.clone(),
            }),
            (None, Some(stdout), Some(stderr)) => Ok(launch::Stdio::Pipes {
                stdin: theirs.stdin,
                stdout,
                stderr,
            }),
            _ => Err(Error::Internal("an exec without stdio".into())),
        };
        serve(self, request, stdio, File::from(status), || {})
    }

    fn spawn_helper(&self, request: &Request, theirs: Stdio, status: OwnedFd) -> Result<Helper> {
        let request = request_memfd(request)?;
        let exe = crate::berth_executable().map_err(|e| Error::Stream {
            context: "finding the berth binary for the exec helper".into(),
            source: e,
        })?;
        let mut cmd = Command::new(exe);
        cmd.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg("container-exec")
            .arg("--request-fd")
            .arg(request.as_raw_fd().to_string())
            .arg("--status-fd")
            .arg(status.as_raw_fd().to_string())
            // Not in the caller's process group: a ctrl-c at the caller's terminal leaves the
            // process running, as Docker's does.
            .process_group(0);
        let stream = |fd: Option<OwnedFd>| fd.map_or_else(std::process::Stdio::null, std::process::Stdio::from);
        cmd.stdin(stream(theirs.stdin))
            .stdout(stream(theirs.stdout))
            .stderr(stream(theirs.stderr));
        crate::inherit::keep_open_in_child(&mut cmd, vec![request.as_raw_fd(), status.as_raw_fd()]);
        let child = cmd.spawn().map_err(|e| Error::Stream {
            context: "starting the exec helper".into(),
            source: e,
        })?;
        Ok(Helper::Spawned(child))
    }
}

/// The helper's work once it has its request and the process's stdio: make the process, report,
/// call `started` (the spawned helper lets go of its own stdio there), wait, report, record the
/// `exec_die` event. Returns the helper's exit code.
fn serve(
    engine: &Engine,
    request: &Request,
    stdio: Result<launch::Stdio>,
    mut status: File,
    started: impl FnOnce(),
) -> i32 {
    let mut say = |report: Report| say(&mut status, &report);
    let pid = match stdio.and_then(|stdio| engine.exec_in_container(&request.container, &request.options, stdio)) {
        Ok(pid) => pid,
        Err(err) => {
            say(Report::failed(&err));
            return 1;
        }
    };
    say(Report::Started { pid });
    started();
    match launch::wait_exit(pid) {
        Ok(exit) => {
            say(Report::Exited { status: exit.status() });
            if let Ok(c) = engine.container(&request.container) {
                let attributes = [("execID", exec_id(&c, pid)), ("exitCode", exit.status().to_string())];
                engine.emit_container(&c, "exec_die", &attributes);
            }
            0
        }
        Err(err) => {
            say(Report::failed(&err.into()));
            1
        }
    }
}

/// One line of the status pipe: a report as JSON. A reader that is gone (its caller was killed)
/// is no reason to stop: the helper goes on waiting for the process.
fn say(status: &mut File, report: &Report) {
    if let Ok(mut line) = serde_json::to_vec(report) {
        line.push(b'\n');
        let _ = status.write_all(&line);
    }
}

/// The `berth container-exec` helper: makes the process the request in `request_fd` asks for, with
/// this process's stdio (or a terminal), reports on `status_fd`, waits for the process and reports
/// how it ended. Returns this process's exit code.
pub fn exec_helper(options: Options, request_fd: RawFd, status_fd: RawFd) -> i32 {
    // SAFETY: the engine that started this helper handed both fds open at these numbers, for
    // this process alone.
    #[allow(unsafe_code)]
    let (request, mut status) = unsafe { (File::from_raw_fd(request_fd), File::from_raw_fd(status_fd)) };
    let opened = read_request(request).and_then(|request| Ok((request, Engine::open(options)?)));
    let (request, engine) = match opened {
        Ok(opened) => opened,
        Err(err) => {
            say(&mut status, &Report::failed(&err));
            return 1;
        }
    };
    let stdio = match &request.console_socket {
        Some(path) => Ok(launch::Stdio::Tty {
            console_socket: path.clone(),
        }),
        None => match berth_relay::Caller::own_stdio(request.stdin) {
            Ok(berth_relay::Caller {
                stdin,
                stdout: Some(stdout),
                stderr: Some(stderr),
            }) => Ok(launch::Stdio::Pipes { stdin, stdout, stderr }),
            Ok(_) => Err(Error::Internal("the exec helper has no stdout or stderr".into())),
            Err(e) => Err(Error::Stream {
                context: "duplicating the exec helper's stdio".into(),
                source: e,
            }),
        },
    };
    // Once the process runs, only it holds its streams: its reader sees their end when it ends.
    serve(&engine, &request, stdio, status, release_stdio)
}

fn read_request(file: File) -> Result<Request> {
    let mut file = file;
    let mut text = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut text))
        .map_err(|e| Error::Stream {
            context: "reading the exec request".into(),
            source: e,
        })?;
    serde_json::from_slice(&text).map_err(|e| Error::Reported {
        kind: ErrorKind::Internal,
        message: format!("a malformed exec request: {e}"),
    })
}

fn request_memfd(request: &Request) -> Result<OwnedFd> {
    let failed = |e: std::io::Error| Error::Stream {
        context: "handing the exec request to its helper".into(),
        source: e,
    };
    let fd = rustix::fs::memfd_create("berth-exec-request", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| failed(e.into()))?;
    let json = serde_json::to_vec(request).map_err(|e| failed(std::io::Error::other(e)))?;
    let mut file = File::from(fd);
    file.write_all(&json).map_err(failed)?;
    Ok(file.into())
}

/// Points fds 0-2 at /dev/null. Failing that (no /dev/null), the helper keeps what it has: a caller
/// that waits for its output then waits for the process as well, which is slow, not wrong.
fn release_stdio() {
    let _ = berth_relay::Caller::default().become_stdio(false);
}
