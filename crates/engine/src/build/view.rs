//! An image's files mounted read-only (COPY --from, RUN --mount=from, --chown names), unmounted on drop.

use std::fs;
use std::path::PathBuf;

use berth_store::meta;

use super::rand_suffix;
use crate::{Engine, Error, Result};

/// An image's files, mounted read-only for `COPY --from`; unmounted on drop.
pub(super) struct ImageView {
    pub(super) path: PathBuf,
}

impl ImageView {
    pub(super) fn mount(engine: &Engine, image: &meta::Image) -> Result<ImageView> {
        let path = engine
            .runroot()
            .join("build")
            .join(format!("view-{}-{}", std::process::id(), rand_suffix()));
        fs::create_dir_all(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let lowers: Vec<PathBuf> = image
            .layers
            .iter()
            .rev()
            .map(|l| engine.store().layer_diff(l))
            .collect();
        if lowers.is_empty() {
            return Ok(ImageView { path });
        }
        if lowers.len() == 1 {
            // overlayfs needs two layers for a read-only mount; one layer is read directly.
            let _ = fs::remove_dir(&path);
            return Ok(ImageView {
                path: lowers[0].clone(),
            });
        }
        berth_image::snapshot::mount_overlay_readonly(&lowers, &path)?;
        Ok(ImageView { path })
    }
}

impl Drop for ImageView {
    fn drop(&mut self) {
        if self.path.starts_with("/") && self.path.to_string_lossy().contains("/build/view-") {
            let _ = berth_image::snapshot::unmount(&self.path);
            let _ = fs::remove_dir(&self.path);
        }
    }
}
