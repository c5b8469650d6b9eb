//! Where requests go: the first ping picks the scheme and learns the auth challenge;
//! URLs under the registry's base.

use tracing::debug;

use super::http::header;
use super::retry::transient_transport;
use super::{lock, Client};
use crate::auth::{self, Challenge};
use crate::error::{Error, Result};

impl Client {
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

    pub(crate) fn url(&self, path: &str) -> Result<String> {
        Ok(format!("{}{}", self.base_url()?, path))
    }

    /// Resolves an upload `Location` (often relative) against the registry.
    pub(crate) fn absolute(&self, location: &str) -> Result<url::Url> {
        let base = url::Url::parse(&self.base_url()?).map_err(|e| self.protocol("the base URL", &e.to_string()))?;
        base.join(location)
            .map_err(|e| self.protocol("an upload", &format!("bad Location {location:?}: {e}")))
    }
}
