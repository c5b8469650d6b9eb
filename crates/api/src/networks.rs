//! Network endpoints: list, inspect, create, remove, prune, connect and disconnect.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_engine::networks::{ConnectOptions, NetworkOptions};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::params::{JsonBody, Params};
use crate::reply;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let filters = params.filters()?;
    let networks = state.call(move |engine| engine.list_networks(&filters)).await?;
    Ok(reply::json(&networks))
}

async fn inspect(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let network = state.call(move |engine| engine.inspect_network(&id)).await?;
    Ok(reply::json(&network))
}

/// Docker's NetworkCreateRequest, the fields berth acts on; the rest are accepted and ignored as
/// long as they ask for nothing berth lacks. Go clients write nil maps and lists as `null`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateRequest {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Driver")]
    driver: Option<String>,
    #[serde(rename = "Internal")]
    internal: Option<bool>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    #[serde(rename = "Options")]
    options: Option<BTreeMap<String, String>>,
    #[serde(rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Ipam {
    #[serde(rename = "Config")]
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpamConfig {
    #[serde(rename = "Subnet")]
    subnet: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
    #[serde(rename = "Gateway")]
    gateway: Option<String>,
}

/// Docker's NetworkCreateResponse.
#[derive(Serialize)]
struct CreateResponse {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Warning")]
    warning: String,
}

fn network_options(request: CreateRequest) -> ApiResult<NetworkOptions> {
    if request.name.is_empty() {
        return Err(ApiError::bad_request("a network needs a name: give Name"));
    }
    if request.enable_ipv6 == Some(true) {
        return Err(ApiError::bad_request(
            "berth networks are IPv4 only: leave EnableIPv6 unset",
        ));
    }
    let mut configs = request.ipam.and_then(|i| i.config).unwrap_or_default();
    if configs.len() > 1 {
        return Err(ApiError::bad_request(
            "berth networks have one IPv4 subnet: give at most one IPAM.Config entry",
        ));
    }
    let config = configs.pop().unwrap_or_default();
    Ok(NetworkOptions {
        name: request.name,
        driver: request
            .driver
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "bridge".into()),
        subnet: config.subnet.filter(|s| !s.is_empty()),
        gateway: config.gateway.filter(|s| !s.is_empty()),
        ip_range: config.ip_range.filter(|s| !s.is_empty()),
        internal: request.internal.unwrap_or(false),
        labels: request.labels.unwrap_or_default(),
        options: request.options.unwrap_or_default(),
    })
}

async fn create(State(state): State<AppState>, JsonBody(request): JsonBody<CreateRequest>) -> ApiResult<Response> {
    let options = network_options(request)?;
    let network = state.call(move |engine| engine.create_network(&options)).await?;
    Ok(reply::created(&CreateResponse {
        id: network.row.id,
        warning: String::new(),
    }))
}

async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    state.call(move |engine| engine.remove_network(&id)).await?;
    Ok(reply::no_content())
}

async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let filters = params.filters()?;
    let report = state
        .call(move |engine| engine.prune_networks_matching(&filters))
        .await?;
    Ok(reply::json(&report))
}

/// Docker's NetworkConnectRequest: the container and, optionally, its address and aliases.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConnectRequest {
    #[serde(rename = "Container")]
    container: String,
    #[serde(rename = "EndpointConfig")]
    endpoint_config: Option<EndpointConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EndpointConfig {
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<EndpointIpam>,
    #[serde(rename = "Aliases")]
    aliases: Option<Vec<String>>,
    #[serde(rename = "Links")]
    links: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    ipv4_address: Option<String>,
}

async fn connect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ConnectRequest>,
) -> ApiResult<Response> {
    if request.container.is_empty() {
        return Err(ApiError::bad_request("connect needs a container: give Container"));
    }
    let endpoint = request.endpoint_config.unwrap_or_default();
    let mut links = Vec::new();
    for text in endpoint.links.unwrap_or_default() {
        links.push(text.parse()?);
    }
    let options = ConnectOptions {
        links,
        aliases: endpoint.aliases.unwrap_or_default(),
        ip: endpoint
            .ipam_config
            .and_then(|i| i.ipv4_address)
            .filter(|ip| !ip.is_empty()),
    };
    let container = request.container;
    state
        .call(move |engine| engine.connect_container(&id, &container, &options))
        .await?;
    Ok(reply::empty(axum::http::StatusCode::OK))
}

/// Docker's NetworkDisconnectRequest.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DisconnectRequest {
    #[serde(rename = "Container")]
    container: String,
    #[serde(rename = "Force")]
    force: Option<bool>,
}

async fn disconnect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<DisconnectRequest>,
) -> ApiResult<Response> {
    if request.container.is_empty() {
        return Err(ApiError::bad_request("disconnect needs a container: give Container"));
    }
    let (container, force) = (request.container, request.force.unwrap_or(false));
    state
        .call(move |engine| engine.disconnect_container(&id, &container, force))
        .await?;
    Ok(reply::empty(axum::http::StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_json;

    #[test]
    fn a_docker_cli_create_body_becomes_options() {
        // What docker 28's `network create --subnet 10.9.0.0/24 n1` sends, nulls included.
        let body = br#"{"Name":"n1","Driver":"bridge","Scope":"","EnableIPv6":null,"IPAM":{"Driver":"default",
            "Options":null,"Config":[{"Subnet":"10.9.0.0/24"}]},"Internal":false,"Attachable":false,
            "Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":null}"#;
        let options = network_options(parse_json(body).unwrap()).unwrap();
        assert_eq!(options.name, "n1");
        assert_eq!(options.driver, "bridge");
        assert_eq!(options.subnet.as_deref(), Some("10.9.0.0/24"));
        assert!(options.labels.is_empty());
    }

    #[test]
    fn what_berth_lacks_is_refused() {
        let v6 = network_options(parse_json(br#"{"Name":"n","EnableIPv6":true}"#).unwrap()).unwrap_err();
        assert_eq!(v6.status, 400);
        let unnamed = network_options(parse_json(b"{}").unwrap()).unwrap_err();
        assert_eq!(unnamed.status, 400);
        let wrong = parse_json::<CreateRequest>(br#"{"Name":"n","Internal":"yes"}"#).unwrap_err();
        assert!(wrong.message.contains("Internal"), "{}", wrong.message);
    }
}
