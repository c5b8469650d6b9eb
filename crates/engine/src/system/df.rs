//! `system df` (the API's `/system/df`, SystemDataUsage): per kind of object, how many there are,
//! how many are in use, the space they take and what a prune would give back; with `verbose`, each
//! object too (`df_items.rs`).

use serde::Serialize;

use super::df_items::BuildCacheRecord;
use crate::containers::list::ContainerSummary;
use crate::images::ImageSummary;
use crate::views::volume::Volume;
use crate::{Engine, Result};

/// What `system df` asks for (the API's `verbose` parameter).
#[derive(Clone, Copy, Debug, Default)]
pub struct DataUsageOptions {
    /// Each kind's `Items` too: images, containers, volumes and build cache records.
    pub verbose: bool,
}

/// The `/system/df` response (API 1.52 and later: a summary per kind, with its items when verbose).
#[derive(Clone, Debug, Default, Serialize)]
pub struct SystemDataUsage {
    #[serde(rename = "ImageUsage")]
    pub image_usage: DiskUsage<ImageSummary>,
    #[serde(rename = "ContainerUsage")]
    pub container_usage: DiskUsage<ContainerSummary>,
    #[serde(rename = "VolumeUsage")]
    pub volume_usage: DiskUsage<Volume>,
    #[serde(rename = "BuildCacheUsage")]
    pub build_cache_usage: DiskUsage<BuildCacheRecord>,
}

/// One kind's summary (ImagesDiskUsage, ContainersDiskUsage, VolumesDiskUsage, BuildCacheDiskUsage)
/// and, when asked, its items: ImageSummary with `SharedSize` and `Containers`, ContainerSummary with
/// `SizeRw` and `SizeRootFs`, Volume with `UsageData`, and build cache records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiskUsage<T> {
    #[serde(rename = "ActiveCount")]
    pub active_count: u64,
    #[serde(rename = "TotalCount")]
    pub total_count: u64,
    /// Bytes a prune would remove.
    #[serde(rename = "Reclaimable")]
    pub reclaimable: u64,
    #[serde(rename = "TotalSize")]
    pub total_size: u64,
    /// Empty unless verbose (and then left out of the JSON when empty, as dockerd's `omitempty`).
    #[serde(rename = "Items", skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<T>,
}

// By hand: a derived Default would want `T: Default`, which the item types need not be.
impl<T> Default for DiskUsage<T> {
    fn default() -> Self {
        DiskUsage {
            active_count: 0,
            total_count: 0,
            reclaimable: 0,
            total_size: 0,
            items: Vec::new(),
        }
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Engine {
    /// `system df` (SystemDataUsage). Images counts the downloads of interrupted pulls (an image
    /// prune removes them), volumes what killed commands left under volumes/, and build cache the
    /// steps only the cache keeps, all of which are reclaimable. With `verbose`, each kind's items.
    pub fn disk_usage(&self, options: &DataUsageOptions) -> Result<SystemDataUsage> {
        let images = self.image_usage()?;
        let (containers, running, paused, container_size, container_reclaim) = self.container_usage()?;
        let (volumes, volumes_used, volume_size, volume_reclaim) = self.volume_usage()?;
        let (cache_steps, cache_size) = self.build_cache_usage()?;
        let mut usage = SystemDataUsage {
            image_usage: DiskUsage {
                active_count: count(images.active),
                total_count: count(images.total),
                reclaimable: images.reclaimable,
                total_size: images.size,
                items: Vec::new(),
            },
            container_usage: DiskUsage {
                active_count: count(running + paused),
                total_count: count(containers),
                reclaimable: container_reclaim,
                total_size: container_size,
                items: Vec::new(),
            },
            volume_usage: DiskUsage {
                active_count: count(volumes_used),
                total_count: count(volumes),
                reclaimable: volume_reclaim,
                total_size: volume_size,
                items: Vec::new(),
            },
            build_cache_usage: DiskUsage {
                // Nothing holds a cache step while no build runs.
                active_count: 0,
                total_count: count(cache_steps),
                reclaimable: cache_size,
                total_size: cache_size,
                items: Vec::new(),
            },
        };
        if options.verbose {
            usage.image_usage.items = self.image_items()?;
            usage.container_usage.items = self.container_items()?;
            usage.volume_usage.items = self.volume_items()?;
            usage.build_cache_usage.items = self.build_cache_items()?;
        }
        Ok(usage)
    }
}
