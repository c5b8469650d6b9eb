//! Rootless berth: run by an ordinary user, every berth process of that user works inside one user
//! namespace (the user's own id as root, then its subordinate range from /etc/subuid and /etc/subgid,
//! mapped by the setuid `newuidmap`/`newgidmap` of Debian's uidmap package) and one mount namespace,
//! both held by a small pause process. Inside, berth is root as far as it can tell: it unpacks layers
//! with their owners, mounts overlays and runs containers, and nothing it does reaches beyond what
//! the user owns. Every berth command joins the pause process's namespaces first thing (while it has
//! one thread, as joining a user namespace requires), so mounts made by one command (a running
//! container's root) are seen by the next.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use berth_store::{FileLock, IdRange};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::{Error, Result};

/// Set in every process that joined the namespaces: the pause process's pid.
pub const PAUSE_ENV: &str = "BERTH_ROOTLESS_PAUSE";

/// Whether this process is berth without root: run by an ordinary user, before or after it joined
/// the user's namespaces.
pub fn is_rootless() -> bool {
    std::env::var_os(PAUSE_ENV).is_some() || !rustix::process::geteuid().is_root()
}

/// The data root when none is given: `/var/lib/berth`, or for a user `$XDG_DATA_HOME/berth`
/// (`~/.local/share/berth`), as Podman keeps its storage.
pub fn default_root() -> PathBuf {
    if !is_rootless() {
        return PathBuf::from("/var/lib/berth");
    }
    match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        (Some(data), _) if !data.is_empty() => PathBuf::from(data).join("berth"),
        (_, Some(home)) => PathBuf::from(home).join(".local/share/berth"),
        _ => PathBuf::from(format!("/tmp/berth-{}", rustix::process::getuid().as_raw())),
    }
}

/// The run root when none is given: `/run/berth`, or for a user `$XDG_RUNTIME_DIR/berth` (else
/// `/tmp/berth-run-UID`).
pub fn default_runroot() -> PathBuf {
    if !is_rootless() {
        return PathBuf::from("/run/berth");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("berth"),
        _ => PathBuf::from(format!("/tmp/berth-run-{}", rustix::process::getuid().as_raw())),
    }
}

/// A user's subordinate ids, one range each for users and groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubIds {
    pub uid: IdRange,
    pub gid: IdRange,
}

/// The first range `/etc/subuid`-style `text` gives the user `name` (or its numeric `id`).
pub fn subid_range(text: &str, name: &str, id: u32) -> Option<IdRange> {
    text.lines()
        .filter_map(crate::userns::subid_entry)
        .find(|(owner, _)| *owner == name || owner.parse() == Ok(id))
        .map(|(_, range)| range)
}

/// This user's name from /etc/passwd (its number when it has none there).
fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid.to_string()).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// The calling user's subordinate ids, or an error that says how to give it some.
pub fn subids() -> Result<SubIds> {
    let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
    let name = user_name(uid);
    let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
    match (
        subid_range(&read("/etc/subuid"), &name, uid),
        subid_range(&read("/etc/subgid"), &name, gid),
    ) {
        (Some(uid), Some(gid)) => Ok(SubIds { uid, gid }),
        _ => Err(Error::InvalidArgument(format!(
            "berth without root needs subordinate ids for user {name} in /etc/subuid and /etc/subgid: as root, \
             run `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}` (pick a range no other \
             user has)"
        ))),
    }
}

/// Joins the user's namespaces, starting the pause process that holds them if none runs. Call first
/// thing in `main`, while the process has one thread; a no-op for root and for a process already in.
pub fn enter(runroot: &Path) -> Result<()> {
    if !is_rootless() || inside() {
        return Ok(());
    }
    let cwd = std::env::current_dir().ok();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(runroot)
        .map_err(|e| Error::Io {
            path: runroot.to_path_buf(),
            source: e,
        })?;
    let pid = {
        let _lock = FileLock::exclusive(&runroot.join("rootless.lock"))?;
        match live_pause(runroot) {
            Some(pid) => pid,
            None => start_pause(runroot)?,
        }
    };
    join(pid)?;
    // The process has one thread here (see above), so no other thread reads the environment meanwhile.
    std::env::set_var(PAUSE_ENV, pid.to_string());
    // Joining a mount namespace moves the working directory to its root.
    if let Some(cwd) = cwd {
        let _ = std::env::set_current_dir(cwd);
    }
    Ok(())
}

