//! Removal: `rm`, and the teardown of everything a stopped container owns, its anonymous volumes included.

use std::fs;
use std::path::PathBuf;

use berth_store::containers as rows;

use super::{monitor, ContainerConfig};
use crate::events::EventType;
use crate::mounts::MountKind;
use crate::ContainerState;
use crate::{Engine, Error, Result};

impl Engine {
    /// Removes the anonymous volumes a container had (`rm -v`, `--rm`);
    /// ones another container uses too stay.
    pub fn remove_anonymous_volumes(&self, config: &ContainerConfig) {
        for m in config.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            if self.volume(&m.source).is_ok_and(|v| v.anonymous) {
                let _ = self.remove_volume(&m.source, false);
            }
        }
    }

    /// `rm`: removes a stopped container (or, with `force`, kills it first).
    pub fn remove_container(&self, name: &str, force: bool, volumes: bool) -> Result<String> {
        let first = self.container(name)?;
        let id = first.id().to_string();
        let mut stopped = false;
        loop {
            // A start in progress holds the start lock until the container runs or fails (its monitor does,
            // when the command that started it was killed): removing the container under it would leave one
            // running with no record. A start waiting for the lock finds the container gone.
            let start = self.start_lock(&id)?;
            let container = match self.container(&id) {
                // Its `--rm` monitor removed it once it stopped.
                Err(Error::NoSuchContainer(_)) if stopped => break,
                other => other?,
            };
            if !container.is_running() {
                self.discard_locked(&id)?;
                break;
            }
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is {}: stop the container before removing or force remove",
                    container.row.name, container.row.state
                )));
            }
            // Not held while it stops: the monitor of a `--rm` container takes it to remove the container.
            drop(start);
            // kill marks it first, so no restart policy brings it back while it goes. It may have stopped
            // by itself in the meantime.
            if let Err(e) = self.kill_container(&id, "KILL") {
                if self.container(&id)?.is_running() {
                    return Err(e);
                }
            }
            match self.wait_stopped(&id, None) {
                // Its `--rm` monitor removed it.
                Err(Error::NoSuchContainer(_)) => break,
                other => other?,
            };
            stopped = true;
        }
        if volumes {
            self.remove_anonymous_volumes(&first.config);
        }
        Ok(first.row.name)
    }

    /// Tears down everything a stopped container owns; every step is
    /// attempted and a missing piece is not an error.
    pub fn discard_container(&self, id: &str) -> Result<()> {
        let _start = match self.start_lock(id) {
            Err(Error::NoSuchContainer(_)) => return Ok(()),
            lock => lock?,
        };
        self.discard_locked(id)
    }

    /// `discard_container` for a caller holding the container's start lock, as every removal does: a
    /// container recorded as being removed whose lock is free was left by a killed removal.
    pub(crate) fn discard_locked(&self, id: &str) -> Result<()> {
        let marked = self.store().write(|tx| {
            let Some(mut row) = rows::get(tx, id)? else {
                return Ok::<_, Error>(None);
            };
            row.state = ContainerState::Removing;
            rows::update(tx, &row)?;
            Ok(Some(row))
        })?;
        let Some(row) = marked else {
            // Only the lock file the caller made, if anything.
            let _ = fs::remove_dir_all(self.container_run_dir(id));
            return Ok(());
        };
        let remove_dir = |dir: PathBuf| -> Option<String> {
            match fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Some(format!("{}: {e}", dir.display())),
                _ => None,
            }
        };
        // The container's files on disk go as soon as its root is unmounted, while the runtime removes its
        // cgroups; never through a root that is still mounted. The run dir (the bundle) goes after the runtime.
        let mut errors = Vec::new();
        if let Err(e) = monitor::cleanup_runtime_then(self, id, |unmounted| {
            if unmounted {
                remove_dir(self.container_dir(id)).into_iter().collect()
            } else {
                vec![format!(
                    "{} is still mounted: left in place",
                    self.container_dir(id).display()
                )]
            }
        }) {
            errors.push(e.to_string());
        }
        errors.extend(remove_dir(self.container_run_dir(id)));
        if !errors.is_empty() {
            return Err(Error::Internal(format!(
                "removing container {id}: {}",
                errors.join("; ")
            )));
        }
        self.store().write(|tx| {
            rows::delete(tx, id)?;
            Ok::<_, Error>(())
        })?;
        if let Ok(c) = self.load_container(row) {
            self.emit(
                EventType::Container,
                "destroy",
                id,
                crate::events::container_attributes(&c),
            );
        }
        Ok(())
    }
}
