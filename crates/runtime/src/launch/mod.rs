//! The monitor's interface to youki's libcontainer (0.7): create and start an OCI bundle in-process,
//! exec into it, signal, pause, resume and delete it, and reap its processes.
//!
//! # How libcontainer is driven (found with real runs on Linux 6.18, hybrid cgroups)
//! - **start** = `ContainerBuilder::new(id, SyscallType::Linux).with_root_path(state_root)` plus stdio, then
//!   `.as_init(bundle).with_systemd(false).with_detach(true).build()` (runc's `create`: state dir, copy of the
//!   spec, cgroups, namespaces, mounts, pivot_root; the init then blocks on a notify socket), then
//!   `Container::start()` (runc's `start`: a write to that socket, the init execs). `build` checks that the
//!   executable exists in the container (`executable 'x' not found in $PATH` comes back as an error).
//! - **exec** = the same base builder, `.as_tenant().with_detach(true).with_process(Some(path))`: libcontainer only
//!   takes an exec'd process as a process.json file, written into the container's state dir and removed after.
//!   `build` returns the pid once the process has exec'd (or the reason it could not).
//! - **kill** is our own kill(2) of the init pid from state.json: `Container::kill` records the container as
//!   Stopped after any signal (the next load sees it running again, but a paused container loses its Paused
//!   state). **pause/resume** are `Container::pause`/`resume` (the freezer). **delete** of a
//!   container whose processes are gone is our own rmdir of its cgroup in each hierarchy (the path from
//!   youki_config.json) and of the state dir ([`crate::cgroupfs`]); otherwise `Container::delete(force = true)`:
//!   SIGKILL to every pid of the cgroup, rmdir of each cgroup dir (retried for about 100 ms; we retry a few times
//!   more), then the state dir.
//! - **Root path**: `with_root_path` canonicalises; `<root>/<id>/` holds state.json, config.json (youki's copy),
//!   notify.sock, and the console-socket symlink. Without it libcontainer uses /run/youki.
//! - **systemd off**: `with_systemd` defaults to *true*; without the crate's `systemd` feature a cgroup v2 host with
//!   a relative cgroupsPath would then fail. On v1/hybrid hosts the flag is ignored.
//! - **detach**: the init builder defaults to detached, the tenant builder does not. It only feeds the terminal
//!   check: `terminal: true` needs detach plus a console socket, and a console socket without both is refused.
//!   There is no foreground mode in the library: the caller always gets the pid back and waits itself.
//!
//! # Processes
//! The caller clones an intermediate process (clone3, SIGCHLD), which enters the namespaces and clones the init
//! with CLONE_PARENT, so **the init and every exec'd process are direct children of the caller** (checked via
//! PPid in the tests); libcontainer reaps the intermediate itself. [`wait_exit`] therefore works without a
//! subreaper; [`become_subreaper`] is for orphans below the container (a container in the host pid namespace).
//! The init is pid 1 of a new pid namespace with the default spec.
//!
//! Stdio fds given to the builder are dup2'd onto 0-2 in the init; the builder drops its copies when `build`
//! returns, so only the container holds the write ends (EOF when it exits). After pivot_root the init replaces any
//! of fds 0-2 whose device is the null device with the container's /dev/null opened **read-only**: hence never
//! the host's /dev/null as stdout/stderr.
//!
//! With a console socket, libcontainer symlinks the given path as `<root>/<id>/console-socket`, **chdirs the
//! calling process** into that dir to connect (it `unwrap`s `current_dir()`, so the monitor's cwd must exist, and
//! a relative socket path would be read relative to the state dir), and passes the connection to the init, which
//! opens a pty in the container's devpts, mounts the slave on /dev/console, makes it fds 0-2 and the controlling
//! terminal, and sends the master (`SCM_RIGHTS`, data `/dev/ptmx`). The master is queued before `start`
//! returns. In that mode the init fstat()s the fds 0-2 it inherited from the caller, so they must be open.
//!
//! libcontainer also marks the caller non-dumpable and writes the spec's `process.oomScoreAdj` into the caller's
//! /proc/self/oom_score_adj; we restore both afterwards (`CallerState`). A spec asking for a *lower*
//! oomScoreAdj than the monitor's fails here, as lowering needs CAP_SYS_RESOURCE.
//!
//! # Cgroups on this hybrid host
//! libcgroups sees tmpfs on /sys/fs/cgroup plus cgroup2 on /sys/fs/cgroup/unified ("hybrid") and uses only the v1
//! manager; the cgroup2 tree is not touched. An absolute cgroupsPath like `/berth-test/<id>` becomes
//! `/sys/fs/cgroup/<controller>/berth-test/<id>` for each mounted v1 controller (cpu, cpuacct, cpuset, memory,
//! devices, freezer, blkio, pids), from the hierarchy's root rather than the caller's cgroup (a relative path is
//! joined to the root too). Controllers that are not v1 here (hugetlb, perf_event, net_cls, net_prio) are skipped
//! with a `warn!` from `libcgroups` on every manager creation (start, delete, pause...: filter that target to
//! `error`); a spec that sets hugepage limits fails. Without `linux.cgroupsPath` libcontainer uses
//! `:youki:<id>` as a literal directory name, so berth's specs must always set it. The tests check that
//! memory.limit_in_bytes and pids.max carry the limits, that a 100 MB `dd` buffer under a 32 MiB limit dies
//! by SIGKILL with `oom_kill 1` in memory.oom_control, and that forks past pids.max fail (pids.events). Without
//! `memory.swap` in the spec no memsw limit is written: on a host with swap the spec must set it (Docker uses
//! twice the memory limit), or the container swaps freely past its limit.
//!
//! # Single-threaded callers only
//! The clones are raw clone3 calls (no fork handlers) that run Rust code before exec. From a process with four
//! busy threads, the 67th start hung for good: the container's init was blocked in `std::env::remove_var`
//! (libcontainer clears the environment before exec) on std's environment lock, held by another thread when the
//! clone was made. Malloc arena locks and logging locks carry the same risk. From a single-threaded process, 500
//! starts in a row ran clean. So [`Launcher::start`] and [`Launcher::exec`] refuse to run when the calling process
//! has more than one thread (from /proc/self/status, looked at again for 5 ms, as a just-joined thread can stay
//! counted for ~100 µs); the monitor must stay single-threaded (a poll loop, not copier threads), an async server
//! must hand starts and execs to such a process, and tests fork a single-threaded child to play the monitor.
//!
//! # Cost
//! create+start+wait of busybox `true` (release build, average of 20 runs): 8-14 ms from run to run on this
//! 2-core machine shared with other builds, about 20 ms while builds loaded both cores; delete 2-3 ms. `runc run`
//! of the same bundle takes about 42 ms.
//! libcontainer makes about 3,000 syscalls per start (mostly procfs and mount safety checks); no one step
//! dominates.

