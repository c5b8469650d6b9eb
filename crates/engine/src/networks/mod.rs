//! Networks: the default `bridge` and user-defined bridge networks, their addresses, and what a container's
//! network namespace needs when it starts and when it stops.
//!
//! Host-wide things (subnets, bridges, berth's nftables table) are shared by every data root on the machine, so
//! changes to them happen under one host lock (`/run/berth-network.lock`). Addresses are per network, handed
//! out in the metadata database (see `berth_store::networks`).

mod addresses;
mod bridge;
mod connect;
mod create;
mod lookup;
mod namespace;
mod remove;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use berth_network::Firewall;
use berth_store::networks::{EndpointRow, NetworkRow};
use berth_store::FileLock;

use crate::events::EventType;
pub use crate::ports::{parse_publish, BoundPort, PortBinding};
use crate::{Engine, Error, Result};
pub use addresses::parse_mac;

/// berth's table in nftables, shared by every data root.
const TABLE: &str = "berth";
/// Serialises subnet choice, bridge creation and firewall changes across all berth processes and roots.
const HOST_LOCK: &str = "/run/berth-network.lock";
/// The default network, as in Docker.
pub const DEFAULT_NETWORK: &str = "bridge";

pub(crate) fn net_error(e: berth_network::Error) -> Error {
    match e.kind() {
        berth_store::ErrorKind::InvalidArgument => Error::InvalidArgument(e.to_string()),
        berth_store::ErrorKind::Conflict => Error::Conflict(e.to_string()),
        _ => Error::Network(e.to_string()),
    }
}

/// What `network create` asks for.
#[derive(Clone, Debug, Default)]
pub struct NetworkOptions {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// What `network connect` asks for.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    pub aliases: Vec<String>,
    pub ip: Option<String>,
    /// `--link`: berth takes links at create, so only links the container has already (compose
    /// repeats them when it connects a container to each of its networks).
    pub links: Vec<crate::containers::Link>,
}

/// A network as `network ls` and `network inspect` show it.
#[derive(Clone, Debug)]
pub struct Network {
    pub row: NetworkRow,
    pub endpoints: Vec<EndpointRow>,
}

impl Network {
    pub fn id(&self) -> &str {
        &self.row.id
    }

    pub fn name(&self) -> &str {
        &self.row.name
    }
}

/// What a running container holds on to for its network: the reserved host ports.
#[derive(Default)]
pub struct Attached {
    pub held_ports: Vec<OwnedFd>,
}

impl Engine {
    pub(crate) fn host_lock(&self) -> Result<FileLock> {
        Ok(FileLock::exclusive(&crate::rootless::network_lock(
            self.runroot(),
            HOST_LOCK,
        ))?)
    }

    pub(crate) fn firewall(&self) -> Result<Firewall> {
        let lock = crate::rootless::network_lock(self.runroot(), HOST_LOCK);
        Firewall::new(TABLE, lock.with_extension("nft.lock")).map_err(net_error)
    }

    /// The default network's bridge: `berth0` for the default data root; other roots (tests, second
    /// installations) get their own, named after the root.
    fn default_bridge_name(&self) -> String {
        if self.root() == Path::new("/var/lib/berth") {
            return "berth0".into();
        }
        let hash = berth_store::Digest::of(self.root().as_os_str().as_encoded_bytes());
        format!("bt{}", &hash.hex()[..8])
    }

    pub(crate) fn netns_path(&self, id: &str) -> PathBuf {
        self.layout().netns(id)
    }

    fn ports_file(&self, id: &str) -> PathBuf {
        self.container_run_dir(id).join("ports.json")
    }

    /// Records a network event, naming the container for connect and disconnect.
    fn emit_network(&self, row: &NetworkRow, action: &str, container: Option<&str>) {
        let mut attributes = BTreeMap::from([
            ("name".to_string(), row.name.clone()),
            ("type".to_string(), "bridge".to_string()),
        ]);
        if let Some(id) = container {
            attributes.insert("container".into(), id.to_string());
        }
        self.emit(EventType::Network, action, &row.id, attributes);
    }
}
