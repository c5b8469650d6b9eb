//! Where the server listens: `--host` addresses, and unix sockets made as dockerd makes its own
//! (mode 0660, owned by root, group given by `--group`), replacing a stale socket file.

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
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// Parses a `--host` as dockerd's `-H` takes it. TCP needs TLS with client certificates, which this
/// server does not have yet, so it is refused rather than served to anyone who can reach the port.
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
    if text.starts_with("tcp://") {
        return Err(invalid(
            "TCP listeners need TLS with client certificates (--tlsverify), which berth serve does not \
             support yet: use a unix:// socket",
        ));
    }
    Err(invalid("use unix:///path/to/socket"))
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
        let tcp = parse_host("tcp://0.0.0.0:2375").unwrap_err().to_string();
        assert!(tcp.contains("TLS"), "{tcp}");
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
