//! The monitor: one small process per started container (`berth
//! container-monitor ID`), in its own session so it outlives the CLI. It
//! mounts the container's root, starts the container through the runtime,
//! relays and logs its output, reaps it, records the exit, applies the
//! restart policy, and tears the runtime state down.
//!
//! Status protocol on the inherited `--status-fd` pipe, one line each:
//! `started PID`, or `error CODE MESSAGE` (CODE is the docker exit status:
//! 125, 126 or 127), then `exit CODE` when the container is gone for good.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_runtime::external::Runtime;
use berth_runtime::launch;
use berth_runtime::spec::{self, NetworkMode, RunSpec, SeccompMode};
use berth_store::containers::{self as rows, ContainerRow};
use berth_store::meta;

use super::lifecycle::RestartPolicy;
use super::logs;
use super::Container;
use crate::events::EventType;
use crate::{time, Engine, Error, Result};
use berth_relay::{copy_window_size, Relay};

/// The OCI runtime a container was created with (`--runtime`); the
/// built-in one when the container or its record is gone.
pub(crate) fn runtime_of(engine: &Engine, id: &str) -> Runtime {
    let name = engine
        .store()
        .db()
        .ok()
        .and_then(|db| rows::get(&db, id).ok().flatten())
        .and_then(|row| serde_json::from_str::<super::ContainerConfig>(&row.config).ok())
        .map(|c| c.host.runtime)
        .unwrap_or_default();
    Runtime::for_name(&name, engine.runroot())
        .unwrap_or_else(|_| Runtime::Builtin(launch::Launcher::new(&engine.runroot().join("runtime"))))
}

fn stop_marker(engine: &Engine, id: &str) -> PathBuf {
    engine.container_run_dir(id).join("stopped-by-user")
}

pub(crate) fn write_stop_marker(engine: &Engine, id: &str) -> Result<()> {
    let dir = engine.container_run_dir(id);
    fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    fs::write(stop_marker(engine, id), b"").map_err(|e| Error::Io { path: dir, source: e })
}

/// The monitor's own log, in the container's run dir under `runroot`: its warnings and, should it fail, its
/// last words. Every detached monitor writes there, forked or exec'd (`berth container-monitor` opens it
/// for its tracing before it has an engine).
pub fn log_file_path(runroot: &Path, id: &str) -> PathBuf {
    runroot.join("containers").join(id).join("monitor.log")
}

/// Opens the monitor's log for appending, creating the run dir if needed.
pub fn open_log(runroot: &Path, id: &str) -> std::io::Result<File> {
    let path = log_file_path(runroot, id);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::OpenOptions::new().create(true).append(true).open(path)
}

/// The last line of the monitor's log, if it wrote any.
pub(crate) fn last_words(engine: &Engine, id: &str) -> Option<String> {
    last_line(&log_file_path(engine.runroot(), id))
}

/// The last non-empty line of a file, read from its last 4 kB.
fn last_line(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// The cgroup path the runtime creates for a container.
pub(crate) fn cgroups_path(id: &str) -> String {
    format!("/berth/{id}")
}

/// A process's state letter and start time (clock ticks since boot), from one read of /proc/PID/stat: `ps`
/// asks this of every container's monitor.
fn process_stat(pid: i64) -> Option<(char, i64)> {
    if pid <= 0 {
        return None;
    }
    let mut buf = [0u8; 1024];
    let n = fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| std::io::Read::read(&mut f, &mut buf))
        .ok()?;
    let stat = std::str::from_utf8(&buf[..n]).ok()?;
    // After "pid (comm) ": state is field 3, starttime field 22.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Start time of a process in clock ticks since boot, from /proc/PID/stat.
pub fn process_start(pid: i64) -> Option<i64> {
    process_stat(pid).map(|(_, start)| start)
}

/// Whether the monitor recorded as (pid, start time) is still that process
/// (a zombie nobody reaped yet counts as dead).
fn is_alive(pid: i64, start: i64) -> bool {
    matches!(process_stat(pid), Some((state, s)) if s == start && !matches!(state, 'Z' | 'X'))
}

/// A process by pid, start time and boot, so that a later process with the same pid is not it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub pid: i64,
    pub start: i64,
    pub boot: String,
}

impl Owner {
    pub fn this_process() -> Owner {
        let pid = i64::from(std::process::id());
        Owner {
            pid,
            start: process_start(pid).unwrap_or(0),
            boot: boot_id().to_string(),
        }
    }

    pub fn alive(&self) -> bool {
        (self.boot.is_empty() || self.boot == boot_id()) && is_alive(self.pid, self.start)
    }
}

/// This boot's id, read once per process; empty if the kernel does not say.
fn boot_id() -> &'static str {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// Whether a container's recorded monitor still runs: the same boot (after a reboot, a new process can have
/// the old pid and start time), then the same pid and start time. Rows from before the boot was recorded
/// match any boot.
pub(crate) fn monitor_alive(row: &ContainerRow) -> bool {
    (row.monitor_boot.is_empty() || row.monitor_boot == boot_id()) && is_alive(row.monitor_pid, row.monitor_start)
}

/// Signal names and numbers as docker accepts them: KILL, SIGKILL, 9.
pub fn parse_signal(text: &str) -> Result<i32> {
    let t = text.trim().to_ascii_uppercase();
    if let Ok(n) = t.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = t.strip_prefix("SIG").unwrap_or(&t);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return Err(Error::InvalidArgument(format!("invalid signal: {text}"))),
    };
    Ok(n)
}

