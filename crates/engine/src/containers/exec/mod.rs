//! `exec`: a process run in a running container, made by a helper process.
//!
//! libcontainer makes the process by cloning its caller, which must have a single thread (see
//! `berth_runtime::launch`). So the engine never execs from its caller's process: it starts
//! `berth container-exec`, a helper whose child the process becomes. The helper reports the
//! process's pid (or why it could not start), then its exit status, one JSON line each on a status
//! pipe. The caller may have any number of threads (the API server does); the process's stdio are
//! pipes or a terminal whose other ends the caller gets back, or fds the caller hands in.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use berth_relay::{Caller, Relay};
use berth_runtime::launch;
use berth_runtime::spec;
use serde::{Deserialize, Serialize};

use super::monitor;

mod helper;

use crate::{Engine, Error, ErrorKind, Result};
pub use helper::exec_helper;
pub(crate) use helper::Stdio as HelperStdio;

/// What `exec` runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub privileged: bool,
}

/// Where an exec'd process's stdio goes.
#[derive(Debug)]
pub enum ExecStdio {
    /// Pipes, whose other ends the caller gets in [`ExecProcess`]; a stdin pipe only when `stdin`
    /// (otherwise the process reads nothing).
    Pipes { stdin: bool },
    /// A pseudo-terminal made in the container; the caller gets its master.
    Tty,
    /// Output into these fds as they are (files, say); the process reads nothing.
    Into { stdout: OwnedFd, stderr: OwnedFd },
}

/// An exec'd process that has started.
#[derive(Debug)]
pub struct ExecProcess {
    pid: i32,
    /// The write end of the process's stdin, when asked for.
    pub stdin: Option<OwnedFd>,
    /// The read ends of its output (pipes mode).
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// With a tty: the terminal's master, which carries output and input and takes resizes.
    pub terminal: Option<OwnedFd>,
    helper: helper::Helper,
    status: BufReader<File>,
}

impl ExecProcess {
    /// The process's pid on the host.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sets the size of the process's terminal (with [`ExecStdio::Tty`]).
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        let Some(master) = &self.terminal else {
            return Err(Error::Conflict("the exec'd process has no terminal to resize".into()));
        };
        set_window_size(master, rows, cols)
    }

    /// A handle on the process's terminal that outlives this value, for a caller that resizes it
    /// while another thread relays and waits; None without a terminal.
    pub fn terminal_handle(&self) -> Result<Option<ExecTerminal>> {
        let Some(master) = &self.terminal else {
            return Ok(None);
        };
        let fd = rustix::io::fcntl_dupfd_cloexec(master, 3).map_err(|e| Error::Stream {
            context: "dup of the exec terminal".into(),
            source: e.into(),
        })?;
        Ok(Some(ExecTerminal(fd)))
    }

    /// Waits for the process to end; returns its exit code (128+N when signal N killed it).
    pub fn wait(mut self) -> Result<i32> {
        let report = read_report(&mut self.status);
        self.helper.wait();
        match report {
            Some(Report::Exited { status }) => Ok(status),
            _ => Err(Error::Reported {
                kind: ErrorKind::Internal,
                message: format!(
                    "the exec helper ended before process {} did: its exit status is lost",
                    self.pid
                ),
            }),
        }
    }

    /// Leaves the process running without waiting for it; the helper is reaped when it ends.
    pub fn detach(self) {
        let mut helper = self.helper;
        std::thread::spawn(move || helper.wait());
    }
}

/// An exec'd process's terminal, to resize (from [`ExecProcess::terminal_handle`]).
#[derive(Debug)]
pub struct ExecTerminal(OwnedFd);

impl ExecTerminal {
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        set_window_size(&self.0, rows, cols)
    }
}

fn set_window_size(master: &OwnedFd, rows: u16, cols: u16) -> Result<()> {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(master, size).map_err(|e| Error::Stream {
        context: "resizing the exec'd process's terminal".into(),
        source: e.into(),
    })
}

/// One line of the helper's status pipe.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Report {
    Started {
        pid: i32,
    },
    Failed {
        kind: String,
        code: Option<i32>,
        message: String,
    },
    Exited {
        status: i32,
    },
}

impl Report {
    fn failed(err: &Error) -> Report {
        let code = match err {
            Error::StartFailed { code, .. } => Some(*code),
            _ => None,
        };
        Report::Failed {
            kind: format!("{:?}", err.kind()),
            code,
            message: err.to_string(),
        }
    }

