//! One request on the wire: a body that can be sent again, redirects (without the
//! Authorization header off the registry), authentication and retries.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use tracing::{debug, warn};

use super::http::{header, read_limited, redact, url_path};
use super::retry::transient_transport;
use super::{lock, Client};
use crate::auth::{self, Challenge};
use crate::error::{parse_remote, Error, Result};

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

/// A transport failure, or a local one while preparing the body.
pub(crate) enum CallError {
    Transport(Box<ureq::Transport>),
    Local(Error),
}

impl Client {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_tell_registry_from_elsewhere() {
        let reg = origin("https://reg.example/v2/a/blobs/sha256:00");
        assert!(reg.is_some());
        // The default port is the same origin, written or not.
        assert_eq!(reg, origin("https://reg.example:443/v2/a/blobs/uploads/1"));
        assert_ne!(reg, origin("http://reg.example/v2/"));
        assert_ne!(reg, origin("https://reg.example:5000/v2/"));
        assert_ne!(reg, origin("https://storage.example/blob?sig=1"));
        assert_eq!(origin("not a url"), None);
    }
}
