//! Host resources berth makes outside its data root carry the root's identity, so that they can be
//! found when a killed command left them without a record, and so that one root never touches
//! another root's. A root's identity is a random id kept in `$BERTH_ROOT/root-id`; a network's bridge
//! has the alias `berth:<root id>:<network id>`.

use std::fs;
use std::io::ErrorKind;

use berth_network::link;
use berth_store::networks as rows;

use crate::{Engine, Error, Result};

impl Engine {
    /// This data root's identity, made on first use (the first process to link its file wins).
    pub(crate) fn root_id(&self) -> Result<String> {
        let path = self.root().join("root-id");
        if let Ok(id) = fs::read_to_string(&path) {
            return Ok(id.trim().to_string());
        }
        let temp = self.root().join(format!("root-id.{}", std::process::id()));
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

    /// The owner tag of this root's network `id` (a bridge's alias).
    pub(crate) fn network_tag(&self, id: &str) -> Result<String> {
        Ok(format!("berth:{}:{id}", self.root_id()?))
    }

    /// Tears down this root's bridges whose network has no record (a create killed before its row,
    /// an rm killed after it), with their firewall rules. Caller holds the host network lock.
    pub(crate) fn sweep_leaked_networks(&self) -> Result<Vec<String>> {
        let prefix = format!("berth:{}:", self.root_id()?);
        let mut swept = Vec::new();
        for (bridge, alias) in link::links_with_alias(&prefix) {
            let id = &alias[prefix.len()..];
            if rows::get(&*self.store().db()?, id)?.is_some() {
                continue;
            }
            tracing::warn!(bridge = %bridge, "removing a bridge without a network (left by a killed command)");
            self.tear_down_bridge(id, &bridge);
            swept.push(bridge);
        }
        Ok(swept)
    }
}