/// Whether this process is in the pause process's user namespace already (a helper berth spawned).
fn inside() -> bool {
    let Some(pid) = pause_pid() else {
        return false;
    };
    let ns = |path: String| fs::metadata(path).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).ok();
    ns(format!("/proc/{pid}/ns/user")).is_some()
        && ns(format!("/proc/{pid}/ns/user")) == ns("/proc/self/ns/user".into())
}

fn pid_file(runroot: &Path) -> PathBuf {
    runroot.join("pause.pid")
}

/// The pause process the pid file names, if it still runs as this user's berth pause.
fn live_pause(runroot: &Path) -> Option<i32> {
    let text = fs::read_to_string(pid_file(runroot)).ok()?;
    let (pid, start) = text.trim().split_once(' ')?;
    let pid: i32 = pid.parse().ok()?;
    let same = crate::containers::monitor::process_start(i64::from(pid))? == start.parse::<i64>().ok()?;
    // A pause process that just died (a zombie) has no namespaces left to join.
    (same && Path::new(&format!("/proc/{pid}/ns/mnt")).exists()).then_some(pid)
}

/// Forks the pause process into new user and mount namespaces, has newuidmap/newgidmap map them,
/// and records it; returns its pid.
fn start_pause(runroot: &Path) -> Result<i32> {
    let ids = subids()?;
    stop_left_slirp(runroot);
    let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
    let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| internal("pipe", e.into()));
    let ((ready_r, ready_w), (go_r, go_w)) = (pipe()?, pipe()?);
    // The pause process holds the write end for its life: slirp4netns, given the read end, ends with it.
    let (exit_r, exit_w) = pipe()?;
    let exe = std::env::current_exe().map_err(|e| internal("finding berth's own executable", e))?;
    let exe = std::ffi::CString::new(exe.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::InvalidArgument("berth's path holds a NUL byte".into()))?;
    // SAFETY: this process has one thread (see `enter`); the child makes raw syscalls only, then execs.
    #[allow(unsafe_code)]
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(internal("fork", std::io::Error::last_os_error()));
    }
    if child == 0 {
        // SAFETY: the forked child; pause_child never returns.
        #[allow(unsafe_code)]
        unsafe {
            pause_child(&exe, ready_w.as_fd(), go_r.as_fd(), exit_w.as_fd())
        }
    }
    drop((ready_w, go_r, exit_w));
    let started = (|| {
        let mut errno = [0u8; 4];
        fs::File::from(ready_r)
            .read_exact(&mut errno)
            .map_err(|_| Error::Internal("berth's pause process died before it made its namespaces".into()))?;
        match i32::from_ne_bytes(errno) {
            0 => {}
            e => {
                return Err(internal(
                    "unshare(CLONE_NEWUSER | CLONE_NEWNS)",
                    std::io::Error::from_raw_os_error(e),
                ))
            }
        }
        for (tool, own, sub) in [("newuidmap", uid, ids.uid), ("newgidmap", gid, ids.gid)] {
            map_ids(tool, child, own, sub)?;
        }
        // Recorded before it may go on: killed before the go, it exits (its read sees the end of the pipe)
        // and the record names a dead process; killed after, the record names it. Never an unrecorded one.
        let start = crate::containers::monitor::process_start(i64::from(child))
            .ok_or_else(|| Error::Internal("berth's pause process ended at its start".into()))?;
        berth_store::write_file_atomic(&pid_file(runroot), format!("{child} {start}\n").as_bytes())?;
        fs::File::from(go_w)
            .write_all(b"g")
            .map_err(|e| internal("starting the pause process", e))?;
        Ok(())
    })();
    if let Err(e) = started {
        // SAFETY: kill and waitpid on the child forked above.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), 0);
        }
        return Err(e);
    }
    // The way out for the user's networks; without it (no slirp4netns, or /dev/net/tun closed to users)
    // containers still run with --network none or host, and the first one asking for a network is told why.
    if let Err(e) = berth_network::slirp::Slirp::start(child, &runroot.join("slirp.sock"), Some(exit_r)) {
        tracing::debug!(error = %e, "no slirp4netns for the user's networks yet");
    }
    Ok(child)
}

