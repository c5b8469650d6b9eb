//! Volumes under `system check`: a directory under volumes/ without a row (what a killed `volume create`
//! or `rm` left), a row without its directory, and files waiting in volumes/.trash. Looked at under the
//! volumes lock, taken without its sweep, which is what repairs the first and the last.

use std::collections::BTreeSet;
use std::fs;

use berth_store::volumes as rows;

use super::{done_if, found, CheckOptions, Finding, FindingKind, Repair};
use crate::volumes::TRASH;
use crate::{Engine, Result};

pub(super) fn check(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    let _lock = engine.lock_volumes_as_is()?;
    let dir = engine.layout().volumes();
    let on_disk: BTreeSet<String> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != TRASH)
        .collect();
    let recorded: BTreeSet<String> = rows::list(&*engine.store().db()?)?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let trash = dir.join(TRASH);
    let mut trashed: Vec<String> = fs::read_dir(&trash)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    trashed.sort();
    // The sweep of the volumes lock repairs row-less directories and the trash at once; run it once.
    let mut swept: Option<std::result::Result<(), String>> = None;
    let mut sweep = || -> std::result::Result<(), String> {
        swept
            .get_or_insert_with(|| engine.sweep_volumes().map_err(|e| e.to_string()))
            .clone()
    };

    for name in on_disk.difference(&recorded) {
        let path = dir.join(name);
        found(
            findings,
            options,
            FindingKind::Volume,
            name,
            "a directory without a record (left by a killed volume create or rm)",
            || {
                Ok(match sweep() {
                    Ok(()) => done_if(!path.exists(), "moved to the trash and removed", "it is still there"),
                    Err(e) => Repair::Failed(e),
                })
            },
        );
    }
    for name in &recorded {
        if engine.volume_data(name).is_dir() {
            continue;
        }
        let users = engine.volume_users(name)?;
        let problem = match users.is_empty() {
            true => "its directory is missing".to_string(),
            false => format!("its directory is missing; used by containers {}", short_ids(&users)),
        };
        found(findings, options, FindingKind::Volume, name, problem, || {
            if !users.is_empty() {
                return Ok(Repair::NotPossible(format!(
                    "its data is gone: remove the containers that use it ({}) and then the volume with \
                     `berth volume rm`",
                    short_ids(&users)
                )));
            }
            // Nothing to move to the trash: this deletes the row alone.
            let trashed = engine.remove_volume_locked(name, true)?;
            if let Some(dir) = trashed {
                let _ = fs::remove_dir_all(dir);
            }
            Ok(done_if(
                engine.volume(name).is_err(),
                "removed its record: no container used it",
                "its record is still there",
            ))
        });
    }
    for name in trashed {
        let path = trash.join(&name);
        found(
            findings,
            options,
            FindingKind::Trash,
            format!("volumes/{TRASH}/{name}"),
            "a removed volume's files, not yet deleted (a killed volume rm left them)",
            || {
                Ok(match sweep() {
                    Ok(()) => done_if(!path.exists(), "removed", "it is still there"),
                    Err(e) => Repair::Failed(e),
                })
            },
        );
    }
    Ok(())
}

fn short_ids(ids: &[String]) -> String {
    ids.iter()
        .map(|id| id.get(..12).unwrap_or(id))
        .collect::<Vec<_>>()
        .join(", ")
}
