//! What `berth system check` asks of the store: views of blobs/, layers/, ingest/ and berth.db that
//! change nothing, and the few repairs the store itself can make.
//!
//! Functions that list or repair paths under blobs/ or layers/ expect the caller to hold the lock from
//! `Store::lock_as_is`: `Store::lock` would first finish what a killed command left, which the check
//! must see (and report) before anything repairs it.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::PathBuf;

use rusqlite::{Connection, OptionalExtension};

use crate::lock::FileLock;
use crate::store::{doom, mark_garbage, remove_path};
use crate::{Digest, Error, Hasher, IoContext, Store};

/// The directory of the store a path is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    Blobs,
    Layers,
}

/// A path under blobs/sha256 or layers/ that no row references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    pub area: Area,
    /// The entry's file name (a digest's hex when berth made it).
    pub name: String,
    pub path: PathBuf,
}

/// How a blob's file compares with its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobState {
    Intact,
    Missing,
    /// The file has another size than the row records.
    Size {
        actual: u64,
    },
    /// The file's sha256 is not its name.
    Content {
        actual: Digest,
    },
    Unreadable(String),
}

/// A row of `blobs`.
#[derive(Clone, Debug)]
pub struct BlobRecord {
    pub digest: String,
    pub size: u64,
}

/// What needs a blob: images whose config it is, layers unpacked from it, images whose manifest it is.
#[derive(Clone, Debug, Default)]
pub struct BlobUsers {
    pub configs_of: Vec<String>,
    pub layers: Vec<String>,
    pub manifests_of: Vec<String>,
    /// Every image that needs it, through any of the above.
    pub images: Vec<String>,
}

impl BlobUsers {
    pub fn is_empty(&self) -> bool {
        self.configs_of.is_empty() && self.layers.is_empty() && self.manifests_of.is_empty()
    }
}

/// A row of `layers`, with what the check compares it against.
#[derive(Clone, Debug)]
pub struct LayerRecord {
    pub chain_id: String,
    pub blob_digest: String,
    pub blob_recorded: bool,
    /// Images that list this layer.
    pub images: Vec<String>,
}

/// What an image row names that has no row of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageGap {
    Config,
    Layer(String),
    Manifest(String),
}

/// Work a killed commit or collection left in `pending`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingWork {
    /// (kind, digest) of each path whose fate is open.
    pub paths: Vec<(String, String)>,
    /// An image was deleted and its collection never ran.
    pub collection_due: bool,
}

impl PendingWork {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.collection_due
    }
}

/// A row whose foreign key names a row that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyViolation {
    pub table: String,
    pub rowid: i64,
    /// The row's first column (its name or key), to show it by.
    pub key: String,
    pub parent: String,
    /// The missing parent key.
    pub missing: String,
    /// The key is ON DELETE CASCADE: deleting the parent would have deleted this row.
    pub cascades: bool,
}

impl Store {
    /// SQLite's own `integrity_check`: empty when the file is sound.
    pub fn integrity_problems(&self) -> Result<Vec<String>, Error> {
        let conn = self.db()?;
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let lines: Vec<String> = rows.collect::<Result<_, _>>()?;
        Ok(lines.into_iter().filter(|l| l != "ok").collect())
    }

