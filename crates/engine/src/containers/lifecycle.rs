//! Starting (spawning the monitor), signalling, stopping and waiting.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_store::containers as rows;

use super::monitor;
use crate::ContainerState;
use crate::{Engine, Error, Result};

/// How `start` hands the container's stdio over.
#[derive(Debug)]
pub enum StartMode {
    /// Detached: the monitor keeps stdio to itself (logs only).
    Detached,
    /// Attached: the monitor also relays the container's output to the caller's streams, and
    /// their input to the container if it has stdin open (the CLI hands its terminal, a build a
    /// pipe it reads). Streams not given are /dev/null.
    Attached(berth_relay::Caller),
}

impl StartMode {
    fn is_attached(&self) -> bool {
        matches!(self, StartMode::Attached(_))
    }
}

/// A started container, and for attached starts the channel on which its
/// monitor reports the exit code.
pub struct Started {
    pub pid: i32,
    /// The monitor's pid (0 when the container was already running).
    pub monitor_pid: i32,
    status: Option<BufReader<std::fs::File>>,
}

/// How an attached start ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    Exited(i32),
    /// The user typed the detach keys: the container runs on.
    Detached,
}

impl Started {
    /// Blocks until the monitor reports the container's exit code or a
    /// detach (attached starts only).
    pub fn wait_exit(mut self) -> Result<Ended> {
        let Some(status) = self.status.as_mut() else {
            return Err(Error::InvalidArgument("not attached".into()));
        };
        let mut line = String::new();
        loop {
            line.clear();
            let n = status.read_line(&mut line).map_err(|e| Error::Stream {
                context: "reading the monitor's status".into(),
                source: e,
            })?;
            if n == 0 {
                return Err(Error::InvalidArgument(
                    "the container's monitor exited without reporting an exit code".into(),
                ));
            }
            if line.trim() == "detached" {
                return Ok(Ended::Detached);
            }
            if let Some(code) = line.trim().strip_prefix("exit ") {
                return code
                    .parse()
                    .map(Ended::Exited)
                    .map_err(|_| Error::InvalidArgument(format!("bad status from the monitor: {line}")));
            }
        }
    }
}

/// Held by a start in progress (by its monitor until the container runs or fails) and by every removal.
const START_LOCK: &str = "start.lock";

impl Engine {
    /// Starts a created or exited container by spawning its monitor, and
    /// returns once the container runs (or failed to start, with the reason).
    pub fn start_container(&self, name: &str, mode: StartMode) -> Result<Started> {
        // One start at a time per container: two at once would both set up its network namespace and root,
        // and both fail. The second finds it running, as with Docker.
        let id = self.container(name)?.id().to_string();
        crate::cgroup_warmup::warm_up();
        let lock = self.start_lock(&id)?;
        let container = match self.settled_container(&id) {
            Err(Error::NoSuchContainer(what)) => {
                // Removed while this start waited: the run dir the lock made goes too.
                let _ = std::fs::remove_dir_all(self.container_run_dir(&id));
                return Err(Error::NoSuchContainer(what));
            }
            other => other?,
        };
        if container.is_running() {
            return Ok(Started {
                pid: container.row.pid as i32,
                monitor_pid: 0,
                status: None,
            });
        }
        let (read, write) = rustix::pipe::pipe().map_err(|e| Error::Stream {
            context: "creating the monitor's status pipe".into(),
            source: e.into(),
        })?;
        let attached = mode.is_attached();
        let child = self.spawn_monitor(&container, mode, write, read.as_raw_fd(), &lock)?;
        let mut status = BufReader::new(std::fs::File::from(read));
        let mut line = String::new();
        let n = status.read_line(&mut line).map_err(|e| Error::Stream {
            context: "reading the monitor's status".into(),
            source: e,
        })?;
        if n == 0 {
            if let Some(mut child) = child {
                let _ = child.wait();
            }
            return Err(Error::InvalidArgument(
                "the container's monitor exited before starting the container".into(),
            ));
        }
        // The monitor lives on in its own session. A forked one (None) is a grandchild, never ours.
        if let Some(child) = child {
            crate::reap::release(child);
        }
        let line = line.trim();
        if let Some(pids) = line.strip_prefix("started ") {
            // The container as loaded above: its config says whether it has a check (no second read).
            self.start_health_checker(&container);
            let (pid, monitor) = pids.split_once(' ').unwrap_or((pids, "0"));
            return Ok(Started {
                pid: pid.parse().unwrap_or(0),
                monitor_pid: monitor.parse().unwrap_or(0),
                status: attached.then_some(status),
            });
        }
        if let Some(rest) = line.strip_prefix("error ") {
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            return Err(Error::StartFailed {
                code: code.parse().unwrap_or(125),
                message: message.to_string(),
            });
        }
        Err(Error::InvalidArgument(format!(
            "unexpected status from the monitor: {line}"
        )))
    }

