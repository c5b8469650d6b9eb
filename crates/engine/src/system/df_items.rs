//! The items of a verbose `system df` (the API's `/system/df?verbose=1`): images with the space they
//! share with others and the containers using them, containers with their sizes, volumes with their
//! usage, and the build cache as records.

use std::collections::{HashMap, HashSet};
use std::fs;

use berth_store::{meta, Digest};
use serde::Serialize;

use crate::containers::list::{ContainerSummary, ListRequest};
use crate::disk::dir_size;
use crate::images::{ImageListOptions, ImageSummary};
use crate::views::volume::{Volume, VolumeUsageData};
use crate::{Engine, Result};

/// One build cache record (the API's `BuildCache`). berth's cache is the step images only the cache
/// keeps ("regular" records, one per step that made one) and the RUN cache mounts ("exec.cachemount").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BuildCacheRecord {
    #[serde(rename = "ID")]
    pub id: String,
    /// The step before, when the cache keeps it too.
    pub parents: Vec<String>,
    #[serde(rename = "Type")]
    pub kind: String,
    /// The step that made it (its history's `created_by`).
    pub description: String,
    /// Nothing holds a record while no build runs.
    pub in_use: bool,
    /// Whether an image outside the cache uses what the step added.
    pub shared: bool,
    /// Bytes removing the record gives back.
    pub size: i64,
    /// RFC 3339 (empty when unknown).
    pub created_at: String,
    /// berth does not record uses of a cache step apart from the step itself.
    pub last_used_at: Option<String>,
    pub usage_count: i64,
}

/// The bytes of an image's layers that another image names too (dockerd's `SharedSize`); `refs`
/// counts the images naming each layer. Never more than `size`, so the unique size is never negative.
fn shared_size(layers: &[Digest], refs: &HashMap<&Digest, usize>, sizes: &HashMap<Digest, u64>, size: i64) -> i64 {
    let unique: HashSet<&Digest> = layers.iter().collect();
    let shared: u64 = unique
        .into_iter()
        .filter(|l| refs.get(l).is_some_and(|n| *n > 1))
        .filter_map(|l| sizes.get(l))
        .sum();
    i64::try_from(shared).unwrap_or(i64::MAX).min(size.max(0))
}

