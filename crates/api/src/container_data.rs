//! What a container is doing and what it changed: `top`, `stats` (one reading or a stream of them)
//! and `changes`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_engine::containers::stats::StatsResponse;
use berth_engine::Engine;
use tokio::sync::mpsc;

use crate::error::ApiResult;
use crate::params::Params;
use crate::reply;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/changes", get(changes))
}

/// How often a stream of readings sends one, as dockerd's collector.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

async fn top(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    // dockerd splits `ps_args` on spaces.
    let args: Vec<String> = params
        .text("ps_args")
        .map(|a| a.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let top = state.call(move |engine| engine.top_container(&id, &args)).await?;
    Ok(reply::json(&top))
}

async fn changes(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let changes = state.call(move |engine| engine.diff_container(&id)).await?;
    // dockerd writes `null` for a container that changed nothing.
    Ok(if changes.is_empty() {
        reply::json(&serde_json::Value::Null)
    } else {
        reply::json(&changes)
    })
}

/// `stream` (default true): a reading every second until the client leaves. Without it, one reading:
/// with `one-shot` at once (no `precpu_stats`), else a second after a first one, so the client can
/// compute the CPU use from the pair, as dockerd answers.
async fn stats(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let stream = params.get("stream").is_none_or(|_| params.flag("stream"));
    let one_shot = params.flag("one-shot");
    let first_id = id.clone();
    let first = state
        .call(move |engine| engine.container_stats(&first_id, None))
        .await?;
    if !stream {
        if one_shot {
            return Ok(reply::json(&first));
        }
        tokio::time::sleep(STATS_INTERVAL).await;
        let second = state
            .call(move |engine| engine.container_stats(&id, Some(&first)))
            .await?;
        return Ok(reply::json(&second));
    }
    let (tx, response) = reply::channel_body("application/json", 4);
    let engine = state.engine();
    tokio::task::spawn_blocking(move || follow(&engine, &id, first, tx));
    Ok(response)
}

/// Sends `first`, then a reading every interval, until the client is gone or the container is.
fn follow(engine: &Engine, id: &str, first: StatsResponse, tx: mpsc::Sender<Bytes>) {
    let mut reading = first;
    loop {
        if !reply::send_json_line(&tx, &reading) {
            return;
        }
        std::thread::sleep(STATS_INTERVAL);
        if tx.is_closed() {
            return;
        }
        reading = match engine.container_stats(id, Some(&reading)) {
            Ok(next) => next,
            // Removed meanwhile: the stream ends, as dockerd's does.
            Err(_) => return,
        };
    }
}
