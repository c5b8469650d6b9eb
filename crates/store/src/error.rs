use std::path::PathBuf;

pub use berth_types::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid digest {0:?}: expected sha256: followed by 64 lowercase hex characters")]
    InvalidDigest(String),
    #[error("digest mismatch: expected {expected}, content has {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch { digest: String, expected: u64, actual: u64 },
    #[error("blob {0} not found in the content store")]
    BlobNotFound(String),
    #[error("layer {0} was removed by another berth process while this one ran; try again")]
    LayerGone(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("metadata database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("data root {path} is not usable: {reason}")]
    Root { path: PathBuf, reason: String },
    /// A row holds a value berth cannot have written; remove and recreate the object.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidDigest(_) | Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => {
                ErrorKind::InvalidArgument
            }
            Error::BlobNotFound(_) => ErrorKind::NotFound,
            Error::LayerGone(_) => ErrorKind::Conflict,
            Error::Io { .. } | Error::Db(_) | Error::Root { .. } | Error::Corrupt(_) => ErrorKind::Internal,
        }
    }
}

impl From<berth_types::DigestError> for Error {
    fn from(e: berth_types::DigestError) -> Error {
        Error::InvalidDigest(e.0)
    }
}

/// Attaches a path to an io::Error.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, Error>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
