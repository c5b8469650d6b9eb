//! Talking to registries: a client for a registry with the user's credentials and berth's settings,
//! `login`, `logout`, `search`, and the progress a pull or push reports.

use std::sync::Arc;

use berth_registry::{Client, ClientOptions, DockerConfig, StaticCredentials};

/// A user name and password (or identity token) for a registry: what `login` checks and stores, and
/// what a caller hands to a pull or push instead of the stored ones (the API's `X-Registry-Auth`).
pub use berth_registry::Credentials;

use crate::filters::Filters;
use crate::units::human_size;
use crate::{Digest, Engine, Error, Result};

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

impl LayerState {
    /// Docker's words for the state (the `status` of its JSON progress message, without the bar).
    pub fn status(&self) -> String {
        match self {
            LayerState::Waiting => "Pulling fs layer".into(),
            LayerState::Downloading { .. } => "Downloading".into(),
            LayerState::Verifying => "Verifying Checksum".into(),
            LayerState::DownloadComplete => "Download complete".into(),
            LayerState::Extracting => "Extracting".into(),
            LayerState::PullComplete => "Pull complete".into(),
            LayerState::AlreadyExists => "Already exists".into(),
            LayerState::Preparing => "Preparing".into(),
            LayerState::Pushing { .. } => "Pushing".into(),
            LayerState::Pushed => "Pushed".into(),
            LayerState::LayerExists => "Layer already exists".into(),
            LayerState::Mounted { from } => format!("Mounted from {from}"),
        }
    }

    /// `(current, total)` bytes for the states that carry a progress bar.
    pub fn progress(&self) -> Option<(u64, u64)> {
        match self {
            LayerState::Downloading { done, total } | LayerState::Pushing { done, total } => Some((*done, *total)),
            _ => None,
        }
    }

    /// Docker's bar for the states that carry one, `[=====>      ]  1.2MB/3.4MB` (the byte count
    /// alone when the total is unknown): what the CLI draws after the status and what the API sends
    /// as `progress`.
    pub fn bar(&self) -> Option<String> {
        let (done, total) = self.progress()?;
        Some(progress_bar(done, total))
    }
}

/// `[=====>      ]  1.2MB/3.4MB`, 50 wide, as Docker draws a transfer.
fn progress_bar(done: u64, total: u64) -> String {
    if total == 0 {
        return human_size(done, 3);
    }
    const WIDTH: u64 = 50;
    let filled = (done.min(total) * WIDTH / total) as usize;
    let arrow = if filled < WIDTH as usize { ">" } else { "" };
    let rest = (WIDTH as usize).saturating_sub(filled + arrow.len());
    format!(
        "[{}{arrow}{}]  {}/{}",
        "=".repeat(filled),
        " ".repeat(rest),
        human_size(done, 3),
        human_size(total, 3)
    )
}

/// A line of a pull or push that is not about one layer, as Docker's progress stream carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// "Using default tag: latest"
    UsingDefaultTag,
    /// "latest: Pulling from library/busybox"
    PullingFrom { tag: String, repository: String },
    /// "Digest: sha256:…", the digest the reference resolved to.
    Digest(Digest),
    /// "Status: Downloaded newer image for busybox:latest" (or "Image is up to date for" when nothing
    /// was downloaded); `reference` is in its familiar form.
    Pulled { reference: String, downloaded: bool },
    /// "The push refers to repository [docker.io/library/busybox]"
    PushRefersTo { repository: String },
    /// "latest: digest: sha256:… size: 527"
    PushedTag { tag: String, digest: Digest, size: usize },
}

