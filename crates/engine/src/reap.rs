//! Who waits for the long-lived processes the engine starts (a container's monitor, a network's DNS
//! server, a health checker). From the CLI nobody needs to: it exits within moments and init adopts
//! and reaps them. A long-lived caller (the API server) must, or every one that ends stays a zombie
//! of it for as long as it runs.

use std::process::Child;

/// Leaves `child` running on its own, and makes sure it is reaped when it ends.
pub(crate) fn release(mut child: Child) {
    // A single-threaded caller is a short CLI command: starting a thread would also make it
    // multi-threaded, and cost it the fork that starts monitors fast.
    if single_threaded() {
        std::mem::forget(child);
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("berth-reaper".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = child.wait();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no thread to reap a child process: it stays a zombie when it ends");
    }
}

/// Whether this process has one thread (read from /proc/self/status; false if unreadable).
pub(crate) fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim() == "1"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threaded_caller_reaps_what_it_released() {
        // The test harness runs tests on threads, so this process is multi-threaded.
        assert!(!single_threaded());
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        release(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        // Reaped: /proc/PID is gone (a zombie keeps it, with state Z).
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(std::time::Instant::now() < deadline, "pid {pid} was not reaped");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
