//! Image endpoints: list, inspect, history, tag, remove and prune here; pull, import, push and
//! search in `transfer.rs`, load, save and commit in `image_archive.rs`.
//!
//! An image name may hold slashes (`registry:5000/team/app:v1`), so `/images/{name}/json` cannot be
//! a route pattern: the rest of the path is taken whole and its last word picks the endpoint.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use berth_engine::images::{ImageInspectConfig, ImageListOptions, ImagePruneOptions, Removed};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::router::ApiVersion;
use crate::state::AppState;
use crate::{image_archive, reply, transfer};

/// The first API version whose image inspect leaves out `Container` and `ContainerConfig`.
const WITHOUT_CONTAINER_CONFIG: ApiVersion = ApiVersion { major: 1, minor: 45 };

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/prune", post(prune))
        .route("/images/create", post(transfer::create))
        .route("/images/search", get(transfer::search))
        .route("/images/load", post(image_archive::load))
        .route("/images/get", get(image_archive::save_many))
        .route("/commit", post(image_archive::commit))
        .route("/images/{*rest}", get(get_image).post(post_image).delete(remove))
}

/// `name/json` -> (`name`, `json`); None when there is no name before the last word.
fn split_action(rest: &str) -> Option<(&str, &str)> {
    rest.rsplit_once('/').filter(|(name, _)| !name.is_empty())
}

async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let mut filters = params.filters()?;
    // API versions before 1.41 named a reference with `filter=`.
    if let Some(reference) = params.text("filter") {
        filters = filters.with("reference", &reference);
    }
    let options = ImageListOptions {
        all: params.flag("all"),
        filters,
    };
    let mut list = state.call(move |engine| engine.list_images(&options)).await?;
    // `digests=0` asks for the list without RepoDigests, as older clients did by default.
    if params.get("digests").is_some() && !params.flag("digests") {
        for image in &mut list {
            image.repo_digests.clear();
        }
    }
    Ok(reply::json(&list))
}

/// Image inspect as clients of API versions before 1.45 read it: with the deprecated `Container`
/// (the build container's ID) and `ContainerConfig` (its config), which dockerd 26 and later
/// answer empty, as berth does (its builds keep no container config). docker-compose 1.29 reads
/// `ContainerConfig.Volumes` when it recreates a container, and fails without the field.
#[derive(Serialize)]
struct WithContainerConfig<T> {
    #[serde(flatten)]
    image: T,
    #[serde(rename = "Container")]
    container: String,
    #[serde(rename = "ContainerConfig")]
    container_config: ImageInspectConfig,
}

fn inspect_reply<T: Serialize>(image: T, version: ApiVersion) -> Response {
    if version >= WITHOUT_CONTAINER_CONFIG {
        return reply::json(&image);
    }
    reply::json(&WithContainerConfig {
        image,
        container: String::new(),
        container_config: ImageInspectConfig::default(),
    })
}

async fn get_image(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    version: Option<Extension<ApiVersion>>,
) -> ApiResult<Response> {
    match split_action(&rest) {
        Some((name, "json")) => {
            let name = name.to_string();
            let inspected = state.call(move |engine| engine.inspect_image(&name)).await?;
            let version = version.map_or(crate::MAX_VERSION, |Extension(v)| v);
            Ok(inspect_reply(inspected, version))
        }
        Some((name, "history")) => {
            let name = name.to_string();
            let history = state.call(move |engine| engine.history(&name)).await?;
            Ok(reply::json(&history))
        }
        Some((name, "get")) => Ok(image_archive::save(state, vec![name.to_string()]).await),
        _ => Err(ApiError::page_not_found()),
    }
}

async fn post_image(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    match split_action(&rest) {
        Some((name, "push")) => transfer::push(state, name.to_string(), &headers, &params).await,
        Some((name, "tag")) => {
            let repo = params
                .text("repo")
                .ok_or_else(|| ApiError::bad_request("tag needs a repository: give the repo parameter"))?;
            let target = match params.text("tag") {
                Some(tag) => format!("{repo}:{tag}"),
                None => repo,
            };
            let name = name.to_string();
            state.call(move |engine| engine.tag(&name, &target)).await?;
            Ok(reply::empty(axum::http::StatusCode::CREATED))
        }
        _ => Err(ApiError::page_not_found()),
    }
}

/// One entry of Docker's ImageDeleteResponseItem list: `{"Untagged": ...}` or `{"Deleted": ...}`.
#[derive(Serialize)]
enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

fn delete_items(removed: Vec<Removed>) -> Vec<DeleteItem> {
    removed
        .into_iter()
        .map(|r| match r {
            Removed::Untagged(name) => DeleteItem::Untagged(name),
            Removed::Deleted(id) => DeleteItem::Deleted(id.to_string()),
        })
        .collect()
}

async fn remove(State(state): State<AppState>, Path(name): Path<String>, params: Params) -> ApiResult<Response> {
    // `noprune` (keep untagged parents) has nothing to act on: berth removes no parent images
    // along with a child, so every removal already keeps them.
    let force = params.flag("force");
    let removed = state.call(move |engine| engine.remove_image(&name, force)).await?;
    Ok(reply::json(&delete_items(removed)))
}

/// Docker's ImagePruneResponse.
#[derive(Serialize)]
struct PruneResponse {
    #[serde(rename = "ImagesDeleted")]
    images_deleted: Vec<DeleteItem>,
    #[serde(rename = "SpaceReclaimed")]
    space_reclaimed: u64,
}

async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    // The engine reads `dangling=false` as "every unused image", which is how the API says `-a`.
    let options = ImagePruneOptions {
        all: false,
        filters: params.filters()?,
    };
    let pruned = state.call(move |engine| engine.prune_images_filtered(&options)).await?;
    Ok(reply::json(&PruneResponse {
        images_deleted: delete_items(pruned.removed),
        space_reclaimed: pruned.space_reclaimed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slashes_keep_them() {
        assert_eq!(split_action("busybox/json"), Some(("busybox", "json")));
        assert_eq!(
            split_action("localhost:5000/team/app:v1/history"),
            Some(("localhost:5000/team/app:v1", "history"))
        );
        assert_eq!(split_action("json"), None);
    }

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn clients_before_1_45_get_an_empty_container_config() {
        let image = serde_json::json!({ "Id": "sha256:ab", "Config": { "Cmd": ["sh"] } });
        let old = body(inspect_reply(&image, ApiVersion { major: 1, minor: 44 })).await;
        assert_eq!(old["Id"], "sha256:ab");
        assert_eq!(old["Container"], "");
        // dockerd's empty config: every field written, the lists and maps null.
        assert_eq!(old["ContainerConfig"]["Image"], "");
        assert_eq!(old["ContainerConfig"]["Tty"], false);
        assert!(old["ContainerConfig"]["Volumes"].is_null());
        assert!(old["ContainerConfig"].get("Volumes").is_some());
        let new = body(inspect_reply(&image, crate::MAX_VERSION)).await;
        assert_eq!(new, image);
    }

    #[test]
    fn removals_serialize_as_dockers_items() {
        let json = serde_json::to_value(delete_items(vec![Removed::Untagged("a:latest".into())])).unwrap();
        assert_eq!(json, serde_json::json!([{ "Untagged": "a:latest" }]));
    }
}
