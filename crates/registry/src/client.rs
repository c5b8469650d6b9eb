//! The client: one per registry, shared by threads. Requests go through [`Client::send`],
//! which adds authentication (anonymous, basic or bearer tokens cached per scope),
//! follows redirects and retries transient failures with backoff.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use base64::Engine as _;
use berth_store::Digest;
use tracing::{debug, warn};

use crate::auth::{self, Challenge, TokenCache, TokenResponse};
use crate::credentials::Credentials;
use crate::error::{parse_remote, Error, Remote, Result};
use crate::media::{manifest_kind, sniff_manifest_type};
use crate::options::ClientOptions;
use crate::transport;

/// The host Docker sends Docker Hub requests to.
pub const DOCKER_HUB_REGISTRY_HOST: &str = "registry-1.docker.io";
/// Docker Hub's v1 search API lives on the index host.
const DOCKER_HUB_INDEX_HOST: &str = "index.docker.io";

/// A request body that can be sent again on a retry.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    File { path: &'a Path, offset: u64, len: u64 },
}

pub(crate) struct Req<'a> {
    pub method: &'static str,
    /// Absolute URL.
    pub url: String,
    pub scopes: Vec<String>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
    /// Retry 5xx/429/network failures (off for requests that move upload state).
    pub retry: bool,
    /// Told `base + bytes of the body sent so far` while the body goes out.
    pub progress: Option<(&'a dyn Fn(u64), u64)>,
}

impl<'a> Req<'a> {
    pub fn new(method: &'static str, url: String, scopes: Vec<String>) -> Self {
        Req {
            method,
            url,
            scopes,
            headers: Vec::new(),
            body: Body::Empty,
            retry: true,
            progress: None,
        }
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn body(mut self, body: Body<'a>) -> Self {
        self.body = body;
        self
    }
    pub fn no_retry(mut self) -> Self {
        self.retry = false;
        self
    }
    pub fn progress(mut self, report: Option<&'a dyn Fn(u64)>, base: u64) -> Self {
        self.progress = report.map(|r| (r, base));
        self
    }
}

/// A body reader that reports how much of it was sent.
struct Counting<'a, R> {
    inner: R,
    done: u64,
    report: Option<(&'a dyn Fn(u64), u64)>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if let Some((report, base)) = self.report {
            report(base + self.done);
        }
        Ok(n)
    }
}

/// What a failed response is about, for error messages.
pub(crate) struct Ctx<'a> {
    pub repo: Option<&'a str>,
    /// "manifest", "blob", "upload", "repository"
    pub what: &'static str,
    pub reference: &'a str,
    /// "pull" or "push", for access-denied hints.
    pub action: &'static str,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: TokenCache,
    /// The refresh token a token server handed out at login (Docker's identity token).
    refresh_token: Option<String>,
}

/// A manifest as fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// The digest of `bytes`, checked against the requested digest and the registry's
    /// `Docker-Content-Digest`.
    pub digest: Digest,
}

/// What a HEAD on a manifest tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestInfo {
    pub digest: Option<Digest>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
}

/// What a successful [`Client::check_login`] learned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginInfo {
    /// A refresh token the token server issued (store it as `identitytoken` instead of
    /// the password, as Docker does).
    pub identity_token: Option<String>,
}

/// One result of [`Client::search`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct SearchResult {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: u64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
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

/// Repository names as distribution accepts them: lowercase path components.
pub(crate) fn check_repo(repo: &str) -> Result<()> {
    let ok = !repo.is_empty()
        && repo.len() <= 255
        && repo.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: "repository name",
            value: repo.into(),
            reason: "expected lowercase path components like library/busybox".into(),
        })
    }
}

/// A tag, or a digest when it contains ':'.
pub(crate) fn check_reference(reference: &str) -> Result<Option<Digest>> {
    if reference.contains(':') {
        return reference
            .parse::<Digest>()
            .map(Some)
            .map_err(|_| Error::InvalidArgument {
                what: "digest",
                value: reference.into(),
                reason: "expected sha256: followed by 64 lowercase hex characters (berth verifies sha256 only)".into(),
            });
    }
    let ok = !reference.is_empty()
        && reference.len() <= 128
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && reference
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(None)
    } else {
        Err(Error::InvalidArgument {
            what: "tag",
            value: reference.into(),
            reason: "tags are up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'".into(),
        })
    }
}

