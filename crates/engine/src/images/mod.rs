//! Image commands: lookup, list, tag, remove, prune, inspect, history, and
//! (in submodules) import, load and save.

pub(crate) mod derive;
mod distribution;
pub(crate) mod import;
mod inspect;
mod list;
mod load;
mod pull;
mod push;
mod save;
pub(crate) mod unpack;

use std::collections::{BTreeMap, BTreeSet};

use berth_image::spec::ImageConfig;
use berth_reference::{is_id_prefix, Reference};
use berth_store::{meta, Digest};

pub use distribution::{DistributionDescriptor, DistributionInspect};
pub use import::{ImportOptions, ImportSource};
pub use inspect::{GraphDriver, HistoryResponseItem, ImageInspect, ImageInspectConfig, ImageMetadata, RootFs, MISSING};
pub use list::{ImageListOptions, ImagePruneOptions, ImagePruned, ImageSummary};
pub use load::Loaded;
pub use pull::{PullOptions, Pulled};
pub use push::{PushOptions, Pushed};

use crate::events::EventType;
use crate::{time, Engine, Error, Result};

/// An image as the store records it, with its parsed config.
#[derive(Clone, Debug)]
pub struct Image {
    pub record: meta::Image,
    pub config: ImageConfig,
}

impl Image {
    pub fn id(&self) -> &Digest {
        &self.record.id
    }

    /// Tags in their familiar form (`busybox:latest`).
    pub fn repo_tags(&self) -> Vec<String> {
        self.record.tags.iter().map(|t| familiar(t)).collect()
    }

    pub fn repo_digests(&self) -> Vec<String> {
        self.record.repo_digests.iter().map(|t| familiar(t)).collect()
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
    }
}

/// How Docker shows a name a user gave (`busybox` as `busybox:latest`); the name as given when it
/// does not parse.
pub fn familiar_name(given: &str) -> String {
    Reference::parse_docker(given).map_or_else(|_| given.to_string(), |r| r.familiar_string())
}

/// The familiar form of a stored full reference; stored names always parse.
pub fn familiar(full: &str) -> String {
    Reference::parse(full)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| full.to_string())
}

/// One line of `docker rmi` / `image prune` output.
#[derive(Clone, Debug, PartialEq)]
pub enum Removed {
    Untagged(String),
    Deleted(Digest),
}

/// Disk usage of images, for `system df`.
#[derive(Clone, Debug, Default)]
pub struct ImageUsage {
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

impl Engine {
    fn load_image(&self, record: meta::Image) -> Result<Image> {
        let bytes = self.store.read_blob(&record.id)?;
        let config = serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidArchive(format!("config {} does not parse: {e}", record.id)))?;
        Ok(Image { record, config })
    }

    /// Finds an image by name (`busybox`, `busybox:1.36`, `name@sha256:…`),
    /// full ID (`sha256:…`) or unique ID prefix, as Docker does.
    pub fn image(&self, name: &str) -> Result<Image> {
        let id = self.resolve_image_id(name)?;
        let record = meta::get_image(&*self.store.db()?, &id)?.ok_or_else(|| Error::NoSuchImage(name.to_string()))?;
        self.load_image(record)
    }

