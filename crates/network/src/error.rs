use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use berth_types::ErrorKind;

use crate::firewall::Proto;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        what: &'static str,
        value: String,
        reason: String,
    },

    #[error("network namespace {path}: {op} failed: {source}")]
    Netns {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },

    #[error("network namespace file {0} already exists: remove it first or pick another path")]
    NetnsExists(PathBuf),

    #[error("{op} failed: {source}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Netlink {
        op: String,
        source: io::Error,
        /// The kernel's extended-ack message, when it gave one.
        detail: Option<String>,
    },

    #[error("malformed netlink reply to {op}: {reason}; this is a bug in berth or an unsupported kernel")]
    NetlinkProtocol { op: String, reason: String },

    #[error("network interface {0:?} not found: create it first (is the network set up?)")]
    LinkNotFound(String),

    #[error("cannot create veth {host:?}: it, or {container:?} in {}, already exists; remove it or pick another name", netns.display())]
    VethExists {
        host: String,
        container: String,
        netns: PathBuf,
    },

    #[error("network interface {name:?} exists but is not a bridge ({kind}): remove it or pick another bridge name")]
    NotABridge { name: String, kind: String },

    #[error("cannot write {value:?} to {path}: {source}")]
    Sysctl {
        path: PathBuf,
        value: String,
        source: io::Error,
    },

    #[error("cannot run nft: {source}; install the nftables package")]
    NftMissing { source: io::Error },

    #[error("nft failed to {op}: {stderr}")]
    Nft { op: String, stderr: String },

    #[error("nft printed unexpected output while trying to {op}: {reason}")]
    NftOutput { op: String, reason: String },

    #[error("firewall lock {path}: {source}; check that its directory exists and is writable")]
    Lock { path: PathBuf, source: io::Error },

    #[error("bind for {addr}:{port} failed: port is already allocated")]
    PortAllocated { addr: Ipv4Addr, port: u16, proto: Proto },

    #[error("cannot reserve {proto} port {addr}:{port}: {source}")]
    PortReserve {
        addr: Ipv4Addr,
        port: u16,
        proto: Proto,
        source: io::Error,
    },

    #[error("{0}: helper thread panicked; this is a bug in berth")]
    ThreadPanicked(&'static str),

    #[error("cannot {op}: {source}")]
    Slirp { op: String, source: io::Error },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::NetnsExists(_)
            | Error::VethExists { .. }
            | Error::NotABridge { .. }
            | Error::PortAllocated { .. } => ErrorKind::Conflict,
            Error::LinkNotFound(_) => ErrorKind::NotFound,
            Error::NftMissing { .. } => ErrorKind::Unavailable,
            Error::Netns { source, .. } => match source.raw_os_error() {
                Some(libc::ENOENT) => ErrorKind::NotFound,
                Some(libc::EPERM | libc::EACCES) => ErrorKind::Unauthorized,
                _ => ErrorKind::Internal,
            },
            Error::Netlink { source, .. } | Error::Sysctl { source, .. } => match source.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => ErrorKind::Unauthorized,
                _ => ErrorKind::Internal,
            },
            Error::PortReserve { source, .. } => match source.raw_os_error() {
                // The host IP is not an address of this machine.
                Some(libc::EADDRNOTAVAIL) => ErrorKind::InvalidArgument,
                Some(libc::EACCES | libc::EPERM) => ErrorKind::Unauthorized,
                _ => ErrorKind::Internal,
            },
            Error::NetlinkProtocol { .. }
            | Error::Nft { .. }
            | Error::NftOutput { .. }
            | Error::Lock { .. }
            | Error::ThreadPanicked(_) => ErrorKind::Internal,
            Error::Slirp { .. } => ErrorKind::Unavailable,
        }
    }
}

pub(crate) fn invalid(what: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        what,
        value: value.into(),
        reason: reason.into(),
    }
}

/// Checks a kernel interface name: at most 15 bytes (IFNAMSIZ - 1) and
/// characters that are safe both for the kernel and inside nft matches
/// (where `*` would be a wildcard).
pub(crate) fn check_ifname(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 {
        return Err(invalid(what, name, "interface names have 1 to 15 characters"));
    }
    if name == "." || name == ".." {
        return Err(invalid(what, name, "not a usable interface name"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(invalid(what, name, "use only letters, digits, '_', '-' and '.'"));
    }
    Ok(())
}
