//! Files in and out of a container, for `docker cp` and `docker export`:
//! `HEAD /containers/{id}/archive` (what a path is, in the `X-Docker-Container-Path-Stat` header),
//! `GET` of the same path (that header, then a tar of the path), `PUT` (a tar unpacked into a
//! directory of the container) and `GET /containers/{id}/export` (the whole filesystem).
//!
//! Every path is resolved by the engine inside the container's root, and what a PUT's archive
//! names is unpacked there too: `..` in an entry is refused, and a symlink, the archive's own or
//! the container's, never leads out to the host. Tars stream both ways, never whole in memory.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use berth_engine::containers::{CopyInOptions, PathStat};

use crate::body::BodyReader;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::reply;
use crate::state::AppState;
use crate::stream::Format;

/// The header the docker client reads a path's stat from.
const PATH_STAT: &str = "x-docker-container-path-stat";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/containers/{id}/archive",
            get(get_archive).head(head_archive).put(put_archive),
        )
        .route("/containers/{id}/export", get(export))
}

fn path_param(params: &Params) -> ApiResult<String> {
    params
        .get("path")
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("path is required: give the path in the container"))
}

/// The stat as the header carries it: base64 of its JSON.
fn stat_header(stat: &PathStat) -> ApiResult<HeaderValue> {
    let json = serde_json::to_vec(stat).map_err(|e| ApiError::internal(format!("encoding a path stat: {e}")))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    HeaderValue::from_str(&encoded).map_err(|e| ApiError::internal(format!("a path stat header: {e}")))
}

async fn stat(state: &AppState, id: String, path: String) -> ApiResult<HeaderValue> {
    let stat = state.call(move |engine| engine.stat_container_path(&id, &path)).await?;
    stat_header(&stat)
}

async fn head_archive(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let header = stat(&state, id, path_param(&params)?).await?;
    let mut response = reply::empty(StatusCode::OK);
    response.headers_mut().insert(PATH_STAT, header);
    Ok(response)
}

/// The path's stat (so a missing one is a 404 before any byte), then its tar as it is written.
async fn get_archive(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let header = stat(&state, id.clone(), path.clone()).await?;
    let mut response = state
        .stream(Format::Raw, move |engine, sink| {
            engine.copy_from_container(&id, &path, false, sink.writer())
        })
        .await;
    if response.status() == StatusCode::OK {
        response.headers_mut().insert(PATH_STAT, header);
    }
    Ok(response)
}

/// `path` must be a directory in the container; the body is the tar to unpack there.
async fn put_archive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    body: Body,
) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let options = CopyInOptions {
        keep_owners: params.flag("copyUIDGID"),
        no_overwrite_dir_non_dir: params.flag("noOverwriteDirNonDir"),
    };
    let mut reader = BodyReader::new(body);
    state
        .call(move |engine| engine.copy_into_container(&id, &path, options, &mut reader))
        .await?;
    Ok(reply::empty(StatusCode::OK))
}

async fn export(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    state
        .stream(Format::Raw, move |engine, sink| {
            engine.export_container(&id, sink.writer())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stat_header_is_base64_of_its_json() {
        let stat = PathStat {
            name: "etc".into(),
            size: 4096,
            mode: (1 << 31) | 0o755,
            mtime: "2026-12-07T05:00:00Z".into(),
            link_target: String::new(),
        };
        let header = stat_header(&stat).unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(header.as_bytes())
            .unwrap();
        let back: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(back["name"], "etc");
        assert_eq!(back["mode"], 2147484141u64);
        assert_eq!(back["linkTarget"], "");
    }

    #[test]
    fn a_path_is_required() {
        assert_eq!(path_param(&Params::from_pairs(&[])).unwrap_err().status, 400);
        assert_eq!(path_param(&Params::from_pairs(&[("path", "/etc")])).unwrap(), "/etc");
    }
}
