//! Real containers on the real kernel. Each test forks a single-threaded child that plays the monitor (libtest
//! runs tests on threads, and the monitor reaps any child), builds a busybox rootfs in a temp dir, and removes
//! its containers; the parent then sweeps the test's cgroups whatever happened.

use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixStream;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxMemory, LinuxPids, LinuxResources, Process, Spec};
use rustix::process::{DumpableBehavior, Pid, Signal, WaitIdOptions, WaitOptions};

use super::caller::OOM_SCORE_ADJ;
use super::exec::unique_suffix;
use super::wait::exit_of;
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
#[allow(unsafe_code)]
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
