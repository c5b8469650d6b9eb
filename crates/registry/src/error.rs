use std::fmt;
use std::path::PathBuf;

pub use berth_store::ErrorKind;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One entry of a registry's `{"errors":[{"code","message","detail"}]}` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct RegistryError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// What the registry said about a failed request, for error messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    /// The errors the registry listed, if its body was the distribution JSON error format.
    pub errors: Vec<RegistryError>,
}

impl Remote {
    pub fn code(&self) -> Option<&str> {
        self.errors.first().map(|e| e.code.as_str())
    }
    pub fn message(&self) -> Option<&str> {
        self.errors.first().map(|e| e.message.as_str())
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => write!(f, "{}: {}", e.code.to_lowercase(), e.message)?,
                (false, true) => write!(f, "{}", e.code.to_lowercase())?,
                (true, _) => write!(f, "{}", e.message)?,
            }
        }
        Ok(())
    }
}

/// " (registry said: ...)" when the registry said something.
fn said(remote: &Remote) -> String {
    if remote.errors.is_empty() {
        String::new()
    } else {
        format!(" (registry said: {remote})")
    }
}

fn in_repo(repo: &Option<String>) -> String {
    repo.as_deref().map(|r| format!(" for {r}")).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        what: &'static str,
        value: String,
        reason: String,
    },

    /// Credentials are missing or were refused.
    #[error("{registry}: unauthorized{}{}: {hint}", in_repo(repo), said(remote))]
    Unauthorized {
        registry: String,
        repo: Option<String>,
        remote: Remote,
        /// What to do next (log in, check the password, ask for access).
        hint: String,
    },

    /// The registry knows the user but refuses the operation (HTTP 403, code DENIED).
    #[error(
        "{registry}: access denied{}{}: check that the repository exists and that you may {action} it",
        in_repo(repo),
        said(remote)
    )]
    Denied {
        registry: String,
        repo: Option<String>,
        action: &'static str,
        remote: Remote,
    },

    #[error("{registry}: {what} {reference} not found in {repo}{}", said(remote))]
    NotFound {
        registry: String,
        repo: String,
        /// "manifest", "blob", "repository", "upload"
        what: &'static str,
        reference: String,
        remote: Remote,
    },

    /// Content does not hash to the digest it was asked for: never trust it.
    #[error("{registry}: digest mismatch for {repo}: expected {expected}, received content has {actual}; the registry or something between it and berth corrupted the data, try again")]
    DigestMismatch {
        registry: String,
        repo: String,
        expected: berth_store::Digest,
        actual: berth_store::Digest,
    },

    #[error(
        "{registry}: size mismatch for {digest} in {repo}: expected {expected} bytes, received {actual}; try again"
    )]
    SizeMismatch {
        registry: String,
        repo: String,
        digest: berth_store::Digest,
        expected: u64,
        actual: u64,
    },

    #[error("{registry}: {repo}:{reference} has unsupported manifest media type {media_type:?}: berth handles Docker schema2 and OCI manifests and indexes{}", schema1_hint(media_type))]
    UnsupportedMediaType {
        registry: String,
        repo: String,
        reference: String,
        media_type: String,
    },

    #[error("no matching manifest for {wanted} in the manifest list entries (available: {}); pick one of them with --platform", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    NoMatchingPlatform { wanted: String, available: Vec<String> },

    /// Any other HTTP error status.
    #[error("{registry}: {method} {path} failed with HTTP {status}{}{}", said(remote), status_hint(*status))]
    Status {
        registry: String,
        method: &'static str,
        path: String,
        status: u16,
        remote: Remote,
    },

    /// Could not connect, the connection dropped, TLS failed.
    #[error("{registry}: cannot reach {url}: {reason}{}", transport_hint(registry, reason))]
    Transport {
        registry: String,
        url: String,
        reason: String,
    },

    #[error("{registry}: no data from {url} for {secs} seconds; the registry or the network stalled, try again")]
    Stalled { registry: String, url: String, secs: u64 },

    /// The registry answered with something the protocol does not allow.
    #[error("{registry}: unexpected response to {what}: {reason}")]
    Protocol {
        registry: String,
        what: String,
        reason: String,
    },

    #[error("{registry} does not support {what}")]
    NotSupported { registry: String, what: &'static str },

    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    #[error("credentials file {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    #[error("credential helper {helper}: {reason}")]
    CredentialHelper { helper: String, reason: String },

    #[error("TLS setup for {registry}: {reason}")]
    Tls { registry: String, reason: String },
}