impl Status {
    /// The `id` of Docker's JSON message (the tag a "Pulling from" line is about), if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Status::PullingFrom { tag, .. } => Some(tag),
            _ => None,
        }
    }

    /// The `status` of Docker's JSON message.
    pub fn text(&self) -> String {
        match self {
            Status::UsingDefaultTag => "Using default tag: latest".into(),
            Status::PullingFrom { repository, .. } => format!("Pulling from {repository}"),
            Status::Digest(digest) => format!("Digest: {digest}"),
            Status::Pulled {
                reference,
                downloaded: true,
            } => format!("Status: Downloaded newer image for {reference}"),
            Status::Pulled {
                reference,
                downloaded: false,
            } => format!("Status: Image is up to date for {reference}"),
            Status::PushRefersTo { repository } => format!("The push refers to repository [{repository}]"),
            Status::PushedTag { tag, digest, size } => format!("{tag}: digest: {digest} size: {size}"),
        }
    }
}

/// The line Docker's client prints for the status: `id: text`, or the text alone.
impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id() {
            Some(id) => write!(f, "{id}: {}", self.text()),
            None => f.write_str(&self.text()),
        }
    }
}

/// Receives what a pull or push does, as it happens (from several threads): the CLI draws it, the API
/// server will turn the same events into Docker's JSON progress stream.
pub trait Progress: Sync {
    /// A layer's new state; `id` is the short (12 hex) digest Docker shows.
    fn layer(&self, id: &str, state: LayerState);
    /// A line of its own.
    fn status(&self, status: &Status);
}

/// A [`Progress`] that shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn layer(&self, _: &str, _: LayerState) {}
    fn status(&self, _: &Status) {}
}

/// Credentials a registry accepted.
#[derive(Clone, Debug)]
pub struct LoginChecked {
    /// The registry's host (`docker.io` for Docker Hub).
    pub registry: String,
    /// What to keep: the password, or the identity token the registry issued instead.
    pub credentials: Credentials,
}

impl LoginChecked {
    /// The identity token the registry issued, if it issued one (Docker's `IdentityToken`).
    pub fn identity_token(&self) -> Option<&str> {
        self.credentials.identity_token.as_deref()
    }
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

    /// A client for `registry` with the caller's credentials when it gave some, else those of
    /// Docker's config.json.
    pub(crate) fn registry_client_as(&self, registry: &str, auth: Option<&Credentials>) -> Result<Client> {
        match auth {
            Some(given) => self.client_with(registry, Arc::new(StaticCredentials(given.clone()))),
            None => self.registry_client(registry),
        }
    }

    fn client_with(&self, registry: &str, credentials: Arc<dyn berth_registry::CredentialsProvider>) -> Result<Client> {
        let options = ClientOptions {
            credentials: Some(credentials),
            insecure_registries: insecure_registries(),
            ..ClientOptions::default()
        };
        Ok(Client::new(registry, options)?)
    }

    /// Checks credentials with a registry (`server` as `login` names it) without storing them: what
    /// the API's `/auth` does. Returns the registry's host and the credentials to keep (an identity
    /// token instead of the password when the registry hands one out).
    pub fn check_login(&self, server: Option<&str>, username: &str, password: &str) -> Result<LoginChecked> {
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
        let credentials = match info.identity_token {
            Some(token) => Credentials {
                username: username.to_string(),
                password: String::new(),
                identity_token: Some(token),
            },
            None => given,
        };
        Ok(LoginChecked { registry, credentials })
    }

    /// `login`: checks the credentials with the registry, then stores them in Docker's config.json (an
    /// identity token instead of the password when the registry hands one out).
    pub fn login(&self, server: Option<&str>, username: &str, password: &str) -> Result<String> {
        let checked = self.check_login(server, username, password)?;
        let mut config = DockerConfig::load_default()?;
        config.store(&checked.registry, &checked.credentials)?;
        config.save()?;
        Ok(checked.registry)
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

    /// `search TERM`: `registry/term` searches that registry, a plain term Docker Hub; the results the
    /// filters (`stars=N`, `is-official=BOOL`, `is-automated=BOOL`) let through.
    pub fn search(&self, term: &str, limit: usize, filters: &Filters) -> Result<Vec<SearchResult>> {
        let wanted = SearchFilters::parse(filters)?;
        let (registry, term) = match term.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first.to_string(), rest),
            _ => (DEFAULT_REGISTRY.to_string(), term),
        };
        let client = self.registry_client(&registry)?;
        let mut results = client.search(term, limit)?;
        results.retain(|r| wanted.allows(r));
        Ok(results)
    }
}

