//! berth's OCI distribution (Docker registry v2) client.
//!
//! Protocol only: the engine decides where blobs go and what to do with them. One
//! [`Client`] per registry, synchronous and `Send + Sync`, so parallel layer downloads
//! share its connections and tokens.
//!
//! - Transport: HTTPS with the system CA store plus `/etc/berth/certs.d/<host>/` and
//!   `/etc/docker/certs.d/<host>/`; insecure registries (loopback ones always) are tried
//!   over HTTPS without verification first, then plain HTTP, as Docker does.
//! - Auth: anonymous, basic, or bearer tokens from the registry's challenge, cached per
//!   scope and refreshed on expiry or a fresh 401. Credentials from Docker's
//!   `config.json` and credential helpers ([`DockerConfig`]).
//! - Integrity: manifests and blobs are checked against their digests; blob downloads
//!   resume partial files and never leave bad content behind.
//! - Retries: 5xx, 429 and dropped connections are retried with exponential backoff;
//!   a request stalls out after [`ClientOptions::stall_timeout`] without data.

mod auth;
mod blob;
mod client;
mod credentials;
mod error;
mod media;
mod options;
pub mod platform;
mod transport;

pub use auth::{catalog_scope, pull_scope, push_scope};
pub use blob::{BlobRef, BlobSource, FetchedBlob, PushOutcome};
pub use client::{Client, FetchedManifest, LoginInfo, ManifestInfo, SearchResult, DOCKER_HUB_REGISTRY_HOST};
pub use credentials::{
    credentials_key, Credentials, CredentialsProvider, DockerConfig, StaticCredentials, DOCKER_HUB_CREDENTIALS_KEY,
};
pub use error::{Error, ErrorKind, RegistryError, Remote, Result};
pub use media::{
    is_foreign_layer, layer_compression, manifest_kind, Compression, ManifestKind, MANIFEST_ACCEPT,
    OCI_LAYER_NONDISTRIBUTABLE, OCI_LAYER_NONDISTRIBUTABLE_GZIP, OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
};
pub use options::{ClientOptions, RetryPolicy};
pub use platform::{select_manifest, select_manifest_from_bytes};