pub(crate) fn signal_pid(pid: i32, signal: i32) -> Result<()> {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return Err(Error::InvalidArgument("the container has no process".into()));
    };
    let signal = rustix::process::Signal::from_named_raw(signal)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid signal: {signal}")))?;
    match rustix::process::kill_process(pid, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(Error::Stream {
            context: "signalling the container".into(),
            source: e.into(),
        }),
    }
}

/// Removes the runtime's state, cgroups and the root mount of a container
/// that is not running. Tolerant: what is already gone is fine.
pub(crate) fn cleanup_runtime(engine: &Engine, id: &str) -> Result<()> {
    cleanup_runtime_then(engine, id, |_| Vec::new())
}

/// [`cleanup_runtime`], running `after_unmount` once the mounts are gone (or failed to go: its argument says
/// whether they all went) while the runtime's part may still be under way; its errors join the others.
pub(crate) fn cleanup_runtime_then(
    engine: &Engine,
    id: &str,
    after_unmount: impl FnOnce(bool) -> Vec<String>,
) -> Result<()> {
    // The runtime's part (cgroups) runs beside the mounts and the network.
    std::thread::scope(|scope| {
        let runtime = scope.spawn(|| runtime_of(engine, id).delete(id).map_err(|e| e.to_string()));
        let mut errors = cleanup_mounts(engine, id);
        let unmounted = errors.is_empty();
        errors.extend(after_unmount(unmounted));
        match runtime.join() {
            Ok(Err(e)) => errors.insert(0, e),
            Err(_) => errors.insert(0, "removing the runtime state panicked".into()),
            Ok(Ok(())) => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(errors.join("; ")))
        }
    })
}

/// The network namespace, the attach files and the root mount of a stopped container; returns what failed.
fn cleanup_mounts(engine: &Engine, id: &str) -> Vec<String> {
    let mut errors = Vec::new();
    engine.disconnect_namespace(id);
    for path in [attach_socket_path(engine, id), size_file_path(engine, id)] {
        let _ = fs::remove_file(path);
    }
    let merged = engine.container_dir(id).join("merged");
    for target in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        let _ = berth_image::snapshot::unmount(&merged.join(target));
    }
    if let Err(e) = berth_image::snapshot::unmount(&merged) {
        errors.push(e.to_string());
    }
    errors
}

/// Reports to whoever started the monitor; a reader that went away is fine.
/// The status pipe, and the container's start lock until the first status line: a start is in
/// progress until the container runs or fails, also when the command that started it was killed, and
/// `rm` waits for it rather than removing a container that then starts without a record.
struct Status(Option<File>, Option<OwnedFd>);

impl Status {
    fn say(&mut self, line: &str) {
        if let Some(f) = self.0.as_mut() {
            if f.write_all(format!("{line}\n").as_bytes()).is_err() {
                self.0 = None;
            }
        }
        self.1 = None;
    }
}

/// Where a monitor picks up after its shim (see the berth-shim binary):
/// the container's exit status and the restart bookkeeping.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// The exit status the shim reaped (128+N for a signal); None on a first start.
    pub status: Option<i32>,
    pub restarts: u32,
    pub backoff_ms: u64,
    /// When the run that just ended started, in ms since the epoch.
    pub started_ms: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The monitor's main: runs until the container is gone for good. `start_lock_fd` is the starter's
/// start lock (-1: none), held until the container runs or fails to start.
/// Returns the process exit status.
pub fn run(engine: &Engine, id: &str, status_fd: i32, start_lock_fd: i32, attach: bool, resume: Resume) -> i32 {
    // SAFETY: the fd numbers were handed to us by our parent (or the shim we
    // were) for these purposes and nothing else in this process owns them.
    #[allow(unsafe_code)]
    let status_file = (status_fd >= 0).then(|| File::from(unsafe { OwnedFd::from_raw_fd(status_fd) }));
    #[allow(unsafe_code)]
    let start_lock = (start_lock_fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(start_lock_fd) });
    let mut status = Status(status_file, start_lock);
    if resume.status.is_none() {
        // Our own session: the terminal's signals for the CLI never reach us.
        let _ = rustix::process::setsid();
        let _ = launch::become_subreaper();
    }

    if resume.status.is_some() {
        // What the shim passed on besides the status pipe (reserved host ports, the attach socket) belonged
        // to the run that just ended.
        close_inherited_sockets(status_fd);
    }
    let container = match engine.container(id) {
        Ok(c) => c,
        Err(e) => {
            status.say(&format!("error 125 {e}"));
            return 125;
        }
    };
    if resume.status.is_none() {
        let _ = fs::remove_file(stop_marker(engine, id));
    }
    let policy = RestartPolicy::parse(&container.config.host.restart_policy).unwrap_or(RestartPolicy::No);
    let mut monitor = Monitor {
        engine,
        container,
        attach,
        restarts: resume.restarts,
        status_fd,
        held_ports: Vec::new(),
    };
    let mut first = resume.status.is_none();
    let mut backoff = Duration::from_millis(resume.backoff_ms.max(100));
    let mut pending = resume.status.map(|s| (s, resume.started_ms));
    loop {
        let (code, failed_to_start, ran_ms) = match pending.take() {
            Some((exit_status, started_ms)) => (monitor.finish_run(exit_status), false, now_ms() - started_ms),
            None => {
                let started_ms = now_ms();
                match monitor.run_once(&mut status, first, backoff, started_ms) {
                    Ok(code) => (code, false, now_ms() - started_ms),
                    Err((code, message)) => {
                        monitor.record_failure(code, &message);
                        status.say(&format!("error {code} {message}"));
                        (code, true, 0)
                    }
                }
            }
        };
        first = false;
        let stopped_by_user = stop_marker(engine, id).exists();
        let again = !failed_to_start
            && !stopped_by_user
            && match &policy {
                RestartPolicy::No => false,
                RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
                RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|m| monitor.restarts < m),
            };
        if !again {
            // discard_container cleans the runtime up itself.
            if monitor.container.config.host.auto_remove {
                let _ = engine.discard_container(id);
                engine.remove_anonymous_volumes(&monitor.container.config);
            } else {
                let _ = cleanup_runtime(engine, id);
            }
            status.say(&format!("exit {code}"));
            return 0;
        }
        // Docker's back-off: doubling from 100 ms, reset after 10 s of running.
        if ran_ms > 10_000 {
            backoff = Duration::from_millis(100);
        }
        monitor.set_state("restarting");
        // The back-off grows to a minute: a stop or kill during it ends the wait, so it never waits that long.
        let wake = std::time::Instant::now() + backoff;
        while std::time::Instant::now() < wake && !stop_marker(engine, id).exists() {
            std::thread::sleep(
                wake.saturating_duration_since(std::time::Instant::now())
                    .min(Duration::from_millis(20)),
            );
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
        if stop_marker(engine, id).exists() {
            let _ = cleanup_runtime(engine, id);
            monitor.set_state("exited");
            status.say(&format!("exit {code}"));
            return 0;
        }
        monitor.restarts += 1;
    }
}