    pub fn resolve_image_id(&self, name: &str) -> Result<Digest> {
        let conn = self.store.db()?;
        if let Some(hex) = name.strip_prefix("sha256:") {
            return by_prefix(&conn, hex, name);
        }
        let reference = Reference::parse_docker(name);
        if let Ok(reference) = &reference {
            let found = match reference.digest() {
                Some(_) => meta::resolve_repo_digest(&conn, &digest_name(reference))?,
                None => meta::resolve_tag(&conn, &reference.to_string())?,
            };
            if let Some(id) = found {
                return Ok(id);
            }
        }
        if is_id_prefix(name) {
            return by_prefix(&conn, name, name);
        }
        match reference {
            Err(e) => Err(e.into()),
            Ok(_) => Err(Error::NoSuchImage(name.to_string())),
        }
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<Image>> {
        let records = meta::list_images(&*self.store.db()?)?;
        records.into_iter().map(|r| self.load_image(r)).collect()
    }

    /// `tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let id = self.resolve_image_id(source)?;
        let reference = Reference::parse_docker(target)?;
        if reference.digest().is_some() {
            return Err(Error::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        let now = time::now();
        self.store.write(|tx| {
            meta::set_tag(tx, &reference.to_string(), &id, &now)?;
            Ok::<_, Error>(())
        })?;
        let name = familiar(&reference.to_string());
        self.emit(
            EventType::Image,
            "tag",
            &id.to_string(),
            [("name".to_string(), name)].into(),
        );
        Ok(())
    }

    /// `rmi`: untags, and deletes an image once nothing names it.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<Removed>> {
        let image = self.image(name)?;
        let id = image.id().clone();
        let by_name = !is_reference_to_id(name, &id);
        let mut removed = Vec::new();
        let now_empty = self.store.write(|tx| {
            let current = meta::get_image(tx, &id)?.ok_or_else(|| Error::NoSuchImage(name.to_string()))?;
            // An image others were built on stays while they do: by ID that is refused; by name the name
            // goes and the image stays as their parent, as in Docker.
            let has_children = !meta::children(tx, &id)?.is_empty();
            if has_children && !by_name {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                    id.short()
                )));
            }
            let mut names: Vec<String> = Vec::new();
            if by_name {
                let reference = Reference::parse_docker(name)?;
                let full = match reference.digest() {
                    Some(_) => digest_name(&reference),
                    None => reference.to_string(),
                };
                names.push(full);
                // The last tag of an image takes its digests along, as in Docker.
                let other_tags = current.tags.iter().filter(|t| !names.contains(t)).count();
                if other_tags == 0 && reference.digest().is_none() {
                    names.extend(current.repo_digests.iter().cloned());
                }
            } else {
                let repos: BTreeSet<String> = current
                    .tags
                    .iter()
                    .chain(&current.repo_digests)
                    .filter_map(|t| Reference::parse(t).ok().map(|r| r.name()))
                    .collect();
                if repos.len() > 1 && !force {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        id.short()
                    )));
                }
                names.extend(current.tags.iter().cloned());
                names.extend(current.repo_digests.iter().cloned());
            }
            for full in &names {
                let gone = meta::remove_tag(tx, full)? || meta::remove_repo_digest(tx, full)?;
                if gone {
                    removed.push(Removed::Untagged(familiar(full)));
                }
            }
            let left = meta::get_image(tx, &id)?
                .map(|i| i.tags.len() + i.repo_digests.len())
                .unwrap_or(0);
            let users = berth_store::containers::count_by_image(tx, &id.to_string())?;
            if left == 0 && users > 0 {
                if !force {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is being used by {users} container(s)",
                        id.short()
                    )));
                }
                // Forced: the names go, the image stays for its containers (dangling), as in Docker.
                return Ok(false);
            }
            if left == 0 && !has_children {
                meta::delete_image(tx, &id)?;
                return Ok(true);
            }
            Ok(false)
        })?;
        for r in &removed {
            if let Removed::Untagged(name) = r {
                self.emit(
                    EventType::Image,
                    "untag",
                    &id.to_string(),
                    [("name".to_string(), name.clone())].into(),
                );
            }
        }
        if now_empty {
            self.emit(
                EventType::Image,
                "delete",
                &id.to_string(),
                [("name".to_string(), id.to_string())].into(),
            );
            removed.push(Removed::Deleted(id));
            let collected = self.store.collect_garbage()?;
            removed.extend(collected.layers.into_iter().rev().map(Removed::Deleted));
        }
        Ok(removed)
    }

    /// `image prune`: removes dangling images, or with `all` every image no
    /// container uses. Returns what went and the bytes reclaimed.
    pub fn prune_images(&self, all: bool, keep: impl Fn(&Image) -> bool) -> Result<(Vec<Removed>, u64)> {
        let mut removed = Vec::new();
        let mut deleted_ids = Vec::new();
        for image in self.images()? {
            let dangling = image.record.tags.is_empty();
            if (!all && !dangling) || keep(&image) {
                continue;
            }
            let id = image.id().clone();
            let gone = self.store.write(|tx| {
                if !meta::children(tx, &id)?.is_empty()
                    || berth_store::containers::count_by_image(tx, &id.to_string())? > 0
                {
                    return Ok::<_, Error>(false);
                }
                let current = match meta::get_image(tx, &id)? {
                    Some(c) => c,
                    None => return Ok(false),
                };
                for full in current.tags.iter().chain(&current.repo_digests) {
                    meta::remove_tag(tx, full)?;
                    meta::remove_repo_digest(tx, full)?;
                    removed.push(Removed::Untagged(familiar(full)));
                }
                meta::delete_image(tx, &id)?;
                Ok(true)
            })?;
            if gone {
                deleted_ids.push(id);
            }
        }
        let collected = self.store.collect_garbage()?;
        removed.extend(deleted_ids.into_iter().map(Removed::Deleted));
        removed.extend(collected.layers.into_iter().map(Removed::Deleted));
        let downloads = self.prune_downloads()?;
        Ok((removed, collected.bytes + downloads))
    }

    /// Image usage for `system df`.
    pub fn image_usage(&self) -> Result<ImageUsage> {
        // Images only the build cache keeps are counted as build cache (`system df`), not here.
        let cache_only = self.build_cache_images()?;
        let (_, cache_bytes) = self.build_cache_usage()?;
        let images: Vec<Image> = self
            .images()?
            .into_iter()
            .filter(|i| !cache_only.contains(i.id()))
            .collect();
        let conn = self.store.db()?;
        let all: u64 = meta::layer_sizes(&conn)?.iter().map(|(_, s)| s).sum();
        let mounts = crate::disk::dir_size(&self.layout().build_cache_mounts());
        let size = all.saturating_sub(cache_bytes.saturating_sub(mounts));
        let mut active = 0;
        let mut reclaimable = 0;
        for image in &images {
            if berth_store::containers::count_by_image(&conn, &image.id().to_string())? > 0 {
                active += 1;
            } else {
                reclaimable += image.record.size;
            }
        }
        // What interrupted pulls left counts as images' space, all of it reclaimable (`image prune`).
        let downloads = self.downloads_usage();
        Ok(ImageUsage {
            total: images.len(),
            active,
            size: size + downloads,
            reclaimable: reclaimable.min(size) + downloads,
        })
    }
}

fn by_prefix(conn: &berth_store::rusqlite::Connection, hex: &str, name: &str) -> Result<Digest> {
    if hex.is_empty() || !is_id_prefix(hex) {
        return Err(Error::NoSuchImage(name.to_string()));
    }
    let mut found = meta::image_ids_with_prefix(conn, hex)?;
    match found.len() {
        0 => Err(Error::NoSuchImage(name.to_string())),
        1 => Ok(found.remove(0)),
        _ => Err(Error::InvalidArgument(format!(
            "multiple IDs found with provided prefix: {hex}"
        ))),
    }
}

/// Whether `name` names the image by its ID rather than by a reference.
fn is_reference_to_id(name: &str, id: &Digest) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    !hex.is_empty() && id.hex().starts_with(hex) && (name.starts_with("sha256:") || is_id_prefix(name))
}

/// `name@digest` as stored in repo_digests.
fn digest_name(reference: &Reference) -> String {
    format!("{}@{}", reference.name(), reference.digest().unwrap_or_default())
}
