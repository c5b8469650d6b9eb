//! Docker's `Network` object (`network inspect`, `network ls --format json`, the API's network
//! routes), with `host` and `none` shown as Docker shows them, and the network list with its filters.

use std::collections::BTreeMap;

use berth_store::networks::{EndpointRow, NetworkRow};
use serde::Serialize;

use crate::filters::Filters;
use crate::{networks, Digest, Engine, Error, Result};

/// A network as Docker's Engine API shows it (NetworkInspect), fields in dockerd's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Network {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    #[serde(rename = "Internal")]
    pub internal: bool,
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    #[serde(rename = "ConfigFrom")]
    pub config_from: ConfigReference,
    #[serde(rename = "ConfigOnly")]
    pub config_only: bool,
    /// Endpoints by container id.
    #[serde(rename = "Containers")]
    pub containers: BTreeMap<String, EndpointResource>,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    /// berth's own: the host's bridge interface (none for `host` and `none`).
    #[serde(rename = "BridgeName", skip_serializing_if = "Option::is_none")]
    pub bridge_name: Option<String>,
}

/// How a network's addresses are managed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ipam {
    #[serde(rename = "Driver")]
    pub driver: String,
    /// `null` for the built-in networks, as dockerd writes it.
    #[serde(rename = "Options")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(rename = "Config")]
    pub config: Vec<IpamConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IpamConfig {
    #[serde(rename = "Subnet")]
    pub subnet: String,
    #[serde(rename = "Gateway")]
    pub gateway: String,
    #[serde(rename = "IPRange", skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConfigReference {
    #[serde(rename = "Network")]
    pub network: String,
}

/// A container's endpoint on a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointResource {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// The networks every engine has without rows: they have no bridge.
const BUILTIN: [&str; 2] = ["host", "none"];

impl Network {
    /// `bridge`, `host` and `none`, which cannot be removed (`type=builtin`).
    pub fn is_builtin(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    /// `host` or `none`, as Docker shows them; their ids are stable, made from their names.
    fn builtin(name: &str) -> Network {
        Network {
            name: name.into(),
            id: Digest::of(format!("berth-builtin-network:{name}").as_bytes())
                .hex()
                .to_string(),
            created: "0001-01-01T00:00:00Z".into(),
            scope: "local".into(),
            driver: if name == "host" { "host" } else { "null" }.into(),
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                options: None,
                config: Vec::new(),
            },
            internal: false,
            attachable: false,
            ingress: false,
            config_from: ConfigReference::default(),
            config_only: false,
            containers: BTreeMap::new(),
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
            bridge_name: None,
        }
    }

    /// A bridge network from its row and endpoints; `name_of` gives a container's name from its id.
    fn from_rows(row: &NetworkRow, endpoints: &[EndpointRow], name_of: impl Fn(&str) -> String) -> Network {
        let prefix = row.subnet.rsplit_once('/').map_or("", |(_, p)| p);
        let containers = endpoints
            .iter()
            .map(|e| {
                let endpoint = EndpointResource {
                    name: name_of(&e.container_id),
                    endpoint_id: e.container_id.clone(),
                    mac_address: e.mac.clone(),
                    ipv4_address: format!("{}/{prefix}", e.ip),
                    ipv6_address: String::new(),
                };
                (e.container_id.clone(), endpoint)
            })
            .collect();
        Network {
            name: row.name.clone(),
            id: row.id.clone(),
            created: row.created.clone(),
            scope: "local".into(),
            driver: row.driver.clone(),
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                options: Some(BTreeMap::new()),
                config: vec![IpamConfig {
                    subnet: row.subnet.clone(),
                    gateway: row.gateway.clone(),
                    ip_range: Some(row.ip_range.clone()).filter(|r| !r.is_empty()),
                }],
            },
            internal: row.internal,
            attachable: false,
            ingress: false,
            config_from: ConfigReference::default(),
            config_only: false,
            containers,
            // Written by berth from a map of strings; a damaged one shows as empty rather than failing
            // every listing.
            options: serde_json::from_str(&row.options).unwrap_or_default(),
            labels: serde_json::from_str(&row.labels).unwrap_or_default(),
            bridge_name: Some(row.bridge.clone()),
        }
    }
}

/// The filter keys `network ls` takes.
const LIST_FILTERS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];

/// Whether a network passes `filters` (already checked against [`LIST_FILTERS`]).
fn passes(filters: &Filters, n: &Network) -> Result<bool> {
    for value in filters.get("type") {
        if !matches!(value.as_str(), "builtin" | "custom") {
            return Err(Error::InvalidArgument(format!("invalid filter 'type={value}'")));
        }
    }
    let unused = !n.is_builtin() && n.containers.is_empty();
    Ok(filters.allows("name", |v| n.name.contains(v))
        && filters.allows("id", |v| n.id.starts_with(v))
        && filters.allows("driver", |v| n.driver == v)
        && filters.allows("scope", |v| v == "local")
        && filters.allows("type", |v| (v == "builtin") == n.is_builtin())
        && filters.boolean("dangling")?.is_none_or(|want| want == unused)
        && filters.allows_labels(&n.labels))
}

