//! Starting early the wait that a container's cgroup attach costs.
//!
//! Moving a process into a cgroup (the runtime writes the container's init to `cgroup.procs`) takes
//! the kernel's global cgroup threadgroup lock for writing, and the first writer after a quiet
//! spell waits for a whole RCU grace period (`rcu_sync_enter`), about 20 ms on the 2-core test
//! machine: most of a `docker run`'s container start, measured with `perf sched`. Writers within a
//! grace period of the last one pay nothing. So a create or a start first has some process move
//! itself into the cgroup it is already in (a no-op that takes the same lock), off the critical
//! path: the grace period then runs while berth mounts the root, writes the spec and clones the
//! container, and the runtime's own write finds it passed. (Hosts with cgroup's `favordynmods`
//! mount option never wait, and this costs them one quick write.)

use std::sync::atomic::{AtomicBool, Ordering};

/// Set while a warm-up is under way in this process: one at a time is enough.
static WARMING: AtomicBool = AtomicBool::new(false);

/// Starts the grace period in the background and returns at once. A caller with threads gets a
/// short-lived thread; a single-threaded one (the CLI, which must stay so to fork its monitor) a
/// forked child, which init reaps after the CLI exits.
pub(crate) fn warm_up() {
    if WARMING.swap(true, Ordering::AcqRel) {
        return;
    }
    // With no cgroup file to write, now or later, the flag stays set: there is nothing to warm.
    let Some(procs) = own_cgroup_procs() else {
        return;
    };
    if crate::reap::single_threaded() {
        // SAFETY: this process has a single thread, so the child may run any code after the fork;
        // it only writes one file and ends with _exit, never returning into our caller.
        #[allow(unsafe_code)]
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // Holding nothing of the caller's while it waits: not its output (`out=$(berth run
            // ...)` would wait for this child) nor its locks (a start lock's flock lives as long
            // as any copy of its fd).
            let _ = berth_relay::Caller::default().become_stdio(false);
            // SAFETY: closes this child's copies of the caller's fds above 2; the owning objects
            // are never dropped here, as the child ends with _exit.
            #[allow(unsafe_code)]
            unsafe {
                libc::close_range(3, libc::c_uint::MAX, 0);
            }
            let _ = std::fs::write(&procs, "0");
            // SAFETY: ends the child without running the parent's destructors or atexit handlers.
            #[allow(unsafe_code)]
            unsafe {
                libc::_exit(0)
            }
        }
        // The forked child is on its own: this process does not warm up again (a CLI command
        // starts one container).
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("berth-cgroup-warmup".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = std::fs::write(&procs, "0");
            WARMING.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        WARMING.store(false, Ordering::Release);
    }
}

/// The `cgroup.procs` of this process's own cgroup in one mounted hierarchy (writing 0 there moves
/// the writer where it already is), or None where there is none to write.
fn own_cgroup_procs() -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    procs_file(&text, std::path::Path::new("/sys/fs/cgroup")).filter(|path| path.exists())
}

/// From /proc/self/cgroup's text: a v1 hierarchy with a controller (its directory is named after
/// the controllers), else the unified one (at the root of `base`, or in `base/unified` on a hybrid
/// host).
fn procs_file(text: &str, base: &std::path::Path) -> Option<std::path::PathBuf> {
    let entries: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((controllers, path.trim_start_matches('/')))
        })
        .collect();
    if let Some((controllers, path)) = entries.iter().find(|(c, _)| !c.is_empty() && !c.starts_with("name=")) {
        return Some(base.join(controllers).join(path).join("cgroup.procs"));
    }
    let (_, path) = entries.iter().find(|(c, _)| c.is_empty())?;
    let unified = match base.join("unified").is_dir() {
        true => base.join("unified"),
        false => base.to_path_buf(),
    };
    Some(unified.join(path).join("cgroup.procs"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_v1_hierarchy_with_a_controller_comes_first() {
        let text = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/x\n0::/\n";
        assert_eq!(
            procs_file(text, Path::new("/sys/fs/cgroup")),
            Some("/sys/fs/cgroup/pids/cgroup.procs".into())
        );
        let text = "3:cpu,cpuacct:/a/b\n0::/\n";
        assert_eq!(
            procs_file(text, Path::new("/sys/fs/cgroup")),
            Some("/sys/fs/cgroup/cpu,cpuacct/a/b/cgroup.procs".into())
        );
    }

    #[test]
    fn a_unified_only_host_uses_the_unified_hierarchy() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            procs_file("0::/user.slice/x\n", dir.path()),
            Some(dir.path().join("user.slice/x/cgroup.procs"))
        );
        assert_eq!(procs_file("garbage", dir.path()), None);
    }

    #[test]
    fn warming_up_leaves_this_process_in_its_cgroup() {
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        warm_up();
        // The thread's write is a move to where the process is: wait for it, then compare.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while WARMING.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(std::fs::read_to_string("/proc/self/cgroup").unwrap(), before);
    }
}