/// Ends the slirp4netns a previous pause process's namespace had, if [`slirp`] started it late (one
/// started with the pause process ended with it).
fn stop_left_slirp(runroot: &Path) {
    let file = runroot.join("slirp.pid");
    let Some(pid) = fs::read_to_string(&file)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    else {
        return;
    };
    let api = runroot.join("slirp.sock");
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    // The pid may be another process's by now: only the slirp4netns of this run root's socket is ended.
    if String::from_utf8_lossy(&cmdline).contains(&*api.to_string_lossy()) {
        // SAFETY: kill(2) with a pid and a signal number has no memory effects.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGTERM)
        };
    }
    let _ = fs::remove_file(file);
}

/// Runs `tool` (newuidmap or newgidmap) to map 0 to the user's own id and 1.. to its subordinate ids.
fn map_ids(tool: &str, pid: i32, own: u32, sub: IdRange) -> Result<()> {
    let args = [
        pid.to_string(),
        "0".into(),
        own.to_string(),
        "1".into(),
        "1".into(),
        sub.base.to_string(),
        sub.size.to_string(),
    ];
    let out = std::process::Command::new(tool)
        .args(&args)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::InvalidArgument(format!(
                "berth without root needs {tool}: install Debian's uidmap package (apt-get install uidmap)"
            )),
            _ => internal(tool, e),
        })?;
    if !out.status.success() {
        return Err(Error::InvalidArgument(format!(
            "{tool} {}: {}; check this user's lines in /etc/subuid and /etc/subgid",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The pause process: new user and mount namespaces, then, once the parent mapped its ids, `berth
/// rootless-pause`, with no fd of the caller's (a test that waits for berth's output must not wait
/// for it).
#[allow(unsafe_code)]
unsafe fn pause_child(
    exe: &std::ffi::CStr,
    ready: std::os::fd::BorrowedFd<'_>,
    go: std::os::fd::BorrowedFd<'_>,
    exit: std::os::fd::BorrowedFd<'_>,
) -> ! {
    use std::os::fd::AsRawFd;
    // SAFETY: raw syscalls on fds this process holds and buffers on its stack; execv's arguments are
    // NUL-terminated strings that live until it returns (it only returns on failure).
    unsafe {
        // Only its three pipe ends, at fixed numbers: a copy of the parent's ends (the pipes would never
        // end) or of its rootless.lock (the next command would wait for ever) must not live on here.
        let moved = [ready, go, exit].map(|fd| libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD, 1000));
        let (exit, ready, go) = (3, 4, 5);
        libc::dup2(moved[2], exit);
        libc::dup2(moved[0], ready);
        libc::dup2(moved[1], go);
        libc::syscall(libc::SYS_close_range, 6u32, u32::MAX, 0u32);
        libc::setsid();
        // The network namespace is where this user's bridges, veths and firewall live (see
        // berth_network::host); berth's own processes stay on the host's network.
        let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWCGROUP | libc::CLONE_NEWNET;
        let errno = match libc::unshare(flags) {
            0 => 0,
            _ => *libc::__errno_location(),
        };
        let bytes = errno.to_ne_bytes();
        libc::write(ready, bytes.as_ptr().cast(), bytes.len());
        let mut byte = 0u8;
        if errno != 0 || libc::read(go, (&mut byte as *mut u8).cast(), 1) != 1 {
            libc::_exit(1);
        }
        // This user's own cgroup2 view, rooted at its cgroup: where the host delegates cgroups to the
        // user, containers get limits there; where it does not, the runtime's rootless cgroup2 manager
        // leaves them where they are (a v1 hierarchy would fail them). Failing, the host's stay.
        libc::mount(
            c"cgroup2".as_ptr(),
            c"/sys/fs/cgroup".as_ptr(),
            c"cgroup2".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        );
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
        // fd 3 stays: the write end slirp4netns's --exit-fd watches.
        libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
        let argv = [exe.as_ptr(), c"rootless-pause".as_ptr(), std::ptr::null()];
        libc::execv(exe.as_ptr(), argv.as_ptr());
        libc::_exit(127)
    }
}

/// `berth rootless-pause`: holds the namespaces it runs in until killed (its starter's blocked
/// signals, which exec keeps, are unblocked first, so a plain kill ends it).
pub fn pause() -> ! {
    // SAFETY: sigprocmask with an emptied set on the stack and no old set; touches nothing else.
    #[allow(unsafe_code)]
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    loop {
        // SAFETY: pause(2) only waits for a signal.
        #[allow(unsafe_code)]
        unsafe {
            libc::pause();
        }
    }
}

/// Whether containers can have cgroup limits here: as root, yes; without root, when the cgroup2
/// hierarchy the user sees (its own cgroup, see `pause_child`) is writable by it, as on a host that
/// delegates cgroups to the user.
pub fn cgroup_limits() -> std::result::Result<(), String> {
    if !is_rootless() {
        return Ok(());
    }
    let root = Path::new("/sys/fs/cgroup");
    let cgroup2 = rustix::fs::statfs(root).is_ok_and(|s| s.f_type == libc::CGROUP2_SUPER_MAGIC);
    let writable = rustix::fs::access(root, rustix::fs::Access::WRITE_OK).is_ok()
        || rustix::fs::access(root.join("berth"), rustix::fs::Access::WRITE_OK).is_ok();
    match (cgroup2, writable) {
        (true, true) => Ok(()),
        _ => Err(
            "this host does not delegate cgroup v2 to this user, so --memory, --cpus, --pids-limit and the \
                  other limits are not enforced (podman and docker run the same way here); a host with systemd \
                  delegates them to a user session"
                .into(),
        ),
    }
}

/// The pause process this berth joined, when it runs without root.
fn pause_pid() -> Option<i32> {
    std::env::var(PAUSE_ENV).ok()?.parse().ok()
}

/// A rootless berth keeps the host side of its networks in the pause process's network namespace:
/// tells the network code so, once per process (see `berth_network::host`).
pub(crate) fn place_host_side() {
    if let Some(pid) = pause_pid() {
        berth_network::set_host_side(PathBuf::from(format!("/proc/{pid}/ns/net")));
    }
}

/// The slirp4netns that carries the user's network namespace to the outside and forwards published
/// ports into it, started if it is not running (after a reboot, or a new pause process).
pub(crate) fn slirp(runroot: &Path) -> Result<berth_network::slirp::Slirp> {
    let api = runroot.join("slirp.sock");
    let slirp = berth_network::slirp::Slirp::at(&api);
    if slirp.alive() {
        return Ok(slirp);
    }
    let _lock = FileLock::exclusive(&runroot.join("rootless.lock"))?;
    if slirp.alive() {
        return Ok(slirp);
    }
    let pid = pause_pid().ok_or_else(|| Error::Internal("rootless networking outside the user's namespaces".into()))?;
    let slirp = berth_network::slirp::Slirp::start(pid, &api, None).map_err(crate::networks::net_error)?;
    // This one does not end with the pause process (nothing holds an exit fd for it): recorded, so the
    // next pause process's start ends it.
    if let Some(pid) = slirp.pid() {
        let _ = berth_store::write_file_atomic(&runroot.join("slirp.pid"), format!("{pid}\n").as_bytes());
    }
    Ok(slirp)
}

/// The host-wide lock file of network changes: `/run/berth-network.lock` for root; a rootless berth's
/// networks are its own, so its lock is under its run root.
pub(crate) fn network_lock(runroot: &Path, root_lock: &str) -> PathBuf {
    match is_rootless() {
        true => runroot.join("network.lock"),
        false => PathBuf::from(root_lock),
    }
}

/// Joins the pause process's user namespace, then its mount namespace.
fn join(pid: i32) -> Result<()> {
    for (kind, ns) in [("user", LinkNameSpaceType::User), ("mnt", LinkNameSpaceType::Mount)] {
        let path = format!("/proc/{pid}/ns/{kind}");
        let file = fs::File::open(&path).map_err(|e| Error::Io {
            path: path.clone().into(),
            source: e,
        })?;
        move_into_link_name_space(file.as_fd(), Some(ns))
            .map_err(|e| internal(&format!("joining berth's {kind} namespace ({path})"), e.into()))?;
    }
    Ok(())
}

fn internal(what: &str, e: std::io::Error) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_lines_are_found_by_name_or_number() {
        let text = "alice:100000:65536\n# note\n1001:200000:1000\nbob:300000:0\n";
        assert_eq!(
            subid_range(text, "alice", 1000),
            Some(IdRange {
                base: 100000,
                size: 65536
            })
        );
        assert_eq!(
            subid_range(text, "carol", 1001),
            Some(IdRange {
                base: 200000,
                size: 1000
            })
        );
        assert_eq!(subid_range(text, "bob", 1002), None, "an empty range is none");
        assert_eq!(subid_range(text, "dave", 7), None);
    }
}