/// How long a monitor relays a non-interactive container itself before it hands over to the shim.
const HANDOVER_GRACE: Duration = Duration::from_millis(100);

/// The shim binary beside berth, if it is there.
fn shim_path() -> Option<PathBuf> {
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
fn close_inherited_sockets(keep: i32) {
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

struct Monitor<'e> {
    engine: &'e Engine,
    container: Container,
    attach: bool,
    status_fd: i32,
    restarts: u32,
    /// Host ports reserved for `-p` while the container runs.
    held_ports: Vec<OwnedFd>,
}

impl Monitor<'_> {
    fn id(&self) -> String {
        self.container.row.id.clone()
    }

    fn update(&mut self, f: impl FnOnce(&mut ContainerRow)) {
        let id = self.id();
        let result = self.engine.store().write(|tx| {
            let Some(mut row) = rows::get(tx, &id)? else {
                return Ok::<_, Error>(None);
            };
            f(&mut row);
            rows::update(tx, &row)?;
            Ok(Some(row))
        });
        if let Ok(Some(row)) = result {
            self.container.row = row;
        }
    }

    fn set_state(&mut self, state: &str) {
        let state = state.to_string();
        self.update(|row| row.state = state);
    }

    fn record_failure(&mut self, code: i32, message: &str) {
        let message = message.to_string();
        self.update(|row| {
            row.state = if row.started_at.starts_with("0001") {
                "created"
            } else {
                "exited"
            }
            .into();
            row.exit_code = code as i64;
            row.error = message;
            row.pid = 0;
            row.monitor_pid = 0;
        });
    }

    /// Starts the container once and waits for it. Ok(exit code), or
    /// Err((docker status, message)) if it could not start.
    fn run_once(
        &mut self,
        status: &mut Status,
        first: bool,
        backoff: Duration,
        started_ms: i64,
    ) -> std::result::Result<i32, (i32, String)> {
        let engine = self.engine;
        let id = self.id();
        let rootfs = self.mount_root().map_err(|e| (125, e.to_string()))?;
        let network = self.network_mode().map_err(|e| (125, e.to_string()))?;
        let mut run_spec = self.run_spec(&rootfs).map_err(|e| (125, e.to_string()))?;
        run_spec.network = network;
        ensure_workdir(&rootfs, &run_spec.cwd).map_err(|e| (125, e))?;
        check_executable(&rootfs, &run_spec.binds, &run_spec.args, &run_spec.env)?;
        if self.container.config.host.init {
            let init = init_binary(engine).map_err(|e| (125, e.to_string()))?;
            run_spec.binds.push(spec::BindMount {
                source: init,
                destination: "/sbin/docker-init".into(),
                read_only: true,
                options: Vec::new(),
            });
            let mut args = vec!["/sbin/docker-init".to_string(), "--".to_string()];
            args.append(&mut run_spec.args);
            run_spec.args = args;
        }
        let oci = spec::build(&run_spec).map_err(|e| (125, e.to_string()))?;
        let bundle = engine.container_run_dir(&id).join("bundle");
        fs::create_dir_all(&bundle).map_err(|e| (125, format!("{}: {e}", bundle.display())))?;
        let json = serde_json::to_vec_pretty(&oci).map_err(|e| (125, e.to_string()))?;
        fs::write(bundle.join("config.json"), json).map_err(|e| (125, format!("writing the runtime spec: {e}")))?;

        let launcher = Runtime::for_name(&self.container.config.host.runtime, engine.runroot())
            .map_err(|e| (125, e.to_string()))?;
        // A previous run of this container may have left runtime state.
        let _ = launcher.delete(&id);
        let mut log = self.log_writer();
        let attach = self.attach;
        let open_stdin = self.container.config.open_stdin;
        let listener = bind_attach_socket(engine, &id).map_err(|e| (125, e.to_string()))?;
        let tty = self.container.config.tty;
        let (pid, outputs, input) = if tty {
            let socket = launch::ConsoleSocket::bind(&console_dir(engine).join(format!("{}.sock", &id[..12])))
                .map_err(|e| (125, e.to_string()))?;
            let pid = launcher
                .start(&id, &bundle, socket.stdio())
                .map_err(|e| (125, e.to_string()))?;
            let master = socket
                .receive_master(Duration::from_secs(10))
                .map_err(|e| (125, e.to_string()))?;
            if attach {
                // SAFETY: fd 1 is this process's stdout, open for its lifetime.
                #[allow(unsafe_code)]
                let our_stdout = unsafe { BorrowedFd::borrow_raw(1) };
                copy_window_size(our_stdout, &master);
            }
            let input = rustix::io::dup(&master).map_err(|e| (125, format!("dup: {e}")))?;
            (pid, vec![(master, 0)], Some(input))
        } else {
            let (out_r, out_w) = rustix::pipe::pipe().map_err(|e| (125, format!("pipe: {e}")))?;
            let (err_r, err_w) = rustix::pipe::pipe().map_err(|e| (125, format!("pipe: {e}")))?;
            let (stdin_r, stdin_w) = if open_stdin {
                let (r, w) = rustix::pipe::pipe().map_err(|e| (125, format!("pipe: {e}")))?;
                (Some(r), Some(w))
            } else {
                (None, None)
            };
            let pid = launcher
                .start(
                    &id,
                    &bundle,
                    launch::Stdio::Pipes {
                        stdin: stdin_r,
                        stdout: out_w,
                        stderr: err_w,
                    },
                )
                .map_err(|e| (125, e.to_string()))?;
            (pid, vec![(out_r, 0), (err_r, 1)], stdin_w)
        };
        self.mark_running(pid, status, first);
        if stop_marker(engine, &id).exists() {
            // A stop or kill came while this run was starting, too late for the check before it and too early
            // to find this process (see Engine::mark_stopping).
            let _ = signal_pid(pid, 9);
        }
        let mut outputs = outputs;
        let mut input = input;
        if let Some(shim) = shim_path() {
            // A container that needs nothing interactive is relayed here for a moment first: one that ends
            // within it (`run --rm IMG cmd`) is finished here, saving the shim's start and this monitor's
            // start again at the exit. Longer runs go to the small shim as before.
            if !tty && !open_stdin {
                let deadline = std::time::Instant::now() + HANDOVER_GRACE;
                let mut relay = Relay {
                    outputs,
                    input,
                    tty,
                    log: &mut log,
                    caller: attached_caller(attach, false),
                    listener: None,
                    detach_keys: Vec::new(),
                    size_file: None,
                };
                if relay.run_until(Some(deadline), &mut || {}) {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if let Some(exit) = launch::wait_exit_within(pid, left).map_err(|e| (125, e.to_string()))? {
                        return Ok(self.finish_run(exit.status()));
                    }
                }
                outputs = std::mem::take(&mut relay.outputs);
                input = relay.input.take();
            }
            let err = self.exec_shim(&shim, pid, &outputs, input.as_ref(), &listener, backoff, started_ms);
            tracing::warn!(error = %err, "could not hand over to berth-shim; relaying in the monitor");
        }
        Relay {
            outputs,
            input,
            tty,
            log: &mut log,
            caller: attached_caller(attach, open_stdin),
            listener: Some(listener),
            detach_keys: self.container.detach_keys(),
            size_file: Some(size_file_path(engine, &id)),
        }
        .run(&mut || status.say("detached"));
        let exit = launch::wait_exit(pid).map_err(|e| (125, e.to_string()))?;
        Ok(self.finish_run(exit.status()))
    }

    /// Becomes berth-shim (same pid, so still the container's parent): it
    /// relays and reaps, then execs `berth container-monitor ... --resume-status`.
    /// Returns only if the exec failed.
    #[allow(clippy::too_many_arguments)]
    fn exec_shim(
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

    /// Records how a run ended and removes the runtime's state for it.
    fn finish_run(&mut self, exit_status: i32) -> i32 {
        let mut attributes = crate::events::container_attributes(&self.container);
        attributes.insert("exitCode".into(), exit_status.to_string());
        self.engine
            .emit(EventType::Container, "die", &self.container.row.id, attributes);
        if self.container.config.host.auto_remove {
            // Discarded next (`--rm` never restarts): recording the exit and deleting the runtime here would
            // only be done again by the discard.
            return exit_status;
        }
        self.record_exit(exit_status);
        let id = self.id();
        let _ = runtime_of(self.engine, &id).delete(&id);
        exit_status
    }

    fn record_exit(&mut self, exit_status: i32) {
        let oom = oom_killed(&self.id());
        self.update(|row| {
            row.state = "exited".into();
            row.exit_code = exit_status as i64;
            row.finished_at = time::now();
            row.oom_killed = oom;
            row.pid = 0;
        });
    }

    fn mark_running(&mut self, pid: i32, status: &mut Status, first: bool) {
        let monitor_pid = std::process::id() as i64;
        let monitor_start = process_start(monitor_pid).unwrap_or(0);
        let restarts = self.restarts as i64;
        self.update(|row| {
            row.state = "running".into();
            row.pid = pid as i64;
            row.monitor_pid = monitor_pid;
            row.monitor_start = monitor_start;
            row.monitor_boot = boot_id().to_string();
            row.started_at = time::now();
            row.error = String::new();
            row.oom_killed = false;
            row.restart_count = restarts;
        });
        if first {
            status.say(&format!("started {pid} {monitor_pid}"));
        }
        let attributes = crate::events::container_attributes(&self.container);
        self.engine
            .emit(EventType::Container, "start", &self.container.row.id, attributes);
    }

    fn log_writer(&self) -> logs::Writer {
        let host = &self.container.config.host;
        if host.log_type == "none" {
            return logs::Writer::none();
        }
        let path = log_path(self.engine, &self.container.row.id);
        let max_size = host.log_opts.get("max-size").and_then(|s| logs::parse_size(s));
        let max_files = host.log_opts.get("max-file").and_then(|s| s.parse().ok()).unwrap_or(1);
        logs::Writer::open(&path, max_size, max_files)
            .map(|w| w.with_attrs(&logs::log_attrs(&self.container.config)))
            .unwrap_or_else(|_| logs::Writer::none())
    }

    /// The network namespace the container gets: its own one wired to its networks (with its ports
    /// published), the host's, an empty one, or another container's.
    fn network_mode(&mut self) -> Result<NetworkMode> {
        let mode = self.container.config.host.network_mode.clone();
        if mode == "host" {
            return Ok(NetworkMode::Host);
        }
        if mode == "none" {
            return Ok(NetworkMode::None);
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let other = self.engine.container(other)?;
            if !other.is_running() || other.row.pid <= 0 {
                return Err(Error::Conflict(format!(
                    "cannot join network of a non running container: {}",
                    other.row.name
                )));
            }
            return Ok(NetworkMode::Path(PathBuf::from(format!(
                "/proc/{}/ns/net",
                other.row.pid
            ))));
        }
        self.held_ports.clear();
        let (path, attached) = self.engine.connect_namespace(&self.container)?;
        self.held_ports = attached.held_ports;
        Ok(NetworkMode::Path(path))
    }

    /// Mounts the overlay of the image's layers with the container's upper
    /// dir, unless it is still mounted from a previous run.
    fn mount_root(&self) -> Result<PathBuf> {
        let dir = self.engine.container_dir(&self.container.row.id);
        let merged = dir.join("merged");
        if is_mountpoint(&merged) {
            return Ok(merged);
        }
        let image_id: berth_store::Digest = self.container.row.image_id.parse()?;
        let record = meta::get_image(&*self.engine.store().db()?, &image_id)?
            .ok_or_else(|| Error::NoSuchImage(self.container.config.image.clone()))?;
        let lowers: Vec<PathBuf> = record
            .layers
            .iter()
            .rev()
            .map(|c| self.engine.store().layer_diff(c))
            .collect();
        if berth_image::snapshot::overlay_supported() {
            // A --rm container's upper dir is thrown away with it: no need for overlayfs to sync it.
            let volatile = self.container.config.host.auto_remove;
            let work = dir.join("work");
            if volatile {
                // Left by a volatile mount that was never cleanly unmounted (a crash); the kernel refuses to
                // mount the upper again while it is there.
                let _ = fs::remove_dir_all(work.join("work/incompat"));
            }
            berth_image::snapshot::mount_overlay_with(&lowers, &dir.join("upper"), &work, &merged, volatile)?;
        } else if fs::read_dir(&merged).map(|mut d| d.next().is_none()).unwrap_or(true) {
            berth_image::snapshot::copy_view(&lowers, &merged)?;
        }
        Ok(merged)
    }

    fn run_spec(&self, rootfs: &Path) -> Result<RunSpec> {
        let c = &self.container.config;
        let h = &c.host;
        let id = &self.container.row.id;
        let dir = self.engine.container_dir(id);
        let endpoints = self.engine.container_endpoints(id)?;
        let mut files = write_etc_files(&dir, c, &endpoints)?;
        let mut ulimits = Vec::new();
        for u in &h.ulimits {
            ulimits.push(spec::parse_ulimit(u)?);
        }
        let mut tmpfs = Vec::new();
        for t in &h.tmpfs {
            let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
            tmpfs.push((path.to_string(), opts.to_string()));
        }
        for m in &c.mounts {
            let options: Vec<String> = (!m.propagation.is_empty())
                .then(|| m.propagation.clone())
                .into_iter()
                .collect();
            match m.kind.as_str() {
                "tmpfs" => tmpfs.push((m.target.clone(), m.tmpfs_options.clone())),
                "bind" => files.push(spec::BindMount {
                    source: PathBuf::from(&m.source),
                    destination: m.target.clone(),
                    read_only: m.read_only,
                    options,
                }),
                _ => {
                    let volume = self.engine.volume(&m.source)?;
                    if volume.options.get("type").map(String::as_str) == Some("tmpfs") {
                        let o = volume.options.get("o").cloned().unwrap_or_default();
                        tmpfs.push((m.target.clone(), o));
                        continue;
                    }
                    let source = match (
                        volume.options.get("type").map(String::as_str),
                        volume.options.get("device"),
                    ) {
                        (Some("none"), Some(device)) => PathBuf::from(device),
                        _ => volume.mountpoint.clone(),
                    };
                    if !m.nocopy {
                        copy_up(rootfs, &m.target, &source);
                    }
                    files.push(spec::BindMount {
                        source,
                        destination: m.target.clone(),
                        read_only: m.read_only,
                        options,
                    });
                }
            }
        }
        let mut seccomp = SeccompMode::Default;
        let mut no_new_privileges = false;
        for opt in &h.security_opt {
            let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
            match (key, value) {
                ("no-new-privileges", "" | "true") => no_new_privileges = true,
                ("no-new-privileges", "false") => no_new_privileges = false,
                ("seccomp", "unconfined") => seccomp = SeccompMode::Unconfined,
                ("seccomp", path) if !path.is_empty() => seccomp = SeccompMode::Profile(PathBuf::from(path)),
                ("label" | "apparmor", _) => {}
                _ => return Err(Error::InvalidArgument(format!("invalid --security-opt: {opt}"))),
            }
        }
        let mut devices = Vec::new();
        for d in &h.devices {
            let mut parts = d.splitn(3, ':');
            let host = parts.next().unwrap_or_default();
            let container = parts.next().unwrap_or(host);
            let perms = parts.next().unwrap_or("rwm");
            devices.push(spec::Device {
                host: PathBuf::from(host),
                container: container.to_string(),
                permissions: perms.to_string(),
            });
        }
        Ok(RunSpec {
            rootfs: rootfs.to_path_buf(),
            args: self.container.args(),
            env: c.env.clone(),
            cwd: c.working_dir.clone(),
            user: c.user.clone(),
            group_add: c.group_add.clone(),
            hostname: c.hostname.clone(),
            tty: c.tty,
            read_only: h.read_only,
            privileged: h.privileged,
            cap_add: h.cap_add.clone(),
            cap_drop: h.cap_drop.clone(),
            no_new_privileges,
            seccomp,
            // Set by the caller (network_mode), which may create a namespace.
            network: NetworkMode::None,
            resources: spec::Resources {
                memory: (h.memory > 0).then_some(h.memory),
                memory_swap: (h.memory_swap != 0).then_some(h.memory_swap),
                memory_reservation: (h.memory_reservation > 0).then_some(h.memory_reservation),
                nano_cpus: (h.nano_cpus > 0).then_some(h.nano_cpus),
                cpu_shares: (h.cpu_shares > 0).then_some(h.cpu_shares as u64),
                cpuset_cpus: (!h.cpuset_cpus.is_empty()).then(|| h.cpuset_cpus.clone()),
                pids_limit: (h.pids_limit != 0).then_some(h.pids_limit),
                oom_kill_disable: h.oom_kill_disable,
            },
            ulimits,
            shm_size: (h.shm_size > 0).then_some(h.shm_size as u64),
            tmpfs,
            binds: files,
            devices,
            cgroups_path: cgroups_path(id),
            sysctls: Default::default(),
            oom_score_adj: None,
        })
    }
}

/// Docker creates a missing working directory (root-owned, 0755). Each
/// component is made relative to its parent opened inside the root, so a
/// symlink in the image cannot send the mkdir outside it.
fn ensure_workdir(rootfs: &Path, cwd: &str) -> std::result::Result<(), String> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    if cwd.is_empty() || cwd == "/" {
        return Ok(());
    }
    let root = File::open(rootfs).map_err(|e| format!("{}: {e}", rootfs.display()))?;
    let mut parent = rustix::io::dup(&root).map_err(|e| e.to_string())?;
    for part in cwd.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let next = match rustix::fs::openat2(&parent, part, flags, Mode::empty(), ResolveFlags::IN_ROOT) {
            Err(rustix::io::Errno::NOENT) => {
                rustix::fs::mkdirat(&parent, part, Mode::from_raw_mode(0o755))
                    .map_err(|e| format!("creating the working directory {cwd}: {e}"))?;
                rustix::fs::openat2(&parent, part, flags, Mode::empty(), ResolveFlags::IN_ROOT)
            }
            other => other,
        }
        .map_err(|e| format!("working directory {cwd}: {e}"))?;
        parent = next;
    }
    Ok(())
}

