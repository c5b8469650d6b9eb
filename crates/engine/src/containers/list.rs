//! `ps` and `GET /containers/json`: containers as Docker's `ContainerSummary`, filtered by
//! Docker's filter set.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Container;
use crate::filters::Filters;
use crate::mounts::MountKind;
use crate::ContainerState;
use crate::{Engine, Error, Result};

/// The filter keys `ps` takes.
pub const FILTER_KEYS: &[&str] = &[
    "ancestor", "before", "exited", "health", "id", "label", "name", "network", "since", "status", "volume",
];

/// What `ps` lists.
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    /// Stopped containers too (implied by `limit` and by any filter).
    pub all: bool,
    /// Only the last `n` created (`-n`, `--latest`).
    pub limit: Option<usize>,
    /// Count each container's writable layer (`SizeRw`, `SizeRootFs`).
    pub size: bool,
    pub filters: Filters,
}

/// Docker's `ContainerSummary`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    /// The name with its leading slash, as Docker gives it.
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// The command as one line (entrypoint and arguments).
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<PortSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// created, running, paused, restarting, removing, exited, dead.
    pub state: ContainerState,
    /// Docker's human status: "Up 3 seconds (healthy)", "Exited (0) 2 minutes ago".
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub mounts: Vec<SummaryMount>,
}

/// A port of a running container: published (`PublicPort` set), or only exposed.
#[derive(Clone, Debug, Serialize)]
pub struct PortSummary {
    #[serde(rename = "IP", skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    #[serde(rename = "PublicPort", skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryHostConfig {
    pub network_mode: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryMount {
    #[serde(rename = "Type")]
    pub kind: crate::mounts::MountKind,
    /// The volume's name (volumes only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(rename = "RW")]
    pub rw: bool,
}

impl Engine {
    /// The containers `request` asks for, newest first.
    pub fn list_containers(&self, request: &ListRequest) -> Result<Vec<ContainerSummary>> {
        let filters = &request.filters;
        filters.accept_only(FILTER_KEYS)?;
        let all = request.all || request.limit.is_some() || !filters.is_empty();
        let containers = self.containers()?;
        let created_of = |name: &str| -> Result<String> {
            let c = containers
                .iter()
                .find(|c| c.row.name == name || c.row.id.starts_with(name))
                .ok_or_else(|| Error::NoSuchContainer(name.to_string()))?;
            Ok(c.row.created.clone())
        };
        let before: Vec<String> = filters
            .get("before")
            .iter()
            .map(|n| created_of(n))
            .collect::<Result<_>>()?;
        let since: Vec<String> = filters
            .get("since")
            .iter()
            .map(|n| created_of(n))
            .collect::<Result<_>>()?;
        let mut listed = Vec::new();
        for c in &containers {
            // The status shows health only for a running container: the file is read for those, and
            // for every container when a health filter asks.
            let health = match c.row.state == ContainerState::Running || !filters.get("health").is_empty() {
                true => self.container_health(c.id()).map(|h| h.status).unwrap_or_default(),
                false => String::new(),
            };
            let endpoints = match filters.get("network").is_empty() {
                true => Vec::new(),
                false => self.container_endpoints(c.id())?,
            };
            let passes = (all || c.is_running())
                && passes(c, filters, &health)
                && before.iter().all(|t| c.row.created < *t)
                && since.iter().all(|t| c.row.created > *t)
                && filters.allows("network", |n| {
                    endpoints.iter().any(|(net, _)| net.name == n || net.id.starts_with(n))
                        || c.config.host.network_mode == n
                });
            if passes {
                listed.push(self.summary(c, &health, request.size));
            }
            if request.limit.is_some_and(|n| listed.len() >= n) {
                break;
            }
        }
        Ok(listed)
    }

    /// A container's `SizeRw`, the bytes of the files in its writable layer (its overlay upper dir),
    /// and `SizeRootFs`, that plus its image's size: what `ps -s` and `inspect -s` show.
    pub(super) fn container_sizes(&self, c: &Container) -> (i64, i64) {
        let rw = crate::disk::dir_size(&self.container_dir(c.id()).join("upper")) as i64;
        let image = self.image(&c.row.image_id).map(|i| i.record.size).unwrap_or(0) as i64;
        (rw, rw + image)
    }

