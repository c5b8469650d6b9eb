//! The routes, and API versions: `/v1.NN/...` is the unversioned path for a client speaking 1.NN,
//! checked against the versions berth speaks before any route sees it. Swarm-mode and plugin
//! endpoints answer that berth has neither, and any other path Docker's 404.

use std::fmt;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{
    auth, build, container_archive, container_data, containers, events, exec, images, networks, system, transfer,
    volumes,
};

/// The newest API version berth speaks (what `/version` and `/_ping` report).
pub const MAX_VERSION: ApiVersion = ApiVersion { major: 1, minor: 47 };
/// The oldest API version a client may ask for.
pub const MIN_VERSION: ApiVersion = ApiVersion { major: 1, minor: 24 };

/// An API version a request speaks: the one in its path, or [`MAX_VERSION`] when unversioned.
/// Handlers whose answer changed between versions read it from the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl ApiVersion {
    /// `1.47` (or `1`, read as 1.0); None when it is not a version.
    fn parse(text: &str) -> Option<ApiVersion> {
        let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

/// Splits `/v1.47/containers/json` into the version text and `/containers/json`; None for a path
/// without a version prefix. As dockerd's router, the prefix is `v` and digits and dots.
fn split_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (version, tail) = rest.split_at(end);
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some((version, tail))
}

/// Checks a requested version against the ones berth speaks, with dockerd's messages.
fn check_version(text: &str) -> Result<ApiVersion, ApiError> {
    let version = ApiVersion::parse(text)
        .ok_or_else(|| ApiError::bad_request(format!("invalid API version {text:?}: use the form 1.47")))?;
    if version < MIN_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {text} is too old. Minimum supported API version is {MIN_VERSION}, \
             please upgrade your client to a newer version"
        )));
    }
    if version > MAX_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {text} is too new. Maximum supported API version is {MAX_VERSION}"
        )));
    }
    Ok(version)
}

/// Strips the version prefix (after checking it) so the routes below see one path, and adds the
/// headers dockerd sends with every answer.
pub async fn versioned(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let mut response = match split_version(&path) {
        Some((text, tail)) => match check_version(text) {
            Ok(version) => {
                let tail = if tail.is_empty() { "/" } else { tail };
                let uri = match req.uri().query() {
                    Some(q) => format!("{tail}?{q}"),
                    None => tail.to_string(),
                };
                match uri.parse::<Uri>() {
                    Ok(uri) => {
                        *req.uri_mut() = uri;
                        req.extensions_mut().insert(version);
                        next.run(req).await
                    }
                    Err(_) => ApiError::page_not_found().into_response(),
                }
            }
            Err(e) => e.into_response(),
        },
        None => {
            req.extensions_mut().insert(MAX_VERSION);
            next.run(req).await
        }
    };
    let headers = response.headers_mut();
    for (name, value) in common_headers() {
        headers.insert(name, value);
    }
    response
}

/// What dockerd says about itself on every response.
fn common_headers() -> [(HeaderName, HeaderValue); 4] {
    let server = format!("berth/{} (linux)", env!("CARGO_PKG_VERSION"));
    [
        (
            HeaderName::from_static("api-version"),
            HeaderValue::from_static(MAX_VERSION_TEXT),
        ),
        (
            HeaderName::from_static("docker-experimental"),
            HeaderValue::from_static("false"),
        ),
        (HeaderName::from_static("ostype"), HeaderValue::from_static("linux")),
        (
            HeaderName::from_static("server"),
            HeaderValue::from_str(&server).unwrap_or(HeaderValue::from_static("berth")),
        ),
    ]
}

/// [`MAX_VERSION`] as text, for headers.
pub const MAX_VERSION_TEXT: &str = "1.47";

/// Swarm mode's endpoints: berth is never a swarm manager.
const SWARM_PREFIXES: &[&str] = &["swarm", "services", "nodes", "secrets", "configs", "tasks"];

async fn not_a_swarm_manager() -> ApiError {
    ApiError::not_a_swarm_manager()
}

async fn no_plugins() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "berth does not support plugins: volumes use the local driver and networks the bridge driver",
    )
}

async fn page_not_found() -> ApiError {
    ApiError::page_not_found()
}

/// Every route, unversioned (the server wraps it in [`versioned`], which routing must not see first).
pub fn routes(state: AppState) -> Router {
    let mut router = Router::new()
        .merge(system::routes())
        .merge(events::routes())
        .merge(containers::routes())
        .merge(container_data::routes())
        .merge(container_archive::routes())
        .merge(exec::routes())
        .merge(images::routes())
        .merge(volumes::routes())
        .merge(networks::routes())
        .merge(transfer::routes())
        .merge(build::routes())
        .merge(auth::routes());
    for prefix in SWARM_PREFIXES {
        router = router
            .route(&format!("/{prefix}"), any(not_a_swarm_manager))
            .route(&format!("/{prefix}/{{*rest}}"), any(not_a_swarm_manager));
    }
    router
        .route("/plugins", any(no_plugins))
        .route("/plugins/{*rest}", any(no_plugins))
        .fallback(page_not_found)
        .method_not_allowed_fallback(page_not_found)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_split_from_paths() {
        assert_eq!(
            split_version("/v1.47/containers/json"),
            Some(("1.47", "/containers/json"))
        );
        assert_eq!(split_version("/v1.24/_ping"), Some(("1.24", "/_ping")));
        assert_eq!(split_version("/volumes"), None);
        assert_eq!(split_version("/version"), None);
        assert_eq!(split_version("/v/x"), None);
    }

    #[test]
    fn versions_outside_the_range_are_refused_with_dockers_words() {
        assert_eq!(check_version("1.47").unwrap(), MAX_VERSION);
        assert_eq!(check_version("1.24").unwrap(), MIN_VERSION);
        assert!(check_version("1.40").is_ok());
        let old = check_version("1.23").unwrap_err();
        assert_eq!(old.status, 400);
        assert_eq!(
            old.message,
            "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
        );
        let new = check_version("1.48").unwrap_err();
        assert_eq!(
            new.message,
            "client version 1.48 is too new. Maximum supported API version is 1.47"
        );
        // Compared as numbers, not text: 1.9 is older than 1.24.
        assert!(check_version("1.9").is_err());
        assert_eq!(MAX_VERSION.to_string(), MAX_VERSION_TEXT);
    }

    #[test]
    fn the_range_is_the_one_version_reports() {
        assert_eq!(MAX_VERSION.to_string(), berth_engine::system::API_VERSION);
        assert_eq!(MIN_VERSION.to_string(), berth_engine::system::MIN_API_VERSION);
    }
}
