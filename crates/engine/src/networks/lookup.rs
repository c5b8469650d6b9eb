//! Finding networks (by name, id or prefix; the default one made on first use) and a container's endpoints
//! and published ports.

use std::fs;

use berth_store::networks::{self as rows, EndpointRow, NetworkRow};

use super::{BoundPort, Network, NetworkOptions, DEFAULT_NETWORK};
use crate::{Engine, Error, Result};

impl Engine {
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

fn no_such_network(name: &str) -> Error {
    Error::NoSuchNetwork(name.to_string())
}
