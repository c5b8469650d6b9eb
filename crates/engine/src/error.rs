use std::path::PathBuf;

pub use berth_store::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// The host's network plumbing failed (netlink, nftables).
    #[error("network: {0}")]
    Network(String),
    /// The container could not start; `code` is docker's status (125, 126, 127).
    #[error("{message}")]
    StartFailed { code: i32, message: String },
    /// A build step's command exited with `code` ("The command '…' returned a non-zero code: N");
    /// Docker's build stream carries the code.
    #[error("{message}")]
    StepFailed { code: i64, message: String },
    /// Something named that is not there, other than the objects above (a repository without tags).
    #[error("{0}")]
    NotFound(String),
    /// Something to fetch from a URL the user gave (a build context, an import) could not be had.
    #[error("{context}: {reason}")]
    Download { context: String, reason: String },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Conflict(String),
    /// A failure of berth's own, or of the host: a teardown that failed, a damaged record.
    #[error("{0}")]
    Internal(String),
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    #[error(transparent)]
    Reference(#[from] berth_reference::Error),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error(transparent)]
    Registry(#[from] berth_registry::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{context}: {source}")]
    Stream { context: String, source: std::io::Error },
    /// An error a helper process reported (an exec's), with its kind.
    #[error("{message}")]
    Reported { kind: ErrorKind, message: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchImage(_) | Error::NoSuchContainer(_) | Error::NoSuchVolume(_) | Error::NoSuchNetwork(_) => {
                ErrorKind::NotFound
            }
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Download { .. } => ErrorKind::Unavailable,
            Error::Network(_) => ErrorKind::Internal,
            Error::StartFailed { .. } | Error::StepFailed { .. } => ErrorKind::InvalidArgument,
            Error::Runtime(e) => e.kind(),
            Error::Registry(e) => e.kind(),
            Error::InvalidArgument(_) | Error::InvalidArchive(_) | Error::Reference(_) => ErrorKind::InvalidArgument,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Internal(_) => ErrorKind::Internal,
            Error::Store(e) => e.kind(),
            Error::Image(e) => e.kind(),
            Error::Io { .. } => ErrorKind::Internal,
            // A stream that ends early or carries garbage is the sender's fault; a pipe, fork or
            // write that fails is the host's.
            Error::Stream { source, .. } => match source.kind() {
                std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Internal,
            },
            Error::Reported { kind, .. } => *kind,
        }
    }
}

impl From<berth_types::DigestError> for Error {
    fn from(e: berth_types::DigestError) -> Error {
        Error::Store(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
    fn reading(self, what: &str) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
    fn reading(self, what: &str) -> Result<T> {
        self.map_err(|source| Error::Stream {
            context: format!("reading {what}"),
            source,
        })
    }
}
