//! Networks: the default `bridge` and user-defined bridge networks, their addresses, and what a container's
//! network namespace needs when it starts and when it stops.
//!
//! Host-wide things (subnets, bridges, berth's nftables table) are shared by every data root on the machine, so
//! changes to them happen under one host lock (`/run/berth-network.lock`). Addresses are per network, handed
//! out in the metadata database (see `berth_store::networks`).

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use berth_network::{link, netns, Firewall, NetworkRules, PortForward, Proto};
use berth_store::networks::{self as rows, Allocation, EndpointRow, NetworkRow};
use berth_store::FileLock;

use crate::events::EventType;
pub use crate::ports::{parse_publish, BoundPort, PortBinding};
use crate::{time, Engine, Error, Result};

/// berth's table in nftables, shared by every data root.
const TABLE: &str = "berth";
/// Serialises subnet choice, bridge creation and firewall changes across all berth processes and roots.
const HOST_LOCK: &str = "/run/berth-network.lock";
/// The default network, as in Docker.
pub const DEFAULT_NETWORK: &str = "bridge";

/// Pools new networks take their subnet from when none is given (Docker's defaults).
fn candidate_subnets() -> impl Iterator<Item = (Ipv4Addr, u8)> {
    let wide = (17..=31).map(|b| (Ipv4Addr::new(172, b, 0, 0), 16));
    let narrow = (0..16).map(|i| (Ipv4Addr::new(192, 168, i * 16, 0), 20));
    wide.chain(narrow)
}

fn overlaps(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let prefix = a.1.min(b.1);
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    (u32::from(a.0) & mask) == (u32::from(b.0) & mask)
}

fn mac_text(ip: Ipv4Addr) -> String {
    link::mac_for(ip)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

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
}

/// A network as `network ls` and `network inspect` show it.
#[derive(Clone, Debug)]
pub struct Network {
    pub row: NetworkRow,
    pub endpoints: Vec<EndpointRow>,
}

/// What a running container holds on to for its network: the reserved host ports.
#[derive(Default)]
pub struct Attached {
    pub held_ports: Vec<OwnedFd>,
}

impl Engine {
    pub(crate) fn host_lock(&self) -> Result<FileLock> {
        Ok(FileLock::exclusive(Path::new(HOST_LOCK))?)
    }

    pub(crate) fn firewall(&self) -> Result<Firewall> {
        Firewall::new(TABLE, HOST_LOCK.replace(".lock", ".nft.lock")).map_err(net_error)
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
        self.runroot().join("netns").join(id)
    }

    fn ports_file(&self, id: &str) -> PathBuf {
        self.container_run_dir(id).join("ports.json")
    }

