//! `network rm`, `network prune` and `system network-reset`: unused networks go, their bridges before
//! their rows.

use berth_store::networks as rows;

use super::DEFAULT_NETWORK;
use crate::{Engine, Error, Result};

impl Engine {
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
}
