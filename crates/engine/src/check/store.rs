//! The store's side of `system check`: berth.db's own integrity and keys, the work a killed commit or
//! collection left pending, every blob against its digest and size, every layer's directory, every
//! image's parts, and paths under blobs/ and layers/ that no row names.
//!
//! What `repair` does with a damaged or missing blob: the blob is the only copy of its content on this
//! host, so nothing here can restore it. One that nothing needs is garbage, and goes (row and file) as
//! a collection would take it. One that an image needs stays as it is: removing it would not mend the
//! image (it would be broken differently, with the damage no longer visible to the next check), and
//! containers do not need it anyway (they run on the unpacked layers; only save, push and reading the
//! config do). The images that need it are named, with the way back: remove them and pull, load or
//! build them again. Layers and images with missing parts are treated the same way.

use std::collections::BTreeMap;

use berth_store::check::{Area, BlobRecord, BlobState, ImageGap, KeyViolation};
use berth_store::Digest;

use super::{done_if, found, CheckOptions, Finding, FindingKind, Repair};
use crate::{images, parallel, Engine, Result};

/// Checks berth.db itself; false when SQLite finds it damaged (no other repair should write to it then).
pub(super) fn database(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<bool> {
    let problems = match engine.store().integrity_problems() {
        Ok(p) => p,
        Err(e) => vec![e.to_string()],
    };
    if problems.is_empty() {
        return Ok(true);
    }
    let more = match problems.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    found(
        findings,
        options,
        FindingKind::Database,
        engine.layout().database().display().to_string(),
        format!("SQLite's integrity check fails: {}{more}", problems[0]),
        || {
            Ok(Repair::NotPossible(
                "stop berth on this root and rebuild the file from a backup (or with sqlite3's .recover); \
                 nothing else was repaired while it is damaged"
                    .into(),
            ))
        },
    );
    Ok(false)
}

/// The store's checks, after `database`.
pub(super) fn check(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    keys(engine, options, findings)?;
    // Hashing every blob takes a while: done without the lock (a blob's file never changes in place), and
    // what looks damaged is looked at again under it, since a collection may have taken it meanwhile.
    let suspects = suspect_blobs(engine)?;
    let _lock = engine.store().lock_as_is()?;
    let names = ImageNames::load(engine)?;
    pending(engine, options, findings)?;
    blobs(engine, options, findings, &suspects, &names)?;
    layers(engine, options, findings, &names)?;
    image_parts(engine, options, findings, &names)?;
    orphans(engine, options, findings)
}

/// Rows whose foreign key names a row that does not exist. Repair does what the key's ON DELETE says
/// (CASCADE: the row goes, as it would have gone with its parent); a key without one is left to the user.
fn keys(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    for violation in engine.store().key_violations()? {
        let (kind, object) = match violation.table.as_str() {
            "tags" | "repo_digests" => (FindingKind::Tag, images::familiar(&violation.key)),
            _ => (FindingKind::Database, format!("{} {}", violation.table, violation.key)),
        };
        let parent = violation.parent.trim_end_matches('s');
        let problem = format!("names {parent} {}, which does not exist", violation.missing);
        found(findings, options, kind, object, problem, || {
            repair_key(engine, &violation)
        });
    }
    Ok(())
}

fn repair_key(engine: &Engine, violation: &KeyViolation) -> Result<Repair> {
    if !violation.cascades {
        return Ok(Repair::NotPossible(format!(
            "berth cannot tell what should replace the missing {}: remove what owns this {} row",
            violation.parent.trim_end_matches('s'),
            violation.table
        )));
    }
    let removed = engine.store().delete_violating_row(violation)?;
    Ok(done_if(
        removed,
        "removed",
        "it was changed meanwhile: run the check again",
    ))
}

/// What a killed commit or collection left in `pending` (seen under the store lock, so no command is at
/// work on it). Repair finishes it, as the next command to take the lock would have.
fn pending(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    let work = engine.store().pending_work()?;
    if work.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if work.collection_due {
        parts.push("a garbage collection an image removal asked for".to_string());
    }
    if !work.paths.is_empty() {
        parts.push(format!("the removal of {} blob or layer paths", work.paths.len()));
    }
    let problem = format!("a killed command left {} unfinished", parts.join(" and "));
    found(findings, options, FindingKind::Database, "pending", problem, || {
        engine.store().finish_pending()?;
        Ok(done_if(
            engine.store().pending_work()?.is_empty(),
            "finished: removed what no record names",
            "work is still pending: run the check again",
        ))
    });
    Ok(())
}

/// Blob rows whose file is missing or does not match, found by hashing every blob in parallel.
fn suspect_blobs(engine: &Engine) -> Result<Vec<BlobRecord>> {
    let records = engine.store().blob_records()?;
    let bad = parallel::map(&records, parallel::cores(), |record| {
        Ok(match record.digest.parse::<Digest>() {
            Ok(digest) => engine.store().verify_blob(&digest, record.size) != BlobState::Intact,
            Err(_) => true,
        })
    })?;
    Ok(records
        .into_iter()
        .zip(bad)
        .filter_map(|(record, bad)| bad.then_some(record))
        .collect())
}

fn blobs(
    engine: &Engine,
    options: &CheckOptions,
    findings: &mut Vec<Finding>,
    suspects: &[BlobRecord],
    names: &ImageNames,
) -> Result<()> {
    let store = engine.store();
    for suspect in suspects {
        // Gone meanwhile: a collection took it.
        let Some(size) = store.blob_record(&suspect.digest)? else {
            continue;
        };
        let state = match suspect.digest.parse::<Digest>() {
            Ok(digest) => store.verify_blob(&digest, size),
            Err(_) => BlobState::Unreadable("its record's digest is not a sha256 digest".into()),
        };
        let mut problem = match &state {
            BlobState::Intact => continue,
            BlobState::Missing => "its file is missing".to_string(),
            BlobState::Size { actual } => format!("its file has {actual} bytes, its record says {size}"),
            BlobState::Content { actual } => format!("content does not match its digest (it hashes to {actual})"),
            BlobState::Unreadable(why) => format!("its file cannot be read: {why}"),
        };
        let users = store.blob_users(&suspect.digest)?;
        if !users.images.is_empty() {
            problem.push_str(&format!("; needed by {}", names.list(&users.images)));
        }
        found(findings, options, FindingKind::Blob, &suspect.digest, problem, || {
            if !users.images.is_empty() {
                return Ok(Repair::NotPossible(names.advice(&users.images)));
            }
            // Needed by layers no image uses (garbage a collection would take): they go first.
            for layer in &users.layers {
                store.forget_layer(layer)?;
            }
            Ok(done_if(
                store.forget_blob(&suspect.digest)?,
                "removed: nothing used it",
                "something uses it now: run the check again",
            ))
        });
    }
    Ok(())
}

/// Layer rows whose unpacked directory is missing, or whose blob has no row.
fn layers(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>, names: &ImageNames) -> Result<()> {
    let store = engine.store();
    for layer in store.layer_records()? {
        let mut problems = Vec::new();
        match layer.chain_id.parse::<Digest>() {
            Ok(chain) if !store.layer_diff(&chain).is_dir() => {
                problems.push(format!("its unpacked content (layers/{}/diff) is missing", chain.hex()))
            }
            Ok(_) => {}
            Err(_) => problems.push("its record's chain ID is not a sha256 digest".to_string()),
        }
        if !layer.blob_recorded {
            problems.push(format!("its blob {} has no record", layer.blob_digest));
        }
        if problems.is_empty() {
            continue;
        }
        let mut problem = problems.join("; ");
        if !layer.images.is_empty() {
            problem.push_str(&format!("; needed by {}", names.list(&layer.images)));
        }
        found(findings, options, FindingKind::Layer, &layer.chain_id, problem, || {
            if !layer.images.is_empty() {
                return Ok(Repair::NotPossible(names.advice(&layer.images)));
            }
            Ok(done_if(
                store.forget_layer(&layer.chain_id)?,
                "removed: no image used it",
                "an image uses it now: run the check again",
            ))
        });
    }
    Ok(())
}

/// Images that name a config, layer or manifest the store has no row of.
fn image_parts(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>, names: &ImageNames) -> Result<()> {
    for (id, gap) in engine.store().image_gaps()? {
        let problem = match &gap {
            ImageGap::Config => "its config blob has no record".to_string(),
            ImageGap::Layer(chain) => format!("its layer {chain} has no record"),
            ImageGap::Manifest(digest) => format!("its manifest {digest} has no record"),
        };
        let ids = [id];
        found(findings, options, FindingKind::Image, names.list(&ids), problem, || {
            Ok(Repair::NotPossible(names.advice(&ids)))
        });
    }
    Ok(())
}

/// Paths under blobs/ and layers/ that no row names: what a crash between a rename and its row left
/// (which `pending` normally covers), or a hand. Nothing can use them; repair removes them.
fn orphans(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    let store = engine.store();
    for orphan in store.orphans()? {
        let (kind, object) = match orphan.area {
            Area::Blobs => (FindingKind::Blob, format!("blobs/sha256/{}", orphan.name)),
            Area::Layers => (FindingKind::Layer, format!("layers/{}", orphan.name)),
        };
        found(findings, options, kind, object, "no record names it", || {
            Ok(done_if(
                store.remove_orphan(&orphan)?,
                "removed",
                "a record names it now: run the check again",
            ))
        });
    }
    Ok(())
}

/// Images as users know them: by their first tag or repo digest, else by short ID.
struct ImageNames(BTreeMap<String, String>);

impl ImageNames {
    fn load(engine: &Engine) -> Result<ImageNames> {
        let mut names = BTreeMap::new();
        for (id, name) in engine.store().image_names()? {
            names.entry(id).or_insert_with(|| images::familiar(&name));
        }
        Ok(ImageNames(names))
    }

    fn name(&self, id: &str) -> String {
        match self.0.get(id) {
            Some(name) => name.clone(),
            None => match id.parse::<Digest>() {
                Ok(d) => d.short().to_string(),
                Err(_) => id.to_string(),
            },
        }
    }

    fn list(&self, ids: &[String]) -> String {
        ids.iter().map(|id| self.name(id)).collect::<Vec<_>>().join(", ")
    }

    /// What to do about images with parts that nothing on this host can restore.
    fn advice(&self, ids: &[String]) -> String {
        format!(
            "nothing on this host can restore it: remove {} with `berth rmi -f` (after any container made \
             from it) and pull, load or build it again",
            self.list(ids)
        )
    }
}