    /// Looks a network up by name, full id or unique id prefix.
    pub fn network(&self, name: &str) -> Result<Network> {
        if name == DEFAULT_NETWORK {
            self.default_network()?;
        }
        let db = self.store().db()?;
        let row = match rows::get_by_name(&db, name)? {
            Some(row) => row,
            None => {
                let matches: Vec<NetworkRow> = rows::list(&db)?
                    .into_iter()
                    .filter(|n| !name.is_empty() && n.id.starts_with(name))
                    .collect();
                match matches.len() {
                    1 => matches.into_iter().next().ok_or_else(|| no_such_network(name))?,
                    0 => return Err(no_such_network(name)),
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "network {name} is ambiguous ({} matches found based on ID prefix)",
                            matches.len()
                        )))
                    }
                }
            }
        };
        let endpoints = rows::endpoints_of_network(&db, &row.id)?;
        Ok(Network { row, endpoints })
    }

    /// Every network, the default one included (made on first use).
    pub fn networks(&self) -> Result<Vec<Network>> {
        self.default_network()?;
        let db = self.store().db()?;
        rows::list(&db)?
            .into_iter()
            .map(|row| {
                let endpoints = rows::endpoints_of_network(&db, &row.id)?;
                Ok(Network { row, endpoints })
            })
            .collect()
    }

    /// The `bridge` network's row, created (with its bridge and rules) the first time it is needed.
    fn default_network(&self) -> Result<NetworkRow> {
        if let Some(row) = rows::get_by_name(&*self.store().db()?, DEFAULT_NETWORK)? {
            return Ok(row);
        }
        let options = NetworkOptions {
            name: DEFAULT_NETWORK.into(),
            driver: "bridge".into(),
            ..NetworkOptions::default()
        };
        match self.create_network_row(&options, self.default_bridge_name()) {
            Ok(row) => Ok(row),
            // Another process made it meanwhile.
            Err(Error::Conflict(_)) => rows::get_by_name(&*self.store().db()?, DEFAULT_NETWORK)?
                .ok_or_else(|| no_such_network(DEFAULT_NETWORK)),
            Err(e) => Err(e),
        }
    }

    /// `network create`.
    pub fn create_network(&self, options: &NetworkOptions) -> Result<Network> {
        if matches!(options.name.as_str(), "bridge" | "host" | "none") {
            return Err(Error::Conflict(format!(
                "network with name {} already exists (it is predefined)",
                options.name
            )));
        }
        if !crate::containers::valid_name(&options.name) {
            return Err(Error::InvalidArgument(format!(
                "invalid network name {:?}: use [a-zA-Z0-9][a-zA-Z0-9_.-]",
                options.name
            )));
        }
        if !options.driver.is_empty() && options.driver != "bridge" {
            return Err(Error::InvalidArgument(format!(
                "network driver {:?} is not supported: use bridge",
                options.driver
            )));
        }
        let id = crate::containers::random_id();
        let row = self.create_network_row(options, format!("br-{}", &id[..12]))?;
        self.emit_network(&row, "create", None);
        Ok(Network {
            row,
            endpoints: Vec::new(),
        })
    }

    fn create_network_row(&self, options: &NetworkOptions, bridge: String) -> Result<NetworkRow> {
        if rows::get_by_name(&*self.store().db()?, &options.name)?.is_some() {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                options.name
            )));
        }
        let _lock = self.host_lock()?;
        // What killed commands left holds subnets: free them before picking one.
        self.sweep_leaked_networks(true)?;
        // Again under the lock: two processes making the default network at once share its bridge name.
        if rows::get_by_name(&*self.store().db()?, &options.name)?.is_some() {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                options.name
            )));
        }
        let host_routes: Vec<(Ipv4Addr, u8)> = link::host_routes_v4()
            .map_err(net_error)?
            .into_iter()
            .filter(|(_, prefix, _)| *prefix > 0)
            .map(|(ip, prefix, _)| (ip, prefix))
            .collect();
        let ours: Vec<(Ipv4Addr, u8)> = rows::list(&*self.store().db()?)?
            .iter()
            .filter_map(|n| rows::parse_cidr(&n.subnet))
            .collect();
        let subnet = match &options.subnet {
            Some(text) => {
                let subnet = rows::parse_cidr(text).ok_or_else(|| {
                    Error::InvalidArgument(format!("invalid subnet {text:?}: use CIDR notation like 10.10.0.0/24"))
                })?;
                if subnet.1 > 30 {
                    return Err(Error::InvalidArgument(format!(
                        "subnet {text} is too small: use /30 or larger"
                    )));
                }
                if let Some(other) = ours.iter().chain(&host_routes).find(|o| overlaps(**o, subnet)) {
                    return Err(Error::Conflict(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({text} overlaps {}/{})",
                        other.0, other.1
                    )));
                }
                subnet
            }
            None => candidate_subnets()
                .find(|c| !ours.iter().chain(&host_routes).any(|o| overlaps(*o, *c)))
                .ok_or_else(|| Error::Conflict("no free subnet left in berth's pools: pass --subnet".into()))?,
        };
        let gateway = match &options.gateway {
            Some(g) => {
                let g: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::InvalidArgument(format!("invalid gateway {g:?}: use an IPv4 address")))?;
                if !overlaps((g, 32), subnet) {
                    return Err(Error::InvalidArgument(format!(
                        "gateway {g} is not in subnet {}/{}",
                        subnet.0, subnet.1
                    )));
                }
                g
            }
            None => Ipv4Addr::from(u32::from(subnet.0) + 1),
        };
        let ip_range = match &options.ip_range {
            Some(r) => {
                let range = rows::parse_cidr(r)
                    .ok_or_else(|| Error::InvalidArgument(format!("invalid ip range {r:?}: use CIDR notation")))?;
                if range.1 < subnet.1 || !overlaps(range, subnet) {
                    return Err(Error::InvalidArgument(format!(
                        "ip range {r} is not inside subnet {}/{}",
                        subnet.0, subnet.1
                    )));
                }
                format!("{}/{}", range.0, range.1)
            }
            None => String::new(),
        };
        let id = crate::containers::random_id();
        let row = NetworkRow {
            id,
            name: options.name.clone(),
            driver: "bridge".into(),
            subnet: format!("{}/{}", subnet.0, subnet.1),
            gateway: gateway.to_string(),
            ip_range,
            internal: options.internal,
            bridge,
            labels: serde_json::to_string(&options.labels).unwrap_or_else(|_| "{}".into()),
            options: serde_json::to_string(&options.options).unwrap_or_else(|_| "{}".into()),
            created: time::now(),
        };
        // The record first: a create killed before the bridge is up leaves a network whose bridge comes up
        // on first use, never a bridge that nothing names. Other roots see the bridge's route only once it
        // is up, but they pick subnets under the host lock, which this process holds until then.
        let inserted = self.store().write(|tx| Ok::<_, Error>(rows::insert(tx, &row)?))?;
        if !inserted {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                options.name
            )));
        }
        if let Err(e) = self.bring_up(&row) {
            let _ = self.store().write(|tx| Ok::<_, Error>(rows::delete(tx, &row.id)?));
            self.tear_down_network(&row);
            return Err(e);
        }
        Ok(row)
    }

    /// The firewall rules and the bridge (again after a reboot took them away). The rules first: they
    /// name the bridge, which need not exist yet, so a bridge on the host always has its rules, and a
    /// start that finds the bridge (under the host lock) never publishes into a table without them.
    fn bring_up(&self, row: &NetworkRow) -> Result<()> {
        let (subnet, prefix) = rows::parse_cidr(&row.subnet)
            .ok_or_else(|| Error::InvalidArgument(format!("network {} has a bad subnet", row.name)))?;
        let gateway: Ipv4Addr = row
            .gateway
            .parse()
            .map_err(|_| Error::InvalidArgument(format!("network {} has a bad gateway", row.name)))?;
        let rules = NetworkRules {
            bridge: row.bridge.clone(),
            subnet: (subnet, prefix),
            internal: row.internal,
        };
        self.firewall()?.add_network(&rules).map_err(net_error)?;
        link::set_sysctl("net/ipv4/ip_forward", "1").map_err(net_error)?;
        let made = link::ensure_bridge(&row.bridge, gateway, prefix, link::uplink_mtu()).map_err(net_error);
        // The owner tag at once: a bridge without a row is then found and removed (`owned.rs`).
        if let Err(e) = made.and_then(|()| {
            self.network_tag(&row.id)
                .and_then(|tag| link::set_alias(&row.bridge, &tag).map_err(net_error))
        }) {
            self.tear_down_bridge(&row.id, &row.bridge);
            return Err(e);
        }
        Ok(())
    }

    /// Removes a network's rules and bridge; every step is tried, what is gone already is fine.
    fn tear_down_network(&self, row: &NetworkRow) {
        self.tear_down_bridge(&row.id, &row.bridge);
    }

    /// `tear_down_network` by network id and bridge name, for a bridge whose row may be gone.
    pub(crate) fn tear_down_bridge(&self, id: &str, bridge: &str) {
        if let Ok(fw) = self.firewall() {
            if let Err(e) = fw.remove_network(bridge) {
                tracing::warn!(bridge, error = %e, "removing firewall rules");
            }
            // The table goes with the last network of any root.
            let ours_left = fw
                .rules()
                .map(|rules| {
                    rules
                        .iter()
                        .any(|r| r.comment.as_deref().is_some_and(|c| c.starts_with("net:")))
                })
                .unwrap_or(true);
            if !ours_left {
                let _ = fw.remove_all();
            }
        }
        if let Err(e) = link::delete_link(bridge) {
            tracing::warn!(bridge, error = %e, "removing the bridge");
        }
        crate::dns::stop_server(self, id);
    }

    /// `network rm`.
    pub fn remove_network(&self, name: &str) -> Result<String> {
        if matches!(name, "host" | "none") {
            return Err(Error::Conflict(format!(
                "{name} is a pre-defined network and cannot be removed"
            )));
        }
        let net = self.network(name)?;
        if net.row.name == DEFAULT_NETWORK {
            return Err(Error::Conflict(
                "bridge is a pre-defined network and cannot be removed".into(),
            ));
        }
        if !net.endpoints.is_empty() {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                net.row.name, net.row.id
            )));
        }
        // The bridge and its rules go before the record: a removal killed in between leaves a network
        // without its bridge (brought up again on use, removed again by a repeated rm), never a bridge that
        // nothing names. A container starting meanwhile waits for the host lock to bring the bridge up.
        let _lock = self.host_lock()?;
        if !rows::endpoints_of_network(&*self.store().db()?, &net.row.id)?.is_empty() {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                net.row.name, net.row.id
            )));
        }
        self.tear_down_network(&net.row);
        self.store().write(|tx| {
            if !rows::endpoints_of_network(tx, &net.row.id)?.is_empty() {
                return Err(Error::Conflict(format!(
                    "error while removing network: network {} id {} has active endpoints",
                    net.row.name, net.row.id
                )));
            }
            rows::delete(tx, &net.row.id)?;
            Ok(())
        })?;
        self.emit_network(&net.row, "destroy", None);
        Ok(net.row.name)
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

    /// `system network-reset`: every network without endpoints, the default one included, goes with its bridge
    /// and rules. Networks still in use stay.
    pub fn reset_networks(&self) -> Result<Vec<String>> {
        let mut removed = self.prune_networks()?;
        let Some(row) = rows::get_by_name(&*self.store().db()?, DEFAULT_NETWORK)? else {
            return Ok(removed);
        };
        let _lock = self.host_lock()?;
        if !rows::endpoints_of_network(&*self.store().db()?, &row.id)?.is_empty() {
            return Ok(removed);
        }
        // As in `remove_network`: the bridge before the record.
        self.tear_down_network(&row);
        let gone = self.store().write(|tx| {
            if !rows::endpoints_of_network(tx, &row.id)?.is_empty() {
                return Ok::<_, Error>(false);
            }
            rows::delete(tx, &row.id)?;
            Ok(true)
        })?;
        if gone {
            removed.push(row.name);
        }
        Ok(removed)
    }

    /// `network prune`: user networks without endpoints.
    pub fn prune_networks(&self) -> Result<Vec<String>> {
        {
            let _lock = self.host_lock()?;
            self.sweep_leaked_networks(false)?;
        }
        let mut removed = Vec::new();
        // Straight from the rows: pruning must not create the default network.
        let all = rows::list(&*self.store().db()?)?;
        for row in all {
            let unused = rows::endpoints_of_network(&*self.store().db()?, &row.id)?.is_empty();
            if row.name != DEFAULT_NETWORK && unused {
                if let Ok(name) = self.remove_network(&row.id) {
                    removed.push(name);
                }
            }
        }
        Ok(removed)
    }

    /// Gives a new container its address on `network` (inside the create transaction).
    pub(crate) fn allocate_endpoint(
        &self,
        tx: &berth_store::rusqlite::Connection,
        network: &NetworkRow,
        container_id: &str,
        wanted: Option<Ipv4Addr>,
        aliases: &[String],
        mac: Option<&str>,
    ) -> Result<EndpointRow> {
        let aliases = serde_json::to_string(aliases).unwrap_or_else(|_| "[]".into());
        let mac = |ip| mac.map_or_else(|| mac_text(ip), str::to_owned);
        match rows::allocate(tx, network, container_id, wanted, mac, &aliases)? {
            Allocation::Done(endpoint) => Ok(endpoint),
            Allocation::InUse(ip) => Err(Error::Conflict(format!(
                "Address already in use: {ip} on network {}",
                network.name
            ))),
            Allocation::Exhausted => Err(Error::Conflict(format!(
                "no available IPv4 addresses on network {}: remove containers or use a larger subnet",
                network.name
            ))),
        }
    }

    /// The network a container's `--network` names, ready for an endpoint; None for host, none and
    /// container:NAME.
    pub(crate) fn network_for_mode(&self, mode: &str) -> Result<Option<NetworkRow>> {
        if matches!(mode, "host" | "none") || mode.starts_with("container:") {
            return Ok(None);
        }
        if mode == DEFAULT_NETWORK || mode == "default" {
            return self.default_network().map(Some);
        }
        self.network(mode).map(|n| Some(n.row))
    }

    /// Everything a container's own network namespace needs before it starts: the namespace, one veth per
    /// network it is on, and its published ports. Returns what must stay open while it runs.
    pub(crate) fn connect_namespace(&self, c: &crate::containers::Container) -> Result<(PathBuf, Attached)> {
        let id = c.id();
        let path = self.netns_path(id);
        self.disconnect_namespace(id);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::Io {
                path: parent.to_path_buf(),
                source: e,
            })?;
        }
        netns::create(&path).map_err(net_error)?;
        let result = self.attach_inner(c, &path);
        if result.is_err() {
            self.disconnect_namespace(id);
        }
        result.map(|attached| (path, attached))
    }

    fn attach_inner(&self, c: &crate::containers::Container, path: &Path) -> Result<Attached> {
        let id = c.id();
        let endpoints = rows::endpoints_of_container(&*self.store().db()?, id)?;
        let mut first_ip = None;
        for (n, endpoint) in endpoints.iter().enumerate() {
            let Some(network) = rows::get(&*self.store().db()?, &endpoint.network_id)? else {
                continue;
            };
            if !link::link_exists(&network.bridge).map_err(net_error)? {
                let _lock = self.host_lock()?;
                self.bring_up(&network)?;
            }
            let (_, prefix) = rows::parse_cidr(&network.subnet)
                .ok_or_else(|| Error::InvalidArgument(format!("network {} has a bad subnet", network.name)))?;
            let ip: Ipv4Addr = endpoint
                .ip
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("bad address {}", endpoint.ip)))?;
            if network.name != DEFAULT_NETWORK {
                // Names resolve on user-defined networks only, as in Docker.
                crate::dns::ensure_server(self, &network.id)?;
            }
            let gateway = if n == 0 { network.gateway.parse().ok() } else { None };
            // A previous run's namespace is destroyed in the background: its veth may linger for a moment.
            link::detach_veth(&veth_name(id, n)).map_err(net_error)?;
            link::attach_veth(&link::VethConfig {
                bridge: network.bridge.clone(),
                host_ifname: veth_name(id, n),
                netns: path.to_path_buf(),
                container_ifname: format!("eth{n}"),
                address: ip,
                prefix_len: prefix,
                gateway,
                mac: endpoint_mac(endpoint, ip),
                mtu: link::uplink_mtu(),
                alias: Some(self.veth_tag(id)?),
            })
            .map_err(net_error)?;
            first_ip.get_or_insert(ip);
        }
        let mut attached = Attached::default();
        let bindings = &c.config.host.port_bindings;
        if bindings.is_empty() {
            return Ok(attached);
        }
        let Some(container_ip) = first_ip else {
            return Err(Error::InvalidArgument(
                "published ports need a bridge network: use --network bridge or a network you created".into(),
            ));
        };
        let mut forwards = Vec::new();
        let mut bound = Vec::new();
        for b in bindings {
            let proto = if b.proto == "udp" { Proto::Udp } else { Proto::Tcp };
            let host_ip: Option<Ipv4Addr> = if b.host_ip.is_empty() || b.host_ip == "0.0.0.0" {
                None
            } else {
                Some(
                    b.host_ip
                        .parse()
                        .map_err(|_| Error::InvalidArgument(format!("bad host address {}", b.host_ip)))?,
                )
            };
            let (fd, port) = berth_network::reserve_port(host_ip, b.host_port, proto).map_err(|e| {
                Error::Conflict(format!(
                    "driver failed programming external connectivity on endpoint {}: {e}",
                    c.row.name
                ))
            })?;
            attached.held_ports.push(fd);
            forwards.push(PortForward {
                host_ip,
                host_port: port,
                proto,
                container_ip,
                container_port: b.container_port,
            });
            bound.push(BoundPort {
                host_ip: host_ip.map_or("0.0.0.0".into(), |ip| ip.to_string()),
                host_port: port,
                container_port: b.container_port,
                proto: b.proto.clone(),
            });
        }
        // Recorded before the rules exist: a start killed in between leaves a record that the teardown
        // (rm, the next start) follows, never rules that nothing names.
        let file = self.ports_file(id);
        if let Some(dir) = file.parent() {
            let _ = fs::create_dir_all(dir);
        }
        fs::write(&file, serde_json::to_vec(&bound).unwrap_or_default()).map_err(|e| Error::Io {
            path: file.clone(),
            source: e,
        })?;
        self.firewall()?
            .publish_all(&self.port_owner(id)?, &forwards)
            .map_err(net_error)?;
        Ok(attached)
    }

    /// Undoes [`Engine::attach_container`]: every step is tried, and what is already gone is fine.
    pub(crate) fn disconnect_namespace(&self, id: &str) {
        let ports = self.ports_file(id);
        if ports.exists() {
            let owner = self.port_owner(id);
            if let (Ok(fw), Ok(owner)) = (self.firewall(), owner) {
                if let Err(e) = fw.unpublish(&owner) {
                    tracing::warn!(id, error = %e, "removing published ports");
                }
            }
            let _ = fs::remove_file(&ports);
        }
        // Unmounting the namespace is enough: the kernel destroys it, and with it both ends of every veth,
        // in the background (deleting a veth ourselves waits for an RCU grace period, ~10 ms each). Only
        // leftovers of a namespace that is already gone are deleted one by one.
        let path = self.netns_path(id);
        let had_namespace = path.exists();
        if let Err(e) = netns::remove(&path) {
            tracing::warn!(id, error = %e, "removing the network namespace");
        }
        if !had_namespace {
            for n in 0..8 {
                let _ = link::detach_veth(&veth_name(id, n));
            }
        }
    }

    /// `network connect`: puts a container on one more network. A running container gets its interface at
    /// once; a stopped one at its next start.
    pub fn connect_container(&self, network: &str, container: &str, options: &ConnectOptions) -> Result<()> {
        let (net, id) = self.connect_endpoint(network, container, options)?;
        self.emit_network(&net, "connect", Some(&id));
        Ok(())
    }

    fn connect_endpoint(
        &self,
        network: &str,
        container: &str,
        options: &ConnectOptions,
    ) -> Result<(NetworkRow, String)> {
        let c = self.container(container)?;
        let mode = c.config.host.network_mode.as_str();
        if matches!(network, "host" | "none") || matches!(mode, "host" | "none") || mode.starts_with("container:") {
            return Err(Error::Conflict(format!(
                "container {} cannot be connected to network {network}: its network mode is {mode}; \
                 only containers on bridge networks can join other networks",
                c.row.name
            )));
        }
        let net = self.network(network)?.row;
        let wanted = match options.ip.as_deref().unwrap_or("") {
            "" => None,
            text => Some(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| Error::InvalidArgument(format!("invalid IPv4 address: {text}")))?,
            ),
        };
        if (wanted.is_some() || !options.aliases.is_empty()) && net.name == DEFAULT_NETWORK {
            return Err(Error::InvalidArgument(
                "user specified IP address and network aliases are supported only for user-defined networks".into(),
            ));
        }
        let endpoint = self.store().write(|tx| {
            if rows::endpoints_of_container(tx, c.id())?
                .iter()
                .any(|e| e.network_id == net.id)
            {
                return Err(Error::Conflict(format!(
                    "endpoint with name {} already exists in network {}",
                    c.row.name, net.name
                )));
            }
            self.allocate_endpoint(tx, &net, c.id(), wanted, &options.aliases, None)
        })?;
        let path = self.netns_path(c.id());
        if !c.is_running() || !path.exists() {
            return Ok((net, c.row.id));
        }
        let attached = self.attach_one(&c, &path, &net, &endpoint);
        if let Err(e) = attached {
            let _ = self
                .store()
                .write(|tx| rows::delete_endpoint(tx, &net.id, c.id()).map_err(Error::from));
            return Err(e);
        }
        // A container that had no name server of its own now uses this network's.
        if net.name != DEFAULT_NETWORK && c.config.host.dns.is_empty() {
            let others = self.container_endpoints(c.id())?;
            if !others.iter().any(|(n, _)| n.name != DEFAULT_NETWORK && n.id != net.id) {
                crate::containers::point_resolver_at(self, &c, &net.gateway);
            }
        }
        Ok((net, c.row.id))
    }

    /// Wires one endpoint into a running container's namespace, on the first free `ethN`.
    fn attach_one(
        &self,
        c: &crate::containers::Container,
        path: &Path,
        net: &NetworkRow,
        endpoint: &EndpointRow,
    ) -> Result<()> {
        if !link::link_exists(&net.bridge).map_err(net_error)? {
            let _lock = self.host_lock()?;
            self.bring_up(net)?;
        }
        if net.name != DEFAULT_NETWORK {
            crate::dns::ensure_server(self, &net.id)?;
        }
        let names = netns::run_in(path, link::list_link_names).map_err(net_error)?;
        let n = (0..)
            .find(|n| !names.iter().any(|name| *name == format!("eth{n}")))
            .unwrap_or(0);
        let (_, prefix) = rows::parse_cidr(&net.subnet)
            .ok_or_else(|| Error::InvalidArgument(format!("network {} has a bad subnet", net.name)))?;
        let ip: Ipv4Addr = endpoint
            .ip
            .parse()
            .map_err(|_| Error::InvalidArgument(format!("bad address {}", endpoint.ip)))?;
        link::detach_veth(&veth_name(c.id(), n)).map_err(net_error)?;
        link::attach_veth(&link::VethConfig {
            bridge: net.bridge.clone(),
            host_ifname: veth_name(c.id(), n),
            netns: path.to_path_buf(),
            container_ifname: format!("eth{n}"),
            address: ip,
            prefix_len: prefix,
            gateway: None,
            mac: endpoint_mac(endpoint, ip),
            mtu: link::uplink_mtu(),
            alias: Some(self.veth_tag(c.id())?),
        })
        .map_err(net_error)
    }

    /// `network disconnect`: takes a container off a network; a running one loses that interface at once.
    pub fn disconnect_container(&self, network: &str, container: &str, force: bool) -> Result<()> {
        let net = self.network(network)?.row;
        let c = match self.container(container) {
            Ok(c) => c,
            // `-f` cleans up after a container that is gone.
            Err(Error::NoSuchContainer(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let endpoint = rows::endpoints_of_container(&*self.store().db()?, c.id())?
            .into_iter()
            .find(|e| e.network_id == net.id)
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "container {} is not connected to network {}",
                    c.short_id(),
                    net.name
                ))
            })?;
        let path = self.netns_path(c.id());
        if c.is_running() && path.exists() {
            let ip: Option<Ipv4Addr> = endpoint.ip.parse().ok();
            // Deleting the container's end of the veth pair deletes both ends.
            let removed = netns::run_in(&path, || {
                let owner = link::host_addresses_v4()?
                    .into_iter()
                    .find(|(addr, _, _)| Some(*addr) == ip)
                    .map(|(_, _, name)| name);
                match owner {
                    Some(name) => link::delete_link(&name),
                    None => Ok(()),
                }
            });
            if let Err(e) = removed {
                if !force {
                    return Err(net_error(e));
                }
            }
        }
        self.store()
            .write(|tx| rows::delete_endpoint(tx, &net.id, c.id()).map_err(Error::from))?;
        self.emit_network(&net, "disconnect", Some(c.id()));
        Ok(())
    }

    /// The ports a running container publishes, as bound.
    pub fn container_ports(&self, id: &str) -> Vec<BoundPort> {
        fs::read(self.ports_file(id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The container's endpoints with their networks, for inspect and /etc/hosts.
    pub fn container_endpoints(&self, id: &str) -> Result<Vec<(NetworkRow, EndpointRow)>> {
        let db = self.store().db()?;
        let mut out = Vec::new();
        for e in rows::endpoints_of_container(&db, id)? {
            if let Some(n) = rows::get(&db, &e.network_id)? {
                out.push((n, e));
            }
        }
        Ok(out)
    }
}

/// The endpoint's MAC (`--mac-address`, else derived from its address).
fn endpoint_mac(endpoint: &EndpointRow, ip: Ipv4Addr) -> [u8; 6] {
    parse_mac(&endpoint.mac).unwrap_or_else(|| link::mac_for(ip))
}

/// "02:42:ac:11:00:02" -> bytes.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in &mut out {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The host end of a container's n-th veth.
fn veth_name(id: &str, n: usize) -> String {
    format!("vb{}{n}", &id[..10.min(id.len())])
}

fn no_such_network(name: &str) -> Error {
    Error::NoSuchNetwork(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_overlap() {
        let a = (Ipv4Addr::new(172, 17, 0, 0), 16);
        assert!(overlaps(a, (Ipv4Addr::new(172, 17, 5, 0), 24)));
        assert!(overlaps(a, (Ipv4Addr::new(172, 0, 0, 0), 8)));
        assert!(!overlaps(a, (Ipv4Addr::new(172, 18, 0, 0), 16)));
    }
}
