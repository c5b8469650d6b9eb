//! Images to and from elsewhere: `POST /images/create` (a pull with `fromImage`, an import with
//! `fromSrc`), `POST /images/{name}/push`, `GET /distribution/{name}/json` and `GET /images/search`.
//! Pulls and pushes stream Docker's JSON progress (`progress.rs`); credentials come from the
//! `X-Registry-Auth` header (`auth.rs`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_engine::images::{ImportOptions, ImportSource, PullOptions, PushOptions};

use crate::auth::registry_auth;
use crate::body::BodyReader;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::progress::JsonProgress;
use crate::reply;
use crate::state::AppState;
use crate::stream::{Format, JsonMessage};

pub fn routes() -> Router<AppState> {
    Router::new().route("/distribution/{*rest}", get(distribution))
}

/// Whether `name` (`host:5000/team/app:v1`) names a tag or digest already: a `:` after the last `/`,
/// or an `@`.
fn has_tag_or_digest(name: &str) -> bool {
    name.contains('@') || name.rsplit('/').next().is_some_and(|last| last.contains(':'))
}

/// `fromImage` and `tag` as one reference, as dockerd joins them: a tag that is a digest makes
/// `NAME@DIGEST`; no tag on a bare name means every tag (None).
fn pull_reference(image: &str, tag: Option<&str>) -> Option<String> {
    match tag {
        Some(tag) if tag.contains(':') => {
            let name = image.split('@').next().unwrap_or(image);
            Some(format!("{name}@{tag}"))
        }
        Some(tag) if !has_tag_or_digest(image) => Some(format!("{image}:{tag}")),
        _ if has_tag_or_digest(image) => Some(image.to_string()),
        _ => None,
    }
}

/// `POST /images/create`.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> ApiResult<Response> {
    if let Some(source) = params.text("fromSrc") {
        return import(state, &params, source, body).await;
    }
    let image = params
        .text("fromImage")
        .ok_or_else(|| ApiError::bad_request("give fromImage (to pull) or fromSrc (to import)"))?;
    let (name, all_tags) = match pull_reference(&image, params.text("tag").as_deref()) {
        Some(name) => (name, false),
        None => (image, true),
    };
    let options = PullOptions {
        platform: params.text("platform"),
        all_tags,
        auth: registry_auth(&headers)?,
    };
    Ok(state
        .stream(Format::Json, move |engine, sink| {
            engine.pull(&name, &options, &JsonProgress::new(sink)).map(|_| ())
        })
        .await)
}

/// `fromSrc`: `-` is the request body, anything else a URL; answers the new image's ID as a status.
async fn import(state: AppState, params: &Params, source: String, body: Body) -> ApiResult<Response> {
    let reference = params.text("repo").map(|repo| match params.text("tag") {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo,
    });
    let options = ImportOptions {
        reference,
        changes: params.all("changes"),
        message: params.text("message"),
        source: source.clone(),
        platform: params.text("platform"),
    };
    let url = match source.as_str() {
        "-" => None,
        s if ImportSource::is_url(s) => Some(s.to_string()),
        // dockerd takes a URL without a scheme as http.
        s => Some(format!("http://{s}")),
    };
    let mut reader = url.is_none().then(|| BodyReader::new(body));
    Ok(state
        .stream(Format::Json, move |engine, sink| {
            let id = match (url, reader.as_mut()) {
                (Some(url), _) => engine.import_from(ImportSource::Url(url), &options)?,
                (None, Some(reader)) => engine.import_from(ImportSource::Stream(reader), &options)?,
                (None, None) => return Err(berth_engine::Error::Internal("no import source".into())),
            };
            sink.json(&JsonMessage::status(id.to_string(), None));
            Ok(())
        })
        .await)
}

/// `POST /images/{name}/push` (`tag`: one tag; none: every tag of the repository).
pub async fn push(state: AppState, name: String, headers: &HeaderMap, params: &Params) -> ApiResult<Response> {
    let (name, all_tags) = match params.text("tag") {
        Some(tag) if !has_tag_or_digest(&name) => (format!("{name}:{tag}"), false),
        _ => {
            let tagged = has_tag_or_digest(&name);
            (name, !tagged)
        }
    };
    let options = PushOptions {
        all_tags,
        auth: registry_auth(headers)?,
    };
    Ok(state
        .stream(Format::Json, move |engine, sink| {
            engine.push(&name, &options, &JsonProgress::new(sink)).map(|_| ())
        })
        .await)
}

async fn distribution(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    let name = rest
        .strip_suffix("/json")
        .filter(|n| !n.is_empty())
        .ok_or_else(ApiError::page_not_found)?
        .to_string();
    let auth = registry_auth(&headers)?;
    let inspected = state
        .call(move |engine| engine.distribution(&name, auth.as_ref()))
        .await?;
    Ok(reply::json(&inspected))
}

/// `GET /images/search`.
pub async fn search(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let term = params
        .text("term")
        .ok_or_else(|| ApiError::bad_request("search needs a term"))?;
    let limit = match params.int("limit")? {
        None | Some(0) => 25,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "limit {n} is outside the range [1, 100]"
            )))
        }
    };
    let filters = params.filters()?;
    let results = state.call(move |engine| engine.search(&term, limit, &filters)).await?;
    Ok(reply::json(&results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_and_tag_join_as_dockerd_joins_them() {
        assert_eq!(
            pull_reference("busybox", Some("latest")).as_deref(),
            Some("busybox:latest")
        );
        assert_eq!(
            pull_reference("127.0.0.1:5000/a/b", Some("v1")).as_deref(),
            Some("127.0.0.1:5000/a/b:v1")
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            pull_reference("busybox", Some(&digest)),
            Some(format!("busybox@{digest}"))
        );
        assert_eq!(pull_reference("busybox:1.36", None).as_deref(), Some("busybox:1.36"));
        assert_eq!(pull_reference("127.0.0.1:5000/app", None), None);
        assert!(!has_tag_or_digest("localhost:5000/app"));
        assert!(has_tag_or_digest("localhost:5000/app:v2"));
    }
}
