//! systemd socket activation (`--host fd://`): the listening sockets systemd opened for the unit
//! arrive as fds 3, 4, ... with `LISTEN_PID` (this process) and `LISTEN_FDS` (how many) in the
//! environment, as `sd_listen_fds(3)` describes. They are taken once; the variables are cleared so
//! that nothing the server starts believes it was passed them too.

use std::os::fd::{FromRawFd, OwnedFd};

use rustix::net::SocketAddrAny;

use crate::listen::{Bound, SetupError};

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: i32 = 3;

/// What the environment says was passed: the fds, if they are meant for this process.
pub fn passed_fds(listen_pid: Option<&str>, listen_fds: Option<&str>, own_pid: u32) -> Vec<i32> {
    let for_us = listen_pid.and_then(|p| p.parse::<u32>().ok()) == Some(own_pid);
    let count = listen_fds.and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
    if !for_us || count <= 0 {
        return Vec::new();
    }
    (FIRST_FD..FIRST_FD.saturating_add(count)).collect()
}

/// Takes the sockets systemd passed: every one for `fd://`, or only `wanted`.
pub fn take(wanted: Option<i32>) -> Result<Vec<Bound>, SetupError> {
    let fds = passed_fds(
        std::env::var("LISTEN_PID").ok().as_deref(),
        std::env::var("LISTEN_FDS").ok().as_deref(),
        std::process::id(),
    );
    if fds.is_empty() {
        return Err(SetupError::Activation(
            "fd:// needs sockets from systemd (LISTEN_PID and LISTEN_FDS are not set for this process): \
             start berth serve from a .socket unit, or use unix:// or tcp://"
                .into(),
        ));
    }
    let chosen: Vec<i32> = match wanted {
        None => fds,
        Some(fd) if fds.contains(&fd) => vec![fd],
        Some(fd) => {
            return Err(SetupError::Activation(format!(
                "fd://{fd}: systemd passed fds {:?}, not {fd}",
                fds
            )))
        }
    };
    // Read once, above; `bind` runs before the server starts any thread, so nothing reads them
    // while they go.
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    chosen.into_iter().map(listener).collect()
}

/// A passed fd as a listener of its kind, closed on exec from now on.
fn listener(fd: i32) -> Result<Bound, SetupError> {
    // SAFETY: systemd passed fd `fd` to this process for it to own (LISTEN_PID named us), and it is
    // taken here once; no other object in the process refers to it.
    #[allow(unsafe_code)]
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let bad = |why: String| SetupError::Activation(format!("fd://{fd}: {why}"));
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC).map_err(|e| bad(e.to_string()))?;
    let address = rustix::net::getsockname(&owned).map_err(|e| bad(format!("not a socket: {e}")))?;
    let bound = match address.address_family() {
        rustix::net::AddressFamily::UNIX => {
            let listener = std::os::unix::net::UnixListener::from(owned);
            listener.set_nonblocking(true).map_err(|e| bad(e.to_string()))?;
            Bound::ActivatedUnix(listener)
        }
        rustix::net::AddressFamily::INET | rustix::net::AddressFamily::INET6 => {
            let listener = std::net::TcpListener::from(owned);
            listener.set_nonblocking(true).map_err(|e| bad(e.to_string()))?;
            Bound::Tcp(listener)
        }
        _ => return Err(bad(describe(&address))),
    };
    Ok(bound)
}

fn describe(address: &SocketAddrAny) -> String {
    format!(
        "a socket of family {:?}, not a unix or TCP one",
        address.address_family()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fds_meant_for_this_process_are_taken() {
        assert_eq!(passed_fds(Some("42"), Some("2"), 42), [3, 4]);
        assert!(passed_fds(Some("41"), Some("2"), 42).is_empty(), "another process's");
        assert!(passed_fds(None, Some("2"), 42).is_empty());
        assert!(passed_fds(Some("42"), Some("0"), 42).is_empty());
        assert!(passed_fds(Some("42"), Some("x"), 42).is_empty());
    }
}
