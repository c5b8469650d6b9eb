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

use std::fs::{self, File};
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use rustix::process::{DumpableBehavior, Pid, Signal, WaitIdOptions, WaitOptions, WaitStatus};

use crate::error::Error;
use crate::filter;

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

    /// Sends `signal` to the container's init process. Succeeds when the process is already gone. SIGKILL to a
    /// paused container also thaws it (a cgroup v1 freezer holds even SIGKILL until the thaw).
    ///
    /// The init process stays a zombie child of the monitor until `wait_exit` reaps it, so its pid cannot be
    /// reused before then; do not call `kill` after reaping it (call `delete`).
    pub fn kill(&self, id: &str, signal: i32) -> Result<(), Error> {
        let sig = to_signal(signal)?;
        let mut container = self.load(id)?;
        let pid = match (container.status(), container.pid()) {
            (ContainerStatus::Stopped, _) | (_, None) => return Ok(()),
            (_, Some(pid)) => pid,
        };
        let Some(pid) = Pid::from_raw(pid.as_raw()) else {
            return Ok(());
        };
        match rustix::process::kill_process(pid, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(err) => {
                return Err(Error::Runtime(format!(
                    "signal {signal} to container {id} (pid {pid}): {err}"
                )))
            }
        }
        if sig == Signal::KILL && container.status() == ContainerStatus::Paused {
            container.resume().map_err(|err| lc_error("thaw", id, err))?;
        }
        Ok(())
    }

    /// Freezes every process of the container (cgroup freezer).
    pub fn pause(&self, id: &str) -> Result<(), Error> {
        self.load(id)?.pause().map_err(|err| lc_error("pause", id, err))
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<(), Error> {
        self.load(id)?.resume().map_err(|err| lc_error("resume", id, err))
    }

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

    /// Runs an extra process in a running container (docker exec); returns its pid, a child of the calling
    /// process. `process` is used as given (args, env, cwd, user, capabilities, rlimits, apparmor, no new
    /// privileges), except that `terminal` is set from `stdio`. Fails if the container is not running (paused
    /// included) or the executable cannot be run.
    pub fn exec(&self, id: &str, process: &oci_spec::runtime::Process, stdio: Stdio) -> Result<i32, Error> {
        check_id(id)?;
        ensure_single_threaded("exec in", id)?;
        self.ensure_sealed_caller()?;
        let dir = self.state_dir(id);
        if !dir.is_dir() {
            return Err(Error::NoSuchContainer(id.to_owned()));
        }
        let mut process = process.clone();
        process.set_terminal(Some(matches!(stdio, Stdio::Tty { .. })));
        let executor = match Container::load(dir.clone()) {
            Ok(container) => filter::prepare_exec(container.bundle(), &mut process)?,
            Err(err) => return Err(lc_error("exec in", id, err)),
        };
        let json = serde_json::to_vec(&process)
            .map_err(|err| Error::Runtime(format!("exec in container {id}: encode the process: {err}")))?;
        // libcontainer takes an exec'd process only as a process.json path.
        let path = dir.join(format!("berth-exec-{}.json", unique_suffix()));
        fs::write(&path, json).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let result = self.builder(id, stdio).and_then(|mut builder| {
            if let Some(executor) = executor {
                builder = builder.with_executor(executor);
            }
            let caller = CallerState::save();
            let pid = builder.as_tenant().with_detach(true).with_process(Some(&path)).build();
            caller.restore();
            pid.map_err(|err| lc_error("exec in", id, err))
        });
        if let Err(err) = fs::remove_file(&path) {
            tracing::debug!(path = %path.display(), error = %err, "removing the exec process file");
        }
        Ok(result?.as_raw())
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

/// Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER), so that processes orphaned below it (a
/// container sharing the host pid namespace leaves its daemons behind, for one) are reparented to it and
/// `wait_exit` can reap them. The container's init and exec'd processes are direct children already.
pub fn become_subreaper() -> Result<(), Error> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|err| Error::Runtime(format!("become a child subreaper: {err}")))
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called exit with this code.
    Code(i32),
    /// This signal killed it (SIGKILL from the OOM killer included).
    Signal(i32),
}

impl Exit {
    /// The shell's and Docker's single number: the code, or 128 + the signal.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }
}

/// Blocks until `pid` (our child or reparented to us) exits and returns how; reaps and discards other children
/// that exit meanwhile (use [`wait_child`] to keep their statuses, e.g. for exec'd processes).
pub fn wait_exit(pid: i32) -> Result<Exit, Error> {
    let target = Pid::from_raw(pid).ok_or_else(|| Error::InvalidArgument(format!("invalid pid {pid}")))?;
    // Peek first: waiting for "any child" would block forever on unrelated children if `pid` is not ours.
    match rustix::process::waitid(
        rustix::process::WaitId::Pid(target),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
    ) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(rustix::io::Errno::CHILD) => {
            return Err(Error::Runtime(format!(
                "wait for process {pid}: it is not a child of this process (already reaped, or started by another \
                 process)"
            )))
        }
        Err(err) => return Err(Error::Runtime(format!("wait for process {pid}: {err}"))),
    }
    loop {
        let (reaped, exit) = wait_child()?;
        if reaped == pid {
            return Ok(exit);
        }
        tracing::debug!(pid = reaped, ?exit, "reaped a process");
    }
}