mod caller;
mod console;
mod delete;
mod exec;
mod signal;
mod start;
#[cfg(test)]
mod tests;
mod userns_join;
mod wait;

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;

use crate::error::Error;

pub use console::ConsoleSocket;
pub use wait::{become_subreaper, try_wait_child, wait_child, wait_exit, wait_exit_within, Exit};

/// Where the container's standard streams go.
#[derive(Debug)]
pub enum Stdio {
    /// The container's stdin/stdout/stderr are these fds (pipes or files). Never pass the host's `/dev/null` as
    /// stdout or stderr: libcontainer replaces any stdio fd that is the null device by the container's `/dev/null`
    /// opened read-only, so the process's writes fail (`start` rejects it). A missing `stdin` reads the null
    /// device (end of file at once). The fds are consumed: the caller keeps only the other ends.
    Pipes {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A pseudo-terminal, for specs with `process.terminal: true`. `console_socket` is the absolute path of a
    /// listening unix stream socket (see [`ConsoleSocket`]): the runtime connects to it before it creates the
    /// container, and the container's init (or exec'd) process opens a pty inside the container, makes the slave
    /// its stdin, stdout, stderr and controlling terminal, and sends the master over that connection (OCI
    /// console-socket protocol: one `SCM_RIGHTS` message whose data is the string `/dev/ptmx`). The master is
    /// queued on the socket by the time `start`/`exec` returns.
    Tty { console_socket: PathBuf },
}

/// Drives libcontainer for containers whose runtime state lives under one state root.
#[derive(Debug, Clone)]
pub struct Launcher {
    state_root: PathBuf,
    /// Unit tests drive libcontainer from the test binary, which nothing seals.
    #[cfg(test)]
    unsealed_caller_ok: bool,
}

impl Launcher {
    /// `state_root` is where libcontainer keeps one directory per container (`<state_root>/<id>`: state.json,
    /// its copy of the spec, notify sockets), e.g. `$BERTH_RUNROOT/runtime`. It is created (0700) on first use.
    pub fn new(state_root: &Path) -> Launcher {
        Launcher {
            state_root: state_root.to_path_buf(),
            #[cfg(test)]
            unsealed_caller_ok: false,
        }
    }

    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    /// libcontainer's directory for container `id`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.state_root.join(id)
    }