/// `search`'s filters, parsed (the last value of a key counts, as in Docker).
#[derive(Debug, Default, PartialEq)]
struct SearchFilters {
    min_stars: u64,
    official: Option<bool>,
    automated: Option<bool>,
}

impl SearchFilters {
    fn parse(filters: &Filters) -> Result<SearchFilters> {
        filters.accept_only(&["stars", "is-official", "is-automated"])?;
        let invalid = |key: &str, value: &str| Error::InvalidArgument(format!("invalid filter '{key}={value}'"));
        let flag = |key: &str| -> Result<Option<bool>> {
            filters
                .get(key)
                .last()
                .map(|v| v.parse().map_err(|_| invalid(key, v)))
                .transpose()
        };
        let min_stars = match filters.get("stars").last() {
            Some(n) => n.parse().map_err(|_| invalid("stars", n))?,
            None => 0,
        };
        Ok(SearchFilters {
            min_stars,
            official: flag("is-official")?,
            automated: flag("is-automated")?,
        })
    }

    fn allows(&self, result: &SearchResult) -> bool {
        result.star_count >= self.min_stars
            && self.official.is_none_or(|o| o == result.is_official)
            && self.automated.is_none_or(|a| a == result.is_automated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_filters_parse_and_match() {
        let f = Filters::from_args(&["stars=3", "is-official=true"]).unwrap();
        let wanted = SearchFilters::parse(&f).unwrap();
        let result = |stars, official| SearchResult {
            name: "x".into(),
            description: String::new(),
            star_count: stars,
            is_official: official,
            is_automated: false,
        };
        assert!(wanted.allows(&result(3, true)));
        assert!(!wanted.allows(&result(2, true)));
        assert!(!wanted.allows(&result(5, false)));
        let bad = Filters::from_args(&["stars=many"]).unwrap();
        assert_eq!(
            SearchFilters::parse(&bad).unwrap_err().to_string(),
            "invalid filter 'stars=many'"
        );
        let unknown = Filters::from_args(&["color=red"]).unwrap();
        assert_eq!(
            SearchFilters::parse(&unknown).unwrap_err().to_string(),
            "invalid filter 'color'"
        );
    }

    #[test]
    fn statuses_read_as_dockers_lines() {
        let pulling = Status::PullingFrom {
            tag: "latest".into(),
            repository: "library/busybox".into(),
        };
        assert_eq!(pulling.to_string(), "latest: Pulling from library/busybox");
        assert_eq!(pulling.id(), Some("latest"));
        let done = Status::Pulled {
            reference: "busybox:latest".into(),
            downloaded: false,
        };
        assert_eq!(done.to_string(), "Status: Image is up to date for busybox:latest");
        assert_eq!(LayerState::Mounted { from: "a/b".into() }.status(), "Mounted from a/b");
        assert_eq!(LayerState::Pushing { done: 1, total: 2 }.progress(), Some((1, 2)));
        assert_eq!(LayerState::Pushed.bar(), None);
    }

    #[test]
    fn bars_look_like_dockers() {
        assert_eq!(
            progress_bar(1_200_000, 3_400_000),
            format!("[{}>{}]  1.2MB/3.4MB", "=".repeat(17), " ".repeat(32))
        );
        assert!(progress_bar(10, 10).starts_with(&format!("[{}]", "=".repeat(50))));
        assert_eq!(progress_bar(512, 0), "512B");
    }

    #[test]
    fn login_servers_name_their_host() {
        assert_eq!(registry_host(None), "docker.io");
        assert_eq!(registry_host(Some("https://index.docker.io/v1/")), "docker.io");
        assert_eq!(registry_host(Some("localhost:5000")), "localhost:5000");
        assert_eq!(registry_host(Some("http://127.0.0.1:5000/")), "127.0.0.1:5000");
        assert_eq!(registry_host(Some("registry.example.com")), "registry.example.com");
    }
}