/// [`wait_exit`], but gives up after `timeout`: `None` when `pid` is still running then.
pub fn wait_exit_within(pid: i32, timeout: Duration) -> Result<Option<Exit>, Error> {
    let target = Pid::from_raw(pid).ok_or_else(|| Error::InvalidArgument(format!("invalid pid {pid}")))?;
    let pidfd = rustix::process::pidfd_open(target, rustix::process::PidfdFlags::empty())
        .map_err(|err| Error::Runtime(format!("wait for process {pid}: {err}")))?;
    let timeout = rustix::time::Timespec::try_from(timeout).unwrap_or(rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 });
    let mut fds = [rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN)];
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(0) => Ok(None),
        _ => wait_exit(pid).map(Some),
    }
}

/// Blocks until any child exits; returns its pid and how it ended. Fails when there are no children.
pub fn wait_child() -> Result<(i32, Exit), Error> {
    loop {
        match reap(WaitOptions::empty()) {
            Ok(Some(found)) => return Ok(found),
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::CHILD) => return Err(Error::Runtime("wait: this process has no children".into())),
            Err(err) => return Err(Error::Runtime(format!("wait: {err}"))),
        }
    }
}

/// Reaps one exited child if there is one, without blocking (for a monitor's SIGCHLD handling); `None` when no
/// child has exited, or there are no children.
pub fn try_wait_child() -> Result<Option<(i32, Exit)>, Error> {
    loop {
        match reap(WaitOptions::NOHANG) {
            Ok(found) => return Ok(found),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::CHILD) => return Ok(None),
            Err(err) => return Err(Error::Runtime(format!("wait: {err}"))),
        }
    }
}

/// One wait(2); `None` when NOHANG found nothing (or for a status that is not an exit, which these options do not
/// report).
fn reap(options: WaitOptions) -> Result<Option<(i32, Exit)>, rustix::io::Errno> {
    Ok(rustix::process::wait(options)?
        .and_then(|(pid, status)| exit_of(status).map(|exit| (pid.as_raw_nonzero().get(), exit))))
}

fn exit_of(status: WaitStatus) -> Option<Exit> {
    if let Some(code) = status.exit_status() {
        Some(Exit::Code(code))
    } else {
        status.terminating_signal().map(Exit::Signal)
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

impl Launcher {
    /// The container's processes begin as clones of this one: they must not run a binary they could write
    /// (see [`crate::sealed`]; the process calls `sealed::ensure_sealed` first thing).
    fn ensure_sealed_caller(&self) -> Result<(), Error> {
        #[cfg(test)]
        if self.unsealed_caller_ok {
            return Ok(());
        }
        if crate::sealed::is_sealed() {
            return Ok(());
        }
        Err(Error::Unsealed(
            "this process did not re-execute itself sealed before starting a container".into(),
        ))
    }
}

/// libcontainer clones the calling process with a raw clone3 (no fork handlers), and the clone runs Rust code
/// (environment, allocation, logging) before it execs: a lock another thread of ours held at that instant stays
/// locked in the clone forever. Seen here: the container's init hung in `std::env::remove_var` on std's
/// environment lock, on the 67th start from a process with four busy threads. So refuse, instead of hanging.
fn ensure_single_threaded(action: &str, id: &str) -> Result<(), Error> {
    // A thread that was just joined can stay counted for up to ~100 µs (seen about once in 2,000 joins here), so
    // look again for a few milliseconds before refusing.
    let mut attempts = 0;
    loop {
        let status = fs::read_to_string("/proc/self/status").map_err(|source| Error::Io {
            path: "/proc/self/status".into(),
            source,
        })?;
        let threads = status.lines().find_map(|l| l.strip_prefix("Threads:")).map(str::trim);
        match threads {
            Some("1") => return Ok(()),
            Some(_) if attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_micros(250));
            }
            Some(n) => {
                return Err(Error::Runtime(format!(
                    "{action} container {id}: the calling process has {n} threads; libcontainer must be driven from \
                     a single-threaded process (the monitor), or its clones can deadlock"
                )))
            }
            None => {
                return Err(Error::Runtime(format!(
                    "{action} container {id}: no thread count in /proc/self/status"
                )))
            }
        }
    }
}

