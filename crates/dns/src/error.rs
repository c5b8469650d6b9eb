use std::io;
use std::net::SocketAddr;

use berth_types::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no listen address given for the DNS server")]
    NoListen,
    #[error("invalid DNS server configuration: {0}")]
    InvalidConfig(&'static str),
    #[error("cannot bind DNS {proto} socket on {addr}: {source}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("DNS server I/O error while {context}: {source}")]
    Io { context: &'static str, source: io::Error },
    /// A packet that does not follow RFC 1035; never leaves the server, it
    /// only decides between dropping a packet and answering FORMERR.
    #[error("malformed DNS message: {0}")]
    Malformed(&'static str),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoListen | Error::InvalidConfig(_) | Error::Malformed(_) => ErrorKind::InvalidArgument,
            Error::Bind { source, .. } => match source.kind() {
                io::ErrorKind::AddrInUse => ErrorKind::Conflict,
                io::ErrorKind::PermissionDenied => ErrorKind::Unauthorized,
                // The address is not configured on this host (e.g. the bridge is not up yet).
                io::ErrorKind::AddrNotAvailable => ErrorKind::InvalidArgument,
                _ => ErrorKind::Unavailable,
            },
            Error::Io { .. } => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
