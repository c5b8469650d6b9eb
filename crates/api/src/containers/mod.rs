//! Container endpoints: create, list, inspect, start, wait, attach, logs, resize, stop, kill,
//! restart, pause, unpause, rename, update, remove and prune. Attach and logs, which stream, have their own
//! files, as does create's reading of Docker's request.

pub mod attach;
pub mod create;
mod logs;
mod update;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use berth_engine::containers::inspect::InspectRequest;
use berth_engine::containers::list::ListRequest;
use berth_engine::containers::{StartMode, WaitCondition, WaitOutcome};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::params::{JsonBody, Params};
use crate::reply;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/json", get(list))
        .route("/containers/create", post(create))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/attach/ws", get(attach::attach_ws))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/update", post(update::update))
        .route("/containers/{id}", delete(remove))
}

/// Docker's `ContainerCreateResponse`.
#[derive(Serialize)]
struct Created {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Warnings")]
    warnings: Vec<String>,
}

async fn create(
    State(state): State<AppState>,
    params: Params,
    JsonBody(request): JsonBody<create::CreateRequest>,
) -> ApiResult<Response> {
    if let Some(platform) = params.text("platform") {
        if !platform.starts_with("linux") {
            return Err(ApiError::bad_request(format!(
                "invalid platform {platform:?}: berth runs linux containers"
            )));
        }
    }
    let options = create::create_options(params.text("name"), request)?;
    let container = state.call(move |engine| engine.create_container(options)).await?;
    Ok(reply::created(&Created {
        id: container.id().to_string(),
        warnings: Vec::new(),
    }))
}

/// Starts the container: attached to the streams of an attach client waiting for it (as `docker
/// run` attaches before it starts), else detached. 304 when it runs already.
async fn start(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let attaches = state.attaches.clone();
    let started = state
        .call(move |engine| {
            let c = engine.container(&id)?;
            if c.is_running() {
                return Ok(false);
            }
            let mode = match attaches.take(c.id()) {
                Some(caller) => StartMode::Attached(caller),
                None => StartMode::Detached,
            };
            // The monitor reports to a start's caller on a status pipe; this server learns how
            // the container ends from the store (wait), so it does not keep the pipe.
            drop(engine.start_container(c.id(), mode)?);
            Ok(true)
        })
        .await?;
    Ok(reply::empty(match started {
        true => StatusCode::NO_CONTENT,
        false => StatusCode::NOT_MODIFIED,
    }))
}

/// Docker's `ContainerWaitResponse`.
#[derive(Serialize)]
struct WaitResponse {
    #[serde(rename = "StatusCode")]
    status_code: i64,
    #[serde(rename = "Error")]
    error: Option<WaitError>,
}

#[derive(Serialize)]
struct WaitError {
    #[serde(rename = "Message")]
    message: String,
}

/// Sets the flag when dropped: the wait's body, dropped by hyper when its client goes, cancels
/// the engine's wait with it.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Answers at once with the headers (the docker CLI waits for them before it starts the
/// container it waits for), and with the body when the condition holds.
async fn wait(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let condition: WaitCondition = params.get("condition").unwrap_or("").parse()?;
    // Started before the headers go: the docker CLI starts the container as soon as it has them,
    // and an unknown container is the request's 404.
    let waiter = state
        .call(move |engine| engine.container_waiter(&id, condition))
        .await?;
    let cancel = Arc::new(AtomicBool::new(false));
    let guard = CancelOnDrop(cancel.clone());
    let engine = state.engine();
    let waited = tokio::task::spawn_blocking(move || {
        let waited = waiter.wait(&engine, &cancel);
        if matches!(waited, Ok(None)) {
            tracing::debug!("wait ended: its client left");
        }
        waited
    });
    let body = futures_util::stream::once(async move {
        let _guard = guard;
        let response = match waited.await {
            Ok(Ok(Some(WaitOutcome { status_code, error }))) => WaitResponse {
                status_code,
                error: error.map(|message| WaitError { message }),
            },
            Ok(Ok(None)) => WaitResponse {
                status_code: -1,
                error: Some(WaitError {
                    message: "the wait was cancelled".into(),
                }),
            },
            Ok(Err(e)) => WaitResponse {
                status_code: -1,
                error: Some(WaitError { message: e.to_string() }),
            },
            Err(e) => WaitResponse {
                status_code: -1,
                error: Some(WaitError {
                    message: format!("the wait failed: {e}"),
                }),
            },
        };
        let mut bytes = serde_json::to_vec(&response).unwrap_or_default();
        bytes.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(bytes))
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response())
}

/// Sizes the container's terminal, as `berth attach` does when its window changes.
async fn resize(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let (rows, cols) = crate::exec::size(&params)?;
    state
        .call(move |engine| engine.resize_container_tty(&id, rows, cols))
        .await?;
    Ok(reply::empty(StatusCode::OK))
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

async fn inspect(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let request = InspectRequest {
        size: params.flag("size"),
    };
    let inspected = state.call(move |engine| engine.inspect_container(&id, request)).await?;
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