    /// Rows whose foreign keys point nowhere (the keys are enforced, so only a hand edit or another tool
    /// makes these).
    pub fn key_violations(&self) -> Result<Vec<KeyViolation>, Error> {
        let conn = self.db()?;
        let found: Vec<(String, Option<i64>, String, i64)> = {
            let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut violations = Vec::new();
        for (table, rowid, parent, fkid) in found {
            let Some(rowid) = rowid else { continue };
            let (from, on_delete) = foreign_key(&conn, &table, fkid)?;
            let missing: Option<String> = conn.query_row(
                &format!(
                    "SELECT CAST({} AS TEXT) FROM {} WHERE rowid = ?1",
                    quote(&from),
                    quote(&table)
                ),
                [rowid],
                |r| r.get(0),
            )?;
            let missing = missing.unwrap_or_default();
            let key = first_column(&conn, &table, rowid)?.unwrap_or_default();
            violations.push(KeyViolation {
                table,
                rowid,
                key,
                parent,
                missing,
                cascades: on_delete.eq_ignore_ascii_case("CASCADE"),
            });
        }
        Ok(violations)
    }

    /// Deletes a row that still violates its foreign key, as the key's ON DELETE CASCADE would have when
    /// its parent went; returns whether it did.
    pub fn delete_violating_row(&self, violation: &KeyViolation) -> Result<bool, Error> {
        self.write(|tx| {
            let mut stmt = tx.prepare(&format!("PRAGMA foreign_key_check({})", quote(&violation.table)))?;
            let still = stmt
                .query_map([], |r| r.get::<_, Option<i64>>(1))?
                .collect::<Result<Vec<_>, _>>()?
                .contains(&Some(violation.rowid));
            if !still {
                return Ok(false);
            }
            tx.execute(
                &format!("DELETE FROM {} WHERE rowid = ?1", quote(&violation.table)),
                [violation.rowid],
            )?;
            Ok(true)
        })
    }

    /// What `pending` holds. Caller holds the lock from `lock_as_is`: a commit or collection in progress
    /// has pending rows too.
    pub fn pending_work(&self) -> Result<PendingWork, Error> {
        let conn = self.db()?;
        let mut stmt = conn.prepare("SELECT kind, digest FROM pending ORDER BY kind, digest")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut work = PendingWork::default();
        for row in rows {
            let (kind, digest) = row?;
            if kind == "gc" {
                work.collection_due = true;
            } else {
                work.paths.push((kind, digest));
            }
        }
        Ok(work)
    }

    /// Finishes what `pending` holds: the collection that is due, then the removal of every pending path
    /// no row references. Caller holds the lock from `lock_as_is`.
    pub fn finish_pending(&self) -> Result<(), Error> {
        if self.pending_work()?.collection_due {
            self.write(mark_garbage)?;
        }
        self.recover()
    }

    /// Entries under blobs/sha256 and layers/ that no row references, pending paths aside (finishing the
    /// pending work removes those). Caller holds the lock from `lock_as_is`.
    pub fn orphans(&self) -> Result<Vec<Orphan>, Error> {
        let pending: HashSet<String> = self
            .pending_work()?
            .paths
            .into_iter()
            .map(|(_, digest)| digest)
            .collect();
        let mut orphans = Vec::new();
        for (area, dir, sql) in [
            (
                Area::Blobs,
                self.root().join("blobs/sha256"),
                "SELECT digest FROM blobs",
            ),
            (Area::Layers, self.root().join("layers"), "SELECT chain_id FROM layers"),
        ] {
            let rows: HashSet<String> = {
                let conn = self.db()?;
                let mut stmt = conn.prepare(sql)?;
                let keys = stmt.query_map([], |r| r.get::<_, String>(0))?;
                keys.collect::<Result<_, _>>()?
            };
            let mut entries: Vec<_> = fs::read_dir(&dir).at(&dir)?.flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let name = entry.file_name().to_string_lossy().into_owned();
                let key = format!("sha256:{name}");
                if !rows.contains(&key) && !pending.contains(&key) {
                    orphans.push(Orphan {
                        area,
                        name,
                        path: entry.path(),
                    });
                }
            }
        }
        Ok(orphans)
    }

