//! `network create`: the name and options checked, a free subnet picked, the row recorded, the bridge
//! brought up.

use std::net::Ipv4Addr;

use berth_network::link;
use berth_store::networks::{self as rows, NetworkRow};

use super::{net_error, Network, NetworkOptions};
use crate::{time, Engine, Error, Result};

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

impl Engine {
    /// `network create`.
    pub fn create_network(&self, options: &NetworkOptions) -> Result<Network> {
        if matches!(options.name.as_str(), "bridge" | "host" | "none") {
            return Err(Error::Conflict(format!(
                "network with name {} already exists (it is predefined)",
                options.name
            )));
        }
        if !crate::ids::valid_name(&options.name) {
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
        let id = crate::ids::random_id();
        let row = self.create_network_row(options, format!("br-{}", &id[..12]))?;
        self.emit_network(&row, "create", None);
        Ok(Network {
            row,
            endpoints: Vec::new(),
        })
    }

    pub(super) fn create_network_row(&self, options: &NetworkOptions, bridge: String) -> Result<NetworkRow> {
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
        let id = crate::ids::random_id();
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
