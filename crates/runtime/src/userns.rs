//! A container's user namespace (`--userns=auto`), made before the runtime runs so that the network
//! namespace can be made inside it: a runtime that creates the user namespace itself and then joins a
//! network namespace the host's user namespace owns is refused (EPERM), and berth wires the network
//! namespace from the host before the container starts.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use berth_types::IdRange;

/// The namespaces [`create`] made, each held by its fd (close-on-exec).
#[derive(Debug)]
pub struct Namespaces {
    pub user: OwnedFd,
    /// A network namespace owned by `user`, when asked for.
    pub net: Option<OwnedFd>,
}

/// A new user namespace mapping ids 0..size to `range` (users and groups alike; written by this
/// process, which must be root on the host), and, with `network`, a new network namespace it owns.
/// A short-lived child unshares them; it is gone when this returns.
pub fn create(range: IdRange, network: bool) -> io::Result<Namespaces> {
    let (ready_r, ready_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (hold_r, hold_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let flags = libc::CLONE_NEWUSER | if network { libc::CLONE_NEWNET } else { 0 };
    // SAFETY: fork(2) duplicates only the calling thread. The child calls nothing but raw,
    // async-signal-safe syscalls (unshare, write, read, _exit) on fds it inherited, so a lock another
    // thread held at the fork cannot be touched; the parent owns every fd it passes on.
    #[allow(unsafe_code)]
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        #[allow(unsafe_code)]
        // SAFETY: see above; the child never returns.
        unsafe {
            child(
                flags,
                ready_w.as_raw_fd(),
                hold_r.as_raw_fd(),
                [ready_r.as_raw_fd(), hold_w.as_raw_fd()],
            )
        }
    }
    drop((ready_w, hold_r));
    let made = (|| {
        let mut errno = [0u8; 4];
        let mut ready = File::from(ready_r);
        io::Read::read_exact(&mut ready, &mut errno)
            .map_err(|_| io::Error::other("the child making the user namespace died"))?;
        let errno = i32::from_ne_bytes(errno);
        if errno != 0 {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let map = range.map_line();
        std::fs::write(format!("/proc/{pid}/uid_map"), &map)?;
        std::fs::write(format!("/proc/{pid}/gid_map"), &map)?;
        let user = OwnedFd::from(File::open(format!("/proc/{pid}/ns/user"))?);
        let net = match network {
            true => Some(OwnedFd::from(File::open(format!("/proc/{pid}/ns/net"))?)),
            false => None,
        };
        Ok(Namespaces { user, net })
    })();
    // The child's read ends: it exits, and the namespaces live on through our fds.
    drop(hold_w);
    let mut status = 0;
    // SAFETY: waits for the child forked above, which is ours to reap.
    #[allow(unsafe_code)]
    unsafe {
        libc::waitpid(pid, &mut status, 0)
    };
    made
}

/// The forked child: unshare, report the outcome (0 or an errno), wait for the parent to let go (its
/// end of `hold` closing: the child closes its own copies of the parent's ends first).
#[allow(unsafe_code)]
unsafe fn child(flags: libc::c_int, ready: RawFd, hold: RawFd, parents: [RawFd; 2]) -> ! {
    // SAFETY: raw syscalls on fds this process holds, and buffers on its stack.
    unsafe {
        for fd in parents {
            libc::close(fd);
        }
        let errno = if libc::unshare(flags) == 0 {
            0
        } else {
            *libc::__errno_location()
        };
        let bytes = errno.to_ne_bytes();
        libc::write(ready, bytes.as_ptr().cast(), bytes.len());
        let mut byte = 0u8;
        libc::read(hold, (&mut byte as *mut u8).cast(), 1);
        libc::_exit(0)
    }
}

/// The path another process opens the namespace by while `fd` stays open in this one.
pub fn path_of(fd: &OwnedFd) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use std::os::fd::FromRawFd;

    use super::*;

    #[test]
    fn the_namespace_maps_the_range_and_owns_its_network_namespace() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: writing another process's id map needs root");
            return;
        }
        let range = IdRange {
            base: 3_000_000_000,
            size: 65536,
        };
        let made = create(range, true).expect("namespaces");
        let net = made.net.as_ref().expect("a network namespace");
        // NS_GET_USERNS: the user namespace that owns the network namespace.
        const NS_GET_USERNS: libc::c_ulong = 0xb701;
        // SAFETY: an ioctl on an open nsfs fd that returns a new fd or -1.
        #[allow(unsafe_code)]
        let owner = unsafe { libc::ioctl(net.as_raw_fd(), NS_GET_USERNS) };
        assert!(owner >= 0, "NS_GET_USERNS: {}", io::Error::last_os_error());
        // SAFETY: the ioctl returned a new fd that nothing else owns.
        #[allow(unsafe_code)]
        let owner = unsafe { OwnedFd::from_raw_fd(owner) };
        let ino = |fd: &OwnedFd| rustix::fs::fstat(fd).map(|s| s.st_ino).unwrap();
        assert_eq!(ino(&owner), ino(&made.user));
        let without_net = create(range, false).expect("a user namespace alone");
        assert!(without_net.net.is_none());
        assert!(path_of(&made.user).exists());
    }
}
