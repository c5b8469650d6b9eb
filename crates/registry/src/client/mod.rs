//! The client: one per registry, shared by threads. Requests go through [`Client::send`],
//! which adds authentication (anonymous, basic or bearer tokens cached per scope),
//! follows redirects and retries transient failures with backoff.
//!
//! One file per job: [`endpoint`] finds the registry's base URL and auth challenge,
//! [`authorize`] turns credentials into Authorization headers, [`send`] puts a request on
//! the wire (redirects, auth, retries decided in [`retry`]), [`failure`] turns what went
//! wrong into an [`Error`] with context; [`manifest`] and [`listing`] are the operations on
//! manifests, tags, the catalog and search (blobs are in `crate::blob`).

mod authorize;
mod endpoint;
mod failure;
mod http;
mod listing;
mod manifest;
mod names;
mod retry;
mod send;

use std::sync::{Mutex, MutexGuard};

use crate::auth::{Challenge, TokenCache};
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::options::ClientOptions;
use crate::transport;

pub use authorize::LoginInfo;
pub use listing::SearchResult;
pub use manifest::{FetchedManifest, ManifestInfo};

pub(crate) use failure::Ctx;
pub(crate) use http::header;
pub(crate) use names::check_repo;
pub(crate) use send::{Body, Req};

/// The host Docker sends Docker Hub requests to.
pub const DOCKER_HUB_REGISTRY_HOST: &str = "registry-1.docker.io";

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: TokenCache,
    /// The refresh token a token server handed out at login (Docker's identity token).
    refresh_token: Option<String>,
}

/// A registry client. `Send + Sync`: share one per registry between threads (tokens and
/// connections are reused).
pub struct Client {
    /// The registry as the user named it (`docker.io`, `localhost:5000`), for messages.
    registry: String,
    /// Where requests go (`registry-1.docker.io` for Docker Hub).
    host: String,
    opts: ClientOptions,
    insecure: bool,
    /// TLS as configured for the registry (certs.d; unverified for insecure registries).
    registry_agent: ureq::Agent,
    /// Verified TLS with the system roots, for redirects to other hosts (blob storage).
    other_agent: ureq::Agent,
    /// `https://host` or `http://host`, decided by the first ping.
    base: Mutex<Option<String>>,
    auth: Mutex<AuthState>,
    creds: Mutex<Option<Option<Credentials>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("registry", &self.registry)
            .field("host", &self.host)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread cannot leave these caches inconsistent: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Client {
    /// A client for `registry` (`docker.io`, `ghcr.io`, `localhost:5000`). Nothing is
    /// sent until the first operation.
    pub fn new(registry: &str, options: ClientOptions) -> Result<Client> {
        let registry = match registry {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            r => r.trim_end_matches('/'),
        };
        let (h, port) = transport::split_host_port(registry);
        let valid_host = !h.is_empty()
            && (h.parse::<std::net::IpAddr>().is_ok()
                || h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
            && port.is_none_or(|p| p.parse::<u16>().is_ok());
        if !valid_host {
            return Err(Error::InvalidArgument {
                what: "registry",
                value: registry.into(),
                reason: "expected host[:port], e.g. docker.io or localhost:5000".into(),
            });
        }
        let host = if registry == "docker.io" {
            DOCKER_HUB_REGISTRY_HOST.to_string()
        } else {
            registry.to_string()
        };
        let insecure = transport::is_insecure(&host, &options.insecure_registries)
            || transport::is_insecure(registry, &options.insecure_registries);
        let registry_agent = transport::agent(&options, transport::tls_config(registry, &options, insecure)?);
        let other_agent = transport::agent(&options, transport::tls_config(registry, &options, false)?);
        Ok(Client {
            registry: registry.to_string(),
            host,
            opts: options,
            insecure,
            registry_agent,
            other_agent,
            base: Mutex::new(None),
            auth: Mutex::new(AuthState::default()),
            creds: Mutex::new(None),
        })
    }

    /// The registry as named when the client was made.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Client>();
    }

    #[test]
    fn docker_hub_names() {
        let c = Client::new("docker.io", ClientOptions::default()).unwrap();
        assert_eq!(c.host, DOCKER_HUB_REGISTRY_HOST);
        assert!(!c.insecure);
        let c = Client::new("index.docker.io", ClientOptions::default()).unwrap();
        assert_eq!(c.registry(), "docker.io");
        assert!(
            Client::new("localhost:5000", ClientOptions::default())
                .unwrap()
                .insecure
        );
        assert!(Client::new("bad host", ClientOptions::default()).is_err());
        assert!(Client::new("host:99999", ClientOptions::default()).is_err());
    }
}
