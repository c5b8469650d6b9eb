//! The crate's error type.

use std::io;
use std::path::PathBuf;

use berth_store::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A layer tar entry that berth refuses to unpack: an escape attempt or a malformed header.
    #[error("layer entry {entry:?}: {reason}")]
    InvalidEntry { entry: String, reason: String },
    /// A sparse file (GNU 'S' entry or PAX `GNU.sparse.*` records): unpacked, its holes would become
    /// zeros written to disk, so a layer of a few kB could fill it.
    #[error(
        "layer entry {entry:?} is a GNU sparse file, which berth does not unpack: rebuild the image without \
         sparse files (no tar --sparse)"
    )]
    SparseEntry { entry: String },
    /// The layer stream could not be read or decoded.
    #[error("reading layer stream: {source}; check that the blob is a complete tar, tar+gzip or tar+zstd layer")]
    Read {
        #[source]
        source: io::Error,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Mounting or unmounting failed; `detail` carries the kernel's own message when it gave one.
    #[error("{op} {target}: {source}{detail}")]
    Mount {
        op: &'static str,
        target: PathBuf,
        detail: String,
        #[source]
        source: io::Error,
    },
    /// A caller passed something unusable.
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Store(#[from] berth_store::Error),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidEntry { .. } | Error::SparseEntry { .. } | Error::InvalidArgument(_) => {
                ErrorKind::InvalidArgument
            }
            Error::Read { source } => {
                if is_os_error(source) {
                    ErrorKind::Internal
                } else {
                    // Decoder and tar parser errors: the content is bad, not the machine.
                    ErrorKind::InvalidArgument
                }
            }
            Error::Io { .. } | Error::Mount { .. } => ErrorKind::Internal,
            Error::Store(e) => e.kind(),
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: impl Into<io::Error>) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source: source.into(),
        }
    }

    pub(crate) fn entry(entry: &[u8], reason: impl Into<String>) -> Self {
        Error::InvalidEntry {
            entry: String::from_utf8_lossy(entry).into_owned(),
            reason: reason.into(),
        }
    }
}

/// Whether an io::Error (or anything it wraps) came from the operating system.
fn is_os_error(e: &io::Error) -> bool {
    if e.raw_os_error().is_some() {
        return true;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(inner) = cur {
        if let Some(ioe) = inner.downcast_ref::<io::Error>() {
            if ioe.raw_os_error().is_some() {
                return true;
            }
        }
        cur = inner.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(Error::entry(b"../x", "escapes").kind(), ErrorKind::InvalidArgument);
        let sparse = Error::SparseEntry { entry: "big".into() };
        assert_eq!(sparse.kind(), ErrorKind::InvalidArgument);
        let parse = Error::Read {
            source: io::Error::other("archive header checksum mismatch"),
        };
        assert_eq!(parse.kind(), ErrorKind::InvalidArgument);
        let os = Error::Read {
            source: io::Error::from_raw_os_error(libc::EIO),
        };
        assert_eq!(os.kind(), ErrorKind::Internal);
        assert_eq!(
            Error::io("creating", "/x", io::Error::from_raw_os_error(libc::ENOSPC)).kind(),
            ErrorKind::Internal
        );
    }
}