/// The value of a response header, trimmed; `None` when absent or empty.
pub(crate) fn header(resp: &ureq::Response, name: &str) -> Option<String> {
    resp.header(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// The URL without its query (signed storage URLs carry credentials there).
fn redact(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

fn url_path(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.path().to_string(),
        Err(_) => redact(url),
    }
}

/// Reads at most `limit` bytes of a body; `None` when it is longer.
pub(crate) fn read_limited(resp: ureq::Response, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    resp.into_reader().take(limit + 1).read_to_end(&mut out)?;
    Ok(if out.len() as u64 > limit { None } else { Some(out) })
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(link: &str) -> Option<String> {
    for part in link.split(',') {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        if params
            .split(';')
            .any(|p| matches!(p.trim().replace(' ', "").as_str(), "rel=\"next\"" | "rel=next"))
        {
            return Some(target.to_string());
        }
    }
    None
}

/// A transport failure, or a local one while preparing the body.
pub(crate) enum CallError {
    Transport(Box<ureq::Transport>),
    Local(Error),
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

    /// The scheme and host requests go to (`https://registry-1.docker.io`), pinging the
    /// registry the first time to choose HTTPS or (insecure registries) HTTP and to learn
    /// how it authenticates.
    pub fn base_url(&self) -> Result<String> {
        let mut base = lock(&self.base);
        if let Some(b) = base.as_ref() {
            return Ok(b.clone());
        }
        let (b, challenge) = self.discover()?;
        if challenge.is_some() {
            lock(&self.auth).challenge = challenge;
        }
        *base = Some(b.clone());
        Ok(b)
    }

    /// GET /v2/ over HTTPS, then, for insecure registries, over HTTP (as Docker does).
    fn discover(&self) -> Result<(String, Option<Challenge>)> {
        let https = format!("https://{}", self.host);
        if self.insecure {
            match self.ping_at(&https, false) {
                Ok(challenge) => return Ok((https, challenge)),
                Err(e @ (Error::Transport { .. } | Error::Stalled { .. })) => {
                    debug!(registry = %self.registry, error = %e, "HTTPS failed, trying plain HTTP");
                    let http = format!("http://{}", self.host);
                    return self.ping_at(&http, true).map(|c| (http, c)).map_err(|e2| match e2 {
                        Error::Transport { registry, url, reason } => Error::Transport {
                            registry,
                            url,
                            reason: format!("{reason} (and over HTTPS: {e})"),
                        },
                        other => other,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        self.ping_at(&https, true).map(|c| (https, c))
    }

    fn ping_at(&self, base: &str, retry: bool) -> Result<Option<Challenge>> {
        let url = format!("{base}/v2/");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let can_retry = retry && attempt < self.opts.retry.max_attempts;
            let result = self.registry_agent.get(&url).set("Accept-Encoding", "identity").call();
            let resp = match result {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => {
                    if can_retry && transient_transport(&t) {
                        self.sleep_backoff(attempt, None);
                        continue;
                    }
                    return Err(self.transport_error(&url, &t));
                }
            };
            let status = resp.status();
            if (status == 429 || status >= 500) && can_retry {
                self.sleep_backoff(attempt, header(&resp, "retry-after"));
                continue;
            }
            return match status {
                200..=299 => Ok(None),
                401 => Ok(resp
                    .all("www-authenticate")
                    .iter()
                    .flat_map(|h| auth::parse_challenges(h))
                    .find(|c| matches!(c, Challenge::Bearer { .. }))
                    .or_else(|| {
                        resp.all("www-authenticate")
                            .iter()
                            .flat_map(|h| auth::parse_challenges(h))
                            .next()
                    })),
                404 => Err(Error::NotSupported {
                    registry: self.registry.clone(),
                    what: "the registry API v2 (GET /v2/ answered 404): check the registry address",
                }),
                _ => Err(self.status_error("GET", &url, resp)),
            };
        }
    }

    /// Checks that the registry is reachable and speaks the v2 API.
    pub fn ping(&self) -> Result<()> {
        self.base_url().map(|_| ())
    }

    /// Checks the client's credentials against the registry (GET /v2/ with them; for
    /// token auth, a token request without scope, as `docker login` does).
    pub fn check_login(&self) -> Result<LoginInfo> {
        let base = self.base_url()?;
        let req = Req::new("GET", format!("{base}/v2/"), Vec::new());
        let resp = self.send(&req, None)?;
        match resp.status() {
            200..=299 => Ok(LoginInfo {
                identity_token: lock(&self.auth).refresh_token.clone(),
            }),
            _ => Err(self.status_error("GET", &req.url, resp)),
        }
    }

    /// The credentials for this registry, asked from the provider once.
    pub(crate) fn credentials(&self) -> Result<Option<Credentials>> {
        let mut cache = lock(&self.creds);
        if let Some(c) = cache.as_ref() {
            return Ok(c.clone());
        }
        let creds = match &self.opts.credentials {
            Some(p) => p.get(&self.registry)?,
            None => None,
        };
        *cache = Some(creds.clone());
        Ok(creds)
    }

    fn login_hint(&self, creds: &Option<Credentials>) -> String {
        match creds {
            Some(c) if !c.username.is_empty() => format!(
                "incorrect username or password for {}: log in again with `berth login {}`",
                c.username, self.registry
            ),
            Some(_) => format!(
                "the stored identity token was refused: log in again with `berth login {}`",
                self.registry
            ),
            None => format!("authentication required: log in with `berth login {}`", self.registry),
        }
    }

    fn unauthorized(&self, repo: Option<&str>, remote: Remote, hint: String) -> Error {
        Error::Unauthorized {
            registry: self.registry.clone(),
            repo: repo.map(String::from),
            remote,
            hint,
        }
    }

    /// The Authorization header for `scopes` under the current challenge, fetching a
    /// token when none is cached.
    fn authorization(&self, scopes: &[String], repo: Option<&str>) -> Result<Option<String>> {
        let mut state = lock(&self.auth);
        match state.challenge.clone() {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials()?.filter(|c| !c.username.is_empty()).map(|c| {
                let raw = format!("{}:{}", c.username, c.password);
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
            })),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = auth::scope_key(scopes);
                if let Some(t) = state.tokens.get(&key) {
                    return Ok(Some(format!("Bearer {}", t.value)));
                }
                // Holding the lock while fetching: threads wanting the same token wait for
                // this one instead of all asking the token server.
                let (token, refresh) = self.fetch_token(&realm, service.as_deref(), scopes, repo)?;
                let value = format!("Bearer {}", token.value);
                state.tokens.insert(key, token);
                if refresh.is_some() {
                    state.refresh_token = refresh;
                }
                Ok(Some(value))
            }
        }
    }

    /// Asks the token server for a bearer token (GET with basic credentials, or the
    /// OAuth2 refresh-token POST when there is an identity token).
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        repo: Option<&str>,
    ) -> Result<(auth::Token, Option<String>)> {
        let creds = self.credentials()?;
        let url = url::Url::parse(realm).map_err(|e| Error::Protocol {
            registry: self.registry.clone(),
            what: "the authentication challenge".into(),
            reason: format!("realm {realm:?} is not a URL: {e}"),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Protocol {
                registry: self.registry.clone(),
                what: "the authentication challenge".into(),
                reason: format!("realm {realm:?} is not an HTTP URL"),
            });
        }
        if url.scheme() == "http" && !self.insecure && creds.is_some() {
            return Err(self.protocol(
                "the authentication challenge",
                &format!(
                    "the token server {} is plain HTTP; berth will not send credentials there unless {} is an insecure registry",
                    redact(realm),
                    self.registry
                ),
            ));
        }
        let identity = creds.as_ref().and_then(|c| c.identity_token.clone());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = if let Some(refresh) = &identity {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("client_id", "berth"),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                let joined = scopes.join(" ");
                if !scopes.is_empty() {
                    form.push(("scope", &joined));
                }
                self.registry_agent
                    .post(url.as_str())
                    .set("Accept-Encoding", "identity")
                    .send_form(&form)
            } else {
                let mut u = url.clone();
                {
                    let mut q = u.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for s in scopes {
                        q.append_pair("scope", s);
                    }
                    if scopes.is_empty() {
                        // Login: ask for a refresh token to store instead of the password.
                        q.append_pair("offline_token", "true");
                        q.append_pair("client_id", "berth");
                    }
                }
                let mut r = self.registry_agent.get(u.as_str()).set("Accept-Encoding", "identity");
                if let Some(c) = creds.as_ref().filter(|c| !c.username.is_empty()) {
                    let raw = format!("{}:{}", c.username, c.password);
                    r = r.set(
                        "Authorization",
                        &format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)),
                    );
                }
                r.call()
            };
            let can_retry = attempt < self.opts.retry.max_attempts;
            let resp = match result {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => {
                    if can_retry && transient_transport(&t) {
                        self.sleep_backoff(attempt, None);
                        continue;
                    }
                    return Err(self.transport_error(url.as_str(), &t));
                }
            };
            let status = resp.status();
            if (status == 429 || status >= 500) && can_retry {
                self.sleep_backoff(attempt, header(&resp, "retry-after"));
                continue;
            }
            if status == 401 || status == 403 {
                let body = read_limited(resp, 64 << 10).ok().flatten().unwrap_or_default();
                return Err(self.unauthorized(repo, parse_remote(&body), self.login_hint(&creds)));
            }
            if !(200..300).contains(&status) {
                return Err(self.status_error(if identity.is_some() { "POST" } else { "GET" }, url.as_str(), resp));
            }
            let body = read_limited(resp, 1 << 20)
                .map_err(|e| self.body_error(url.as_str(), e))?
                .ok_or_else(|| self.protocol("the token request", "token response larger than 1 MiB"))?;
            let parsed: TokenResponse = serde_json::from_slice(&body)
                .map_err(|e| self.protocol("the token request", &format!("not a token response: {e}")))?;
            debug!(registry = %self.registry, scopes = ?scopes, "got a bearer token");
            return parsed
                .into_token()
                .ok_or_else(|| self.protocol("the token request", "no token in the token response"));
        }
    }

    pub(crate) fn protocol(&self, what: &str, reason: &str) -> Error {
        Error::Protocol {
            registry: self.registry.clone(),
            what: what.into(),
            reason: reason.into(),
        }
    }

    fn sleep_backoff(&self, attempt: u32, retry_after: Option<String>) {
        let mut wait = self.opts.retry.backoff(attempt);
        if let Some(secs) = retry_after.and_then(|s| s.parse::<u64>().ok()) {
            // Honour the registry's wish, within our own bound.
            wait = wait
                .max(std::time::Duration::from_secs(secs))
                .min(self.opts.retry.max_backoff.max(self.opts.retry.initial_backoff));
        }
        std::thread::sleep(wait);
    }

    pub(crate) fn transport_error(&self, url: &str, t: &ureq::Transport) -> Error {
        if is_timeout(t) {
            return Error::Stalled {
                registry: self.registry.clone(),
                url: redact(url),
                secs: self.opts.stall_timeout.as_secs().max(1),
            };
        }
        let mut reason = t.kind().to_string();
        if let Some(m) = t.message() {
            reason = format!("{reason}: {m}");
        }
        if let Some(src) = std::error::Error::source(t) {
            reason = format!("{reason}: {src}");
        }
        Error::Transport {
            registry: self.registry.clone(),
            url: redact(url),
            reason,
        }
    }

    /// An error while reading a response body.
    pub(crate) fn body_error(&self, url: &str, e: std::io::Error) -> Error {
        if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) {
            Error::Stalled {
                registry: self.registry.clone(),
                url: redact(url),
                secs: self.opts.stall_timeout.as_secs().max(1),
            }
        } else {
            Error::Transport {
                registry: self.registry.clone(),
                url: redact(url),
                reason: format!("reading the response: {e}"),
            }
        }
    }

    /// An error for a response with an error status.
    pub(crate) fn status_error(&self, method: &'static str, url: &str, resp: ureq::Response) -> Error {
        let status = resp.status();
        let body = read_limited(resp, 64 << 10).ok().flatten().unwrap_or_default();
        Error::Status {
            registry: self.registry.clone(),
            method,
            path: url_path(url),
            status,
            remote: parse_remote(&body),
        }
    }

    /// An error for a failed response, with what it was about.
    pub(crate) fn fail(&self, method: &'static str, url: &str, resp: ureq::Response, ctx: Ctx<'_>) -> Error {
        let status = resp.status();
        if !matches!(status, 401 | 403 | 404) {
            return self.status_error(method, url, resp);
        }
        let body = read_limited(resp, 64 << 10).ok().flatten().unwrap_or_default();
        let remote = parse_remote(&body);
        match (status, ctx.repo) {
            (404, Some(repo)) => {
                let (what, reference) = if remote.code() == Some("NAME_UNKNOWN") {
                    ("repository", repo)
                } else {
                    (ctx.what, ctx.reference)
                };
                Error::NotFound {
                    registry: self.registry.clone(),
                    repo: repo.into(),
                    what,
                    reference: reference.into(),
                    remote,
                }
            }
            (403, _) => Error::Denied {
                registry: self.registry.clone(),
                repo: ctx.repo.map(String::from),
                action: ctx.action,
                remote,
            },
            (401, _) => self.unauthorized(
                ctx.repo,
                remote,
                format!(
                    "the repository does not exist or needs other credentials: check its name, or log in with `berth login {}`",
                    self.registry
                ),
            ),
            _ => Error::Status {
                registry: self.registry.clone(),
                method,
                path: url_path(url),
                status,
                remote,
            },
        }
    }

    /// One request, following redirects for GET and HEAD. The Authorization header goes
    /// where the registry sent us (its own URLs, upload locations), never to another host
    /// it redirects to (blob storage with signed URLs), as Go's HTTP client behaves.
    fn call_once(&self, req: &Req<'_>, authz: Option<&str>) -> Result<ureq::Response, CallError> {
        let mut url = req.url.clone();
        let start = origin(&req.url);
        let mut redirects = 0;
        loop {
            let on_registry = redirects == 0 || origin(&url) == start;
            let agent = if on_registry {
                &self.registry_agent
            } else {
                &self.other_agent
            };
            let mut r = agent.request(req.method, &url).set("Accept-Encoding", "identity");
            for (k, v) in &req.headers {
                r = r.set(k, v);
            }
            if let (true, Some(a)) = (on_registry, authz) {
                r = r.set("Authorization", a);
            }
            let result = match &req.body {
                Body::Empty => r.call(),
                Body::Bytes(b) if req.progress.is_none() => r.send_bytes(b),
                Body::Bytes(b) => r.set("Content-Length", &b.len().to_string()).send(Counting {
                    inner: *b,
                    done: 0,
                    report: req.progress,
                }),
                Body::File { path, offset, len } => {
                    let mut f = std::fs::File::open(path).map_err(|source| {
                        CallError::Local(Error::Io {
                            path: path.to_path_buf(),
                            source,
                        })
                    })?;
                    f.seek(SeekFrom::Start(*offset)).map_err(|source| {
                        CallError::Local(Error::Io {
                            path: path.to_path_buf(),
                            source,
                        })
                    })?;
                    r.set("Content-Length", &len.to_string()).send(Counting {
                        inner: f.take(*len),
                        done: 0,
                        report: req.progress,
                    })
                }
            };
            let resp = match result {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => return Err(CallError::Transport(Box::new(t))),
            };
            let status = resp.status();
            if matches!(req.method, "GET" | "HEAD") && matches!(status, 301 | 302 | 303 | 307 | 308) {
                if let Some(loc) = header(&resp, "location") {
                    redirects += 1;
                    if redirects > 10 {
                        return Err(CallError::Local(self.protocol(
                            &format!("{} {}", req.method, url_path(&req.url)),
                            "more than 10 redirects",
                        )));
                    }
                    let next = url::Url::parse(&url).and_then(|u| u.join(&loc)).map_err(|e| {
                        CallError::Local(self.protocol(
                            &format!("{} {}", req.method, url_path(&req.url)),
                            &format!("bad redirect location: {e}"),
                        ))
                    })?;
                    debug!(from = %redact(&url), to = %redact(next.as_str()), "following redirect");
                    url = next.to_string();
                    continue;
                }
            }
            return Ok(resp);
        }
    }

    /// Sends a request with authentication and retries. Returns the response whatever
    /// its status, except 401 after a fresh token or credentials, which is an error.
    pub(crate) fn send(&self, req: &Req<'_>, repo: Option<&str>) -> Result<ureq::Response> {
        // Learn the scheme and the auth challenge first.
        self.base_url()?;
        let mut scopes = req.scopes.clone();
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            attempt += 1;
            let can_retry = req.retry && attempt < self.opts.retry.max_attempts;
            let authz = self.authorization(&scopes, repo)?;
            let resp = match self.call_once(req, authz.as_deref()) {
                Ok(r) => r,
                Err(CallError::Local(e)) => return Err(e),
                Err(CallError::Transport(t)) => {
                    if can_retry && transient_transport(&t) {
                        warn!(registry = %self.registry, url = %redact(&req.url), error = %t, attempt, "retrying");
                        self.sleep_backoff(attempt, None);
                        continue;
                    }
                    return Err(self.transport_error(&req.url, &t));
                }
            };
            let status = resp.status();
            if status == 401 {
                let challenges: Vec<Challenge> = resp
                    .all("www-authenticate")
                    .iter()
                    .flat_map(|h| auth::parse_challenges(h))
                    .collect();
                let body = read_limited(resp, 64 << 10).ok().flatten().unwrap_or_default();
                let remote = parse_remote(&body);
                let creds = self.credentials()?;
                let challenge = challenges
                    .iter()
                    .find(|c| matches!(c, Challenge::Bearer { .. }))
                    .or(challenges.first())
                    .cloned();
                let Some(challenge) = challenge else {
                    return Err(self.unauthorized(repo, remote, self.login_hint(&creds)));
                };
                // Basic credentials that were sent and refused will not do better a second time.
                let basic_refused = challenge == Challenge::Basic && (creds.is_none() || authz.is_some());
                if reauthed || basic_refused {
                    let hint = if authz.is_some() && matches!(challenge, Challenge::Bearer { .. }) {
                        format!(
                            "the registry refused access: check that the repository exists and that you may access it, or log in with `berth login {}`",
                            self.registry
                        )
                    } else {
                        self.login_hint(&creds)
                    };
                    return Err(self.unauthorized(repo, remote, hint));
                }
                reauthed = true;
                let mut state = lock(&self.auth);
                // A cached token that is refused is stale (revoked, or the clock lied).
                state.tokens.remove(&auth::scope_key(&scopes));
                if let Challenge::Bearer { scope: Some(s), .. } = &challenge {
                    // The registry may need a scope we did not think of (a mount source).
                    for s in s.split(' ') {
                        if !scopes.iter().any(|x| x == s) {
                            scopes.push(s.to_string());
                        }
                    }
                }
                state.challenge = Some(challenge);
                attempt -= 1;
                continue;
            }
            if (status == 429 || matches!(status, 500 | 502 | 503 | 504)) && can_retry {
                warn!(registry = %self.registry, url = %redact(&req.url), status, attempt, "retrying");
                self.sleep_backoff(attempt, header(&resp, "retry-after"));
                continue;
            }
            return Ok(resp);
        }
    }

    pub(crate) fn url(&self, path: &str) -> Result<String> {
        Ok(format!("{}{}", self.base_url()?, path))
    }

    /// Resolves an upload `Location` (often relative) against the registry.
    pub(crate) fn absolute(&self, location: &str) -> Result<url::Url> {
        let base = url::Url::parse(&self.base_url()?).map_err(|e| self.protocol("the base URL", &e.to_string()))?;
        base.join(location)
            .map_err(|e| self.protocol("an upload", &format!("bad Location {location:?}: {e}")))
    }

    /// Fetches a manifest or index. `accept` lists the media types wanted (see
    /// [`crate::MANIFEST_ACCEPT`]); the result is checked against the digest when
    /// `reference` is one, and against the registry's `Docker-Content-Digest`.
    pub fn get_manifest(&self, repo: &str, reference: &str, accept: &[&str]) -> Result<FetchedManifest> {
        check_repo(repo)?;
        let wanted = check_reference(reference)?;
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let req = Req::new("GET", url, vec![auth::pull_scope(repo)]).header("Accept", accept.join(", "));
        let resp = self.send(&req, Some(repo))?;
        let ctx = Ctx {
            repo: Some(repo),
            what: "manifest",
            reference,
            action: "pull",
        };
        if resp.status() != 200 {
            return Err(self.fail("GET", &req.url, resp, ctx));
        }
        let content_type = header(&resp, "content-type");
        let header_digest = header(&resp, "docker-content-digest");
        let bytes = read_limited(resp, self.opts.max_manifest_size)
            .map_err(|e| self.body_error(&req.url, e))?
            .ok_or_else(|| {
                self.protocol(
                    &format!("GET manifest {repo}:{reference}"),
                    &format!("manifest larger than {} bytes", self.opts.max_manifest_size),
                )
            })?;
        let declared = content_type
            .as_deref()
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
            .filter(|c| {
                !matches!(
                    c.as_str(),
                    "application/json" | "text/plain" | "application/octet-stream"
                )
            });
        let media_type = declared
            .or_else(|| sniff_manifest_type(&bytes))
            .unwrap_or_else(|| content_type.clone().unwrap_or_default());
        if manifest_kind(&media_type).is_none() && !accept.contains(&media_type.as_str()) {
            return Err(Error::UnsupportedMediaType {
                registry: self.registry.clone(),
                repo: repo.into(),
                reference: reference.into(),
                media_type,
            });
        }
        let digest = Digest::of(&bytes);
        let mismatch = |expected: Digest| Error::DigestMismatch {
            registry: self.registry.clone(),
            repo: repo.into(),
            expected,
            actual: digest.clone(),
        };
        if let Some(w) = wanted {
            if w != digest {
                return Err(mismatch(w));
            }
        }
        if let Some(h) = header_digest.and_then(|h| h.parse::<Digest>().ok()) {
            if h != digest {
                return Err(mismatch(h));
            }
        }
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// HEAD on a manifest: `None` when the registry does not have it.
    pub fn head_manifest(&self, repo: &str, reference: &str, accept: &[&str]) -> Result<Option<ManifestInfo>> {
        check_repo(repo)?;
        check_reference(reference)?;
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let req = Req::new("HEAD", url, vec![auth::pull_scope(repo)]).header("Accept", accept.join(", "));
        let resp = self.send(&req, Some(repo))?;
        match resp.status() {
            200 => Ok(Some(ManifestInfo {
                digest: header(&resp, "docker-content-digest").and_then(|d| d.parse().ok()),
                media_type: header(&resp, "content-type").map(|c| c.split(';').next().unwrap_or(&c).trim().to_string()),
                size: header(&resp, "content-length").and_then(|l| l.parse().ok()),
            })),
            404 => Ok(None),
            _ => Err(self.fail(
                "HEAD",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "manifest",
                    reference,
                    action: "pull",
                },
            )),
        }
    }

    /// Uploads a manifest under a tag or digest; returns its digest.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        check_repo(repo)?;
        let wanted = check_reference(reference)?;
        let digest = Digest::of(bytes);
        if let Some(w) = wanted {
            if w != digest {
                return Err(Error::InvalidArgument {
                    what: "manifest digest",
                    value: w.to_string(),
                    reason: format!("the manifest's content has digest {digest}"),
                });
            }
        }
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let req = Req::new("PUT", url, vec![auth::push_scope(repo)])
            .header("Content-Type", media_type)
            .body(Body::Bytes(bytes));
        let resp = self.send(&req, Some(repo))?;
        if !(200..300).contains(&resp.status()) {
            return Err(self.fail(
                "PUT",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "manifest",
                    reference,
                    action: "push",
                },
            ));
        }
        if let Some(h) = header(&resp, "docker-content-digest").and_then(|h| h.parse::<Digest>().ok()) {
            if h != digest {
                return Err(Error::DigestMismatch {
                    registry: self.registry.clone(),
                    repo: repo.into(),
                    expected: digest,
                    actual: h,
                });
            }
        }
        Ok(digest)
    }

    /// Deletes a manifest by digest (registries must have deletion enabled).
    pub fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<()> {
        check_repo(repo)?;
        let url = self.url(&format!("/v2/{repo}/manifests/{digest}"))?;
        let req = Req::new("DELETE", url, vec![format!("repository:{repo}:delete")]);
        let resp = self.send(&req, Some(repo))?;
        match resp.status() {
            200..=299 => Ok(()),
            _ => Err(self.fail(
                "DELETE",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "manifest",
                    reference: &digest.to_string(),
                    action: "delete",
                },
            )),
        }
    }

    /// Lists a paginated `/v2/...` collection, following `Link` headers; when a full page
    /// comes without one, asks again with `last` (registries that only do `n`+`last`).
    fn list_paged(
        &self,
        path: &str,
        field: &str,
        page_size: Option<usize>,
        scopes: Vec<String>,
        repo: Option<&str>,
    ) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let mut out: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let first = match page_size {
            Some(n) => format!("{path}?n={n}"),
            None => path.to_string(),
        };
        let mut next = Some(self.url(&first)?);
        while let Some(url) = next.take() {
            let req = Req::new("GET", url, scopes.clone());
            let resp = self.send(&req, repo)?;
            if resp.status() != 200 {
                if resp.status() == 404 && repo.is_none() {
                    return Err(Error::NotSupported {
                        registry: self.registry.clone(),
                        what: "listing repositories (the catalog API)",
                    });
                }
                return Err(self.fail(
                    "GET",
                    &req.url,
                    resp,
                    Ctx {
                        repo,
                        what: "repository",
                        reference: repo.unwrap_or(""),
                        action: "pull",
                    },
                ));
            }
            let link = header(&resp, "link");
            let body = read_limited(resp, 64 << 20)
                .map_err(|e| self.body_error(&req.url, e))?
                .ok_or_else(|| self.protocol(&format!("GET {path}"), "list larger than 64 MiB"))?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| self.protocol(&format!("GET {path}"), &format!("invalid JSON: {e}")))?;
            let items = if field == "tags" { page.tags } else { page.repositories }.unwrap_or_default();
            let count = items.len();
            let mut new = 0;
            for i in items {
                if seen.insert(i.clone()) {
                    out.push(i);
                    new += 1;
                }
            }
            if new == 0 {
                break;
            }
            next = match link.as_deref().and_then(next_link) {
                Some(l) => Some(self.absolute(&l)?.to_string()),
                None => match (page_size, out.last()) {
                    (Some(n), Some(last)) if count >= n => {
                        let mut u = self.absolute(path)?;
                        u.query_pairs_mut()
                            .append_pair("n", &n.to_string())
                            .append_pair("last", last);
                        Some(u.to_string())
                    }
                    _ => None,
                },
            };
        }
        Ok(out)
    }

    /// All tags of a repository.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        self.list_tags(repo, None)
    }

    /// All tags of a repository, asked for `page_size` at a time.
    pub fn list_tags(&self, repo: &str, page_size: Option<usize>) -> Result<Vec<String>> {
        check_repo(repo)?;
        self.list_paged(
            &format!("/v2/{repo}/tags/list"),
            "tags",
            page_size,
            vec![auth::pull_scope(repo)],
            Some(repo),
        )
    }

    /// All repositories (registries may refuse or not offer this).
    pub fn catalog(&self, page_size: Option<usize>) -> Result<Vec<String>> {
        self.list_paged(
            "/v2/_catalog",
            "repositories",
            page_size,
            vec![auth::catalog_scope()],
            None,
        )
    }

    /// Searches the registry's v1 search API (Docker Hub and registries that offer it).
    pub fn search(&self, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
        #[derive(serde::Deserialize)]
        struct Reply {
            #[serde(default)]
            results: Vec<SearchResult>,
        }
        let mut url = if self.registry == "docker.io" {
            url::Url::parse(&format!("https://{DOCKER_HUB_INDEX_HOST}/v1/search"))
                .map_err(|e| self.protocol("search", &e.to_string()))?
        } else {
            self.absolute("/v1/search")?
        };
        url.query_pairs_mut()
            .append_pair("q", term)
            .append_pair("n", &limit.to_string());
        let req = Req::new("GET", url.to_string(), Vec::new());
        let resp = self.send(&req, None)?;
        match resp.status() {
            200 => {
                let body = read_limited(resp, 16 << 20)
                    .map_err(|e| self.body_error(&req.url, e))?
                    .ok_or_else(|| self.protocol("search", "reply larger than 16 MiB"))?;
                let reply: Reply = serde_json::from_slice(&body).map_err(|_| Error::NotSupported {
                    registry: self.registry.clone(),
                    what: "search (its /v1/search answer is not the search API's)",
                })?;
                let mut results = reply.results;
                results.truncate(limit);
                Ok(results)
            }
            404 | 405 | 501 => Err(Error::NotSupported {
                registry: self.registry.clone(),
                what: "search (no /v1/search API)",
            }),
            _ => Err(self.status_error("GET", &req.url, resp)),
        }
    }
}

