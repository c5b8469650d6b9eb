//! Files a process keeps while it works and removes when it is done, found after the process died:
//! ingest sessions and downloads whose lock nobody holds, and temporary files whose writer is gone.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_store::FileLock;

use super::{done_if, found, CheckOptions, Finding, FindingKind, Repair};
use crate::{Engine, Error, Result};

/// How long a writer may keep a temporary file with a random name: they write a few bytes (health
/// state) or one small binary (berth-init) and rename it at once.
const TEMP_GRACE: Duration = Duration::from_secs(60);

pub(super) fn check(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    ingest(engine, options, findings);
    downloads(engine, options, findings);
    temp_files(engine, options, findings);
    Ok(())
}

/// Ingest sessions of dead processes (any berth command that opens the store removes them too).
fn ingest(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) {
    let store = engine.store();
    for id in store.stale_ingest() {
        found(
            findings,
            options,
            FindingKind::Ingest,
            format!("ingest/{id}"),
            "the staging area of a process that is gone (a killed import, load, pull, build or commit)",
            || {
                Ok(done_if(
                    store.remove_stale_ingest(&id)?,
                    "removed",
                    "a process holds it now",
                ))
            },
        );
    }
}

/// Downloads no pull holds: what killed pulls fetched and never committed (the next pull of the same blob
/// would resume it; `image prune` removes it). Repair removes it under its lock, as prune does.
fn downloads(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) {
    let dir = engine.layout().downloads();
    let Ok(entries) = fs::read_dir(&dir) else { return };
    let names: BTreeSet<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .map(|n| n.strip_suffix(".lock").map(str::to_string).unwrap_or(n))
        .collect();
    for name in names {
        let lock_path = dir.join(format!("{name}.lock"));
        // A pull fetching it, or about to link it into its session: not a leftover.
        if FileLock::is_held(&lock_path) {
            continue;
        }
        let file = dir.join(&name);
        let problem = match fs::symlink_metadata(&file) {
            Ok(meta) => format!("{} bytes a killed pull fetched and never committed", meta.len()),
            Err(_) => "the lock file of a killed pull".to_string(),
        };
        found(
            findings,
            options,
            FindingKind::Download,
            format!("downloads/{name}"),
            problem,
            || {
                let Some(_lock) = FileLock::try_exclusive(&lock_path)? else {
                    return Ok(Repair::Failed("a pull holds it now".into()));
                };
                remove_file(&file)?;
                // Removed while held, as prune does: FileLock takes a lock whose file went on the new file.
                remove_file(&lock_path)?;
                Ok(Repair::Done("removed".into()))
            },
        );
    }
}

/// Temporary files of writers that are gone, where berth's writers put them: the data root (the root's
/// id, written as `root-id.<pid>` and linked into place), the run root (berth-init) and each container's
/// run directory (health state). `save -o` and `cp` write into the user's directories, with O_TMPFILE
/// or a name removed on failure, and are not looked for.
fn temp_files(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) {
    let mut dirs = vec![engine.root().to_path_buf(), engine.runroot().to_path_buf()];
    if let Ok(entries) = fs::read_dir(engine.layout().run_containers()) {
        let mut runs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        runs.sort();
        dirs.extend(runs);
    }
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        let mut files: Vec<(PathBuf, String, Duration)> = entries
            .flatten()
            .filter_map(|e| {
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                let age = meta.modified().ok()?.elapsed().unwrap_or_default();
                Some((e.path(), e.file_name().into_string().ok()?, age))
            })
            .collect();
        files.sort();
        for (path, name, age) in files {
            if !is_leftover_temp(&name, age, process_alive) {
                continue;
            }
            found(
                findings,
                options,
                FindingKind::Temp,
                path.display().to_string(),
                "a temporary file whose writer is gone",
                || {
                    remove_file(&path)?;
                    Ok(Repair::Done("removed".into()))
                },
            );
        }
    }
}

/// Whether `name` is one of berth's temporary names and its writer is gone: `root-id.<pid>` of a dead
/// process, or `<name>.tmp-<hex>` (a random number or a pid) older than `TEMP_GRACE`.
fn is_leftover_temp(name: &str, age: Duration, alive: impl Fn(u32) -> bool) -> bool {
    if let Some(pid) = name.strip_prefix("root-id.") {
        return pid.parse::<u32>().is_ok_and(|pid| !alive(pid));
    }
    match name.rsplit_once(".tmp-") {
        Some((stem, suffix)) => {
            !stem.is_empty() && !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_hexdigit()) && age > TEMP_GRACE
        }
        None => false,
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes a file; one already gone is fine.
fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_of_gone_writers_are_told_apart() {
        let old = Duration::from_secs(3600);
        let new = Duration::from_secs(1);
        let dead = |_| false;
        let alive = |_| true;
        assert!(is_leftover_temp("root-id.1234", new, dead));
        assert!(!is_leftover_temp("root-id.1234", old, alive));
        assert!(!is_leftover_temp("root-id", old, dead));
        assert!(!is_leftover_temp("root-id.x", old, dead));
        assert!(is_leftover_temp("health.tmp-0a1b2c3d", old, alive));
        assert!(is_leftover_temp("berth-init.tmp-4242", old, alive));
        assert!(
            !is_leftover_temp("health.tmp-0a1b2c3d", new, dead),
            "maybe still being written"
        );
        assert!(!is_leftover_temp("notes.tmp-today", old, dead));
        assert!(!is_leftover_temp("berth.db", old, dead));
        assert!(!is_leftover_temp(".tmp-12", old, dead));
    }
}