    fn summary(&self, c: &Container, health: &str, size: bool) -> ContainerSummary {
        let (size_rw, size_root_fs) = match size {
            true => {
                let (rw, root_fs) = self.container_sizes(c);
                (Some(rw), Some(root_fs))
            }
            false => (None, None),
        };
        ContainerSummary {
            id: c.row.id.clone(),
            names: vec![format!("/{}", c.row.name)],
            image: c.config.image.clone(),
            image_id: c.row.image_id.clone(),
            command: c.args().join(" "),
            created: crate::time::unix_seconds(Some(&c.row.created)),
            // Only a running container has ports (a stopped one's bound ports may linger while its
            // monitor tears the run down).
            ports: match c.is_running() {
                true => self.port_summary(c),
                false => Vec::new(),
            },
            size_rw,
            size_root_fs,
            labels: c.config.labels.clone(),
            state: c.row.state,
            status: status_text(c, health, chrono::Utc::now()),
            host_config: SummaryHostConfig {
                network_mode: c.config.host.network_mode.clone(),
            },
            mounts: c
                .config
                .mounts
                .iter()
                .map(|m| SummaryMount {
                    kind: m.kind,
                    name: if m.kind == MountKind::Volume {
                        m.source.clone()
                    } else {
                        String::new()
                    },
                    source: m.source.clone(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                })
                .collect(),
        }
    }

    /// The published ports as bound, then the exposed ones nothing publishes.
    fn port_summary(&self, c: &Container) -> Vec<PortSummary> {
        let bound = self.container_ports(c.id());
        let mut ports: Vec<PortSummary> = bound
            .iter()
            .map(|p| PortSummary {
                ip: Some(p.host_ip.clone()),
                private_port: p.container_port,
                public_port: Some(p.host_port),
                kind: p.proto.clone(),
            })
            .collect();
        for key in c.config.exposed_ports.keys() {
            let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let Ok(port) = port.parse::<u16>() else { continue };
            if !bound.iter().any(|p| p.container_port == port && p.proto == proto) {
                ports.push(PortSummary {
                    ip: None,
                    private_port: port,
                    public_port: None,
                    kind: proto.to_string(),
                });
            }
        }
        ports
    }
}

/// The filters that need nothing but the container itself.
fn passes(c: &Container, filters: &Filters, health: &str) -> bool {
    let id = |v: &str| v.trim_start_matches("sha256:").to_string();
    filters.allows("status", |s| c.row.state.as_str() == s)
        && filters.allows("name", |n| c.row.name.contains(n.trim_start_matches('/')))
        && filters.allows("id", |i| c.row.id.starts_with(i))
        && filters.allows_labels(&c.config.labels)
        && filters.allows("ancestor", |a| {
            c.config.image == a || c.row.image_id.trim_start_matches("sha256:").starts_with(&id(a))
        })
        && filters.allows("exited", |e| {
            c.row.state == ContainerState::Exited && c.row.exit_code.to_string() == e
        })
        && filters.allows("health", |h| match h {
            "none" => health.is_empty(),
            _ => health == h,
        })
        && filters.allows("volume", |v| {
            c.config.mounts.iter().any(|m| m.source == v || m.target == v)
        })
}

/// Docker's STATUS: "Up 3 seconds", "Up 1 minute (healthy)", "Exited (0) 2 minutes ago", "Created".
pub fn status_text(c: &Container, health: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let ago = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| crate::units::human_duration((now - t.with_timezone(&chrono::Utc)).num_seconds()))
            .unwrap_or_default()
    };
    let status = match c.row.state {
        ContainerState::Running => format!("Up {}", ago(&c.row.started_at)),
        ContainerState::Paused => format!("Up {} (Paused)", ago(&c.row.started_at)),
        ContainerState::Restarting => format!("Restarting ({}) {} ago", c.row.exit_code, ago(&c.row.finished_at)),
        ContainerState::Exited => format!("Exited ({}) {} ago", c.row.exit_code, ago(&c.row.finished_at)),
        ContainerState::Removing => "Removal In Progress".into(),
        ContainerState::Dead => "Dead".into(),
        ContainerState::Created => "Created".into(),
    };
    match (c.row.state, health) {
        (ContainerState::Running, "starting") => format!("{status} (health: starting)"),
        (ContainerState::Running, h) if !h.is_empty() => format!("{status} ({h})"),
        _ => status,
    }
}
