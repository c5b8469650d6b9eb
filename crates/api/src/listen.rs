//! Where the server listens: `--host` addresses; unix sockets made as dockerd makes its own (mode
//! 0660, owned by root, group given by `--group`), replacing a stale socket file; TCP only with TLS
//! and client certificates; and sockets systemd hands over (`fd://`, activation.rs).

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A `--host` the server cannot listen on.
    #[error("invalid --host {host:?}: {reason}")]
    Host { host: String, reason: String },
    /// A `--group` that names no group.
    #[error("group {0:?} not found in /etc/group: give an existing group name or a numeric id")]
    Group(String),
    /// The socket could not be made, or given its mode and group.
    #[error("{path}: {source}")]
    Socket { path: PathBuf, source: io::Error },
    /// Another server answers on the socket: it is not stale, so it is left alone.
    #[error("{0}: another server is listening on this socket: stop it or choose another --host")]
    InUse(PathBuf),
    /// Something other than a socket is at the socket's path.
    #[error("{0}: exists and is not a socket: remove it or choose another --host")]
    NotASocket(PathBuf),
    #[error(transparent)]
    Engine(#[from] berth_engine::Error),
    /// The async runtime or a signal handler could not be set up.
    /// The TLS certificates could not be used.
    #[error("TLS: {0}")]
    Tls(#[from] berth_tls::Error),
    /// `fd://` without sockets from systemd, or a passed fd that is not a listening socket.
    #[error("{0}")]
    Activation(String),
    #[error("starting the server: {0}")]
    Runtime(io::Error),
    /// Serving failed (accepting connections).
    #[error("serving: {0}")]
    Serve(io::Error),
}

/// A listening address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// `unix:///path/to.sock`
    Unix(PathBuf),
    /// `tcp://ADDRESS:PORT`, served only with TLS and client certificates.
    Tcp(String),
    /// `fd://` (every socket systemd passed) or `fd://N` (that one).
    Fd(Option<i32>),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
            Host::Tcp(address) => write!(f, "tcp://{address}"),
            Host::Fd(None) => write!(f, "fd://"),
            Host::Fd(Some(fd)) => write!(f, "fd://{fd}"),
        }
    }
}

/// The certificates of a TCP listener (`--tlsverify --tlscacert --tlscert --tlskey`): the server's
/// own, and the CA whose client certificates it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A socket being listened on.
pub enum Bound {
    /// A socket file this server made (and removes when it stops).
    Unix(UnixListener),
    /// A socket systemd made (and keeps).
    ActivatedUnix(UnixListener),
    Tcp(std::net::TcpListener),
}

/// Parses a `--host` as dockerd's `-H` takes it.
pub fn parse_host(text: &str) -> Result<Host, SetupError> {
    let invalid = |reason: &str| SetupError::Host {
        host: text.to_string(),
        reason: reason.to_string(),
    };
    if let Some(path) = text.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(invalid(
                "a unix socket needs an absolute path, as unix:///run/berth/berth.sock",
            ));
        }
        return Ok(Host::Unix(PathBuf::from(path)));
    }
    if let Some(address) = text.strip_prefix("tcp://") {
        let address = address.trim_end_matches('/');
        if address
            .rsplit_once(':')
            .is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            return Err(invalid(
                "a TCP host needs an address and a port, as tcp://127.0.0.1:2376",
            ));
        }
        return Ok(Host::Tcp(address.to_string()));
    }
    if let Some(fd) = text.strip_prefix("fd://") {
        if fd.is_empty() {
            return Ok(Host::Fd(None));
        }
        return match fd.parse::<i32>() {
            Ok(n) if n >= 3 => Ok(Host::Fd(Some(n))),
            _ => Err(invalid("use fd:// for every socket systemd passes, or fd://N for one")),
        };
    }
    Err(invalid(
        "use unix:///path/to/socket, tcp://ADDRESS:PORT (with --tlsverify) or fd://",
    ))
}

/// Binds a TCP address. Without TLS files it is refused: the API gives root on the host to anyone
/// who can reach it, so only clients with a certificate the CA signed may.
pub fn bind_tcp(address: &str, tls: Option<&TlsFiles>) -> Result<std::net::TcpListener, SetupError> {
    if tls.is_none() {
        return Err(SetupError::Host {
            host: format!("tcp://{address}"),
            reason: "a TCP listener needs TLS with client certificates: give --tlsverify with --tlscacert, \
                     --tlscert and --tlskey, or use a unix:// socket"
                .into(),
        });
    }
    let listener = std::net::TcpListener::bind(address).map_err(|source| SetupError::Socket {
        path: PathBuf::from(format!("tcp://{address}")),
        source,
    })?;
    listener.set_nonblocking(true).map_err(|source| SetupError::Socket {
        path: PathBuf::from(format!("tcp://{address}")),
        source,
    })?;
    Ok(listener)
}

/// A group's id from a name in /etc/group, or a number.
pub fn resolve_group(name: &str) -> Result<u32, SetupError> {
    if let Ok(gid) = name.parse() {
        return Ok(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let entry = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            (entry == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| SetupError::Group(name.to_string()))
}

/// Binds a unix socket at `path`, mode 0660 and group `gid` when given. A socket file nobody
/// answers on is what a killed server left, and is replaced.
pub fn bind_unix(path: &Path, gid: Option<u32>) -> Result<UnixListener, SetupError> {
    let at = |source| SetupError::Socket {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(SetupError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(at)?;
        }
        Ok(_) => return Err(SetupError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(at(e)),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(at)?;
    }
    let listener = UnixListener::bind(path).map_err(at)?;
    // Mode and group before the first accept: until then, only root could connect (umask).
    let setup = || -> io::Result<()> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        std::os::unix::fs::chown(path, Some(0), gid)?;
        listener.set_nonblocking(true)
    };
    if let Err(e) = setup() {
        let _ = std::fs::remove_file(path);
        return Err(at(e));
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_dockerd_takes_them() {
        assert_eq!(
            parse_host("unix:///run/berth/berth.sock").unwrap(),
            Host::Unix("/run/berth/berth.sock".into())
        );
        assert_eq!(
            parse_host("tcp://0.0.0.0:2376").unwrap(),
            Host::Tcp("0.0.0.0:2376".into())
        );
        assert!(parse_host("tcp://0.0.0.0").is_err(), "no port");
        let plain = bind_tcp("127.0.0.1:0", None).unwrap_err().to_string();
        assert!(plain.contains("TLS"), "{plain}");
        assert_eq!(parse_host("fd://").unwrap(), Host::Fd(None));
        assert_eq!(parse_host("fd://3").unwrap(), Host::Fd(Some(3)));
        assert!(parse_host("fd://1").is_err(), "stdio is not a passed socket");
        assert!(parse_host("unix://relative.sock").is_err());
        assert!(parse_host("/run/x.sock").is_err());
    }

    #[test]
    fn groups_resolve_by_name_or_number() {
        assert_eq!(resolve_group("0").unwrap(), 0);
        assert_eq!(resolve_group("root").unwrap(), 0);
        assert!(resolve_group("no-such-group-here").is_err());
    }

    #[test]
    fn stale_sockets_are_replaced_and_live_ones_kept() {
        let dir = tempfile_dir();
        let path = dir.join("s.sock");
        let first = bind_unix(&path, None).unwrap();
        // Listening: not stale.
        assert!(matches!(bind_unix(&path, None), Err(SetupError::InUse(_))));
        drop(first);
        // Nobody answers now: replaced.
        let _second = bind_unix(&path, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "x").unwrap();
        assert!(matches!(bind_unix(&path, None), Err(SetupError::NotASocket(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-api-listen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
