//! Talking to registries: a client for a registry with the user's credentials and berth's settings,
//! `login`, `logout`, `search`, and the progress a pull or push reports.

use std::sync::Arc;

use berth_registry::{Client, ClientOptions, Credentials, DockerConfig, StaticCredentials};

use crate::{Engine, Error, Result};

/// Docker Hub, where names without a registry live.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Where a layer of a pull or push is, as Docker's progress shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerState {
    Waiting,
    Downloading { done: u64, total: u64 },
    Verifying,
    DownloadComplete,
    Extracting,
    PullComplete,
    AlreadyExists,
    Preparing,
    Pushing { done: u64, total: u64 },
    Pushed,
    LayerExists,
    Mounted { from: String },
}

/// Receives what a pull or push does, as it happens (from several threads).
pub trait Progress: Sync {
    /// A layer's new state; `id` is the short (12 hex) digest Docker shows.
    fn layer(&self, id: &str, state: LayerState);
    /// A line of its own ("latest: Pulling from library/busybox").
    fn message(&self, text: &str);
}

/// A [`Progress`] that shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn layer(&self, _: &str, _: LayerState) {}
    fn message(&self, _: &str) {}
}

/// One answer of `search`.
pub use berth_registry::SearchResult;

/// berth's own settings for registries: `insecure-registries` in berth's config file (see
/// [`crate::config`]), as in Docker's daemon.json.
fn insecure_registries() -> Vec<String> {
    crate::config::load().insecure_registries
}

/// A registry as `login`/`logout` name it: `https://index.docker.io/v1/`, `localhost:5000`,
/// `https://registry.example.com/` all become the host (and port).
pub fn registry_host(server: Option<&str>) -> String {
    let Some(server) = server.map(str::trim).filter(|s| !s.is_empty()) else {
        return DEFAULT_REGISTRY.to_string();
    };
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or(server);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DEFAULT_REGISTRY.to_string(),
        other => other.to_string(),
    }
}

impl Engine {
    /// A client for `registry` with the credentials from Docker's config.json.
    pub(crate) fn registry_client(&self, registry: &str) -> Result<Client> {
        let config = DockerConfig::load_default()?;
        self.client_with(registry, Arc::new(config))
    }

    fn client_with(&self, registry: &str, credentials: Arc<dyn berth_registry::CredentialsProvider>) -> Result<Client> {
        let options = ClientOptions {
            credentials: Some(credentials),
            insecure_registries: insecure_registries(),
            ..ClientOptions::default()
        };
        Ok(Client::new(registry, options)?)
    }

    /// `login`: checks the credentials with the registry, then stores them in Docker's config.json (an
    /// identity token instead of the password when the registry hands one out).
    pub fn login(&self, server: Option<&str>, username: &str, password: &str) -> Result<String> {
        let registry = registry_host(server);
        if username.is_empty() || password.is_empty() {
            return Err(Error::InvalidArgument(
                "username and password are both required: use -u and -p or --password-stdin".into(),
            ));
        }
        let given = Credentials {
            username: username.to_string(),
            password: password.to_string(),
            identity_token: None,
        };
        let client = self.client_with(&registry, Arc::new(StaticCredentials(given.clone())))?;
        let info = client.check_login()?;
        let mut config = DockerConfig::load_default()?;
        let stored = match info.identity_token {
            Some(token) => Credentials {
                username: username.to_string(),
                password: String::new(),
                identity_token: Some(token),
            },
            None => given,
        };
        config.store(&registry, &stored)?;
        config.save()?;
        Ok(registry)
    }

    /// `logout`: forgets the stored credentials; false if there were none.
    pub fn logout(&self, server: Option<&str>) -> Result<(String, bool)> {
        let registry = registry_host(server);
        let mut config = DockerConfig::load_default()?;
        let erased = config.erase(&registry)?;
        if erased {
            config.save()?;
        }
        Ok((registry, erased))
    }

    /// `search TERM`: `registry/term` searches that registry, a plain term Docker Hub.
    pub fn search(&self, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
        let (registry, term) = match term.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first.to_string(), rest),
            _ => (DEFAULT_REGISTRY.to_string(), term),
        };
        let client = self.registry_client(&registry)?;
        Ok(client.search(term, limit)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_servers_name_their_host() {
        assert_eq!(registry_host(None), "docker.io");
        assert_eq!(registry_host(Some("https://index.docker.io/v1/")), "docker.io");
        assert_eq!(registry_host(Some("localhost:5000")), "localhost:5000");
        assert_eq!(registry_host(Some("http://127.0.0.1:5000/")), "127.0.0.1:5000");
        assert_eq!(registry_host(Some("registry.example.com")), "registry.example.com");
    }
}
