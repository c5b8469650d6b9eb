//! A stopped container's root as a mount of its own, for `cp` and `export`: its upper dir over the
//! image's layers. A `--userns` container's layers are seen through an idmapped clone made with a
//! user namespace of its range (made for the view, gone with it), as when it runs: so every file
//! of the view carries the host's (shifted) id, upper and layers alike, and the callers shift all
//! of them down, or up, the same way whether the container runs or not. A plain overlay of a
//! shifted upper over unshifted layers would mix both: an image file owned by 1000 next to a file
//! the container made as its 1000, owned by base+1000.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_store::{meta, Digest, IdRange};

use super::Container;
use crate::{Engine, Error, Result};

/// A directory name in `dir` for one call's view of a container (`cp-PID-N`): calls in one
/// process (the API server's requests) never share one, so none unmounts another's.
pub(super) fn private_view(dir: &Path, what: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{what}-{}-{n}", std::process::id()))
}

/// A user namespace over a `--userns` container's range, held by its fd, for idmapping its layers.
fn user_namespace(c: &Container, range: IdRange) -> Result<OwnedFd> {
    berth_runtime::userns::create(range, false)
        .map(|made| made.user)
        .map_err(|e| Error::Internal(format!("making a user namespace for container {}'s files: {e}", c.id())))
}

impl Engine {
    /// The image layers under a container, top-most first.
    pub(super) fn lowers(&self, c: &Container) -> Result<Vec<PathBuf>> {
        let id: Digest = c.row.image_id.parse()?;
        let record =
            meta::get_image(&*self.store().db()?, &id)?.ok_or_else(|| Error::NoSuchImage(c.config.image.clone()))?;
        Ok(record.layers.iter().rev().map(|l| self.store().layer_diff(l)).collect())
    }

    /// Mounts the container's root at `target` (an empty directory): read-only, the upper dir as the
    /// top layer; or writable, through the upper and work dirs (what is written lands in the upper).
    /// A `--userns` container's view shows the host's ids (see the module docs).
    pub(super) fn mount_view(&self, c: &Container, target: &Path, writable: bool) -> Result<()> {
        let dir = self.container_dir(c.id());
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        let lowers = self.lowers(c)?;
        let Some(range) = c.config.host.id_range else {
            if writable {
                berth_image::snapshot::mount_overlay(&lowers, &upper, &work, target)?;
            } else {
                let mut all = vec![upper];
                all.extend(lowers);
                berth_image::snapshot::mount_overlay_readonly(&all, target)?;
            }
            return Ok(());
        };
        if !berth_image::snapshot::overlay_supported() {
            return Err(Error::InvalidArgument(
                "a --userns=auto container's files need overlayfs, which this host's data root cannot mount".into(),
            ));
        }
        let userns = user_namespace(c, range)?;
        if writable {
            // As the monitor leaves them: the root directory of the view is the range's root's.
            for d in [&upper, &work] {
                fs::create_dir_all(d).map_err(|e| Error::Io {
                    path: d.clone(),
                    source: e,
                })?;
                crate::userns::give_to_root(d, range)?;
            }
            berth_image::idmap::mount_overlay_idmapped(&lowers, &upper, &work, target, false, userns.as_fd())?;
        } else {
            berth_image::idmap::mount_readonly_idmapped(&upper, &lowers, target, userns.as_fd())?;
        }
        Ok(())
    }
}
