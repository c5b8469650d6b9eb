//! A container's own network namespace at start and stop: one veth per network it is on, its published
//! ports, and their teardown.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_network::{link, netns, PortForward, Proto};
use berth_store::networks as rows;

use super::addresses::{endpoint_mac, veth_name};
use super::{net_error, Attached, BoundPort, DEFAULT_NETWORK};
use crate::{Engine, Error, Result};

impl Engine {
    /// Everything a container's own network namespace needs before it starts: the namespace, one veth per
    /// network it is on, and its published ports. Returns what must stay open while it runs.
    /// `made` is a network namespace made inside the container's own user namespace, bound in place of a
    /// new one.
    pub(crate) fn connect_namespace(
        &self,
        c: &crate::containers::Container,
        made: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> Result<(PathBuf, Attached)> {
        let id = c.id();
        let path = self.netns_path(id);
        self.disconnect_namespace(id);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::Io {
                path: parent.to_path_buf(),
                source: e,
            })?;
        }
        match made {
            Some(ns) => netns::adopt(&path, ns),
            None => netns::create(&path),
        }
        .map_err(net_error)?;
        let result = self.attach_inner(c, &path);
        if result.is_err() {
            self.disconnect_namespace(id);
        }
        result.map(|attached| (path, attached))
    }

    fn attach_inner(&self, c: &crate::containers::Container, path: &Path) -> Result<Attached> {
        let id = c.id();
        let endpoints = rows::endpoints_of_container(&*self.store().db()?, id)?;
        let rootless = crate::rootless::is_rootless();
        // A rootless berth's networks reach out through slirp4netns, which also forwards its ports.
        let slirp = match rootless && !endpoints.is_empty() {
            true => Some(crate::rootless::slirp(self.runroot())?),
            false => None,
        };
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
        let conflict = |e: berth_network::Error| {
            Error::Conflict(format!(
                "driver failed programming external connectivity on endpoint {}: {e}",
                c.row.name
            ))
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
            // Rootless: slirp4netns binds the host port below (a reservation only finds a free one for
            // `-p 0`), and the forward arrives at the user's namespace addressed to it, not to the host
            // address.
            let port = match (&slirp, b.host_port) {
                (Some(_), 0) => berth_network::reserve_port(host_ip, 0, proto).map_err(conflict)?.1,
                (Some(_), port) => port,
                (None, port) => {
                    let (fd, port) = berth_network::reserve_port(host_ip, port, proto).map_err(conflict)?;
                    attached.held_ports.push(fd);
                    port
                }
            };
            forwards.push(PortForward {
                host_ip: host_ip.filter(|_| slirp.is_none()),
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
        if let Some(slirp) = &slirp {
            for (f, b) in forwards.iter().zip(&bound) {
                let host_ip = b.host_ip.parse().ok().filter(|ip: &Ipv4Addr| !ip.is_unspecified());
                slirp.add(f.proto, host_ip, f.host_port).map_err(conflict)?;
                tracing::debug!(port = f.host_port, "forwarded by slirp4netns");
            }
        }
        Ok(attached)
    }

    /// Rootless: has slirp4netns stop listening on the host ports `ports` (a ports.json) records.
    fn unforward(&self, ports: &Path) {
        let bound: Vec<BoundPort> = fs::read(ports)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if bound.is_empty() {
            return;
        }
        let slirp = berth_network::slirp::Slirp::at(&self.runroot().join("slirp.sock"));
        for b in bound {
            let proto = if b.proto == "udp" { Proto::Udp } else { Proto::Tcp };
            if let Err(e) = slirp.remove_port(proto, b.host_port) {
                tracing::warn!(error = %e, port = b.host_port, "removing a port forward");
            }
        }
    }

    /// Undoes [`Engine::attach_container`]: every step is tried, and what is already gone is fine.
    pub(crate) fn disconnect_namespace(&self, id: &str) {
        let ports = self.ports_file(id);
        if ports.exists() {
            if crate::rootless::is_rootless() {
                self.unforward(&ports);
            }
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
}
