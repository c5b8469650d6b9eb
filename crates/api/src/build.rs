//! `POST /build` (the classic builder: the body is the context, a tar plain or compressed, or a
//! Dockerfile alone) and `POST /build/prune`.
//!
//! The build runs on the blocking pool and its lines stream out as they come, as Docker's
//! `{"stream": …}` messages, with the image ID as `{"aux": {"ID": …}}`. A context the engine cannot
//! read, or a Dockerfile that does not parse, is the answer's 400 before any line; a step that fails
//! later ends the stream with `errorDetail` (and a RUN's exit code, which the docker client exits
//! with). A client that goes away stops getting lines; the build runs to its end (each step's
//! container removed as always) or leaves the store as it was.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_engine::build::{BuildOptions, BuildOutput};
use berth_engine::build_context::{BuildContext, BuildRequest, Dockerfile};
use berth_engine::Digest;
use serde_json::json;

use crate::body::BodyReader;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::reply;
use crate::state::AppState;
use crate::stream::{Format, JsonMessage, Sink};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/build", post(build))
        .route("/build/prune", post(prune))
}

/// A JSON object parameter (`buildargs`, `labels`) of string values; `null` values (a build arg
/// named without a value) are left out.
fn string_map(params: &Params, key: &str) -> ApiResult<BTreeMap<String, String>> {
    let Some(text) = params.text(key) else {
        return Ok(BTreeMap::new());
    };
    let map: BTreeMap<String, Option<String>> = serde_json::from_str(&text)
        .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}: give a JSON object of strings")))?;
    Ok(map.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
}

/// What the request asks of the builder. Parameters for resources, cache sources (`cachefrom`),
/// squash and the like are accepted and have no effect: berth's builder gives steps the host's
/// defaults. `rm` and `forcerm` too: a step's container is always removed, as with both set.
fn request(params: &Params, body: Body) -> ApiResult<BuildRequest> {
    if params.get("version") == Some("2") {
        return Err(ApiError::bad_request(
            "berth builds with the classic builder only: set DOCKER_BUILDKIT=0",
        ));
    }
    let context = match params.text("remote") {
        Some(remote) => BuildContext::from_arg(&remote),
        None => BuildContext::Stream(Box::new(BodyReader::new(body))),
    };
    let dockerfile = match params.text("dockerfile") {
        Some(name) if name != "Dockerfile" => Dockerfile::InContext(name),
        _ => Dockerfile::Default,
    };
    let add_hosts = params
        .all("extrahosts")
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    let network = params.text("networkmode").filter(|n| n != "default");
    Ok(BuildRequest {
        context,
        dockerfile,
        platform: params.text("platform"),
        options: BuildOptions {
            tags: params.all("t"),
            build_args: string_map(params, "buildargs")?,
            target: params.text("target"),
            no_cache: params.flag("nocache"),
            pull: params.flag("pull"),
            labels: string_map(params, "labels")?,
            network,
            quiet: params.flag("q"),
            add_hosts,
            ..BuildOptions::default()
        },
    })
}

/// The builder's lines as Docker's stream.
struct StreamOutput<'a> {
    sink: &'a Sink,
    quiet: bool,
}

impl BuildOutput for StreamOutput<'_> {
    fn line(&self, text: &str) {
        if !self.quiet {
            // A client that went away gets no more lines; the build goes on to its end.
            let _ = self.sink.json(&JsonMessage::stream(format!("{text}\n")));
        }
    }

    fn image_id(&self, id: &Digest) {
        let _ = self.sink.json(&JsonMessage::aux(json!({ "ID": id.to_string() })));
    }
}

async fn build(State(state): State<AppState>, params: Params, body: Body) -> ApiResult<Response> {
    let request = request(&params, body)?;
    let quiet = request.options.quiet;
    Ok(state
        .stream(Format::Json, move |engine, sink| {
            let id = engine.build_from(request, &StreamOutput { sink, quiet })?;
            if quiet {
                // What `docker build -q` prints.
                sink.json(&JsonMessage::stream(format!("{id}\n")));
            }
            Ok(())
        })
        .await)
}

async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    // Filters and sizes to keep are checked, not applied: berth's cache is dropped whole.
    let filters = params.filters()?;
    filters.accept_only(&[
        "until",
        "id",
        "parent",
        "type",
        "description",
        "inuse",
        "shared",
        "private",
    ])?;
    for key in ["keep-storage", "reserved-space", "max-used-space", "min-free-space"] {
        params.int(key)?;
    }
    let pruned = state.call(|engine| engine.prune_build_cache()).await?;
    Ok(reply::json(&pruned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn build_parameters_read_as_the_docker_client_sends_them() {
        let params = Params::from_pairs(&[
            ("t", "a:1"),
            ("t", "b"),
            ("buildargs", r#"{"X":"1","FROM_ENV":null}"#),
            ("labels", r#"{"l":"v"}"#),
            ("dockerfile", "sub/Dockerfile.dev"),
            ("networkmode", "default"),
            ("extrahosts", "a:1.2.3.4,b:5.6.7.8"),
            ("nocache", "1"),
            ("q", "true"),
            ("memory", "0"),
        ]);
        let request = request(&params, Body::empty()).unwrap();
        assert_eq!(request.options.tags, ["a:1", "b"]);
        assert_eq!(request.options.build_args.len(), 1);
        assert_eq!(request.options.labels["l"], "v");
        assert_eq!(request.dockerfile, Dockerfile::InContext("sub/Dockerfile.dev".into()));
        assert_eq!(request.options.network, None);
        assert_eq!(request.options.add_hosts, ["a:1.2.3.4", "b:5.6.7.8"]);
        assert!(request.options.no_cache && request.options.quiet);
    }

    #[tokio::test]
    async fn malformed_parameters_are_400s() {
        let bad = Params::from_pairs(&[("buildargs", "[1")]);
        assert_eq!(request(&bad, Body::empty()).err().unwrap().status, 400);
        let buildkit = Params::from_pairs(&[("version", "2")]);
        assert_eq!(request(&buildkit, Body::empty()).err().unwrap().status, 400);
    }
}
