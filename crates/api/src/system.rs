//! System endpoints: `/_ping`, `/version`, `/info`, `/system/df`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use berth_engine::system::{DataUsageOptions, SystemDataUsage};
use serde::Serialize;

use crate::error::ApiResult;
use crate::reply;
use crate::router::MAX_VERSION_TEXT;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(disk_usage))
}

/// What a client reads to negotiate its API version (`API-Version`) and pick its builder.
async fn ping() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
            (header::HeaderName::from_static("api-version"), MAX_VERSION_TEXT),
            (header::HeaderName::from_static("ostype"), "linux"),
            (header::HeaderName::from_static("builder-version"), "1"),
            (header::HeaderName::from_static("docker-experimental"), "false"),
            (header::HeaderName::from_static("swarm"), "inactive"),
        ],
        "OK",
    )
        .into_response()
}

async fn version() -> Response {
    reply::json(&berth_engine::system::version())
}

async fn info(state: axum::extract::State<AppState>) -> ApiResult<Response> {
    let info = state.call(|engine| engine.info()).await?;
    Ok(reply::json(&info))
}

/// `/system/df` as API 1.47 clients read it: every object with its usage, and the layers' total.
/// (The per-kind summaries of API 1.52 are what the engine computes; older clients add them up
/// from these lists themselves.)
#[derive(Serialize)]
struct LegacyDataUsage<'a> {
    #[serde(rename = "LayersSize")]
    layers_size: u64,
    #[serde(rename = "Images")]
    images: &'a [berth_engine::images::ImageSummary],
    #[serde(rename = "Containers")]
    containers: &'a [berth_engine::containers::list::ContainerSummary],
    #[serde(rename = "Volumes")]
    volumes: &'a [berth_engine::views::volume::Volume],
    #[serde(rename = "BuildCache")]
    build_cache: &'a [berth_engine::system::BuildCacheRecord],
}

impl<'a> From<&'a SystemDataUsage> for LegacyDataUsage<'a> {
    fn from(usage: &'a SystemDataUsage) -> LegacyDataUsage<'a> {
        LegacyDataUsage {
            layers_size: usage.image_usage.total_size,
            images: &usage.image_usage.items,
            containers: &usage.container_usage.items,
            volumes: &usage.volume_usage.items,
            build_cache: &usage.build_cache_usage.items,
        }
    }
}

async fn disk_usage(state: axum::extract::State<AppState>) -> ApiResult<Response> {
    let usage = state
        .call(|engine| engine.disk_usage(&DataUsageOptions { verbose: true }))
        .await?;
    Ok(reply::json(&LegacyDataUsage::from(&usage)))
}
