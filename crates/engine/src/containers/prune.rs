//! `container prune` (and the containers part of `system prune`): every container that is not
//! running goes, and the space its writable layer held is counted.

use crate::{Engine, Result};

/// What a prune removed, and the bytes it gave back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Full ids (or names, for objects named by name), in the order they went.
    pub removed: Vec<String>,
    pub bytes: u64,
}

impl Engine {
    /// Removes every container that is not running; one that fails to go (it started meanwhile) stays.
    pub fn prune_containers(&self) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        for c in self.containers()? {
            if c.is_running() {
                continue;
            }
            let size = crate::disk::dir_size(&self.container_dir(c.id()).join("upper"));
            if self.remove_container(c.id(), false, false).is_ok() {
                pruned.removed.push(c.row.id.clone());
                pruned.bytes += size;
            }
        }
        Ok(pruned)
    }
}
