//! Registry credentials as clients send them: the `X-Registry-Auth` header of pull, push and
//! `/distribution` (base64url of Docker's AuthConfig JSON), and `POST /auth`, which checks them with
//! the registry as `berth login` does, without storing anything (the client keeps them).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use berth_engine::registry::Credentials;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::params::JsonBody;
use crate::reply;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/auth", post(auth))
}

/// Docker's AuthConfig, as clients encode it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub username: String,
    pub password: String,
    /// `base64(username:password)`, as config.json keeps it; some clients send only this.
    pub auth: String,
    pub email: String,
    pub serveraddress: String,
    pub identitytoken: String,
    pub registrytoken: String,
}

impl AuthConfig {
    /// The credentials it carries; None when it carries none (`{}`, as clients send for anonymous pulls).
    pub fn credentials(&self) -> ApiResult<Option<Credentials>> {
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if username.is_empty() && password.is_empty() && !self.auth.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(self.auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::bad_request("invalid auth configuration: auth is not base64 of user:password")
                })?;
            let (user, pass) = decoded
                .split_once(':')
                .ok_or_else(|| ApiError::bad_request("invalid auth configuration: auth is not user:password"))?;
            username = user.to_string();
            password = pass.to_string();
        }
        let identity_token = Some(self.identitytoken.clone()).filter(|t| !t.is_empty());
        if username.is_empty() && password.is_empty() && identity_token.is_none() {
            return Ok(None);
        }
        Ok(Some(Credentials {
            username,
            password,
            identity_token,
        }))
    }
}

/// The `X-Registry-Auth` header's credentials: None without the header or with an empty config.
/// Clients encode it as base64url (Docker's CLI, with padding) or plain base64 (some SDKs); both
/// are read.
pub fn registry_auth(headers: &HeaderMap) -> ApiResult<Option<Credentials>> {
    let Some(value) = headers.get("x-registry-auth") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Auth header: not text"))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    let normalized: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(normalized)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    let config: AuthConfig = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    config.credentials()
}

/// Docker's AuthResponse.
#[derive(Serialize)]
struct AuthResponse {
    #[serde(rename = "Status")]
    status: &'static str,
    #[serde(rename = "IdentityToken")]
    identity_token: String,
}

async fn auth(State(state): State<AppState>, JsonBody(config): JsonBody<AuthConfig>) -> ApiResult<Response> {
    let credentials = config
        .credentials()?
        .ok_or_else(|| ApiError::bad_request("username and password are both required"))?;
    let server = Some(config.serveraddress.clone()).filter(|s| !s.is_empty());
    let checked = state
        .call(move |engine| engine.check_login(server.as_deref(), &credentials.username, &credentials.password))
        .await?;
    Ok(reply::json(&AuthResponse {
        status: "Login Succeeded",
        identity_token: checked.identity_token().unwrap_or_default().to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn header(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-registry-auth", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn both_base64_alphabets_and_padding_read() {
        let json = r#"{"username":"u?>","password":"p~~~","serveraddress":"127.0.0.1:5000"}"#;
        for encoded in [
            base64::engine::general_purpose::URL_SAFE.encode(json),
            base64::engine::general_purpose::STANDARD.encode(json),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json),
        ] {
            let credentials = registry_auth(&header(&encoded)).unwrap().unwrap();
            assert_eq!(
                (credentials.username.as_str(), credentials.password.as_str()),
                ("u?>", "p~~~")
            );
        }
    }

    #[test]
    fn empty_configs_carry_no_credentials() {
        assert!(registry_auth(&HeaderMap::new()).unwrap().is_none());
        let empty = base64::engine::general_purpose::URL_SAFE.encode("{}");
        assert!(registry_auth(&header(&empty)).unwrap().is_none());
        assert_eq!(registry_auth(&header("!!!")).unwrap_err().status, 400);
    }

    #[test]
    fn the_auth_field_stands_for_user_and_password() {
        let config = AuthConfig {
            auth: base64::engine::general_purpose::STANDARD.encode("alice:secret"),
            ..AuthConfig::default()
        };
        let credentials = config.credentials().unwrap().unwrap();
        assert_eq!(credentials.username, "alice");
        assert_eq!(credentials.password, "secret");
    }
}
