//! Host resources berth makes outside its data root carry the root's identity, so that they can be
//! found when a killed command left them without a record, and so that one root never touches
//! another root's. A root's identity is a random id kept in `$BERTH_ROOT/root-id`. Tags:
//! - a network's bridge has the alias `berth:<root id>:<network id>`;
//! - a container's host-side veth has the alias `berth:<root id>:ctr:<container id>`;
//! - a container's published ports are the nftables chain and rules of the owner
//!   `<root id>.<first 32 digits of the container id>` (a rule comment holds at most 128 bytes).
//!
//! A bridge is leaked when its network has no row. A container's veth or port rules are leaked when
//! the container has no row or no network namespace: a start makes the namespace before either, and
//! a teardown removes both before the namespace (the kernel then deletes the veths with it).

use std::fs;
use std::io::ErrorKind;

use berth_network::link;
use berth_store::containers as container_rows;
use berth_store::networks as rows;

use crate::{Engine, Error, Result};

/// Digits of a container id in its port owner's name.
const OWNER_ID_DIGITS: usize = 32;

/// Something of this root on the host that no record accounts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Leak {
    /// A bridge (`name`) whose network (`network`) has no row.
    Bridge { name: String, network: String },
    /// The published-port rules of `owner`, whose container (id prefix `container`) is gone.
    Ports { owner: String, container: String },
    /// A host-side veth (`name`) whose container is gone.
    Veth { name: String, container: String },
}

impl Leak {
    /// What it is, in a few words, for `system check` and the logs.
    pub(crate) fn describe(&self) -> String {
        match self {
            Leak::Bridge { name, network } => format!("bridge {name} of network {network}, which has no record"),
            Leak::Ports { owner, container } => format!(
                "published-port rules (nftables chain ctr-{owner}) of container {container}, which is gone or not running"
            ),
            Leak::Veth { name, container } => {
                format!("veth {name} of container {container}, which is gone or not running")
            }
        }
    }
}

impl Engine {
    /// This data root's identity, made on first use (the first process to link its file wins).
    pub(crate) fn root_id(&self) -> Result<String> {
        let path = self.layout().root_id();
        if let Ok(id) = fs::read_to_string(&path) {
            return Ok(id.trim().to_string());
        }
        let temp = self.layout().root_id().with_extension(std::process::id().to_string());
        let io = |path: &std::path::Path, e: std::io::Error| Error::Io {
            path: path.to_path_buf(),
            source: e,
        };
        fs::write(&temp, format!("{:016x}\n", rand::random::<u64>())).map_err(|e| io(&temp, e))?;
        let linked = fs::hard_link(&temp, &path);
        let _ = fs::remove_file(&temp);
        match linked {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(io(&path, e)),
            _ => {}
        }
        Ok(fs::read_to_string(&path).map_err(|e| io(&path, e))?.trim().to_string())
    }

    fn tag_prefix(&self) -> Result<String> {
        Ok(format!("berth:{}:", self.root_id()?))
    }

    /// The owner tag of this root's network `id` (a bridge's alias).
    pub(crate) fn network_tag(&self, id: &str) -> Result<String> {
        Ok(format!("{}{id}", self.tag_prefix()?))
    }

    /// The owner tag of container `id`'s host-side veths.
    pub(crate) fn veth_tag(&self, id: &str) -> Result<String> {
        Ok(format!("{}ctr:{id}", self.tag_prefix()?))
    }

    /// The firewall owner of container `id`'s published ports.
    pub(crate) fn port_owner(&self, id: &str) -> Result<String> {
        Ok(format!("{}.{}", self.root_id()?, &id[..OWNER_ID_DIGITS.min(id.len())]))
    }

    /// This root's bridges, veths and port rules on the host that no record accounts for.
    pub(crate) fn leaked_host_resources(&self) -> Result<Vec<Leak>> {
        let mut leaks = self.leaked_links()?;
        let owner_prefix = format!("{}.", self.root_id()?);
        let owners = self
            .firewall()?
            .owners_with_prefix(&owner_prefix)
            .map_err(crate::networks::net_error)?;
        let db = self.store().db()?;
        for owner in owners {
            let container = &owner[owner_prefix.len()..];
            if !self.holds_network(&db, container)? {
                leaks.push(Leak::Ports {
                    container: container.to_string(),
                    owner,
                });
            }
        }
        Ok(leaks)
    }

    /// This root's bridges and veths that no record accounts for (read from sysfs: no process to run).
    fn leaked_links(&self) -> Result<Vec<Leak>> {
        let prefix = self.tag_prefix()?;
        let db = self.store().db()?;
        let mut leaks = Vec::new();
        for (name, alias) in link::links_with_alias(&prefix) {
            let tagged = &alias[prefix.len()..];
            match tagged.strip_prefix("ctr:") {
                Some(container) if !self.holds_network(&db, container)? => leaks.push(Leak::Veth {
                    name,
                    container: container.to_string(),
                }),
                Some(_) => {}
                None if rows::get(&db, tagged)?.is_none() => leaks.push(Leak::Bridge {
                    name,
                    network: tagged.to_string(),
                }),
                None => {}
            }
        }
        Ok(leaks)
    }

    /// Whether the container whose id starts with `id` exists and has a network namespace.
    fn holds_network(&self, db: &berth_store::rusqlite::Connection, id: &str) -> Result<bool> {
        if id.is_empty() {
            return Ok(false);
        }
        let rows = container_rows::with_prefix(db, id)?;
        Ok(rows.iter().any(|row| self.netns_path(&row.id).exists()))
    }

    /// Removes one leaked resource; what is already gone is fine. Caller holds the host network lock.
    pub(crate) fn remove_leak(&self, leak: &Leak) -> Result<()> {
        match leak {
            Leak::Bridge { name, network } => {
                self.tear_down_bridge(network, name);
                Ok(())
            }
            Leak::Ports { owner, .. } => self.firewall()?.unpublish(owner).map_err(crate::networks::net_error),
            Leak::Veth { name, .. } => link::delete_link(name).map_err(crate::networks::net_error),
        }
    }

    /// Removes every leaked bridge, veth and port rule of this root (a create killed before its row,
    /// an rm killed after it, a start killed while publishing); with `links_only`, only bridges and veths
    /// (what holds subnets; listing the rules costs an `nft` run). Caller holds the host network lock.
    pub(crate) fn sweep_leaked_networks(&self, links_only: bool) -> Result<Vec<Leak>> {
        let leaks = match links_only {
            true => self.leaked_links()?,
            false => self.leaked_host_resources()?,
        };
        for leak in &leaks {
            tracing::warn!(leak = %leak.describe(), "removing what a killed command left");
            if let Err(e) = self.remove_leak(leak) {
                tracing::warn!(error = %e, "removing a leaked resource");
            }
        }
        Ok(leaks)
    }
}
