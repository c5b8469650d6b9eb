//! Volumes (the local driver): directories under `$BERTH_ROOT/volumes/<name>/_data`,
//! named or anonymous.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;

use berth_store::containers as rows;
use berth_store::volumes::{self, VolumeRow};
use berth_store::FileLock;

use crate::disk::dir_size;
use crate::events::EventType;
use crate::mounts::MountKind;
use crate::{time, Engine, Error, Result};

/// A volume as commands show it.
#[derive(Clone, Debug)]
pub struct Volume {
    pub name: String,
    pub created: String,
    pub mountpoint: PathBuf,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub anonymous: bool,
}

/// Docker's rule for local volume names.
pub fn valid_volume_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    if !first_ok || !rest_ok {
        return Err(Error::InvalidArgument(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

fn to_volume(engine: &Engine, row: VolumeRow) -> Volume {
    Volume {
        mountpoint: engine.volume_data(&row.name),
        labels: serde_json::from_str(&row.labels).unwrap_or_default(),
        options: serde_json::from_str(&row.options).unwrap_or_default(),
        name: row.name,
        created: row.created,
        anonymous: row.anonymous,
    }
}

impl Engine {
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.layout().volume(name).join("_data")
    }

    /// `volume create`: makes the volume, or returns the existing one of
    /// that name (as docker does). No name makes an anonymous one.
    pub fn create_volume(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        let _lock = self.lock_volumes()?;
        self.create_volume_locked(name, labels, options, anonymous)
    }

    /// Takes the volumes lock, which every volume create and rm (and container create with volumes)
    /// holds from its first check to its last change, and sweeps what a killed one left: a directory
    /// under volumes/ is a volume only while its row exists, so one without a row is garbage.
    pub(crate) fn lock_volumes(&self) -> Result<FileLock> {
        let lock = self.lock_volumes_as_is()?;
        self.sweep_volumes()?;
        Ok(lock)
    }

    /// The volumes lock alone, sweeping nothing: for `system check`, which reports what a sweep removes.
    pub(crate) fn lock_volumes_as_is(&self) -> Result<FileLock> {
        Ok(FileLock::exclusive(&self.layout().volumes_lock())?)
    }

    /// Under the volumes lock: moves volume directories without a row to the trash and empties it.
    pub(crate) fn sweep_volumes(&self) -> Result<()> {
        let dir = self.layout().volumes();
        let Ok(entries) = fs::read_dir(&dir) else { return Ok(()) };
        let names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n != TRASH)
            .collect();
        if !names.is_empty() {
            let rows: HashSet<String> = volumes::list(&*self.store().db()?)?
                .into_iter()
                .map(|r| r.name)
                .collect();
            for name in names.iter().filter(|n| !rows.contains(*n)) {
                tracing::warn!(volume = %name, "removing a volume directory without a record (left by a killed command)");
                self.trash_volume_dir(name)?;
            }
        }
        let trash = dir.join(TRASH);
        if let Ok(entries) = fs::read_dir(&trash) {
            for entry in entries.flatten() {
                remove_tree(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Renames volumes/<name> into the trash (a new name each time); the caller removes it there.
    fn trash_volume_dir(&self, name: &str) -> Result<Option<PathBuf>> {
        let dir = self.layout().volume(name);
        let trash = self.layout().volumes().join(TRASH);
        fs::create_dir_all(&trash).map_err(|e| Error::Io {
            path: trash.clone(),
            source: e,
        })?;
        let to = trash.join(format!("{name}.{:016x}", rand::random::<u64>()));
        match fs::rename(&dir, &to) {
            Ok(()) => Ok(Some(to)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io { path: dir, source: e }),
        }
    }

    /// `create_volume` for a caller that holds the volumes lock.
    pub(crate) fn create_volume_locked(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        let name = match name {
            Some(n) => {
                valid_volume_name(n)?;
                n.to_string()
            }
            None => crate::ids::random_id(),
        };
        for key in options.keys() {
            if !matches!(key.as_str(), "type" | "device" | "o") {
                return Err(Error::InvalidArgument(format!(
                    "invalid option key: {key:?}: the local driver takes type, device and o"
                )));
            }
        }
        if let Some(kind) = options.get("type") {
            if kind != "tmpfs" && kind != "none" {
                return Err(Error::InvalidArgument(format!(
                    "unsupported volume type {kind:?}: berth's local driver supports type=tmpfs and type=none (bind)"
                )));
            }
        }
        if let Ok(existing) = self.volume(&name) {
            return Ok(existing);
        }
        // The sweep under the lock removed any directory without a row: this one starts empty. A kill
        // before the row commits leaves a directory without a row, which the next sweep removes.
        let data = self.volume_data(&name);
        fs::create_dir_all(&data).map_err(|e| Error::Io {
            path: data.clone(),
            source: e,
        })?;
        let row = VolumeRow {
            name: name.clone(),
            created: time::now(),
            labels: serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into()),
            options: serde_json::to_string(&options).unwrap_or_else(|_| "{}".into()),
            anonymous,
        };
        self.store().write(|tx| {
            volumes::insert(tx, &row)?;
            Ok::<_, Error>(())
        })?;
        self.emit(
            EventType::Volume,
            "create",
            &name,
            [("driver".to_string(), "local".to_string())].into(),
        );
        self.volume(&name)
    }

    pub fn volume(&self, name: &str) -> Result<Volume> {
        let row = volumes::get(&*self.store().db()?, name)?.ok_or_else(|| Error::NoSuchVolume(name.to_string()))?;
        Ok(to_volume(self, row))
    }

    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let rows = volumes::list(&*self.store().db()?)?;
        Ok(rows.into_iter().map(|r| to_volume(self, r)).collect())
    }

    /// IDs of the containers that mount a volume.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        let all = rows::list(&*self.store().db()?)?;
        Ok(all
            .into_iter()
            .filter(|r| {
                serde_json::from_str::<super::containers::ContainerConfig>(&r.config)
                    .map(|c| c.mounts.iter().any(|m| m.kind == MountKind::Volume && m.source == name))
                    .unwrap_or(false)
            })
            .map(|r| r.id)
            .collect())
    }

    /// `volume rm`: refuses a volume a container uses.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let lock = self.lock_volumes()?;
        let trashed = self.remove_volume_locked(name, force)?;
        drop(lock);
        // Outside the lock: a big volume takes a while. What a kill leaves here, the next sweep removes.
        match trashed {
            Some(dir) => remove_tree(&dir),
            None => Ok(()),
        }
    }

    /// `remove_volume` for a caller that holds the volumes lock: deletes the row (the commit is the
    /// moment the volume is gone), then moves its directory to the trash, which it returns.
    pub(crate) fn remove_volume_locked(&self, name: &str, force: bool) -> Result<Option<PathBuf>> {
        match self.volume(name) {
            Ok(_) => {}
            Err(Error::NoSuchVolume(_)) if force => return Ok(None),
            Err(e) => return Err(e),
        }
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.store().write(|tx| {
            volumes::delete(tx, name)?;
            Ok::<_, Error>(())
        })?;
        self.emit(
            EventType::Volume,
            "destroy",
            name,
            [("driver".to_string(), "local".to_string())].into(),
        );
        self.trash_volume_dir(name)
    }

    /// Volume usage for `system df`: (total, in use, size, reclaimable).
    pub fn volume_usage(&self) -> Result<(usize, usize, u64, u64)> {
        let mut usage = (0, 0, 0, 0);
        for v in self.volumes()? {
            let size = dir_size(&v.mountpoint);
            usage.0 += 1;
            usage.2 += size;
            if self.volume_users(&v.name)?.is_empty() {
                usage.3 += size;
            } else {
                usage.1 += 1;
            }
        }
        let left = self.volume_leftovers_size()?;
        usage.2 += left;
        usage.3 += left;
        Ok(usage)
    }

    /// Bytes in what killed commands left under volumes/: the trash and directories without a row (the
    /// next volume command removes them; `volume prune` too).
    pub(crate) fn volume_leftovers_size(&self) -> Result<u64> {
        let dir = self.layout().volumes();
        let Ok(entries) = fs::read_dir(&dir) else { return Ok(0) };
        let rows: HashSet<String> = volumes::list(&*self.store().db()?)?
            .into_iter()
            .map(|r| r.name)
            .collect();
        Ok(entries
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n == TRASH || !rows.contains(n)))
            .map(|e| dir_size(&e.path()))
            .sum())
    }
}

/// The directory under volumes/ where removed volumes wait to be deleted (volume names start with a
/// letter or digit, so it is never one).
pub(crate) const TRASH: &str = ".trash";

/// Removes a directory tree; one already gone is fine.
fn remove_tree(dir: &std::path::Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_follow_dockers_rule() {
        assert!(valid_volume_name("ok-name_1.2").is_ok());
        assert!(valid_volume_name("x").is_err());
        assert!(valid_volume_name("bad/name").is_err());
    }
}