/// Scheme, host and port of a URL, to tell whether a redirect leaves the origin.
fn origin(url: &str) -> Option<(String, String, Option<u16>)> {
    let u = url::Url::parse(url).ok()?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_string(),
        u.port_or_known_default(),
    ))
}

fn is_timeout(t: &ureq::Transport) -> bool {
    let mut src = std::error::Error::source(t);
    while let Some(e) = src {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) {
                return true;
            }
        }
        src = e.source();
    }
    false
}

/// Network failures worth another try: not DNS or URL mistakes, not TLS trust failures.
fn transient_transport(t: &ureq::Transport) -> bool {
    match t.kind() {
        ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Io => {
            let text = format!("{t} {:?}", std::error::Error::source(t));
            !crate::error::is_tls_trust_failure(&text) && !crate::error::is_definite_failure(&text)
        }
        _ => false,
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
    fn validates_names() {
        check_repo("library/busybox").unwrap();
        check_repo("a.b-c_d/e").unwrap();
        for bad in ["", "UPPER", "a//b", "/a", "a/", "a?b", "-a", "a/../b/?"] {
            assert!(check_repo(bad).is_err(), "{bad}");
        }
        assert_eq!(check_reference("latest").unwrap(), None);
        assert!(check_reference(&format!("sha256:{}", "a".repeat(64)))
            .unwrap()
            .is_some());
        for bad in ["", ".x", "-x", "a/b", "sha512:aa", &"x".repeat(129)] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_link_headers() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(next_link(r#"<a>; rel="prev", <b>; rel="next""#).as_deref(), Some("b"));
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn no_credentials_to_plain_http_token_servers() {
        let opts = ClientOptions {
            credentials: Some(std::sync::Arc::new(crate::StaticCredentials(Credentials::basic(
                "u", "p",
            )))),
            ..Default::default()
        };
        let c = Client::new("reg.example", opts).unwrap();
        let e = c.fetch_token("http://auth.example/token", None, &[], None).unwrap_err();
        assert!(e.to_string().contains("will not send credentials"), "{e}");
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
