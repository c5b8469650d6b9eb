//! Volume endpoints: list, create, inspect, remove, prune.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_engine::views::volume::Volume;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::params::{JsonBody, Params};
use crate::reply;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

/// Docker's VolumeListResponse.
#[derive(Serialize)]
struct ListResponse {
    #[serde(rename = "Volumes")]
    volumes: Vec<Volume>,
    #[serde(rename = "Warnings")]
    warnings: Vec<String>,
}

async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let filters = params.filters()?;
    let volumes = state.call(move |engine| engine.list_volumes(&filters)).await?;
    Ok(reply::json(&ListResponse {
        volumes,
        warnings: Vec::new(),
    }))
}

/// Docker's VolumeCreateOptions. Go clients write nil maps as `null`, hence the Options.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateRequest {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Driver")]
    driver: Option<String>,
    #[serde(rename = "DriverOpts")]
    driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

async fn create(State(state): State<AppState>, JsonBody(request): JsonBody<CreateRequest>) -> ApiResult<Response> {
    let driver = request.driver.unwrap_or_default();
    if !driver.is_empty() && driver != "local" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("plugin {driver:?} not found: berth has the local volume driver only"),
        ));
    }
    let name = request.name.filter(|n| !n.is_empty());
    let labels = request.labels.unwrap_or_default();
    let options = request.driver_opts.unwrap_or_default();
    let volume = state
        .call(move |engine| engine.create_volume(name.as_deref(), labels, options, false))
        .await?;
    Ok(reply::created(&Volume::from(&volume)))
}

async fn inspect(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let volume = state.call(move |engine| engine.inspect_volume(&name)).await?;
    Ok(reply::json(&volume))
}

async fn remove(State(state): State<AppState>, Path(name): Path<String>, params: Params) -> ApiResult<Response> {
    let force = params.flag("force");
    state.call(move |engine| engine.remove_volume(&name, force)).await?;
    Ok(reply::no_content())
}

async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let filters = params.filters()?;
    let report = state.call(move |engine| engine.prune_volumes(&filters)).await?;
    Ok(reply::json(&report))
}
