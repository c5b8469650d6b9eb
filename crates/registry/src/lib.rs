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
//!
//! A pull, as the engine would drive it:
//!
//! ```no_run
//! use std::sync::Arc;
//! use berth_image::spec::{host_platform, Manifest};
//! use berth_registry::{BlobRef, Client, ClientOptions, DockerConfig, ManifestKind, MANIFEST_ACCEPT};
//!
//! # fn main() -> Result<(), berth_registry::Error> {
//! let options = ClientOptions {
//!     credentials: Some(Arc::new(DockerConfig::load_default()?)),
//!     ..Default::default()
//! };
//! let client = Client::new("docker.io", options)?;
//! let mut m = client.get_manifest("library/busybox", "latest", MANIFEST_ACCEPT)?;
//! if berth_registry::manifest_kind(&m.media_type) == Some(ManifestKind::Index) {
//!     let chosen = berth_registry::select_manifest_from_bytes(&m.bytes, &host_platform())?;
//!     m = client.get_manifest("library/busybox", &chosen.digest, MANIFEST_ACCEPT)?;
//! }
//! let manifest: Manifest = serde_json::from_slice(&m.bytes).expect("a valid manifest");
//! for layer in std::iter::once(&manifest.config).chain(&manifest.layers) {
//!     let blob = BlobRef::try_from(layer)?;
//!     let partial = std::path::Path::new("/tmp").join(blob.digest.hex());
//!     client.fetch_blob("library/busybox", &blob, &partial, &mut |done| eprintln!("{done} bytes"))?;
//! }
//! # Ok(())
//! # }
//! ```

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