    fn into_error(kind: &str, code: Option<i32>, message: String) -> Error {
        if let Some(code) = code {
            return Error::StartFailed { code, message };
        }
        let kind = match kind {
            "NotFound" => ErrorKind::NotFound,
            "InvalidArgument" => ErrorKind::InvalidArgument,
            "Conflict" => ErrorKind::Conflict,
            "Unauthorized" => ErrorKind::Unauthorized,
            "Unavailable" => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        Error::Reported { kind, message }
    }
}

fn read_report(status: &mut BufReader<File>) -> Option<Report> {
    let mut line = String::new();
    status.read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

/// What the helper is asked to do, handed over in a memfd (the environment may hold secrets,
/// which a command line would show to every user of the host).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    container: String,
    options: ExecOptions,
    stdin: bool,
    console_socket: Option<PathBuf>,
}

impl Engine {
    /// Starts `options.args` in the running container `name` with the given stdio. Callable from any
    /// thread: the process is made by a helper process.
    pub fn exec_start(&self, name: &str, options: &ExecOptions, stdio: ExecStdio) -> Result<ExecProcess> {
        let c = self.exec_target(name)?;
        // The process joins the container's cgroups: that wait starts now (see cgroup_warmup).
        crate::cgroup_warmup::warm_up();
        let console = match stdio {
            ExecStdio::Tty => Some(self.console_socket()?),
            _ => None,
        };
        let request = Request {
            container: c.id().to_string(),
            options: options.clone(),
            stdin: matches!(stdio, ExecStdio::Pipes { stdin: true }),
            console_socket: console.as_ref().map(|s| s.path().to_path_buf()),
        };
        let (status_r, status_w) = cloexec_pipe()?;
        // The process's stdio: our ends, and the helper's, which it hands to the process.
        let (mut stdin, mut stdout, mut stderr) = (None, None, None);
        let mut theirs = helper::Stdio::default();
        match stdio {
            ExecStdio::Pipes { stdin: wanted } => {
                if wanted {
                    let (r, w) = cloexec_pipe()?;
                    theirs.stdin = Some(r);
                    stdin = Some(w);
                }
                let (out_r, out_w) = cloexec_pipe()?;
                let (err_r, err_w) = cloexec_pipe()?;
                (theirs.stdout, theirs.stderr) = (Some(out_w), Some(err_w));
                (stdout, stderr) = (Some(out_r), Some(err_r));
            }
            ExecStdio::Tty => {}
            ExecStdio::Into { stdout, stderr } => (theirs.stdout, theirs.stderr) = (Some(stdout), Some(stderr)),
        }
        let ours = [stdin.as_ref(), stdout.as_ref(), stderr.as_ref()];
        let mut helper = self.start_helper(&request, theirs, status_w, ours)?;
        let mut status = BufReader::new(File::from(status_r));
        let pid = match read_report(&mut status) {
            Some(Report::Started { pid }) => pid,
            Some(Report::Failed { kind, code, message }) => {
                helper.wait();
                return Err(Report::into_error(&kind, code, message));
            }
            _ => {
                helper.wait();
                return Err(Error::Reported {
                    kind: ErrorKind::Internal,
                    message: "the exec helper ended without starting the process".into(),
                });
            }
        };
        let command = options.args.join(" ");
        for verb in ["exec_create", "exec_start"] {
            self.emit_container(&c, &format!("{verb}: {command}"), &[("execID", exec_id(&c, pid))]);
        }
        let mut process = ExecProcess {
            pid,
            stdin,
            stdout,
            stderr,
            terminal: None,
            helper,
            status,
        };
        if let Some(console) = console {
            process.terminal = Some(console.receive_master(Duration::from_secs(10))?);
        }
        Ok(process)
    }