/// Fills a new, empty volume with what the image has at `target`, keeping
/// owners and modes, as docker does on a volume's first use. The target is
/// resolved inside the container's root, so an image's symlinks never lead
/// the copy to host files.
fn copy_up(rootfs: &Path, target: &str, volume: &Path) {
    if fs::read_dir(volume).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return;
    }
    let Ok(root) = File::open(rootfs) else { return };
    let Ok(dir) = rustix::fs::openat2(
        &root,
        target,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        rustix::fs::ResolveFlags::IN_ROOT,
    ) else {
        return;
    };
    // "/." makes the magic link resolve to the directory it names.
    let source = PathBuf::from(format!("/proc/self/fd/{}/.", std::os::fd::AsRawFd::as_raw_fd(&dir)));
    if let Err(e) = berth_image::layer::merge_overlay_dir(&source, volume) {
        tracing::warn!(error = %e, target, "copying the image's content into a new volume");
    }
    if let Ok(st) = rustix::fs::fstat(&dir) {
        let _ = rustix::fs::chown(
            volume,
            Some(rustix::fs::Uid::from_raw(st.st_uid)),
            Some(rustix::fs::Gid::from_raw(st.st_gid)),
        );
        let _ = rustix::fs::chmod(volume, rustix::fs::Mode::from_raw_mode(st.st_mode & 0o7777));
    }
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf as Docker writes them: the container's own address and
/// name in hosts; for a user-defined network, the network's DNS server (on its gateway) in resolv.conf. They
/// are written beside the container and bound in.
fn write_etc_files(
    dir: &Path,
    c: &super::ContainerConfig,
    endpoints: &[(berth_store::networks::NetworkRow, berth_store::networks::EndpointRow)],
) -> Result<Vec<spec::BindMount>> {
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let hostname = dir.join("hostname");
    fs::write(&hostname, format!("{}\n", c.hostname)).map_err(|e| io(&hostname, e))?;
    let hosts = dir.join("hosts");
    let mut text = if c.host.network_mode == "host" {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            .to_string()
    };
    for extra in &c.host.extra_hosts {
        if let Some((name, ip)) = extra.split_once(':') {
            let ip = match (ip, endpoints.first()) {
                ("host-gateway", Some((net, _))) => net.gateway.as_str(),
                _ => ip,
            };
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    if let Some((_, endpoint)) = endpoints.first() {
        text.push_str(&format!("{}\t{}\n", endpoint.ip, c.hostname));
    }
    fs::write(&hosts, text).map_err(|e| io(&hosts, e))?;
    let resolv = dir.join("resolv.conf");
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let user_network = endpoints
        .iter()
        .find(|(net, _)| net.name != crate::networks::DEFAULT_NETWORK)
        .map(|(net, _)| net.gateway.clone());
    fs::write(&resolv, resolv_conf(&host_resolv, c, user_network.as_deref())).map_err(|e| io(&resolv, e))?;
    Ok([
        (hostname, "/etc/hostname"),
        (hosts, "/etc/hosts"),
        (resolv, "/etc/resolv.conf"),
    ]
    .into_iter()
    .map(|(source, destination)| spec::BindMount {
        source,
        destination: destination.to_string(),
        // As with Docker, `--read-only` covers them too; `network connect` still rewrites resolv.conf from
        // the host side.
        read_only: c.host.read_only,
        options: Vec::new(),
    })
    .collect())
}

/// Rewrites a running container's resolv.conf in place (it is bind-mounted, so the file must stay the same
/// inode) to use a network's DNS server, after `network connect` to its first user-defined network.
pub(crate) fn point_resolver_at(engine: &Engine, c: &super::Container, gateway: &str) {
    let path = engine.container_dir(c.id()).join("resolv.conf");
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if let Err(e) = fs::write(&path, resolv_conf(&host, &c.config, Some(gateway))) {
        tracing::warn!(id = c.id(), error = %e, "updating resolv.conf");
    }
}

/// The container's resolv.conf: `--dns` servers, else the network's DNS server (user networks), else the
/// host's servers that a container can reach (not loopback ones); search domains and options from the flags
/// or the host.
fn resolv_conf(host: &str, c: &super::ContainerConfig, network_dns: Option<&str>) -> String {
    let mut servers: Vec<String> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => servers.extend(words.next().map(str::to_owned)),
            Some("search") | Some("domain") => search = words.map(str::to_owned).collect(),
            Some("options") => options.extend(words.map(str::to_owned)),
            _ => {}
        }
    }
    let h = &c.host;
    if c.host.network_mode != "host" {
        servers.retain(|s| !s.starts_with("127.") && s != "::1");
    }
    if !h.dns.is_empty() {
        servers = h.dns.clone();
    } else if let Some(gateway) = network_dns {
        servers = vec![gateway.to_string()];
    }
    if !h.dns_search.is_empty() {
        search = h.dns_search.iter().filter(|s| s.as_str() != ".").cloned().collect();
    }
    if !h.dns_options.is_empty() {
        options = h.dns_options.clone();
    }
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

fn console_dir(engine: &Engine) -> PathBuf {
    engine.runroot().join("console")
}

/// The unix socket `attach` connects to (short, to fit the 107-byte limit).
pub(crate) fn attach_socket_path(engine: &Engine, id: &str) -> PathBuf {
    console_dir(engine).join(format!("{}.attach", &id[..12]))
}

/// Where `attach` leaves its terminal size for the container's pty.
pub(crate) fn size_file_path(engine: &Engine, id: &str) -> PathBuf {
    console_dir(engine).join(format!("{}.size", &id[..12]))
}

fn bind_attach_socket(engine: &Engine, id: &str) -> Result<UnixListener> {
    let dir = console_dir(engine);
    fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    let path = attach_socket_path(engine, id);
    let _ = fs::remove_file(&path);
    UnixListener::bind(&path).map_err(|e| Error::Io { path, source: e })
}

/// berth-init, built static by build.rs: what `--init` runs as the
/// container's pid 1.
const INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// Where the init binary lives on the host, written there on first use.
fn init_binary(engine: &Engine) -> Result<PathBuf> {
    let path = engine.runroot().join("berth-init");
    if fs::metadata(&path)
        .map(|m| m.len() == INIT_BINARY.len() as u64)
        .unwrap_or(false)
    {
        return Ok(path);
    }
    fs::create_dir_all(engine.runroot()).map_err(|e| Error::Io {
        path: engine.runroot().to_path_buf(),
        source: e,
    })?;
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = fs::write(&temp, INIT_BINARY).and_then(|_| {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&temp, fs::Permissions::from_mode(0o755))?;
        fs::rename(&temp, &path)
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(Error::Io { path, source: e });
    }
    Ok(path)
}

pub(crate) fn log_path(engine: &Engine, id: &str) -> PathBuf {
    engine.container_dir(id).join(format!("{id}-json.log"))
}

/// Whether a file system is mounted on `path`: it is on another device than the directory around it (an
/// overlay always is). Unlike a search of mountinfo, this needs no unescaping of paths with spaces and does
/// not grow with the number of mounts.
fn is_mountpoint(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(path), path.parent().map(fs::metadata)) {
        (Ok(inner), Some(Ok(outer))) => inner.dev() != outer.dev(),
        _ => false,
    }
}