impl Engine {
    /// `network inspect` (the API's NetworkInspect): by name, full id or unique id prefix.
    pub fn inspect_network(&self, name: &str) -> Result<Network> {
        if BUILTIN.contains(&name) {
            return Ok(Network::builtin(name));
        }
        Ok(self.network_view(&self.network(name)?))
    }

    /// `network ls` (NetworkList): every network that passes `filters` (dangling, driver, id, label,
    /// name, scope, type), `host` and `none` included, by name.
    pub fn list_networks(&self, filters: &Filters) -> Result<Vec<Network>> {
        filters.accept_only(LIST_FILTERS)?;
        let mut all: Vec<Network> = self.networks()?.iter().map(|n| self.network_view(n)).collect();
        all.extend(BUILTIN.iter().map(|name| Network::builtin(name)));
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::new();
        for n in all {
            if passes(filters, &n)? {
                out.push(n);
            }
        }
        Ok(out)
    }

    fn network_view(&self, n: &networks::Network) -> Network {
        // A container removed meanwhile has no name to show: Docker shows an empty one too.
        Network::from_rows(&n.row, &n.endpoints, |id| {
            self.container(id).map(|c| c.row.name.clone()).unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, labels: &str) -> NetworkRow {
        NetworkRow {
            id: format!("{:0>64}", name.len()),
            name: name.into(),
            driver: "bridge".into(),
            subnet: "172.18.0.0/16".into(),
            gateway: "172.18.0.1".into(),
            ip_range: String::new(),
            internal: false,
            bridge: "br-test".into(),
            labels: labels.into(),
            options: "{}".into(),
            created: "2026-12-07T12:00:00Z".into(),
        }
    }

    fn endpoint(container: &str, ip: &str) -> EndpointRow {
        EndpointRow {
            network_id: String::new(),
            container_id: container.into(),
            ip: ip.into(),
            mac: "02:42:ac:12:00:02".into(),
            aliases: "[]".into(),
        }
    }

    #[test]
    fn a_bridge_network_shows_its_endpoints_with_the_subnets_prefix() {
        let n = Network::from_rows(&row("web", r#"{"a":"b"}"#), &[endpoint("c1", "172.18.0.2")], |id| {
            format!("name-of-{id}")
        });
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["Containers"]["c1"]["Name"], "name-of-c1");
        assert_eq!(json["Containers"]["c1"]["IPv4Address"], "172.18.0.2/16");
        assert_eq!(json["IPAM"]["Config"][0]["Subnet"], "172.18.0.0/16");
        assert!(json["IPAM"]["Config"][0].get("IPRange").is_none());
        assert_eq!(json["IPAM"]["Options"], serde_json::json!({}));
        assert_eq!(json["Labels"]["a"], "b");
        assert_eq!(json["BridgeName"], "br-test");
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(&keys[..5], ["Name", "Id", "Created", "Scope", "Driver"]);
    }

    #[test]
    fn host_and_none_are_shown_as_docker_shows_them() {
        let host = Network::builtin("host");
        let json = serde_json::to_value(&host).unwrap();
        assert_eq!(json["Driver"], "host");
        assert_eq!(json["IPAM"]["Options"], serde_json::Value::Null);
        assert!(json.get("BridgeName").is_none());
        assert_eq!(Network::builtin("none").driver, "null");
        assert_eq!(host.id, Network::builtin("host").id, "stable");
        assert_eq!(host.id.len(), 64);
    }

    #[test]
    fn list_filters() {
        let used = Network::from_rows(
            &row("web", r#"{"tier":"front"}"#),
            &[endpoint("c1", "172.18.0.2")],
            |_| String::new(),
        );
        let unused = Network::from_rows(&row("spare", "{}"), &[], |_| String::new());
        let host = Network::builtin("host");
        let check = |args: &[&str], n: &Network| passes(&Filters::from_args(args).unwrap(), n).unwrap();
        assert!(check(&["name=we"], &used));
        assert!(check(&["id=000"], &used));
        assert!(!check(&["id=1"], &used));
        assert!(check(&["driver=bridge"], &used) && !check(&["driver=bridge"], &host));
        assert!(check(&["type=builtin"], &host) && !check(&["type=builtin"], &used));
        assert!(check(&["type=custom"], &used));
        assert!(check(&["dangling=true"], &unused));
        assert!(!check(&["dangling=true"], &used) && !check(&["dangling=true"], &host));
        assert!(check(&["dangling=false"], &host));
        assert!(check(&["label=tier=front"], &used) && !check(&["label=tier"], &unused));
        assert!(check(&["scope=local"], &used) && !check(&["scope=swarm"], &used));
        let bad = passes(&Filters::from_args(&["type=odd"]).unwrap(), &used).unwrap_err();
        assert_eq!(bad.to_string(), "invalid filter 'type=odd'");
    }
}
