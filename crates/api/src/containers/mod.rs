//! Container endpoints of this increment: list, inspect, stop, kill, restart, pause, unpause, rename,
//! remove and prune. (Create, start, attach, exec, logs and wait come with the streams they need.)

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use berth_engine::containers::list::ListRequest;
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::reply;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}", delete(remove))
}

async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let request = ListRequest {
        all: params.flag("all"),
        limit: match params.int("limit")? {
            // Docker reads 0 and negative limits as no limit.
            Some(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => None,
        },
        size: params.flag("size"),
        filters: params.filters()?,
    };
    let list = state.call(move |engine| engine.list_containers(&request)).await?;
    Ok(reply::json(&list))
}

async fn inspect(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let inspected = state.call(move |engine| engine.inspect_container(&id)).await?;
    Ok(reply::json(&inspected))
}

/// `t` (seconds before SIGKILL; -1 waits for ever) and `signal`, as stop and restart take them.
fn stop_options(params: &Params) -> ApiResult<(Option<i64>, Option<String>)> {
    Ok((params.int("t")?, params.text("signal")))
}

async fn stop(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let (timeout, signal) = stop_options(&params)?;
    state
        .call(move |engine| engine.stop_container(&id, timeout, signal.as_deref()))
        .await?;
    Ok(reply::no_content())
}

async fn restart(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let (timeout, signal) = stop_options(&params)?;
    state
        .call(move |engine| engine.restart_container(&id, timeout, signal.as_deref()))
        .await?;
    Ok(reply::no_content())
}

async fn kill(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    // Docker's default for the API is SIGKILL, as for `docker kill`.
    let signal = params.text("signal").unwrap_or_else(|| "KILL".into());
    state.call(move |engine| engine.kill_container(&id, &signal)).await?;
    Ok(reply::no_content())
}

async fn pause(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    state.call(move |engine| engine.pause_container(&id)).await?;
    Ok(reply::no_content())
}

async fn unpause(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    state.call(move |engine| engine.unpause_container(&id)).await?;
    Ok(reply::no_content())
}

async fn rename(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let name = params
        .text("name")
        .ok_or_else(|| ApiError::bad_request("rename needs the new name: give the name parameter"))?;
    state.call(move |engine| engine.rename_container(&id, &name)).await?;
    Ok(reply::no_content())
}

async fn remove(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    if params.flag("link") {
        return Err(ApiError::bad_request(
            "berth has no legacy container links: there is no link to remove",
        ));
    }
    let (force, volumes) = (params.flag("force"), params.flag("v"));
    state
        .call(move |engine| engine.remove_container(&id, force, volumes))
        .await?;
    Ok(reply::no_content())
}

/// Docker's ContainerPruneResponse.
#[derive(Serialize)]
struct PruneResponse {
    #[serde(rename = "ContainersDeleted")]
    containers_deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    space_reclaimed: u64,
}

async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let filters = params.filters()?;
    let pruned = state.call(move |engine| engine.prune_containers(&filters)).await?;
    Ok(reply::json(&PruneResponse {
        containers_deleted: pruned.removed,
        space_reclaimed: pruned.bytes,
    }))
}