/// Whether the kernel OOM-killed something in the container's cgroup.
fn oom_killed(id: &str) -> bool {
    let cg = cgroups_path(id);
    for file in [
        format!("/sys/fs/cgroup/memory{cg}/memory.oom_control"),
        format!("/sys/fs/cgroup{cg}/memory.events"),
    ] {
        if let Ok(text) = fs::read_to_string(&file) {
            return text.lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            });
        }
    }
    false
}

/// Docker's answers for a command that cannot run: 127 when it is not
/// there, 126 when it is there but cannot be executed. Looked up before the
/// container exists, so a path under a bind mount is looked up in its source.
pub(crate) fn check_executable(
    rootfs: &Path,
    binds: &[spec::BindMount],
    args: &[String],
    env: &[String],
) -> std::result::Result<(), (i32, String)> {
    let Some(program) = args.first() else {
        return Err((125, "no command specified".into()));
    };
    let probe = |path: &str| -> std::result::Result<rustix::fs::Stat, rustix::io::Errno> {
        let (base, rest) = bind_source_of(rootfs, binds, path);
        if rest.is_empty() {
            // A file bind-mounted right at that path.
            return rustix::fs::stat(base);
        }
        let root =
            File::open(base).map_err(|e| rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO))?;
        let fd = rustix::fs::openat2(
            &root,
            &rest,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
            rustix::fs::ResolveFlags::IN_ROOT,
        )?;
        rustix::fs::fstat(&fd)
    };
    let runnable = |st: &rustix::fs::Stat| {
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        kind == rustix::fs::FileType::RegularFile && st.st_mode & 0o111 != 0
    };
    if program.contains('/') {
        return match probe(program) {
            Ok(st) if runnable(&st) => Ok(()),
            Ok(_) => Err((126, format!("exec: {program:?}: permission denied"))),
            Err(_) => Err((
                127,
                format!("exec: {program:?}: stat {program}: no such file or directory"),
            )),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(spec::DEFAULT_PATH);
    let mut denied = false;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        if let Ok(st) = probe(&format!("{dir}/{program}")) {
            if runnable(&st) {
                return Ok(());
            }
            denied = true;
        }
    }
    if denied {
        return Err((126, format!("exec: {program:?}: permission denied")));
    }
    Err((127, format!("exec: {program:?}: executable file not found in $PATH")))
}

