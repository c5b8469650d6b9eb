use std::path::PathBuf;

use berth_types::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag value or option that cannot work (docker exits 125 for these).
    #[error("{0}")]
    InvalidArgument(String),
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    #[error("invalid seccomp profile {path}: {reason}")]
    Seccomp { path: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The OCI runtime failed to create, start, signal or delete a container.
    #[error("runtime: {0}")]
    Runtime(String),
    /// The runtime keeps no state for this container id (never created, or already deleted).
    #[error("no such container in the runtime: {0}")]
    NoSuchContainer(String),
    /// The runtime already has a container with this id.
    #[error("container {0} already exists in the runtime: delete it first")]
    ContainerExists(String),
    /// This process runs from a berth binary that could be written through /proc/PID/exe, so it must
    /// not start container processes (see `sealed`).
    #[error("the berth binary this process runs cannot be sealed against writes from containers: {0}")]
    Unsealed(String),
    /// The container's state does not allow the operation (exec into a stopped container, pause a paused one).
    #[error("cannot {action} container {id}: it is {state}")]
    ContainerState { id: String, action: String, state: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument(_) | Error::UnknownUser(_) | Error::UnknownGroup(_) | Error::Seccomp { .. } => {
                ErrorKind::InvalidArgument
            }
            Error::Io { .. } | Error::Runtime(_) | Error::Unsealed(_) => ErrorKind::Internal,
            Error::NoSuchContainer(_) => ErrorKind::NotFound,
            Error::ContainerExists(_) | Error::ContainerState { .. } => ErrorKind::Conflict,
        }
    }
}