/// A `u64` count or size in the API's `int64`.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Engine {
    /// Images as `images` lists them (no intermediate or cache-only ones, as dockerd's df lists), with
    /// `SharedSize` and `Containers` filled.
    pub(super) fn image_items(&self) -> Result<Vec<ImageSummary>> {
        let mut list = self.list_images(&ImageListOptions::default())?;
        let conn = self.store().db()?;
        let records = meta::list_images(&conn)?;
        let sizes: HashMap<Digest, u64> = meta::layer_sizes(&conn)?.into_iter().collect();
        // Across every image, cache-only ones too: a layer one of them names is not this image's alone.
        let mut refs: HashMap<&Digest, usize> = HashMap::new();
        for record in &records {
            for layer in record.layers.iter().collect::<HashSet<_>>() {
                *refs.entry(layer).or_default() += 1;
            }
        }
        let layers_of: HashMap<String, &[Digest]> = records
            .iter()
            .map(|r| (r.id.to_string(), r.layers.as_slice()))
            .collect();
        for item in &mut list {
            let layers = layers_of.get(&item.id).copied().unwrap_or_default();
            item.shared_size = shared_size(layers, &refs, &sizes, item.size);
            item.containers = berth_store::containers::count_by_image(&conn, &item.id)?;
        }
        Ok(list)
    }

    /// Every container, with its writable layer's size (`SizeRw`) and that plus its image's
    /// (`SizeRootFs`).
    pub(super) fn container_items(&self) -> Result<Vec<ContainerSummary>> {
        self.list_containers(&ListRequest {
            all: true,
            size: true,
            ..ListRequest::default()
        })
    }

    /// Every volume, with its size and how many containers name it.
    pub(super) fn volume_items(&self) -> Result<Vec<Volume>> {
        let mut items = Vec::new();
        for v in self.volumes()? {
            let users = self.volume_users(&v.name)?;
            let mut item = Volume::from(&v);
            item.usage_data = Some(VolumeUsageData {
                size: signed(dir_size(&v.mountpoint)),
                ref_count: signed(users.len() as u64),
            });
            items.push(item);
        }
        Ok(items)
    }

    /// The build cache as records: each step image only the cache keeps, sized by the layers it added
    /// that no image outside the cache uses (each counted once), then each RUN cache mount. Their sizes
    /// add up to the build cache's total.
    pub(super) fn build_cache_items(&self) -> Result<Vec<BuildCacheRecord>> {
        let cache_only = self.build_cache_images()?;
        let images = self.images()?;
        let sizes: HashMap<Digest, u64> = meta::layer_sizes(&*self.store().db()?)?.into_iter().collect();
        let kept: HashSet<&Digest> = images
            .iter()
            .filter(|i| !cache_only.contains(i.id()))
            .flat_map(|i| &i.record.layers)
            .collect();
        let layers_of: HashMap<&Digest, &[Digest]> =
            images.iter().map(|i| (i.id(), i.record.layers.as_slice())).collect();
        let mut counted: HashSet<&Digest> = HashSet::new();
        let mut items = Vec::new();
        for image in images.iter().filter(|i| cache_only.contains(i.id())) {
            let parent = image.record.parent.as_ref();
            let inherited: HashSet<&Digest> = parent
                .and_then(|p| layers_of.get(p))
                .map(|l| l.iter().collect())
                .unwrap_or_default();
            let added: Vec<&Digest> = image.record.layers.iter().filter(|l| !inherited.contains(l)).collect();
            let size: u64 = added
                .iter()
                .filter(|l| !kept.contains(*l) && counted.insert(**l))
                .filter_map(|l| sizes.get(*l))
                .sum();
            items.push(BuildCacheRecord {
                id: image.id().hex().to_string(),
                parents: parent
                    .filter(|p| cache_only.contains(*p))
                    .map(|p| vec![p.hex().to_string()])
                    .unwrap_or_default(),
                kind: "regular".into(),
                description: image
                    .config
                    .history
                    .last()
                    .and_then(|h| h.created_by.clone())
                    .unwrap_or_default(),
                in_use: false,
                shared: added.iter().any(|l| kept.contains(*l)),
                size: signed(size),
                created_at: image.config.created.clone().unwrap_or_default(),
                last_used_at: None,
                usage_count: 0,
            });
        }
        items.extend(self.cache_mount_items());
        Ok(items)
    }

    /// The RUN `--mount=type=cache` directories, one record each.
    fn cache_mount_items(&self) -> Vec<BuildCacheRecord> {
        let Ok(entries) = fs::read_dir(self.layout().build_cache_mounts()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| {
                let created = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339())
                    .unwrap_or_default();
                BuildCacheRecord {
                    id: e.file_name().to_string_lossy().into_owned(),
                    parents: Vec::new(),
                    kind: "exec.cachemount".into(),
                    description: "cached mount".into(),
                    in_use: false,
                    shared: false,
                    size: signed(dir_size(&e.path())),
                    created_at: created,
                    last_used_at: None,
                    usage_count: 0,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        format!("sha256:{}", format!("{n:02x}").repeat(32)).parse().unwrap()
    }

    #[test]
    fn shared_size_counts_layers_another_image_names() {
        let (a, b, c) = (digest(1), digest(2), digest(3));
        let sizes: HashMap<Digest, u64> = [(a.clone(), 100), (b.clone(), 10), (c.clone(), 1)].into();
        // Image one: a, b; image two: a, c. Only a is shared.
        let refs: HashMap<&Digest, usize> = [(&a, 2), (&b, 1), (&c, 1)].into();
        assert_eq!(shared_size(&[a.clone(), b.clone()], &refs, &sizes, 110), 100);
        assert_eq!(shared_size(std::slice::from_ref(&c), &refs, &sizes, 1), 0);
        assert_eq!(
            shared_size(std::slice::from_ref(&a), &refs, &sizes, 50),
            50,
            "never more than the image's size"
        );
        assert_eq!(shared_size(&[], &refs, &sizes, 0), 0);
    }

    #[test]
    fn records_serialize_with_dockers_names() {
        let record = BuildCacheRecord {
            id: "abc".into(),
            parents: vec![],
            kind: "regular".into(),
            description: "RUN true".into(),
            in_use: false,
            shared: true,
            size: 5,
            created_at: "2026-12-07T12:00:00Z".into(),
            last_used_at: None,
            usage_count: 0,
        };
        let json = serde_json::to_value(&record).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ID",
                "Parents",
                "Type",
                "Description",
                "InUse",
                "Shared",
                "Size",
                "CreatedAt",
                "LastUsedAt",
                "UsageCount"
            ]
        );
    }
}