fn to_signal(signal: i32) -> Result<Signal, Error> {
    if let Some(sig) = Signal::from_named_raw(signal) {
        return Ok(sig);
    }
    // Real-time signals (glibc reserves 32 and 33 for itself; the kernel accepts up to 64).
    if (34..=64).contains(&signal) {
        // SAFETY: `signal` is a valid Linux signal number; it is only sent to another process, never installed or
        // raised here, so libc's internal use of some real-time signals is not disturbed.
        return Ok(unsafe { Signal::from_raw_unchecked(signal) });
    }
    Err(Error::InvalidArgument(format!("invalid signal {signal}")))
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

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// What libcontainer changes in the calling process while it creates a container or an exec'd process: it marks
/// it non-dumpable (for the namespace joins) and writes the spec's `process.oomScoreAdj` to its
/// /proc/self/oom_score_adj (children inherit it). The long-lived monitor gets both back afterwards; lowering
/// oom_score_adj needs CAP_SYS_RESOURCE, so that part is best effort.
struct CallerState {
    dumpable: Option<DumpableBehavior>,
    oom_score_adj: Option<String>,
    /// SIGPIPE's disposition before we set it to default for the clone.
    sigpipe: libc::sighandler_t,
}

const OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";

impl CallerState {
    /// Also puts SIGPIPE back to its default for the container: Rust
    /// programs ignore it, ignored signals survive exec, and a process that
    /// ignores SIGPIPE (like `yes` in `yes | head`) spins forever on EPIPE.
    fn save() -> CallerState {
        // SAFETY: signal(2) with a valid signal number and SIG_DFL; the old
        // disposition is kept and put back by `restore`.
        #[allow(unsafe_code)]
        let sigpipe = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        CallerState {
            dumpable: rustix::process::dumpable_behavior().ok(),
            oom_score_adj: fs::read_to_string(OOM_SCORE_ADJ).ok(),
            sigpipe,
        }
    }

    fn restore(self) {
        if self.sigpipe != libc::SIG_ERR {
            // SAFETY: puts back the disposition `save` found.
            #[allow(unsafe_code)]
            unsafe {
                libc::signal(libc::SIGPIPE, self.sigpipe);
            }
        }
        if let Some(dumpable) = self.dumpable {
            if let Err(err) = rustix::process::set_dumpable_behavior(dumpable) {
                tracing::debug!(error = %err, "restoring the dumpable flag");
            }
        }
        if let Some(old) = self.oom_score_adj {
            if fs::read_to_string(OOM_SCORE_ADJ).is_ok_and(|now| now != old) {
                if let Err(err) = fs::write(OOM_SCORE_ADJ, old.trim()) {
                    tracing::debug!(error = %err, "restoring oom_score_adj");
                }
            }
        }
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

#[cfg(test)]
mod tests {
    //! Real containers on the real kernel. Each test forks a single-threaded child that plays the monitor (libtest
    //! runs tests on threads, and the monitor reaps any child), builds a busybox rootfs in a temp dir, and removes
    //! its containers; the parent then sweeps the test's cgroups whatever happened.

    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;
    use std::os::unix::net::UnixStream;
    use std::panic::AssertUnwindSafe;
    use std::time::Instant;

    use oci_spec::runtime::{LinuxMemory, LinuxPids, LinuxResources, Process, Spec};

    use super::*;

    const BUSYBOX: &str = "/bin/busybox";
    const APPLETS: &[&str] = &[
        "sh", "echo", "cat", "sleep", "true", "false", "id", "hostname", "dd", "head", "tr",
    ];
    const CGROUP_ROOT: &str = "/sys/fs/cgroup";

    type TestResult = Result<(), String>;

    trait Context<T> {
        fn ctx(self, what: &str) -> Result<T, String>;
    }

    impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
        fn ctx(self, what: &str) -> Result<T, String> {
            self.map_err(|err| format!("{what}: {err}"))
        }
    }

    fn ensure(cond: bool, what: impl FnOnce() -> String) -> TestResult {
        if cond {
            Ok(())
        } else {
            Err(what())
        }
    }

    struct Fixture {
        tmp: tempfile::TempDir,
        rootfs: PathBuf,
        launcher: Launcher,
        prefix: String,
    }

    impl Fixture {
        fn id(&self, n: u32) -> String {
            format!("{}-{n}", self.prefix)
        }

        /// Writes `<tmp>/bundle-<id>/config.json` from runc's default spec, adjusted, and returns the bundle dir.
        fn bundle(&self, id: &str, args: &[&str], tweak: impl FnOnce(&mut Spec)) -> Result<PathBuf, String> {
            let mut spec = Spec::default();
            let mut root = spec.root().clone().unwrap_or_default();
            root.set_path(self.rootfs.clone()).set_readonly(Some(false));
            spec.set_root(Some(root));
            let mut process = spec.process().clone().unwrap_or_default();
            process
                .set_args(Some(args.iter().map(|a| a.to_string()).collect()))
                .set_terminal(Some(false));
            spec.set_process(Some(process));
            spec.set_hostname(Some("berth-test".into()));
            let mut linux = spec.linux().clone().unwrap_or_default();
            linux.set_cgroups_path(Some(PathBuf::from(format!("/berth-test/{id}"))));
            spec.set_linux(Some(linux));
            tweak(&mut spec);
            let dir = self.tmp.path().join(format!("bundle-{id}"));
            fs::create_dir_all(&dir).ctx("bundle dir")?;
            spec.save(dir.join("config.json")).ctx("save config.json")?;
            Ok(dir)
        }

        /// Kills and removes whatever cgroups this test left under /sys/fs/cgroup/*/berth-test.
        fn sweep_cgroups(&self) -> Vec<PathBuf> {
            let mut left = Vec::new();
            for dir in cgroup_parents() {
                let Ok(entries) = fs::read_dir(&dir) else { continue };
                for entry in entries.flatten() {
                    if !entry.file_name().to_string_lossy().starts_with(&self.prefix) {
                        continue;
                    }
                    let path = entry.path();
                    left.push(path.clone());
                    if let Ok(procs) = fs::read_to_string(path.join("cgroup.procs")) {
                        for pid in procs.lines().filter_map(|l| l.parse().ok()).filter_map(Pid::from_raw) {
                            let _ = rustix::process::kill_process(pid, Signal::KILL);
                        }
                    }
                    let _ = fs::write(path.join("freezer.state"), "THAWED");
                    for _ in 0..50 {
                        if fs::remove_dir(&path).is_ok() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                let _ = fs::remove_dir(&dir); // only when no other test uses it
            }
            left
        }
    }

    /// `/sys/fs/cgroup/<controller>/berth-test` for every v1 hierarchy, or `/sys/fs/cgroup/berth-test` on v2.
    fn cgroup_parents() -> Vec<PathBuf> {
        let root = Path::new(CGROUP_ROOT);
        if root.join("cgroup.controllers").exists() {
            return vec![root.join("berth-test")];
        }
        let Ok(entries) = fs::read_dir(root) else {
            return Vec::new();
        };
        entries.flatten().map(|e| e.path().join("berth-test")).collect()
    }

    /// A cgroup file of container `id`: `v1` under the v1 `controller`, or `v2` on a unified host.
    fn cgroup_file(id: &str, controller: &str, v1: &str, v2: &str) -> PathBuf {
        let root = Path::new(CGROUP_ROOT);
        if root.join("cgroup.controllers").exists() {
            root.join("berth-test").join(id).join(v2)
        } else {
            root.join(controller).join("berth-test").join(id).join(v1)
        }
    }

    fn read_trimmed(path: &Path) -> Result<String, String> {
        fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .ctx(&path.display().to_string())
    }

    fn fixture(name: &str) -> Option<Fixture> {
        if !Path::new(BUSYBOX).is_file() {
            eprintln!("SKIPPED {name}: {BUSYBOX} is missing (apt-get install -y busybox-static)");
            return None;
        }
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED {name}: containers need root");
            return None;
        }
        let tmp = tempfile::tempdir().expect("temp dir");
        let rootfs = tmp.path().join("rootfs");
        for dir in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
            fs::create_dir_all(rootfs.join(dir)).expect("rootfs dir");
        }
        if fs::hard_link(BUSYBOX, rootfs.join("bin/busybox")).is_err() {
            fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox");
        }
        for applet in APPLETS {
            symlink("busybox", rootfs.join("bin").join(applet)).expect("applet symlink");
        }
        let mut launcher = Launcher::new(&tmp.path().join("state"));
        launcher.unsealed_caller_ok = true;
        let prefix = format!("{name}-{}", unique_suffix()).replace('_', "-");
        Some(Fixture {
            tmp,
            rootfs,
            launcher,
            prefix,
        })
    }

    /// Runs `body` as the monitor would: in a forked, single-threaded, subreaper child. Panics in the parent with
    /// the child's error.
    fn isolated(name: &str, body: impl FnOnce(&Fixture) -> TestResult) {
        let Some(fx) = fixture(name) else { return };
        let (mut parent_end, mut child_end) = UnixStream::pair().expect("socketpair");
        // SAFETY: the child only runs `body` (libcontainer, std I/O and allocation, all usable after fork with
        // glibc, which resets malloc's locks in fork) and leaves through _exit, never returning into libtest.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            drop(parent_end);
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                become_subreaper().ctx("subreaper")?;
                body(&fx)
            }));
            let (code, message) = match result {
                Ok(Ok(())) => (0, String::new()),
                Ok(Err(message)) => (1, message),
                Err(panic) => (
                    2,
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic".into()),
                ),
            };
            let _ = child_end.write_all(message.as_bytes());
            // SAFETY: ends the forked child without running the parent's destructors or libtest.
            unsafe { libc::_exit(code) };
        }
        drop(child_end);
        let mut message = String::new();
        let _ = parent_end.read_to_string(&mut message);
        let status = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty());
        let left = fx.sweep_cgroups();
        let exit = status.ok().flatten().and_then(|(_, status)| exit_of(status));
        assert_eq!(exit, Some(Exit::Code(0)), "{name}: {message}");
        assert!(left.is_empty(), "{name}: cgroups left behind: {left:?}");
    }

    fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx("pipe")
    }

    /// Pipes for a container: returns the Stdio and our read ends of stdout and stderr.
    fn pipes() -> Result<(Stdio, File, File), String> {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        Ok((
            Stdio::Pipes {
                stdin: None,
                stdout: out_w,
                stderr: err_w,
            },
            File::from(out_r),
            File::from(err_r),
        ))
    }

    fn read_all(mut file: File) -> Result<String, String> {
        let mut text = String::new();
        file.read_to_string(&mut text).ctx("read container output")?;
        Ok(text)
    }

    fn parent_of(pid: i32) -> Result<i32, String> {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ctx("read /proc/<pid>/status")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| "no PPid line".to_owned())
    }

    /// No runtime state and no cgroup directory remain for `id`.
    fn assert_gone(fx: &Fixture, id: &str) -> TestResult {
        let dir = fx.launcher.state_dir(id);
        ensure(!dir.exists(), || format!("state dir {} remains", dir.display()))?;
        for parent in cgroup_parents() {
            let path = parent.join(id);
            ensure(!path.exists(), || format!("cgroup {} remains", path.display()))?;
        }
        Ok(())
    }

    /// Starts `args` with pipes, waits, deletes; returns the exit and stdout.
    fn run(fx: &Fixture, id: &str, args: &[&str], tweak: impl FnOnce(&mut Spec)) -> Result<(Exit, String), String> {
        let bundle = fx.bundle(id, args, tweak)?;
        let (stdio, out, _err) = pipes()?;
        let pid = fx.launcher.start(id, &bundle, stdio).ctx("start")?;
        let exit = wait_exit(pid).ctx("wait")?;
        let stdout = read_all(out)?;
        fx.launcher.delete(id).ctx("delete")?;
        assert_gone(fx, id)?;
        Ok((exit, stdout))
    }

    fn exec_process(args: &[&str]) -> Process {
        let mut process = Process::default();
        process.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
        process
    }

    #[test]
    fn launch_echo_through_pipes() {
        isolated("echo", |fx| {
            let id = fx.id(1);
            let bundle = fx.bundle(&id, &["echo", "hello"], |_| {})?;
            let (stdio, out, err) = pipes()?;
            let pid = fx.launcher.start(&id, &bundle, stdio).ctx("start")?;
            // The init process is our own child (libcontainer clones it with CLONE_PARENT from its intermediate
            // process), still there as a zombie at worst.
            let parent = parent_of(pid)?;
            ensure(parent == std::process::id() as i32, || {
                format!("init's parent is {parent}, not us")
            })?;
            let exit = wait_exit(pid).ctx("wait")?;
            ensure(exit == Exit::Code(0), || format!("exit {exit:?}"))?;
            let stdout = read_all(out)?;
            ensure(stdout == "hello\n", || format!("stdout {stdout:?}"))?;
            let stderr = read_all(err)?;
            ensure(stderr.is_empty(), || format!("stderr {stderr:?}"))?;
            fx.launcher.delete(&id).ctx("delete")?;
            assert_gone(fx, &id)?;
            // Deleting again, or what never existed, is fine.
            fx.launcher.delete(&id).ctx("delete again")?;
            fx.launcher.delete("never-created").ctx("delete unknown")
        });
    }

    #[test]
    fn launch_exit_code_and_namespaces() {
        isolated("exitcode", |fx| {
            let (exit, _) = run(fx, &fx.id(1), &["sh", "-c", "exit 3"], |_| {})?;
            ensure(exit == Exit::Code(3), || format!("exit {exit:?}"))?;
            let (exit, out) = run(fx, &fx.id(2), &["sh", "-c", "echo $$; hostname; id -u"], |_| {})?;
            ensure(exit == Exit::Code(0), || format!("exit {exit:?}"))?;
            ensure(out == "1\nberth-test\n0\n", || format!("stdout {out:?}"))?;

            // The spec's oomScoreAdj reaches the container; the monitor gets its own value and dumpable flag back.
            let ours = read_trimmed(Path::new(OOM_SCORE_ADJ))?;
            let (exit, out) = run(fx, &fx.id(3), &["cat", "/proc/self/oom_score_adj"], |spec| {
                if let Some(process) = spec.process_mut() {
                    process.set_oom_score_adj(Some(300));
                }
            })?;
            ensure(exit == Exit::Code(0) && out == "300\n", || {
                format!("exit {exit:?}, stdout {out:?}")
            })?;
            let now = read_trimmed(Path::new(OOM_SCORE_ADJ))?;
            ensure(now == ours, || format!("our oom_score_adj went from {ours} to {now}"))?;
            let dumpable = rustix::process::dumpable_behavior().ctx("dumpable")?;
            ensure(dumpable == DumpableBehavior::Dumpable, || {
                format!("we are left {dumpable:?}")
            })
        });
    }

    #[test]
    fn launch_kill_and_delete_running() {
        isolated("kill", |fx| {
            let id = fx.id(1);
            let bundle = fx.bundle(&id, &["sleep", "100"], |_| {})?;
            let (stdio, _out, _err) = pipes()?;
            let pid = fx.launcher.start(&id, &bundle, stdio).ctx("start")?;
            fx.launcher.kill(&id, 9).ctx("kill")?;
            let exit = wait_exit(pid).ctx("wait")?;
            ensure(exit == Exit::Signal(9), || format!("exit {exit:?}"))?;
            // Already gone: still fine.
            fx.launcher.kill(&id, 15).ctx("kill after exit")?;
            fx.launcher.delete(&id).ctx("delete")?;
            assert_gone(fx, &id)?;
            match fx.launcher.kill(&id, 9) {
                Err(Error::NoSuchContainer(_)) => {}
                other => return Err(format!("kill after delete: {other:?}")),
            }

            // Deleting a running container kills it.
            let id = fx.id(2);
            let bundle = fx.bundle(&id, &["sleep", "100"], |_| {})?;
            let (stdio, _out, _err) = pipes()?;
            let pid = fx.launcher.start(&id, &bundle, stdio).ctx("start")?;
            fx.launcher.delete(&id).ctx("delete running")?;
            let exit = wait_exit(pid).ctx("wait")?;
            ensure(exit == Exit::Signal(9), || format!("exit {exit:?}"))?;
            assert_gone(fx, &id)
        });
    }

    #[test]
    fn launch_memory_and_pids_limits() {
        isolated("limits", |fx| {
            const LIMIT: i64 = 32 << 20;
            let limits = |spec: &mut Spec| {
                let mut linux = spec.linux().clone().unwrap_or_default();
                let mut resources = linux.resources().clone().unwrap_or_default();
                let mut memory = LinuxMemory::default();
                memory.set_limit(Some(LIMIT));
                resources.set_memory(Some(memory));
                let mut pids = LinuxPids::default();
                pids.set_limit(16);
                resources.set_pids(Some(pids));
                linux.set_resources(Some::<LinuxResources>(resources));
                spec.set_linux(Some(linux));
            };

            // The limits land in the cgroup files.
            let id = fx.id(1);
            let bundle = fx.bundle(&id, &["sleep", "100"], limits)?;
            let (stdio, _out, _err) = pipes()?;
            let pid = fx.launcher.start(&id, &bundle, stdio).ctx("start")?;
            let memory = read_trimmed(&cgroup_file(&id, "memory", "memory.limit_in_bytes", "memory.max"))?;
            ensure(memory == LIMIT.to_string(), || format!("memory limit {memory}"))?;
            let pids = read_trimmed(&cgroup_file(&id, "pids", "pids.max", "pids.max"))?;
            ensure(pids == "16", || format!("pids limit {pids}"))?;
            let procs = read_trimmed(&cgroup_file(&id, "memory", "cgroup.procs", "cgroup.procs"))?;
            ensure(procs == pid.to_string(), || {
                format!("memory cgroup procs {procs:?}, init {pid}")
            })?;
            fx.launcher.kill(&id, 9).ctx("kill")?;
            wait_exit(pid).ctx("wait")?;
            fx.launcher.delete(&id).ctx("delete")?;
            assert_gone(fx, &id)?;

            // A 100 MB buffer under a 32 MiB limit: the OOM killer SIGKILLs it.
            let id = fx.id(2);
            let bundle = fx.bundle(
                &id,
                &["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"],
                limits,
            )?;
            let (stdio, _out, _err) = pipes()?;
            let pid = fx.launcher.start(&id, &bundle, stdio).ctx("start")?;
            let exit = wait_exit(pid).ctx("wait")?;
            ensure(exit == Exit::Signal(9), || format!("memory hog exit {exit:?}"))?;
            let oom = read_trimmed(&cgroup_file(&id, "memory", "memory.oom_control", "memory.events"))?;
            ensure(
                oom.lines().any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0"),
                || format!("no oom kill recorded: {oom:?}"),
            )?;
            fx.launcher.delete(&id).ctx("delete")?;
            assert_gone(fx, &id)?;

            // Forks beyond the pids limit fail.
            let script = "i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo forked";
            let id = fx.id(3);
            let bundle = fx.bundle(&id, &["sh", "-c", script], limits)?;
            let (stdio, out, err) = pipes()?;
            let pid = fx.launcher.start(&id, &bundle, stdio).ctx("start")?;
            let exit = wait_exit(pid).ctx("wait")?;
            let events = read_trimmed(&cgroup_file(&id, "pids", "pids.events", "pids.events"))?;
            fx.launcher.delete(&id).ctx("delete")?;
            assert_gone(fx, &id)?;
            let (stdout, stderr) = (read_all(out)?, read_all(err)?);
            ensure(events.starts_with("max ") && events != "max 0", || {
                format!("pids.events {events:?}; exit {exit:?}, stdout {stdout:?}, stderr {stderr:?}")
            })
        });
    }

    #[test]
    fn launch_pause_resume_exec() {
        isolated("pause", |fx| {
            let id = fx.id(1);
            let bundle = fx.bundle(&id, &["sleep", "100"], |_| {})?;
            let (stdio, _out, _err) = pipes()?;
            let pid = fx.launcher.start(&id, &bundle, stdio).ctx("start")?;
            let freezer = cgroup_file(&id, "freezer", "freezer.state", "cgroup.freeze");

            // exec while running
            let (stdio, out, _err) = pipes()?;
            let exec_pid = fx
                .launcher
                .exec(&id, &exec_process(&["echo", "exec"]), stdio)
                .ctx("exec")?;
            let parent = parent_of(exec_pid)?;
            ensure(parent == std::process::id() as i32, || {
                format!("exec'd process's parent is {parent}")
            })?;
            let exit = wait_exit(exec_pid).ctx("wait exec")?;
            ensure(exit == Exit::Code(0), || format!("exec exit {exit:?}"))?;
            let stdout = read_all(out)?;
            ensure(stdout == "exec\n", || format!("exec stdout {stdout:?}"))?;
            let (stdio, _out, _err) = pipes()?;
            let exec_pid = fx
                .launcher
                .exec(&id, &exec_process(&["sh", "-c", "exit 5"]), stdio)
                .ctx("exec")?;
            let exit = wait_exit(exec_pid).ctx("wait exec")?;
            ensure(exit == Exit::Code(5), || format!("exec exit {exit:?}"))?;
            // Two at once, collected with wait_child.
            let mut pids = Vec::new();
            for code in [6, 7] {
                let (stdio, _out, _err) = pipes()?;
                let script = format!("exit {code}");
                pids.push((
                    fx.launcher
                        .exec(&id, &exec_process(&["sh", "-c", &script]), stdio)
                        .ctx("exec")?,
                    code,
                ));
            }
            let mut seen = vec![wait_child().ctx("wait_child")?, wait_child().ctx("wait_child")?];
            seen.sort_by_key(|&(pid, _)| pid);
            pids.sort();
            let want: Vec<_> = pids.iter().map(|&(pid, code)| (pid, Exit::Code(code))).collect();
            ensure(seen == want, || format!("wait_child gave {seen:?}, want {want:?}"))?;
            let none = try_wait_child().ctx("try_wait_child")?;
            ensure(none.is_none(), || {
                format!("try_wait_child gave {none:?} while only sleep runs")
            })?;
            let (stdio, _out, _err) = pipes()?;
            match fx.launcher.exec(&id, &exec_process(&["no-such-program"]), stdio) {
                Err(Error::Runtime(message)) if message.contains("no-such-program") => {}
                other => return Err(format!("exec of a missing program: {other:?}")),
            }

            fx.launcher.pause(&id).ctx("pause")?;
            let state = read_trimmed(&freezer)?;
            ensure(state == "FROZEN" || state == "1", || format!("freezer state {state}"))?;
            let (stdio, _out, _err) = pipes()?;
            match fx.launcher.exec(&id, &exec_process(&["true"]), stdio) {
                Err(Error::ContainerState { .. }) => {}
                other => return Err(format!("exec into a paused container: {other:?}")),
            }
            match fx.launcher.pause(&id) {
                Err(Error::ContainerState { .. }) => {}
                other => return Err(format!("pausing twice: {other:?}")),
            }
            fx.launcher.resume(&id).ctx("resume")?;
            let state = read_trimmed(&freezer)?;
            ensure(state == "THAWED" || state == "0", || format!("freezer state {state}"))?;
            let exit = rustix::process::waitid(
                rustix::process::WaitId::Pid(Pid::from_raw(pid).ok_or("pid")?),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            )
            .ctx("waitid")?;
            ensure(exit.is_none(), || "the container exited after resume".into())?;

            // SIGKILL reaches a paused container (kill thaws it).
            fx.launcher.pause(&id).ctx("pause again")?;
            fx.launcher.kill(&id, 9).ctx("kill paused")?;
            let exit = wait_exit(pid).ctx("wait")?;
            ensure(exit == Exit::Signal(9), || format!("exit {exit:?}"))?;
            fx.launcher.delete(&id).ctx("delete")?;
            assert_gone(fx, &id)
        });
    }

    /// Reads a pty master until the slave side is gone (EIO).
    fn read_pty(master: OwnedFd) -> Result<String, String> {
        let mut file = File::from(master);
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(err) if err.raw_os_error() == Some(libc::EIO) => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(format!("read pty: {err}")),
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    #[test]
    fn launch_tty_through_console_socket() {
        isolated("tty", |fx| {
            let console = ConsoleSocket::bind(&fx.tmp.path().join("console.sock")).ctx("bind")?;
            let id = fx.id(1);
            let script = "echo tty-ok; [ -t 0 ] && [ -t 1 ] && echo is-a-tty; sleep 100";
            let bundle = fx.bundle(&id, &["sh", "-c", script], |spec| {
                if let Some(process) = spec.process_mut() {
                    process.set_terminal(Some(true));
                }
            })?;
            let pid = fx.launcher.start(&id, &bundle, console.stdio()).ctx("start")?;
            let master = console.receive_master(Duration::from_secs(5)).ctx("receive master")?;

            // exec with its own pty into the running container
            let exec_pid = fx
                .launcher
                .exec(
                    &id,
                    &exec_process(&["sh", "-c", "echo exec-tty; [ -t 1 ] && echo exec-is-a-tty"]),
                    console.stdio(),
                )
                .ctx("exec")?;
            let exec_master = console
                .receive_master(Duration::from_secs(5))
                .ctx("receive exec master")?;
            let output = read_pty(exec_master)?;
            ensure(output == "exec-tty\r\nexec-is-a-tty\r\n", || {
                format!("exec pty output {output:?}")
            })?;
            let exit = wait_exit(exec_pid).ctx("wait exec")?;
            ensure(exit == Exit::Code(0), || format!("exec exit {exit:?}"))?;

            fx.launcher.kill(&id, 9).ctx("kill")?;
            let output = read_pty(master)?;
            ensure(output == "tty-ok\r\nis-a-tty\r\n", || format!("pty output {output:?}"))?;
            let exit = wait_exit(pid).ctx("wait")?;
            ensure(exit == Exit::Signal(9), || format!("exit {exit:?}"))?;
            fx.launcher.delete(&id).ctx("delete")?;
            assert_gone(fx, &id)
        });
    }

    #[test]
    fn launch_errors() {
        isolated("errors", |fx| {
            // A missing executable fails start and leaves nothing behind.
            let id = fx.id(1);
            let bundle = fx.bundle(&id, &["no-such-program"], |_| {})?;
            let (stdio, _out, _err) = pipes()?;
            match fx.launcher.start(&id, &bundle, stdio) {
                Err(Error::Runtime(message)) if message.contains("no-such-program") => {}
                other => return Err(format!("start of a missing program: {other:?}")),
            }
            assert_gone(fx, &id)?;

            // The same id twice.
            let id = fx.id(2);
            let bundle = fx.bundle(&id, &["sleep", "100"], |_| {})?;
            let (stdio, _out, _err) = pipes()?;
            let pid = fx.launcher.start(&id, &bundle, stdio).ctx("start")?;
            let (stdio, _out, _err) = pipes()?;
            match fx.launcher.start(&id, &bundle, stdio) {
                Err(Error::ContainerExists(_)) => {}
                other => return Err(format!("second start: {other:?}")),
            }
            fx.launcher.delete(&id).ctx("delete")?;
            wait_exit(pid).ctx("wait")?;
            assert_gone(fx, &id)?;

            // A terminal spec without a console socket, and a console socket nobody listens on.
            let id = fx.id(3);
            let bundle = fx.bundle(&id, &["true"], |spec| {
                if let Some(process) = spec.process_mut() {
                    process.set_terminal(Some(true));
                }
            })?;
            let (stdio, _out, _err) = pipes()?;
            match fx.launcher.start(&id, &bundle, stdio) {
                Err(Error::InvalidArgument(_)) => {}
                other => return Err(format!("terminal without console socket: {other:?}")),
            }
            let stdio = Stdio::Tty {
                console_socket: fx.tmp.path().join("nobody.sock"),
            };
            match fx.launcher.start(&id, &bundle, stdio) {
                Err(Error::Runtime(_)) => {}
                other => return Err(format!("console socket nobody listens on: {other:?}")),
            }
            assert_gone(fx, &id)?;

            // Bad ids, the host's /dev/null as stdout.
            let (stdio, _out, _err) = pipes()?;
            match fx.launcher.start("../escape", &bundle, stdio) {
                Err(Error::InvalidArgument(_)) => {}
                other => return Err(format!("bad id: {other:?}")),
            }
            let null = File::options().write(true).open("/dev/null").ctx("open /dev/null")?;
            let (_, err_w) = pipe()?;
            let stdio = Stdio::Pipes {
                stdin: None,
                stdout: null.into(),
                stderr: err_w,
            };
            match fx.launcher.start(&fx.id(4), &bundle, stdio) {
                Err(Error::InvalidArgument(_)) => {}
                other => return Err(format!("/dev/null stdout: {other:?}")),
            }

            // A second thread: refused.
            let bundle = fx.bundle(&fx.id(5), &["true"], |_| {})?;
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let thread = std::thread::spawn(move || rx.recv());
            let (stdio, _out, _err) = pipes()?;
            let result = fx.launcher.start(&fx.id(5), &bundle, stdio);
            drop(tx);
            let _ = thread.join();
            match result {
                Err(Error::Runtime(message)) if message.contains("threads") => {}
                other => return Err(format!("start from two threads: {other:?}")),
            }
            assert_gone(fx, &fx.id(5))
        });
    }

    /// create+start+wait of `true`, averaged; run with
    /// `cargo test --release -p berth-runtime launch_bench -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark"]
    fn launch_bench_true() {
        isolated("bench", |fx| {
            const RUNS: u32 = 20;
            run(fx, &fx.id(0), &["true"], |_| {})?; // warm the page cache
            let mut start_wait = Duration::ZERO;
            let mut delete = Duration::ZERO;
            for n in 1..=RUNS {
                let id = fx.id(n);
                let bundle = fx.bundle(&id, &["true"], |_| {})?;
                let (stdio, _out, _err) = pipes()?;
                let began = Instant::now();
                let pid = fx.launcher.start(&id, &bundle, stdio).ctx("start")?;
                let exit = wait_exit(pid).ctx("wait")?;
                let started = Instant::now();
                fx.launcher.delete(&id).ctx("delete")?;
                delete += started.elapsed();
                start_wait += started - began;
                ensure(exit == Exit::Code(0), || format!("exit {exit:?}"))?;
            }
            let line = format!(
                "create+start+wait of `true`: {:.1} ms average over {RUNS} runs; delete {:.1} ms\n",
                start_wait.as_secs_f64() * 1000.0 / f64::from(RUNS),
                delete.as_secs_f64() * 1000.0 / f64::from(RUNS)
            );
            // The child's stdout is not libtest's capture; write straight to fd 2.
            let _ = io::stderr().write_all(line.as_bytes());
            Ok(())
        });
    }
}
