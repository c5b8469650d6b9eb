//! What went wrong, as an [`Error`] with context: failed responses (status, the
//! registry's error body, what the request was about), transport and body errors.

use super::http::{read_limited, redact, url_path};
use super::Client;
use crate::error::{parse_remote, Error, Remote};

/// What a failed response is about, for error messages.
pub(crate) struct Ctx<'a> {
    pub repo: Option<&'a str>,
    /// "manifest", "blob", "upload", "repository"
    pub what: &'static str,
    pub reference: &'a str,
    /// "pull" or "push", for access-denied hints.
    pub action: &'static str,
}

impl Client {
    pub(super) fn unauthorized(&self, repo: Option<&str>, remote: Remote, hint: String) -> Error {
        Error::Unauthorized {
            registry: self.registry.clone(),
            repo: repo.map(String::from),
            remote,
            hint,
        }
    }

    pub(crate) fn protocol(&self, what: &str, reason: &str) -> Error {
        Error::Protocol {
            registry: self.registry.clone(),
            what: what.into(),
            reason: reason.into(),
        }
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
