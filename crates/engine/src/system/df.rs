//! `system df` (the API's `/system/df`, SystemDataUsage): per kind of object, how many there are,
//! how many are in use, the space they take and what a prune would give back.

use serde::Serialize;

use crate::{Engine, Result};

/// The `/system/df` response (API 1.52 and later: a summary per kind).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SystemDataUsage {
    #[serde(rename = "ImageUsage")]
    pub image_usage: DiskUsage,
    #[serde(rename = "ContainerUsage")]
    pub container_usage: DiskUsage,
    #[serde(rename = "VolumeUsage")]
    pub volume_usage: DiskUsage,
    #[serde(rename = "BuildCacheUsage")]
    pub build_cache_usage: DiskUsage,
}

/// One kind's summary (ImagesDiskUsage, ContainersDiskUsage, VolumesDiskUsage, BuildCacheDiskUsage,
/// without their verbose `Items`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiskUsage {
    #[serde(rename = "ActiveCount")]
    pub active_count: u64,
    #[serde(rename = "TotalCount")]
    pub total_count: u64,
    /// Bytes a prune would remove.
    #[serde(rename = "Reclaimable")]
    pub reclaimable: u64,
    #[serde(rename = "TotalSize")]
    pub total_size: u64,
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Engine {
    /// `system df` (SystemDataUsage). Images counts the downloads of interrupted pulls (an image
    /// prune removes them), volumes what killed commands left under volumes/, and build cache the
    /// steps only the cache keeps, all of which are reclaimable.
    pub fn disk_usage(&self) -> Result<SystemDataUsage> {
        let images = self.image_usage()?;
        let (containers, running, paused, container_size, container_reclaim) = self.container_usage()?;
        let (volumes, volumes_used, volume_size, volume_reclaim) = self.volume_usage()?;
        let (cache_steps, cache_size) = self.build_cache_usage()?;
        Ok(SystemDataUsage {
            image_usage: DiskUsage {
                active_count: count(images.active),
                total_count: count(images.total),
                reclaimable: images.reclaimable,
                total_size: images.size,
            },
            container_usage: DiskUsage {
                active_count: count(running + paused),
                total_count: count(containers),
                reclaimable: container_reclaim,
                total_size: container_size,
            },
            volume_usage: DiskUsage {
                active_count: count(volumes_used),
                total_count: count(volumes),
                reclaimable: volume_reclaim,
                total_size: volume_size,
            },
            build_cache_usage: DiskUsage {
                // Nothing holds a cache step while no build runs.
                active_count: 0,
                total_count: count(cache_steps),
                reclaimable: cache_size,
                total_size: cache_size,
            },
        })
    }
}
