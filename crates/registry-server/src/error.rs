//! The registry's one error type. Each variant maps to an OCI distribution
//! error code and HTTP status for clients, and to a berth `ErrorKind` for the
//! CLI's exit codes.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_store::ErrorKind;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(String),
    #[error("blob upload unknown to registry: {0}")]
    BlobUploadUnknown(String),
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// A chunk that does not start where the upload ends (416).
    #[error("chunk starts at byte {start} but the upload has {size} bytes: resume from the Range the server reports")]
    ChunkOutOfOrder {
        start: u64,
        size: u64,
        uuid: String,
        location: String,
    },
    #[error("requested range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    #[error("manifest references unknown blob or manifest {0}: push it to this repository first")]
    ManifestBlobUnknown(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    #[error("manifest too large: {size} bytes, at most {limit} are accepted")]
    ManifestTooLarge { size: u64, limit: u64 },
    #[error("invalid repository name {0:?}: use lowercase path components of [a-z0-9] separated by '.', '_', '__' or '-', at most 255 characters")]
    NameInvalid(String),
    #[error("repository name not known to registry: {0}")]
    NameUnknown(String),
    #[error("invalid tag {0:?}: tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    TagInvalid(String),
    #[error("invalid pagination parameter: {0}")]
    PaginationInvalid(String),
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    #[error("authentication required")]
    Unauthorized { realm: String },
    #[error("no route for {0}")]
    NotFound(String),
    /// More upload sessions are open than the server allows (429).
    #[error("too many uploads in progress (at most {limit}): finish or cancel some, or try again later")]
    TooManyUploads { limit: usize },

    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot listen on {addr}: {source}; pick another --addr or stop what uses it")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot read htpasswd file {path}: {reason}")]
    Htpasswd { path: PathBuf, reason: String },
    #[error("cannot load TLS certificate or key: {0}")]
    Tls(String),
    #[error("invalid registry configuration: {0}")]
    Config(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("server failed: {0}")]
    Serve(io::Error),
    #[error("background task failed: {0}; this is a bug in berth")]
    Task(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BlobUnknown(_)
            | Error::BlobUploadUnknown(_)
            | Error::ManifestUnknown(_)
            | Error::NameUnknown(_)
            | Error::NotFound(_) => ErrorKind::NotFound,
            Error::BlobUploadInvalid(_)
            | Error::RangeNotSatisfiable { .. }
            | Error::DigestInvalid(_)
            | Error::ManifestBlobUnknown(_)
            | Error::ManifestInvalid(_)
            | Error::ManifestTooLarge { .. }
            | Error::NameInvalid(_)
            | Error::TagInvalid(_)
            | Error::PaginationInvalid(_)
            | Error::Unsupported(_)
            | Error::Htpasswd { .. }
            | Error::Tls(_)
            | Error::Config(_) => ErrorKind::InvalidArgument,
            Error::TooManyUploads { .. } => ErrorKind::Unavailable,
            Error::ChunkOutOfOrder { .. } => ErrorKind::Conflict,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::Bind { .. } => ErrorKind::Unavailable,
            Error::Io { .. } | Error::Runtime(_) | Error::Serve(_) | Error::Task(_) => ErrorKind::Internal,
        }
    }

    /// The distribution spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BlobUnknown(_) => "BLOB_UNKNOWN",
            Error::BlobUploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            Error::BlobUploadInvalid(_) | Error::ChunkOutOfOrder { .. } => "BLOB_UPLOAD_INVALID",
            Error::RangeNotSatisfiable { .. } => "RANGE_INVALID",
            Error::DigestInvalid(_) => "DIGEST_INVALID",
            Error::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            Error::ManifestInvalid(_) => "MANIFEST_INVALID",
            Error::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            Error::ManifestTooLarge { .. } => "SIZE_INVALID",
            Error::NameInvalid(_) => "NAME_INVALID",
            Error::NameUnknown(_) => "NAME_UNKNOWN",
            Error::TagInvalid(_) => "TAG_INVALID",
            Error::PaginationInvalid(_) => "PAGINATION_NUMBER_INVALID",
            Error::Unsupported(_) => "UNSUPPORTED",
            Error::Unauthorized { .. } => "UNAUTHORIZED",
            Error::NotFound(_) => "NOT_FOUND",
            Error::TooManyUploads { .. } => "TOOMANYREQUESTS",
            _ => "UNKNOWN",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BlobUnknown(_)
            | Error::BlobUploadUnknown(_)
            | Error::ManifestUnknown(_)
            | Error::NameUnknown(_)
            | Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::ChunkOutOfOrder { .. } | Error::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::ManifestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Unsupported(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::TooManyUploads { .. } => StatusCode::TOO_MANY_REQUESTS,
            e if e.kind() == ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<berth_store::Error> for Error {
    fn from(e: berth_store::Error) -> Self {
        match e {
            berth_store::Error::Io { path, source } => Error::Io { path, source },
            berth_store::Error::InvalidDigest(d) => Error::DigestInvalid(format!("{d:?} is not a sha256 digest")),
            berth_store::Error::BlobNotFound(d) => Error::BlobUnknown(d),
            other => Error::Io {
                path: PathBuf::new(),
                source: io::Error::other(other.to_string()),
            },
        }
    }
}

/// Attaches a path to an io::Error.
pub(crate) trait At<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("{self}");
        } else {
            tracing::debug!("{self}");
        }
        // Server-side details (paths) stay in the log, not in the response.
        let message = if status.is_server_error() {
            "internal server error; see the registry's log".to_string()
        } else {
            self.to_string()
        };
        let detail = match &self {
            Error::BlobUnknown(d) | Error::ManifestBlobUnknown(d) => serde_json::json!({ "digest": d }),
            Error::NameInvalid(n) | Error::NameUnknown(n) => serde_json::json!({ "name": n }),
            Error::TagInvalid(t) => serde_json::json!({ "tag": t }),
            _ => serde_json::Value::Null,
        };
        let body = serde_json::json!({
            "errors": [{ "code": self.code(), "message": message, "detail": detail }]
        });
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        let headers = response.headers_mut();
        // An error may come before the request's body was read (a chunk refused by its range), and
        // then the server drops the connection after answering: say so, or a client that keeps
        // connections would send its next request down the closed one.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        match &self {
            Error::Unauthorized { realm } => {
                let value = format!("Basic realm=\"{}\"", realm.replace('"', ""));
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            Error::ChunkOutOfOrder {
                size, uuid, location, ..
            } => {
                // Tell the client where to resume, as a status GET would.
                if let Ok(v) = HeaderValue::from_str(&crate::handlers::upload_range(*size)) {
                    headers.insert(header::RANGE, v);
                }
                if let Ok(v) = HeaderValue::from_str(uuid) {
                    headers.insert("docker-upload-uuid", v);
                }
                if let Ok(v) = HeaderValue::from_str(location) {
                    headers.insert(header::LOCATION, v);
                }
            }
            Error::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
            }
            _ => {}
        }
        response
    }
}