    /// `exec` attached to the caller's streams (stdin too when the caller gives it; a
    /// pseudo-terminal with `tty`): relays until the process ends, returns its exit code (128+N
    /// for a signal). The detach keys leave a tty process running and return 0.
    pub fn exec_attached(
        &self,
        name: &str,
        options: &ExecOptions,
        tty: bool,
        caller: Caller,
        detach_keys: Vec<u8>,
    ) -> Result<i32> {
        let stdio = match tty {
            true => ExecStdio::Tty,
            false => ExecStdio::Pipes {
                stdin: caller.stdin.is_some(),
            },
        };
        let mut process = self.exec_start(name, options, stdio)?;
        let (outputs, input) = match process.terminal.take() {
            Some(master) => {
                if let Some(out) = &caller.stdout {
                    berth_relay::copy_window_size(out.as_fd(), &master);
                }
                let output = rustix::io::fcntl_dupfd_cloexec(&master, 3).map_err(|e| Error::Stream {
                    context: "dup of the exec terminal".into(),
                    source: e.into(),
                })?;
                (vec![(output, 0)], Some(master))
            }
            None => {
                let outputs = [process.stdout.take(), process.stderr.take()];
                let outputs = outputs.into_iter().zip(0..).filter_map(|(fd, n)| Some((fd?, n)));
                (outputs.collect(), process.stdin.take())
            }
        };
        let mut log = berth_relay::log::Writer::none();
        let mut detached = false;
        Relay {
            outputs,
            input,
            tty,
            log: &mut log,
            caller,
            listener: None,
            detach_keys: if tty { detach_keys } else { Vec::new() },
            size_file: None,
        }
        .run(&mut || detached = true);
        if detached {
            process.detach();
            return Ok(0);
        }
        process.wait()
    }

    /// `exec -d`: starts the process with its output in a file beside the container's runtime
    /// state, and returns once it runs.
    pub fn exec_detached(&self, name: &str, options: &ExecOptions) -> Result<()> {
        let c = self.running(name)?;
        let dir = self.container_run_dir(c.id());
        fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        let path = dir.join("exec-detached.log");
        let open = || {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map(OwnedFd::from)
                .map_err(|e| Error::Io {
                    path: path.clone(),
                    source: e,
                })
        };
        let stdio = ExecStdio::Into {
            stdout: open()?,
            stderr: open()?,
        };
        self.exec_start(name, options, stdio)?.detach();
        Ok(())
    }

    /// Runs a process in a running container from this process, which must be single-threaded
    /// (the exec helper, the health checker); returns its pid, a child of this process (wait with
    /// `launch::wait_exit`).
    pub(crate) fn exec_in_container(&self, name: &str, options: &ExecOptions, stdio: launch::Stdio) -> Result<i32> {
        let c = self.exec_target(name)?;
        let rootfs = self.container_dir(c.id()).join("merged");
        let mut env = c.config.env.clone();
        for e in &options.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        let run = spec::RunSpec {
            rootfs: rootfs.clone(),
            args: options.args.clone(),
            env,
            cwd: options
                .working_dir
                .clone()
                .unwrap_or_else(|| c.config.working_dir.clone()),
            user: options.user.clone().unwrap_or_else(|| c.config.user.clone()),
            group_add: c.config.group_add.clone(),
            hostname: c.config.hostname.clone(),
            privileged: options.privileged || c.config.host.privileged,
            cap_add: c.config.host.cap_add.clone(),
            cap_drop: c.config.host.cap_drop.clone(),
            cgroups_path: monitor::cgroups_path(c.id()),
            ..spec::RunSpec::default()
        };
        // The running container's own view of its files, bind mounts included.
        let view = if c.row.pid > 0 {
            PathBuf::from(format!("/proc/{}/root", c.row.pid))
        } else {
            rootfs.clone()
        };
        monitor::check_executable(&view, &[], &run.args, &run.env)
            .map_err(|(code, message)| Error::StartFailed { code, message })?;
        let oci = spec::build(&run)?;
        let process = oci
            .process()
            .clone()
            .ok_or_else(|| Error::InvalidArgument("the runtime spec has no process".into()))?;
        launch::become_subreaper()?;
        let pid = self.runtime(&c)?.exec(c.id(), &process, stdio)?;
        Ok(pid)
    }

    /// The container `name` if a process can be run in it now.
    fn exec_target(&self, name: &str) -> Result<super::Container> {
        let c = self.running(name)?;
        if !c.row.state.can_exec() {
            return Err(Error::Conflict(format!(
                "container {} is paused, unpause the container before exec",
                c.short_id()
            )));
        }
        Ok(c)
    }

    /// A console socket for one exec's terminal, unique among this process's threads.
    fn console_socket(&self) -> Result<launch::ConsoleSocket> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = self.layout().console();
        fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        let name = format!(
            "exec-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Ok(launch::ConsoleSocket::bind(&dir.join(name))?)
    }
}

/// The ID events give an exec: unique while the process lives.
pub(super) fn exec_id(c: &super::Container, pid: i32) -> String {
    format!("{}-{pid}", c.id())
}

pub(super) fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd)> {
    berth_relay::cloexec_pipe().map_err(|source| Error::Stream {
        context: "creating exec pipes".into(),
        source,
    })
}