    /// Waits for container `id`'s start lock: held by a start in progress, and by `rm`.
    pub(crate) fn start_lock(&self, id: &str) -> Result<berth_store::FileLock> {
        match berth_store::FileLock::exclusive(&self.start_lock_file(id)?) {
            Ok(lock) => Ok(lock),
            // `rm` removed the run dir, and the lock file with it, while this process waited.
            Err(_) if berth_store::containers::get(&*self.store().db()?, id)?.is_none() => {
                Err(Error::NoSuchContainer(id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The start lock if no start is in progress.
    pub(crate) fn try_start_lock(&self, id: &str) -> Result<Option<berth_store::FileLock>> {
        Ok(berth_store::FileLock::try_exclusive(&self.start_lock_file(id)?)?)
    }

    /// Whether a start or a removal of `id` holds its start lock (probed without making the file).
    pub(crate) fn start_lock_held(&self, id: &str) -> bool {
        berth_store::FileLock::is_held(&self.container_run_dir(id).join(START_LOCK))
    }

    /// The start lock's file, its directory made.
    fn start_lock_file(&self, id: &str) -> Result<std::path::PathBuf> {
        let dir = self.container_run_dir(id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        Ok(dir.join(START_LOCK))
    }

    /// The container once the monitor of its last run is gone. That monitor records the exit before it tears
    /// the run down (network, mounts, runtime state), so a `restart` or a `start` right after a `stop` could
    /// otherwise start a run that the old monitor then tears down.
    fn settled_container(&self, name: &str) -> Result<super::Container> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let container = self.container(name)?;
            if container.is_running() || !monitor::monitor_alive(&container.row) {
                return Ok(container);
            }
            let pid = container.row.monitor_pid;
            if Instant::now() >= deadline {
                return Err(Error::Conflict(format!(
                    "container {} is still being torn down by the monitor of its last run (pid {pid}); try again",
                    container.short_id()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts the container's monitor: forked from this process when it has
    /// a single thread (no exec, a few milliseconds sooner), else a fresh
    /// `berth container-monitor`. Returns the child to reap if exec'd.
    fn spawn_monitor(
        &self,
        container: &super::Container,
        mode: StartMode,
        write: std::os::fd::OwnedFd,
        parent_only: std::os::fd::RawFd,
        start_lock: &berth_store::FileLock,
    ) -> Result<Option<std::process::Child>> {
        // The monitor holds the start lock too, until the container runs or fails (see monitor::Status).
        let lock_fd = start_lock.as_fd().as_raw_fd();
        if crate::reap::single_threaded() {
            // Neither process may carry an open database across the fork (see Store::close_db): each opens it
            // again when it next needs it.
            self.store().close_db();
            // SAFETY: this process has a single thread, so the child may run
            // any Rust code (allocator, locks) after fork; it never returns
            // into our caller: it ends with _exit.
            #[allow(unsafe_code)]
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let code = self.forked_monitor(
                    container.id(),
                    &mode,
                    container.config.open_stdin,
                    write,
                    Some(parent_only),
                    lock_fd,
                );
                // SAFETY: ends the child without running the parent's destructors or atexit handlers.
                #[allow(unsafe_code)]
                unsafe {
                    libc::_exit(code)
                }
            }
            if pid > 0 {
                return Ok(None);
            }
        } else if let Some(spawner) = crate::spawner::spawner() {
            // A caller with threads (the API server) has its fork server fork the monitor.
            let caller = match &mode {
                StartMode::Attached(caller) => Some(caller),
                StartMode::Detached => None,
            };
            let stdin = caller
                .filter(|_| container.config.open_stdin)
                .and_then(|c| c.stdin.as_ref());
            let job = crate::spawner::Job::Monitor {
                id: container.id().to_string(),
                attached: mode.is_attached(),
                open_stdin: container.config.open_stdin,
            };
            let fds = [
                Some(write.as_fd()),
                Some(start_lock.as_fd()),
                stdin.map(AsFd::as_fd),
                caller.and_then(|c| c.stdout.as_ref()).map(AsFd::as_fd),
                caller.and_then(|c| c.stderr.as_ref()).map(AsFd::as_fd),
            ];
            match spawner.hand(job, &fds) {
                Ok(()) => return Ok(None),
                Err(e) => tracing::warn!(error = %e, "the spawner could not start the monitor; spawning one"),
            }
        }
        let exe = crate::berth_executable().map_err(|e| Error::Stream {
            context: "finding the berth binary".into(),
            source: e,
        })?;
        let mut command = Command::new(exe);
        command
            .arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg("container-monitor")
            .arg("--status-fd")
            .arg(write.as_raw_fd().to_string())
            .arg("--start-lock-fd")
            .arg(lock_fd.to_string())
            .arg(container.id());
        match &mode {
            StartMode::Detached => {
                let stderr =
                    monitor::open_log(self.runroot(), container.id()).map_or_else(|_| Stdio::null(), Stdio::from);
                command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
            }
            StartMode::Attached(caller) => {
                command.arg("--attach");
                let stream = |fd: &Option<std::os::fd::OwnedFd>| match fd.as_ref().map(|fd| fd.try_clone()) {
                    Some(Ok(fd)) => Stdio::from(fd),
                    _ => Stdio::null(),
                };
                let stdin = match container.config.open_stdin {
                    true => stream(&caller.stdin),
                    false => Stdio::null(),
                };
                command
                    .stdin(stdin)
                    .stdout(stream(&caller.stdout))
                    .stderr(stream(&caller.stderr));
            }
        }
        // The status pipe's write end and the start lock survive exec in the monitor, and in no other
        // child: this process may have threads spawning others at this very moment.
        crate::inherit::keep_open_in_child(&mut command, vec![write.as_raw_fd(), lock_fd]);
        let child = command.spawn().map_err(|e| Error::Stream {
            context: "starting the container's monitor".into(),
            source: e,
        });
        drop(write);
        child.map(Some)
    }

    /// The forked monitor's body: its own stdio, then the monitor. `parent_only` is an fd of the
    /// forking parent's that the monitor must not hold (its end of the status pipe).
    pub(crate) fn forked_monitor(
        &self,
        id: &str,
        mode: &StartMode,
        open_stdin: bool,
        write: std::os::fd::OwnedFd,
        parent_only: Option<std::os::fd::RawFd>,
        start_lock_fd: std::os::fd::RawFd,
    ) -> i32 {
        use std::os::fd::IntoRawFd;
        if let Some(fd) = parent_only {
            // SAFETY: the parent's end of the status pipe, which nothing in this child uses; the object
            // owning it is never dropped here, as the child ends with _exit.
            #[allow(unsafe_code)]
            unsafe {
                libc::close(fd);
            }
        }
        let none = berth_relay::Caller::default();
        let caller = match mode {
            StartMode::Attached(caller) => caller,
            StartMode::Detached => &none,
        };
        // Without /dev/null the monitor keeps the forking caller's stdio, as an exec'd one would.
        let _ = caller.become_stdio(open_stdin);
        if !mode.is_attached() {
            // What the monitor says (warnings, a panic) goes to its log, as an exec'd monitor's does.
            if let Ok(log) = monitor::open_log(self.runroot(), id) {
                let _ = rustix::stdio::dup2_stderr(&log);
            }
        }
        let status_fd = write.into_raw_fd();
        // The start lock's fd is the parent's FileLock's; this child takes it over (and never drops that
        // FileLock, as it ends with _exit).
        monitor::run(
            self,
            id,
            status_fd,
            start_lock_fd,
            mode.is_attached(),
            monitor::Resume::default(),
        )
    }

    /// `kill -s SIGNAL`: signals the container's init process.
    pub fn kill_container(&self, name: &str, signal: &str) -> Result<()> {
        let mut container = self.container(name)?;
        if !container.is_running() {
            return Err(Error::Conflict(format!(
                "cannot kill container: {}: container {} is not running",
                name,
                container.short_id()
            )));
        }
        let signo = monitor::parse_signal(signal)?;
        if signo == 9 || container.row.state == ContainerState::Restarting {
            // Like docker: a container killed by the user is not restarted, and one between two runs has no
            // process to signal: the mark ends its restart loop.
            self.mark_stopping(container.id())?;
            container = self.container(container.id())?;
        }
        if container.row.state == ContainerState::Paused && matches!(signo, 9 | 15) {
            // A frozen process cannot die: thaw it first, as Docker does.
            self.unpause_container(container.id())?;
        }
        if !container.is_running() || container.row.state == ContainerState::Restarting {
            // Stopped since the first read, or still between two runs: the mark is all it takes.
            return Ok(());
        }
        monitor::signal_pid(container.row.pid as i32, signo)?;
        self.emit_container(&container, "kill", &[("signal", signo.to_string())]);
        Ok(())
    }

    /// `stop`: the stop signal, then SIGKILL after the timeout.
    pub fn stop_container(&self, name: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
        let container = self.container(name)?;
        if !container.is_running() {
            return Ok(());
        }
        self.mark_stopping(container.id())?;
        let container = self.container(container.id())?;
        if container.row.state == ContainerState::Paused {
            self.unpause_container(container.id())?;
        }
        let signal = signal
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .or_else(|| Some(container.config.stop_signal.clone()).filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "SIGTERM".into());
        let timeout = timeout.or(container.config.stop_timeout).unwrap_or(10);
        let signo = monitor::parse_signal(&signal)?;
        let _ = monitor::signal_pid(container.row.pid as i32, signo);
        self.emit_container(&container, "kill", &[("signal", signo.to_string())]);
        let grace = (timeout >= 0).then(|| Duration::from_secs(timeout as u64));
        if self.wait_stopped(container.id(), grace).is_err() {
            let current = self.container(container.id())?;
            if current.is_running() {
                let _ = monitor::signal_pid(current.row.pid as i32, 9);
                self.emit_container(&container, "kill", &[("signal", "9".into())]);
            }
            self.wait_stopped(container.id(), None)?;
        }
        self.emit_container(&container, "stop", &[]);
        Ok(())
    }

    /// `restart`: stops the container (see `stop_container`) and starts it again, detached.
    pub fn restart_container(&self, name: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
        self.stop_container(name, timeout, signal)?;
        self.start_container(name, StartMode::Detached)?;
        let c = self.container(name)?;
        self.emit_container(&c, "restart", &[]);
        Ok(())
    }

    /// Records that the user stopped the container, so no restart policy
    /// brings it back (Docker's "manually stopped"). Read the container again after it: a restart under way
    /// either sees the mark before it starts a process, or has recorded that process already (the monitor
    /// checks the mark again once it has, and kills the process if it finds it).
    fn mark_stopping(&self, id: &str) -> Result<()> {
        monitor::write_stop_marker(self, id)
    }

    /// Waits until the container is no longer running; `None` waits forever.
    pub fn wait_stopped(&self, id: &str, timeout: Option<Duration>) -> Result<i64> {
        let start = Instant::now();
        loop {
            let row = rows::get(&*self.store().db()?, id)?.ok_or_else(|| Error::NoSuchContainer(id.to_string()))?;
            let container = self.reconcile(self.load_container_row(row)?)?;
            if !container.is_running() {
                return Ok(container.row.exit_code);
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return Err(Error::InvalidArgument("timed out".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `wait`: blocks until the container stops, returns its exit code.
    pub fn wait_container(&self, name: &str) -> Result<i64> {
        let never = std::sync::atomic::AtomicBool::new(false);
        let outcome = self.wait_container_until(name, super::WaitCondition::NotRunning, &never)?;
        Ok(outcome.map_or(0, |o| o.status_code))
    }

    pub(crate) fn load_container_row(&self, row: rows::ContainerRow) -> Result<super::Container> {
        self.load_container(row)
    }
}
