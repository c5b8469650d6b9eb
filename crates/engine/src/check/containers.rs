//! Containers under `system check`: a row a killed `rm` left half removed, a row without its directory
//! under containers/, a directory there without a row, and a container whose image is gone.
//!
//! No lock covers containers: `create` makes the directory before it writes the row, so a directory
//! without a row is a leftover only once it is older than any create could take (`CREATE_GRACE`).
//! A directory with something mounted under it is never removed here: the mount is the host half's.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::time::Duration;

use berth_store::containers::{self as rows, ContainerRow};

use super::mountinfo::mounts_under;
use super::{done_if, found, CheckOptions, Finding, FindingKind, Repair};
use crate::ContainerState;
use crate::{Engine, Error, Result};

/// How long a `create` may take between making the container's directory and writing its row: it may
/// wait for the volumes lock, whose holder may be emptying a large trash.
const CREATE_GRACE: Duration = Duration::from_secs(600);

pub(super) fn check(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    let containers = rows::list(&*engine.store().db()?)?;
    let images = engine.store().image_ids()?;
    for row in &containers {
        if row.state == ContainerState::Removing {
            // Every removal holds the container's start lock (containers/lifecycle.rs): a held one is a
            // removal at work.
            if !engine.start_lock_held(&row.id) {
                half_removed(engine, options, findings, row);
            }
            continue;
        }
        let dir = engine.container_dir(&row.id);
        if !dir.is_dir() {
            found(
                findings,
                options,
                FindingKind::Container,
                &row.name,
                format!("its directory (containers/{}) is missing", row.id),
                || Ok(Repair::NotPossible(remove_it(row, "its files are gone"))),
            );
        }
        if !images.contains(&row.image_id) {
            found(
                findings,
                options,
                FindingKind::Container,
                &row.name,
                format!("its image {} is gone", short(&row.image_id)),
                || Ok(Repair::NotPossible(remove_it(row, "it cannot start again"))),
            );
        }
    }
    let ids: HashMap<&str, &ContainerRow> = containers.iter().map(|r| (r.id.as_str(), r)).collect();
    let dir = engine.layout().containers();
    let on_disk: BTreeSet<String> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    for id in on_disk.iter().filter(|id| !ids.contains_key(id.as_str())) {
        let path = dir.join(id);
        if young(&path) {
            continue;
        }
        found(
            findings,
            options,
            FindingKind::Container,
            id,
            "a directory without a record (left by a killed create or rm)",
            || remove_orphan_dir(engine, id, &path),
        );
    }
    Ok(())
}

/// A row in state `removing` whose remover is gone: an `rm` was killed part-way (its directory, runtime
/// state and mounts may be partly gone). Repair finishes the removal, as the next command to list
/// containers would.
fn half_removed(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>, row: &ContainerRow) {
    found(
        findings,
        options,
        FindingKind::Container,
        &row.name,
        "a killed rm left it half removed",
        || {
            engine.discard_container(&row.id)?;
            let gone = rows::get(&*engine.store().db()?, &row.id)?.is_none();
            Ok(done_if(gone, "finished its removal", "its record is still there"))
        },
    );
}

fn remove_orphan_dir(engine: &Engine, id: &str, path: &Path) -> Result<Repair> {
    if let Some(mount) = mounts_under(path).first() {
        return Ok(Repair::NotPossible(format!(
            "{} is still mounted: once that mount is gone (see the mount findings), repair again",
            mount.display()
        )));
    }
    if rows::get(&*engine.store().db()?, id)?.is_some() {
        return Ok(Repair::Failed("a container of this ID exists now".into()));
    }
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(Repair::Done("removed".into())),
    }
}

/// Changed within `CREATE_GRACE` (or of unknown age): maybe a create at work.
fn young(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .map(|t| t.elapsed().unwrap_or_default() < CREATE_GRACE)
        .unwrap_or(true)
}

fn remove_it(row: &ContainerRow, why: &str) -> String {
    format!("{why}: remove it with `berth rm -f {}`", row.name)
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}