    /// Removes an orphan that is still one; returns whether it did. Caller holds the lock from `lock_as_is`.
    pub fn remove_orphan(&self, orphan: &Orphan) -> Result<bool, Error> {
        let (table, column) = match orphan.area {
            Area::Blobs => ("blobs", "digest"),
            Area::Layers => ("layers", "chain_id"),
        };
        let referenced: bool = self.db()?.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} = ?1)"),
            [format!("sha256:{}", orphan.name)],
            |r| r.get(0),
        )?;
        if referenced {
            return Ok(false);
        }
        remove_path(&orphan.path)?;
        Ok(true)
    }

    pub fn blob_records(&self) -> Result<Vec<BlobRecord>, Error> {
        let conn = self.db()?;
        let mut stmt = conn.prepare("SELECT digest, size FROM blobs ORDER BY digest")?;
        let rows = stmt.query_map([], |r| {
            Ok(BlobRecord {
                digest: r.get(0)?,
                size: r.get::<_, i64>(1)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The size a blob's row records, if it has one.
    pub fn blob_record(&self, digest: &str) -> Result<Option<u64>, Error> {
        let size: Option<i64> = self
            .db()?
            .query_row("SELECT size FROM blobs WHERE digest = ?1", [digest], |r| r.get(0))
            .optional()?;
        Ok(size.map(|s| s.max(0) as u64))
    }

    /// Reads a blob's file whole and compares it with its name and recorded size.
    pub fn verify_blob(&self, digest: &Digest, size: u64) -> BlobState {
        let path = self.blob_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return BlobState::Missing,
            Err(e) => return BlobState::Unreadable(e.to_string()),
        };
        match hash(file) {
            Ok((_, actual)) if actual != size => BlobState::Size { actual },
            Ok((actual, _)) if actual != *digest => BlobState::Content { actual },
            Ok(_) => BlobState::Intact,
            Err(e) => BlobState::Unreadable(e.to_string()),
        }
    }

    pub fn blob_users(&self, digest: &str) -> Result<BlobUsers, Error> {
        blob_users(&*self.db()?, digest)
    }

    /// Deletes a blob's row and file if nothing needs it (as a collection would); returns whether it did.
    /// Caller holds the lock from `lock_as_is`.
    pub fn forget_blob(&self, digest: &str) -> Result<bool, Error> {
        let forgotten = self.write(|tx| {
            if !blob_users(tx, digest)?.is_empty() {
                return Ok::<_, Error>(false);
            }
            doom(tx, "blobs", "digest", "blob", &vec![(digest.to_string(), 0)])?;
            Ok(true)
        })?;
        if forgotten {
            self.recover()?;
        }
        Ok(forgotten)
    }

    pub fn layer_records(&self) -> Result<Vec<LayerRecord>, Error> {
        let conn = self.db()?;
        let mut stmt = conn.prepare(
            "SELECT chain_id, blob_digest, EXISTS (SELECT 1 FROM blobs WHERE digest = blob_digest)
             FROM layers ORDER BY chain_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(LayerRecord {
                chain_id: r.get(0)?,
                blob_digest: r.get(1)?,
                blob_recorded: r.get(2)?,
                images: Vec::new(),
            })
        })?;
        let mut layers: Vec<LayerRecord> = rows.collect::<Result<_, _>>()?;
        for layer in &mut layers {
            layer.images = strings(
                &conn,
                "SELECT DISTINCT image_id FROM image_layers WHERE chain_id = ?1 ORDER BY image_id",
                &layer.chain_id,
            )?;
        }
        Ok(layers)
    }

    /// Deletes a layer's row and directory if no image lists it (as a collection would); returns whether it
    /// did. Caller holds the lock from `lock_as_is`.
    pub fn forget_layer(&self, chain_id: &str) -> Result<bool, Error> {
        let forgotten = self.write(|tx| {
            let used: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM image_layers WHERE chain_id = ?1)",
                [chain_id],
                |r| r.get(0),
            )?;
            if used {
                return Ok::<_, Error>(false);
            }
            doom(tx, "layers", "chain_id", "layer", &vec![(chain_id.to_string(), 0)])?;
            Ok(true)
        })?;
        if forgotten {
            self.recover()?;
        }
        Ok(forgotten)
    }

    /// (image ID, what it names without a row) for every image whose config, layers or manifest the
    /// store has no row of.
    pub fn image_gaps(&self) -> Result<Vec<(String, ImageGap)>, Error> {
        let conn = self.db()?;
        let mut gaps = Vec::new();
        let mut stmt = conn.prepare("SELECT id FROM images WHERE id NOT IN (SELECT digest FROM blobs) ORDER BY id")?;
        for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
            gaps.push((id?, ImageGap::Config));
        }
        let mut stmt = conn.prepare(
            "SELECT image_id, chain_id FROM image_layers WHERE chain_id NOT IN (SELECT chain_id FROM layers)
             ORDER BY image_id, idx",
        )?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (id, chain) = row?;
            gaps.push((id, ImageGap::Layer(chain)));
        }
        let mut stmt = conn.prepare(
            "SELECT id, manifest_digest FROM images
             WHERE manifest_digest IS NOT NULL AND manifest_digest NOT IN (SELECT digest FROM blobs) ORDER BY id",
        )?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (id, manifest) = row?;
            gaps.push((id, ImageGap::Manifest(manifest)));
        }
        Ok(gaps)
    }

    /// Every image's ID.
    pub fn image_ids(&self) -> Result<HashSet<String>, Error> {
        let conn = self.db()?;
        let mut stmt = conn.prepare("SELECT id FROM images")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// (image ID, name) of every tag, then of every repo digest, to show images by.
    pub fn image_names(&self) -> Result<Vec<(String, String)>, Error> {
        let conn = self.db()?;
        let mut stmt = conn.prepare(
            "SELECT image_id, name FROM (
                SELECT image_id, name, 0 AS rank, added_at FROM tags
                UNION ALL SELECT image_id, name, 1, '' FROM repo_digests)
             ORDER BY rank, added_at, name",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// IDs of ingest sessions whose process is gone: their lock is free, or they have no lock file (a
    /// session takes its lock before it makes its directory, and removes its directory first).
    pub fn stale_ingest(&self) -> Vec<String> {
        let dir = self.root().join("ingest");
        let Ok(entries) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                Some(name.strip_suffix(".lock").map(str::to_string).unwrap_or(name))
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids.retain(|id| !FileLock::is_held(&dir.join(format!("{id}.lock"))));
        ids
    }

    /// Removes an ingest session whose process is gone, under its lock; returns whether it did.
    pub fn remove_stale_ingest(&self, id: &str) -> Result<bool, Error> {
        let dir = self.root().join("ingest");
        let lock_path = dir.join(format!("{id}.lock"));
        let Some(_lock) = FileLock::try_exclusive(&lock_path)? else {
            return Ok(false);
        };
        remove_path(&dir.join(id))?;
        remove_path(&lock_path)?;
        Ok(true)
    }
}

/// What needs a blob, asked on `conn` (the store's connection, or a transaction on it).
fn blob_users(conn: &Connection, digest: &str) -> Result<BlobUsers, Error> {
    Ok(BlobUsers {
        configs_of: strings(conn, "SELECT id FROM images WHERE id = ?1", digest)?,
        layers: strings(conn, "SELECT chain_id FROM layers WHERE blob_digest = ?1", digest)?,
        manifests_of: strings(conn, "SELECT id FROM images WHERE manifest_digest = ?1", digest)?,
        images: strings(
            conn,
            "SELECT id FROM images WHERE id = ?1 OR manifest_digest = ?1
                 UNION SELECT image_id FROM image_layers JOIN layers USING (chain_id) WHERE blob_digest = ?1
                 ORDER BY 1",
            digest,
        )?,
    })
}

/// (sha256, length) of everything `file` holds.
fn hash(mut file: File) -> io::Result<(Digest, u64)> {
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let len = hasher.len();
    Ok((hasher.finish(), len))
}

/// The first column of `sql`'s rows for one parameter.
fn strings(conn: &Connection, sql: &str, param: &str) -> Result<Vec<String>, Error> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([param], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// (column, ON DELETE action) of foreign key `id` of `table`.
fn foreign_key(conn: &Connection, table: &str, id: i64) -> Result<(String, String), Error> {
    let mut stmt = conn.prepare(&format!("PRAGMA foreign_key_list({})", quote(table)))?;
    let keys = stmt.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(3)?, r.get::<_, String>(6)?))
    })?;
    for key in keys {
        let (kid, from, on_delete) = key?;
        if kid == id {
            return Ok((from, on_delete));
        }
    }
    Err(Error::Corrupt(format!(
        "foreign key {id} of table {table} is not in its schema"
    )))
}

/// A row's first column as text.
fn first_column(conn: &Connection, table: &str, rowid: i64) -> Result<Option<String>, Error> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {} WHERE rowid = ?1", quote(table)))?;
    let value = stmt
        .query_row([rowid], |r| r.get::<_, rusqlite::types::Value>(0))
        .optional()?;
    Ok(value.map(|v| match v {
        rusqlite::types::Value::Text(t) => t,
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Real(f) => f.to_string(),
        rusqlite::types::Value::Blob(_) | rusqlite::types::Value::Null => String::new(),
    }))
}

/// An SQL identifier, quoted (table names come from SQLite's own answers, never from users).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
