//! Endpoints: a container's address on a network, given at create or by `network connect`, taken back by
//! `network disconnect` (a running container's interface changing at once).

use std::net::Ipv4Addr;
use std::path::Path;

use berth_network::{link, netns};
use berth_store::networks::{self as rows, Allocation, EndpointRow, NetworkRow};

use super::addresses::{endpoint_mac, mac_text, veth_name};
use super::{net_error, ConnectOptions, DEFAULT_NETWORK};
use crate::{Engine, Error, Result};

impl Engine {
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
        if let Some(link) = options.links.iter().find(|l| !c.config.host.links.contains(l)) {
            return Err(Error::InvalidArgument(format!(
                "berth takes links when a container is created: {link} is not a link of {}; create it with --link {link}",
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
}
