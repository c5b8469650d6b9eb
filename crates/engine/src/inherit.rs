//! Handing file descriptors to a spawned child without lending them to anyone else.
//!
//! The close-on-exec flag belongs to a process's fd table, not to the open file: clearing it in a
//! process with several threads, even for the instant of one spawn, lets every child another
//! thread spawns in that instant inherit the fd. For a lock that is fatal: an API server that
//! starts two containers at once handed one's start lock to the other's monitor or to a network's
//! DNS server, which then held it for its whole life, and every removal of the container waited
//! for ever. So the flag is cleared in the child, between fork and exec, where only the child's
//! table changes.

use std::os::fd::{BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `fds` (open in this process, close-on-exec) survive the exec of `command`'s child, and
/// only its child's.
pub(crate) fn keep_open_in_child(command: &mut Command, fds: Vec<RawFd>) {
    // SAFETY: the closure runs in the forked child before exec and only makes fcntl calls, which
    // are async-signal-safe; the fds are open in the parent at the spawn (the caller keeps them
    // until spawn returns), and so in the child.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || {
            for &fd in &fds {
                // SAFETY: `fd` is open in this forked process, as said above.
                let fd = BorrowedFd::borrow_raw(fd);
                rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, AsRawFd};
    use std::process::Command;

    use super::*;

    #[test]
    fn the_child_gets_the_fd_and_the_parent_keeps_it_close_on_exec() {
        let file = tempfile::tempfile().unwrap();
        let fd = file.as_raw_fd();
        let mut with = Command::new("sh");
        with.args(["-c", &format!("test -e /proc/self/fd/{fd}")]);
        keep_open_in_child(&mut with, vec![fd]);
        assert!(with.status().unwrap().success(), "the child did not get fd {fd}");
        // The parent's flag is untouched, so a child spawned without asking does not get it.
        let flags = rustix::io::fcntl_getfd(file.as_fd()).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
        let without = Command::new("sh")
            .args(["-c", &format!("test -e /proc/self/fd/{fd}")])
            .status()
            .unwrap();
        assert!(!without.success(), "a child that did not ask got fd {fd}");
    }
}
