//! Persistent network namespaces, kept alive by a bind mount of their nsfs
//! file (as `ip netns` does), and running code inside one.
//!
//! Every function leaves the calling thread's namespaces alone: the work
//! that needs another namespace happens on a short-lived helper thread,
//! joined before returning.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::mount::{mount_bind, unmount, UnmountFlags};
use rustix::thread::{move_into_link_name_space, unshare_unsafe, LinkNameSpaceType, UnshareFlags};

use crate::error::{Error, Result};
use crate::link;

/// Creates a new network namespace and binds it at `path` (a new, empty
/// file in an existing directory). Loopback is up inside it.
#[allow(unsafe_code)]
pub fn create(path: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                Error::NetnsExists(path.to_path_buf())
            } else {
                Error::Netns {
                    path: path.to_path_buf(),
                    op: "create the namespace file",
                    source,
                }
            }
        })?;

    let result = helper(path, "create a network namespace", || {
        // SAFETY: CLONE_NEWNET only changes this helper thread's network
        // namespace; it does not unshare the file table or anything else
        // other threads rely on, and the thread ends right after.
        unsafe { unshare_unsafe(UnshareFlags::NEWNET) }.map_err(|e| Error::Netns {
            path: path.to_path_buf(),
            op: "unshare",
            source: e.into(),
        })?;
        link::set_up("lo")?;
        mount_bind("/proc/thread-self/ns/net", path).map_err(|e| Error::Netns {
            path: path.to_path_buf(),
            op: "bind mount",
            source: e.into(),
        })
    });
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// Binds the network namespace `ns` (an open nsfs fd, say one made inside a container's own user
/// namespace) at `path` (a new, empty file in an existing directory), as [`create`] does a new one, and
/// brings its loopback up.
pub fn adopt(path: &Path, ns: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    use std::os::fd::AsRawFd;
    let error = |op: &'static str, source: io::Error| Error::Netns {
        path: path.to_path_buf(),
        op,
        source,
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => Error::NetnsExists(path.to_path_buf()),
            _ => error("create the namespace file", source),
        })?;
    let result = mount_bind(format!("/proc/self/fd/{}", ns.as_raw_fd()).as_str(), path)
        .map_err(|e| error("bind mount", e.into()))
        .and_then(|()| run_in(path, || link::set_up("lo")));
    if result.is_err() {
        let _ = remove(path);
    }
    result
}

/// Unbinds and removes a namespace created by [`create`]. The namespace
/// itself goes away once nothing else (a process, another mount) holds it.
/// A missing file or one that is not a mount point is not an error.
pub fn remove(path: &Path) -> Result<()> {
    match unmount(path, UnmountFlags::DETACH) {
        Ok(()) => {}
        // ENOENT: already gone; EINVAL: not a mount point (half-created).
        Err(e) if e == rustix::io::Errno::NOENT || e == rustix::io::Errno::INVAL => {}
        Err(e) => {
            return Err(Error::Netns {
                path: path.to_path_buf(),
                op: "unmount",
                source: e.into(),
            })
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Netns {
            path: path.to_path_buf(),
            op: "remove",
            source,
        }),
    }
}

/// Runs `f` on a helper thread that has joined the network namespace bound
/// at `path`. Sockets and netlink handles `f` opens belong to that
/// namespace; everything else (mounts, files, pids) is the caller's.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let ns = open(path)?;
    helper(path, "run in a network namespace", move || {
        move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network)).map_err(|e| Error::Netns {
            path: path.to_path_buf(),
            op: "setns",
            source: e.into(),
        })?;
        drop(ns);
        f()
    })
}

/// Opens a namespace file for setns or IFLA_NET_NS_FD.
pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| Error::Netns {
        path: path.to_path_buf(),
        op: "open",
        source,
    })
}

/// Runs `f` on a scoped thread and returns its result.
fn helper<T: Send>(path: &Path, what: &'static str, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("berth-netns".into())
            .spawn_scoped(s, || {
                // This thread works in the namespace it was made for, never on the host side.
                crate::host::pin_thread();
                f()
            })
            .map_err(|source| Error::Netns {
                path: path.to_path_buf(),
                op: "spawn a helper thread",
                source,
            })?;
        handle.join().map_err(|_| Error::ThreadPanicked(what))?
    })
}
