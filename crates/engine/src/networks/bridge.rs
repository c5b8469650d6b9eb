//! A network's bridge and firewall rules on the host: brought up (again after a reboot), torn down.

use std::net::Ipv4Addr;

use berth_network::{link, NetworkRules};
use berth_store::networks::{self as rows, NetworkRow};

use super::net_error;
use crate::{Engine, Error, Result};

impl Engine {
    /// The firewall rules and the bridge (again after a reboot took them away). The rules first: they
    /// name the bridge, which need not exist yet, so a bridge on the host always has its rules, and a
    /// start that finds the bridge (under the host lock) never publishes into a table without them.
    pub(super) fn bring_up(&self, row: &NetworkRow) -> Result<()> {
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
    pub(super) fn tear_down_network(&self, row: &NetworkRow) {
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
}
