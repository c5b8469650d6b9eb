//! Volumes of a `--userns=auto` container, seen through its user namespace's mapping: each volume's
//! directory is bound in through an idmapped clone, so its files stay stored with the ids the container
//! sees (shared alike by containers of any range, or of none), and container root owns what the
//! image gave it. The runtime binds from a path, so each clone is attached for the start under the
//! container's run dir, and detached once the container runs (its mount namespace keeps its copy).
//! A new volume filled from the image (through the container's shifted view) is unshifted after.

use std::fs;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use crate::{Engine, Error, Result};

fn dir(engine: &Engine, id: &str) -> PathBuf {
    engine.container_run_dir(id).join("idmapped")
}

/// Attaches an idmapped clone of `source` as the container's `n`th, and returns where.
pub(super) fn attach(engine: &Engine, id: &str, n: usize, source: &Path, userns: BorrowedFd<'_>) -> Result<PathBuf> {
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let target = dir(engine, id).join(n.to_string());
    fs::create_dir_all(&target).map_err(|e| io(&target, e))?;
    let clone = berth_image::idmap::idmapped_clone(source, userns).map_err(|e| io(source, e))?;
    rustix::mount::move_mount(
        &clone,
        "",
        rustix::fs::CWD,
        &target,
        rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| io(&target, e.into()))?;
    Ok(target)
}

/// Detaches every clone [`attach`] made for the container (after its start, and in every teardown, for
/// a monitor killed in between).
pub(crate) fn detach_all(engine: &Engine, id: &str) {
    let dir = dir(engine, id);
    let Ok(entries) = fs::read_dir(&dir) else { return };
    for entry in entries.flatten() {
        let _ = berth_image::snapshot::unmount(&entry.path());
        let _ = fs::remove_dir(entry.path());
    }
    let _ = fs::remove_dir(&dir);
}

/// Gives what a copy from the container's (shifted) view wrote into `dir` the ids the container sees,
/// since a volume is stored unshifted. (The copy cannot go through the idmapped clone instead: host root's
/// own id has no mapping there, so creating a file through it fails with EOVERFLOW.) `dir` is a new
/// volume berth just filled: nothing else writes it, and lchown never follows its symlinks.
pub(super) fn unshift_tree(dir: &Path, range: berth_store::IdRange) {
    use std::os::unix::fs::MetadataExt;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let (uid, gid) = (range.to_container(meta.uid()), range.to_container(meta.gid()));
        if let Err(e) = std::os::unix::fs::lchown(&path, Some(uid), Some(gid)) {
            tracing::warn!(path = %path.display(), error = %e, "giving a new volume's file its owner");
        }
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
}
