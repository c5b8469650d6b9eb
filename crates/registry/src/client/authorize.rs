//! Authentication: the registry's credentials, basic auth, and bearer tokens from the
//! token server, cached per scope; `check_login` for `berth login`.

use base64::Engine as _;
use tracing::debug;

use super::http::{header, read_limited, redact};
use super::retry::transient_transport;
use super::send::Req;
use super::{lock, Client};
use crate::auth::{self, Challenge, TokenResponse};
use crate::credentials::Credentials;
use crate::error::{parse_remote, Error, Result};

/// What a successful [`Client::check_login`] learned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginInfo {
    /// A refresh token the token server issued (store it as `identitytoken` instead of
    /// the password, as Docker does).
    pub identity_token: Option<String>,
}

impl Client {
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

    pub(super) fn login_hint(&self, creds: &Option<Credentials>) -> String {
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

    /// The Authorization header for `scopes` under the current challenge, fetching a
    /// token when none is cached.
    pub(super) fn authorization(&self, scopes: &[String], repo: Option<&str>) -> Result<Option<String>> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::ClientOptions;

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
}
