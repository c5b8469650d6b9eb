//! Where the host side of berth's networks is: bridges, the host ends of veths, berth's nftables
//! table, forwarding sysctls and the DNS servers. For root berth that is the process's own network
//! namespace. A rootless berth keeps them in a network namespace of the user's (its pause process's),
//! whose way out is slirp4netns, while its processes stay in the host's (a registry on the host's
//! loopback must stay reachable): every operation on the host side then runs on a short-lived thread
//! that joined that namespace, or through a netlink socket opened there.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::Result;

static HOST_SIDE: OnceLock<PathBuf> = OnceLock::new();

thread_local! {
    /// This thread is `netns`'s helper, in the namespace it was made for: what it does stays there.
    static PINNED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as working in a namespace of its own choosing (see `netns::helper`).
pub(crate) fn pin_thread() {
    PINNED.with(|p| p.set(true));
}

/// Puts the host side in the network namespace at `path` for the rest of this process (rootless
/// berth); the first call wins.
pub fn set_host_side(path: PathBuf) {
    let _ = HOST_SIDE.set(path);
}

/// The namespace set with [`set_host_side`], if any.
pub fn host_side() -> Option<&'static Path> {
    HOST_SIDE.get().map(PathBuf::as_path)
}

/// Runs `f` on the host side: directly, or on a thread in the namespace [`set_host_side`] named.
/// Sockets `f` opens and processes it spawns belong to that namespace.
/// A thread of `netns`'s own (run_in, create), already in the namespace it works in, runs `f` there.
pub fn on_host_side<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    match host_side() {
        Some(path) if !PINNED.with(|p| p.get()) => crate::netns::run_in(path, f),
        _ => f(),
    }
}