/// Where `path` inside the container will come from: the source of the innermost bind mount over it (and
/// the rest of the path below that), or the root filesystem.
fn bind_source_of<'a>(rootfs: &'a Path, binds: &'a [spec::BindMount], path: &str) -> (&'a Path, String) {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let mut best: Option<(usize, &Path)> = None;
    for b in binds {
        let dest: Vec<&str> = b.destination.split('/').filter(|p| !p.is_empty()).collect();
        if parts.starts_with(&dest) && best.is_none_or(|(len, _)| dest.len() >= len) {
            best = Some((dest.len(), b.source.as_path()));
        }
    }
    match best {
        Some((len, source)) => (source, parts[len..].join("/")),
        None => (rootfs, parts.join("/")),
    }
}

/// An attached run's caller: the monitor's own stdio, which the CLI that started it handed down.
fn attached_caller(attach: bool, input: bool) -> berth_relay::Caller {
    match attach {
        true => berth_relay::Caller::own_stdio(input).unwrap_or_default(),
        false => berth_relay::Caller::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_from_another_boot_is_dead() {
        let me = std::process::id() as i64;
        let mut row = ContainerRow {
            id: "c".into(),
            name: "n".into(),
            image_id: String::new(),
            created: String::new(),
            config: String::new(),
            state: "running".into(),
            pid: 0,
            monitor_pid: me,
            monitor_start: process_start(me).expect("our own start time"),
            monitor_boot: boot_id().to_string(),
            exit_code: 0,
            started_at: String::new(),
            finished_at: String::new(),
            error: String::new(),
            oom_killed: false,
            restart_count: 0,
        };
        assert!(!boot_id().is_empty());
        assert!(monitor_alive(&row));
        // The same pid and start time in a boot before this one: not this process.
        row.monitor_boot = "00000000-0000-0000-0000-000000000000".into();
        assert!(!monitor_alive(&row));
        // A row written before boots were recorded falls back to pid and start time.
        row.monitor_boot = String::new();
        assert!(monitor_alive(&row));
    }

    #[test]
    fn last_line_of_a_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("monitor.log");
        assert_eq!(last_line(&log), None);
        fs::write(&log, "").expect("write");
        assert_eq!(last_line(&log), None);
        let long = "x".repeat(10_000);
        fs::write(
            &log,
            format!("{long}\nfirst words\nthread 'main' panicked at here:\n  \n\n"),
        )
        .expect("write");
        assert_eq!(last_line(&log).as_deref(), Some("thread 'main' panicked at here:"));
    }

    #[test]
    fn mount_points_are_seen_whatever_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("merged with\ttab and space");
        fs::create_dir(&target).expect("mkdir");
        assert!(!is_mountpoint(&target));
        assert!(!is_mountpoint(&dir.path().join("missing")));
        if rustix::mount::mount("tmpfs", &target, "tmpfs", rustix::mount::MountFlags::empty(), None).is_err() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let mounted = is_mountpoint(&target);
        let _ = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH);
        assert!(mounted);
    }

    #[test]
    fn liveness_is_pid_and_start_time() {
        let me = std::process::id() as i64;
        let start = process_start(me).expect("our own start time");
        assert!(is_alive(me, start));
        // The same pid with another start time is a reused pid: not the monitor we recorded.
        assert!(!is_alive(me, start + 1));
        assert!(!is_alive(0, start));
        assert_eq!(process_start(-1), None);
        // A reaped child is gone; an unreaped one is a zombie, which counts as dead too.
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id() as i64;
        let child_start = process_start(pid).expect("the child's start time");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while is_alive(pid, child_start) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!is_alive(pid, child_start), "an exited, unreaped child is a zombie");
        assert_eq!(process_start(pid), Some(child_start), "still there until reaped");
        child.wait().expect("reap");
        assert_eq!(process_start(pid), None);
    }
}