    /// Compiled seccomp programs, shared by every container under this state root.
    fn filter_cache(&self) -> PathBuf {
        self.state_root.join(".seccomp")
    }

    fn load(&self, id: &str) -> Result<Container, Error> {
        check_id(id)?;
        let dir = self.state_dir(id);
        if !dir.is_dir() {
            return Err(Error::NoSuchContainer(id.to_owned()));
        }
        Container::load(dir).map_err(|err| lc_error("load", id, err))
    }

    fn builder(&self, id: &str, stdio: Stdio) -> Result<ContainerBuilder, Error> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.state_root)
            .map_err(|source| Error::Io {
                path: self.state_root.clone(),
                source,
            })?;
        let builder = ContainerBuilder::new(id.to_owned(), SyscallType::Linux)
            .with_root_path(&self.state_root)
            .map_err(|err| lc_error("create", id, err))?;
        match stdio {
            Stdio::Pipes { stdin, stdout, stderr } => {
                let stdin = match stdin {
                    Some(fd) => fd,
                    None => File::open("/dev/null")
                        .map_err(|source| Error::Io {
                            path: "/dev/null".into(),
                            source,
                        })?
                        .into(),
                };
                Ok(builder.with_stdin(stdin).with_stdout(stdout).with_stderr(stderr))
            }
            Stdio::Tty { console_socket } => {
                if !console_socket.is_absolute() {
                    return Err(Error::InvalidArgument(format!(
                        "console socket {} must be an absolute path",
                        console_socket.display()
                    )));
                }
                // libcontainer briefly changes into its state dir to connect (socket paths are short), and
                // panics if the current directory is gone.
                std::env::current_dir().map_err(|source| Error::Io {
                    path: ".".into(),
                    source,
                })?;
                // With a console socket the init process dup2s the pty over fds 0-2 after fstat-ing the ones it
                // inherited from us: they must be open.
                for (name, fd) in [
                    ("stdin", io::stdin().as_fd()),
                    ("stdout", io::stdout().as_fd()),
                    ("stderr", io::stderr().as_fd()),
                ] {
                    if let Err(err) = rustix::io::fcntl_getfd(fd) {
                        return Err(Error::Runtime(format!(
                            "the calling process's {name} is not open ({err}): open /dev/null on it before starting \
                             a container with a terminal"
                        )));
                    }
                }
                Ok(builder.with_console_socket(Some(console_socket)))
            }
        }
    }
}

/// libcontainer's rule for ids, checked before an id becomes a path under the state root.
fn check_id(id: &str) -> Result<(), Error> {
    let valid = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.'"
        )))
    }
}

fn lc_error(action: &str, id: &str, err: LibcontainerError) -> Error {
    match err {
        LibcontainerError::Exist => Error::ContainerExists(id.to_owned()),
        LibcontainerError::NoDirectory => Error::NoSuchContainer(id.to_owned()),
        LibcontainerError::IncorrectStatus(status) => Error::ContainerState {
            id: id.to_owned(),
            action: action.to_owned(),
            state: status.to_string().to_lowercase(),
        },
        LibcontainerError::InvalidID(_) | LibcontainerError::InvalidSpec(_) | LibcontainerError::MissingSpec(_) => {
            Error::InvalidArgument(format!("{action} container {id}: {}", chain(&err)))
        }
        err => Error::Runtime(format!("{action} container {id}: {}", chain(&err))),
    }
}

/// An error and its sources on one line, skipping sources whose text the message already shows.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        let part = next.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = next.source();
    }
    text
}
