//! The build cache: each step's key, looking a step up and recording it, and the cache's size and prune.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_store::{meta, Digest, Hasher};

use super::{BuildOptions, BuildOutput, Stage};
use crate::{time, Engine, Error, Result};

impl Engine {
    /// The cache key of a step: parent image, the step as expanded, build args in effect, extra content.
    pub(super) fn cache_key(&self, stage: &Stage, text: &str, args: &[(String, String)], content: &str) -> String {
        let mut h = Hasher::new();
        let parent = stage
            .image
            .as_ref()
            .map_or_else(|| "scratch".to_string(), |i| i.id.to_string());
        h.update(parent.as_bytes());
        h.update(b"\n");
        if stage.image.is_none() {
            // A scratch stage's config is part of its identity.
            h.update(
                serde_json::to_string(&stage.config.config)
                    .unwrap_or_default()
                    .as_bytes(),
            );
        }
        h.update(text.as_bytes());
        for (k, v) in args {
            h.update(format!("\n{k}={v}").as_bytes());
        }
        h.update(b"\n");
        h.update(content.as_bytes());
        h.finish().to_string()
    }

    /// Looks a step up in the cache; on a hit, moves the stage on to the cached image.
    pub(super) fn reuse_cached(
        &self,
        stage: &mut Stage,
        key: &str,
        options: &BuildOptions,
        out: &dyn BuildOutput,
    ) -> Result<bool> {
        if options.no_cache {
            return Ok(false);
        }
        let Some(id) = meta::cached_step(&*self.store().db()?, key)? else {
            return Ok(false);
        };
        let Some(image) = meta::get_image(&*self.store().db()?, &id)? else {
            return Ok(false);
        };
        if !image.layers.iter().all(|l| self.store().layer_path(l).exists()) {
            return Ok(false);
        }
        out.line(" ---> Using cache");
        out.line(&format!(" ---> {}", id.short()));
        stage.config = self.image(&id.to_string())?.config;
        stage.image = Some(image);
        Ok(true)
    }

    /// Records a step's image in the cache and moves the stage on to it.
    pub(super) fn advance(&self, stage: &mut Stage, key: &str, id: Digest, out: &dyn BuildOutput) -> Result<()> {
        let now = time::now();
        self.store().write(|tx| {
            meta::cache_step(tx, key, &id, &now)?;
            Ok::<_, Error>(())
        })?;
        out.line(&format!(" ---> {}", id.short()));
        stage.config = self.image(&id.to_string())?.config;
        stage.image = meta::get_image(&*self.store().db()?, &id)?;
        Ok(())
    }

    /// Images only the build cache keeps (no tag, no repo digest).
    pub fn build_cache_images(&self) -> Result<std::collections::HashSet<Digest>> {
        Ok(meta::cache_only_images(&*self.store().db()?)?.into_iter().collect())
    }

    /// `system df`'s build cache: how many step images only the cache keeps, and the bytes of their layers
    /// that no other image uses plus the RUN cache mounts.
    pub fn build_cache_usage(&self) -> Result<(usize, u64)> {
        let cache_only = self.build_cache_images()?;
        let conn = self.store().db()?;
        let images = meta::list_images(&conn)?;
        let kept: std::collections::HashSet<&Digest> = images
            .iter()
            .filter(|i| !cache_only.contains(&i.id))
            .flat_map(|i| &i.layers)
            .collect();
        let exclusive: std::collections::HashSet<&Digest> = images
            .iter()
            .filter(|i| cache_only.contains(&i.id))
            .flat_map(|i| &i.layers)
            .filter(|l| !kept.contains(l))
            .collect();
        let sizes: HashMap<Digest, u64> = meta::layer_sizes(&conn)?.into_iter().collect();
        let bytes: u64 = exclusive.iter().filter_map(|l| sizes.get(*l)).sum();
        let mounts = crate::volumes::dir_size(&self.root().join("build-cache-mounts"));
        Ok((cache_only.len(), bytes + mounts))
    }

    /// `builder prune`: forgets the build cache and removes the images only it kept; returns bytes freed.
    pub fn prune_build_cache(&self) -> Result<(usize, u64)> {
        let ids = meta::cache_only_images(&*self.store().db()?)?;
        let steps = self
            .store()
            .write(|tx| meta::clear_build_cache(tx).map_err(Error::from))?;
        let mut freed = 0;
        for id in ids {
            if let Ok(removed) = self.remove_image(&id.to_string(), false) {
                if !removed.is_empty() {
                    freed += 1;
                }
            }
        }
        let collected = self.store().collect_garbage()?;
        // RUN --mount=type=cache directories go too, as with Docker's builder prune.
        let mounts = self.root().join("build-cache-mounts");
        let mount_bytes = crate::volumes::dir_size(&mounts);
        let _ = fs::remove_dir_all(&mounts);
        Ok((steps.max(freed), collected.bytes + mount_bytes))
    }
}

/// A cheap fingerprint of a file tree (names, sizes, modification times): a bind-mounted source that
/// changed makes the step run again.
pub(super) fn tree_stamp(path: &Path) -> String {
    let mut h = Hasher::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else { continue };
        h.update(
            format!(
                "{} {} {} {}\n",
                p.display(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            )
            .as_bytes(),
        );
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                children.sort();
                stack.extend(children.into_iter().rev());
            }
        }
    }
    h.finish().hex().to_string()
}