fn schema1_hint(media_type: &str) -> &'static str {
    if media_type.contains("manifest.v1") {
        "; Docker schema1 images are deprecated: push the image again with a current tool"
    } else {
        ""
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        429 => "; the registry limits requests: wait and try again",
        500..=599 => "; the registry has a problem: try again later",
        _ => "",
    }
}

fn transport_hint(registry: &str, reason: &str) -> String {
    if is_tls_trust_failure(reason) {
        format!("; if the registry uses a private CA, put its certificate in /etc/docker/certs.d/{registry}/ca.crt (or /etc/berth/certs.d/{registry}/)")
    } else {
        "; check the registry address and your network".to_string()
    }
}

/// Nothing listening, or no such host: answers, not hiccups, so retrying them only delays the error.
pub(crate) fn is_definite_failure(text: &str) -> bool {
    text.contains("Connection refused") || text.contains("Dns Failed")
}

/// A TLS failure that retrying cannot fix.
pub(crate) fn is_tls_trust_failure(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("certificate") || r.contains("unknownissuer") || r.contains("invalid peer") || r.contains("handshake")
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument { .. }
            | Error::UnsupportedMediaType { .. }
            | Error::NoMatchingPlatform { .. }
            | Error::Config { .. }
            | Error::Tls { .. } => ErrorKind::InvalidArgument,
            Error::Unauthorized { .. } | Error::Denied { .. } | Error::CredentialHelper { .. } => {
                ErrorKind::Unauthorized
            }
            Error::NotFound { .. } => ErrorKind::NotFound,
            // Bad bytes from the network: retrying may help, the request itself was fine.
            Error::DigestMismatch { .. }
            | Error::SizeMismatch { .. }
            | Error::Transport { .. }
            | Error::Stalled { .. }
            | Error::Protocol { .. } => ErrorKind::Unavailable,
            Error::NotSupported { .. } => ErrorKind::InvalidArgument,
            Error::Status { status, remote, .. } => status_kind(*status, remote.code()),
            Error::Io { .. } => ErrorKind::Internal,
        }
    }

    /// The HTTP status the registry answered with, when that is what failed.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            Error::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }

    /// True for failures that may go away on their own (network, overload).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { reason, .. } => !is_definite_failure(reason),
            Error::Stalled { .. } => true,
            Error::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

fn status_kind(status: u16, code: Option<&str>) -> ErrorKind {
    match code {
        Some("BLOB_UNKNOWN" | "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UPLOAD_UNKNOWN") => {
            return ErrorKind::NotFound
        }
        Some("UNAUTHORIZED" | "DENIED") => return ErrorKind::Unauthorized,
        Some(
            "DIGEST_INVALID"
            | "MANIFEST_INVALID"
            | "MANIFEST_BLOB_UNKNOWN"
            | "NAME_INVALID"
            | "TAG_INVALID"
            | "SIZE_INVALID"
            | "BLOB_UPLOAD_INVALID"
            | "RANGE_INVALID"
            | "UNSUPPORTED",
        ) => return ErrorKind::InvalidArgument,
        Some("TOOMANYREQUESTS") => return ErrorKind::Unavailable,
        _ => {}
    }
    match status {
        401 | 403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        400..=499 if status != 408 && status != 429 => ErrorKind::InvalidArgument,
        _ => ErrorKind::Unavailable,
    }
}

/// Parses a registry error body; anything else gives an empty `Remote`.
pub(crate) fn parse_remote(body: &[u8]) -> Remote {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<RegistryError>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) => Remote { errors: b.errors },
        Err(_) => Remote::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_errors_show_in_messages() {
        let remote =
            parse_remote(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#);
        let e = Error::NotFound {
            registry: "localhost:5000".into(),
            repo: "app".into(),
            what: "manifest",
            reference: "v1".into(),
            remote,
        };
        assert_eq!(
            e.to_string(),
            "localhost:5000: manifest v1 not found in app (registry said: manifest_unknown: manifest unknown)"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(parse_remote(b"<html>").errors.is_empty());
    }

    #[test]
    fn status_kinds_follow_codes_then_status() {
        assert_eq!(status_kind(400, Some("MANIFEST_INVALID")), ErrorKind::InvalidArgument);
        assert_eq!(status_kind(404, None), ErrorKind::NotFound);
        assert_eq!(status_kind(503, None), ErrorKind::Unavailable);
        assert_eq!(status_kind(429, None), ErrorKind::Unavailable);
        assert_eq!(status_kind(409, None), ErrorKind::Conflict);
    }
}
