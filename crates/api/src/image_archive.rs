//! Images as archives and from containers: `POST /images/load` (the body is the tar),
//! `GET /images/{name}/get` and `GET /images/get?names=…` (save: the tar streams out as the engine
//! writes it, never whole in memory), and `POST /commit`.

use std::io::Write as _;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use berth_engine::containers::{CommitConfig, CommitOptions};

use crate::body::BodyReader;
use crate::error::{ApiError, ApiResult};
use crate::params::{parse_json, Params};
use crate::reply;
use crate::state::AppState;
use crate::stream::{Format, JsonMessage};

/// `POST /images/load`: Docker's JSON stream of "Loaded image: …" lines (`quiet` changes nothing:
/// berth's load shows no progress, only those lines, which quiet keeps).
pub async fn load(State(state): State<AppState>, body: Body) -> Response {
    let reader = BodyReader::new(body);
    state
        .stream(Format::Json, move |engine, sink| {
            let loaded = engine.load(Box::new(reader))?;
            for line in loaded.iter().flat_map(|image| image.lines()) {
                sink.json(&JsonMessage::stream(format!("{line}\n")));
            }
            Ok(())
        })
        .await
}

/// `GET /images/get?names=a&names=b`.
pub async fn save_many(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let names = params.all("names");
    if names.is_empty() {
        return Err(ApiError::bad_request("give the images to save with names="));
    }
    Ok(save(state, names).await)
}

/// The archive of `names`, streamed as it is written.
pub async fn save(state: AppState, names: Vec<String>) -> Response {
    state
        .stream(Format::Raw, move |engine, sink| {
            let mut out = engine.save(&names, sink.writer())?;
            out.flush().map_err(|source| berth_engine::Error::Stream {
                context: "sending the archive".into(),
                source,
            })
        })
        .await
}

/// Docker's IdResponse.
#[derive(serde::Serialize)]
struct IdResponse {
    #[serde(rename = "Id")]
    id: String,
}

/// `POST /commit`: the body is the config for the new image (fields left empty are the container's).
pub async fn commit(State(state): State<AppState>, params: Params, body: axum::body::Bytes) -> ApiResult<Response> {
    let container = params
        .text("container")
        .ok_or_else(|| ApiError::bad_request("commit needs a container: give the container parameter"))?;
    let config: Option<CommitConfig> = parse_json(&body)?;
    let config = config.map(|mut c| {
        // Only the image's own settings are kept; the rest of a container's Config (Hostname, Tty,
        // Image, …) has no place in an image.
        c.extra.clear();
        c
    });
    let reference = params.text("repo").map(|repo| match params.text("tag") {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo,
    });
    let options = CommitOptions {
        reference,
        author: params.text("author"),
        message: params.text("comment"),
        changes: params.all("changes"),
        // dockerd pauses unless told not to.
        pause: params.get("pause").is_none() || params.flag("pause"),
        config,
    };
    let id = state
        .call(move |engine| engine.commit_container(&container, &options))
        .await?;
    Ok(reply::created(&IdResponse { id: id.to_string() }))
}
