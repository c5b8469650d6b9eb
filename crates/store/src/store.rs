//! The data root on disk: blobs/, layers/, ingest/ and berth.db.
//!
//! Invariant: a file under blobs/ or layers/ is only ever created, renamed into
//! place or removed while holding the store lock, and the database row that
//! makes it visible is written in the same locked section. Paths whose fate a
//! crash could leave open are recorded in the `pending` table first; whoever
//! takes the lock next removes those that no row references.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, Transaction};

use crate::lock::FileLock;
use crate::{db, Digest, Error, HashingWriter, IoContext};

const BUF: usize = 1 << 20;

/// Which kind of store path a pending row names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Blob,
    Layer,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Blob => "blob",
            Kind::Layer => "layer",
        }
    }
}

/// An open data root.
pub struct Store {
    root: PathBuf,
    /// None after `close_db` until the next `db`.
    conn: Mutex<Option<Connection>>,
}

/// The metadata connection, held: see `Store::db`.
pub struct Db<'a>(MutexGuard<'a, Option<Connection>>);

impl std::ops::Deref for Db<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Store::db only hands out a Db after putting a connection in.
        self.0.as_ref().expect("Store::db opened the connection")
    }
}

impl std::ops::DerefMut for Db<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.0.as_mut().expect("Store::db opened the connection")
    }
}

impl Store {
    /// Opens (creating if needed) the data root at `root`, and clears ingest
    /// sessions left by processes that died.
    pub fn open(root: &Path) -> Result<Store, Error> {
        let store = Store::open_as_is(root)?;
        store.clear_stale_ingest();
        // A command killed between a commit and its cleanup (rmi, prune) left work in `pending`: an
        // image deleted without its collection, or paths to remove. The next command finishes it,
        // whatever it is (taking the lock runs `recover`).
        let (pending, collection_due): (bool, bool) = store.db()?.query_row(
            "SELECT EXISTS (SELECT 1 FROM pending), EXISTS (SELECT 1 FROM pending WHERE kind = 'gc')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if collection_due {
            store.collect_garbage()?;
        } else if pending {
            drop(store.lock()?);
        }
        Ok(store)
    }

    /// Opens (creating if needed) the data root at `root` and finishes nothing a killed command left:
    /// for `system check`, which reports that before anything repairs it.
    pub fn open_as_is(root: &Path) -> Result<Store, Error> {
        for dir in ["blobs/sha256", "layers", "ingest"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|e| Error::Root {
                path: root.to_path_buf(),
                reason: format!("cannot create {}: {e}", path.display()),
            })?;
        }
        let conn = db::open(&root.join("berth.db"))?;
        Ok(Store {
            root: root.to_path_buf(),
            conn: Mutex::new(Some(conn)),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The metadata connection, opened again if `close_db` closed it. Hold it briefly: it is shared by threads.
    pub fn db(&self) -> Result<Db<'_>, Error> {
        // A panic while holding the guard cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned lock is still usable.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if conn.is_none() {
            *conn = Some(db::open(&self.root.join("berth.db"))?);
        }
        Ok(Db(conn))
    }

    /// Closes the metadata connection; the next `db` opens it again. Call it before a fork whose child uses
    /// the database: SQLite's file locks belong to the process, but its record of which locks are held is
    /// process-wide memory that the child inherits, so the child of a process with the database open believes
    /// it holds locks it does not, and another process may then truncate the shared-memory file it has mapped.
    pub fn close_db(&self) {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // Cheap: the connection never checkpoints on close (see db::open).
        *conn = None;
    }

    /// Runs `f` in an IMMEDIATE transaction (write lock taken up front, so
    /// concurrent writers queue instead of failing to upgrade).
    pub fn write<T, E: From<Error>>(&self, f: impl FnOnce(&Transaction) -> Result<T, E>) -> Result<T, E> {
        let mut conn = self.db()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(Error::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(Error::from)?;
        Ok(value)
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// The directory of an unpacked layer; its content is in `diff/`.
    pub fn layer_path(&self, chain_id: &Digest) -> PathBuf {
        self.root.join("layers").join(chain_id.hex())
    }

    pub fn layer_diff(&self, chain_id: &Digest) -> PathBuf {
        self.layer_path(chain_id).join("diff")
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, Error> {
        File::open(self.blob_path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.to_string()),
            _ => Error::Io {
                path: self.blob_path(digest),
                source: e,
            },
        })
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .at(self.blob_path(digest))?;
        Ok(bytes)
    }

    /// Takes the store lock: every change to blobs/ and layers/ happens under it.
    pub fn lock(&self) -> Result<FileLock, Error> {
        let lock = self.lock_as_is()?;
        self.recover()?;
        Ok(lock)
    }

    /// Takes the store lock without finishing what a killed command left (`lock` does): for
    /// `system check`, which must see that first and may change nothing.
    pub fn lock_as_is(&self) -> Result<FileLock, Error> {
        FileLock::exclusive(&self.root.join("store.lock"))
    }

    /// Starts an ingest session: a private directory for staging blobs and
    /// unpacking layers before they are committed.
    pub fn ingest(&self) -> Result<Ingest<'_>, Error> {
        let id = format!("{:016x}", rand::random::<u64>());
        let dir = self.root.join("ingest").join(&id);
        let lock_path = self.root.join("ingest").join(format!("{id}.lock"));
        let lock = FileLock::exclusive(&lock_path)?;
        fs::create_dir(&dir).at(&dir)?;
        Ok(Ingest {
            store: self,
            dir,
            lock_path,
            lock: Some(lock),
            staged: Mutex::new(Staged::default()),
            counter: AtomicU64::new(0),
        })
    }

    /// Moves what `ingest` staged into the store and runs `record` in the
    /// same locked section, in one transaction. If `record` fails, whatever
    /// this call moved in is removed again and the store is as it was.
    ///
    /// `required` names layers the caller found in the store and did not
    /// stage; if one was removed meanwhile, nothing is moved, the staged
    /// content stays in the session and `Error::LayerGone` says which, so the
    /// caller can unpack it again and retry.
    pub fn commit<T, E: From<Error>>(
        &self,
        ingest: &Ingest<'_>,
        required: &[Digest],
        record: impl FnOnce(&Transaction) -> Result<T, E>,
    ) -> Result<T, E> {
        let _lock = self.lock()?;
        for chain_id in required {
            if !self.layer_path(chain_id).exists() {
                return Err(Error::LayerGone(chain_id.to_string()).into());
            }
        }
        let staged = std::mem::take(&mut *ingest.staged());
        let mut moves: Vec<(Kind, Digest, PathBuf, PathBuf)> = Vec::new();
        for (digest, blob) in &staged.blobs {
            let target = self.blob_path(digest);
            if !target.exists() {
                moves.push((Kind::Blob, digest.clone(), blob.path.clone(), target));
            }
        }
        for (chain_id, dir) in &staged.layers {
            let target = self.layer_path(chain_id);
            if !target.exists() {
                moves.push((Kind::Layer, chain_id.clone(), dir.clone(), target));
            }
        }
        if !moves.is_empty() {
            // Blobs and layer files were written without fsync; one syncfs
            // makes them all durable before they become visible.
            let dir = File::open(&ingest.dir).at(&ingest.dir)?;
            rustix::fs::syncfs(&dir).map_err(|e| Error::Io {
                path: ingest.dir.clone(),
                source: e.into(),
            })?;
        }
        self.write(|tx| {
            for (kind, digest, _, _) in &moves {
                mark_pending(tx, *kind, digest)?;
            }
            Ok::<(), Error>(())
        })?;
        for (_, _, from, to) in &moves {
            fs::rename(from, to).at(to)?;
        }
        sync_dir(&self.root.join("blobs/sha256"))?;
        sync_dir(&self.root.join("layers"))?;

        let result = self.write(|tx| {
            for (digest, blob) in &staged.blobs {
                tx.execute(
                    "INSERT OR IGNORE INTO blobs (digest, size, media_type) VALUES (?1, ?2, ?3)",
                    params![digest.to_string(), blob.size as i64, blob.media_type],
                )
                .map_err(Error::from)?;
            }
            let value = record(tx)?;
            tx.execute("DELETE FROM pending WHERE kind != 'gc'", [])
                .map_err(Error::from)?;
            Ok(value)
        });
        if result.is_err() {
            // The rows never landed: take back what this call moved in.
            self.recover()?;
        }
        result
    }

    /// Removes every layer no image uses and every blob nothing references.
    pub fn collect_garbage(&self) -> Result<Collected, Error> {
        let _lock = self.lock()?;
        let (layers, blobs) = self.write(mark_garbage)?;
        self.recover()?;
        Ok(Collected {
            bytes: layers.iter().chain(&blobs).map(|(_, size)| *size as u64).sum(),
            layers: layers.into_iter().filter_map(|(chain, _)| chain.parse().ok()).collect(),
        })
    }

    /// Finishes what a crashed (or failed) commit or collection left: every
    /// pending path that no row references is removed. Caller holds the lock.
    pub(crate) fn recover(&self) -> Result<(), Error> {
        let pending: Vec<(String, String)> = {
            let conn = self.db()?;
            let mut stmt = conn.prepare("SELECT kind, digest FROM pending")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        if pending.is_empty() {
            return Ok(());
        }
        for (kind, digest) in &pending {
            let Ok(parsed) = digest.parse::<Digest>() else {
                continue;
            };
            let conn = self.db()?;
            let (table, column, path) = match kind.as_str() {
                "layer" => ("layers", "chain_id", self.layer_path(&parsed)),
                _ => ("blobs", "digest", self.blob_path(&parsed)),
            };
            let referenced: bool = conn.query_row(
                &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} = ?1)"),
                [digest],
                |r| r.get(0),
            )?;
            drop(conn);
            if !referenced {
                remove_path(&path)?;
            }
        }
        self.write(|tx| {
            tx.execute("DELETE FROM pending WHERE kind != 'gc'", [])?;
            Ok::<(), Error>(())
        })
    }

    /// Removes ingest sessions whose process is gone (their lock is free).
    fn clear_stale_ingest(&self) {
        for id in self.stale_ingest() {
            let _ = self.remove_stale_ingest(&id);
        }
    }

    /// Paths under blobs/ and layers/ that no row references (left by a crash
    /// between a rename and its row, which `pending` normally covers, or by
    /// hand). Removed under the lock; returns how many.
    pub fn sweep_orphans(&self) -> Result<usize, Error> {
        let _lock = self.lock()?;
        let orphans = self.orphans()?;
        for orphan in &orphans {
            remove_path(&orphan.path)?;
        }
        Ok(orphans.len())
    }
}

/// (key, size in bytes) of the rows a collection deleted.
pub(crate) type Doomed = Vec<(String, i64)>;

/// Deletes the rows of every layer no image uses and every blob nothing references, and records their
/// paths in `pending` for `recover` to remove; the collection an image deletion asked for is done.
pub(crate) fn mark_garbage(tx: &Transaction) -> Result<(Doomed, Doomed), Error> {
    let layers: Vec<(String, i64)> = collect(
        tx,
        "SELECT chain_id, size FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)",
    )?;
    doom(tx, "layers", "chain_id", "layer", &layers)?;
    let blobs: Vec<(String, i64)> = collect(
        tx,
        "SELECT digest, size FROM blobs WHERE digest NOT IN (SELECT id FROM images)
           AND digest NOT IN (SELECT blob_digest FROM layers)
           AND digest NOT IN (SELECT manifest_digest FROM images WHERE manifest_digest IS NOT NULL)",
    )?;
    doom(tx, "blobs", "digest", "blob", &blobs)?;
    tx.execute("DELETE FROM pending WHERE kind = 'gc'", [])?;
    Ok((layers, blobs))
}

/// Deletes the rows keyed `column` in `table` and records their paths as pending of `kind`.
pub(crate) fn doom(tx: &Transaction, table: &str, column: &str, kind: &str, rows: &Doomed) -> Result<(), Error> {
    for (key, _) in rows {
        tx.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), [key])?;
        tx.execute(
            "INSERT OR IGNORE INTO pending (kind, digest) VALUES (?1, ?2)",
            [kind, key.as_str()],
        )?;
    }
    Ok(())
}

fn collect(tx: &Transaction, sql: &str) -> Result<Vec<(String, i64)>, rusqlite::Error> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn mark_pending(tx: &Transaction, kind: Kind, digest: &Digest) -> Result<(), Error> {
    tx.execute(
        "INSERT OR IGNORE INTO pending (kind, digest) VALUES (?1, ?2)",
        params![kind.as_str(), digest.to_string()],
    )?;
    Ok(())
}

fn sync_dir(path: &Path) -> Result<(), Error> {
    File::open(path).and_then(|f| f.sync_all()).at(path)
}

/// Removes a file or a whole tree; a missing path is fine.
pub(crate) fn remove_path(path: &Path) -> Result<(), Error> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// What a garbage collection removed.
#[derive(Debug, Default)]
pub struct Collected {
    /// Chain IDs of the layers removed.
    pub layers: Vec<Digest>,
    /// Bytes reclaimed: unpacked layer content plus blob sizes.
    pub bytes: u64,
}

/// A file written into an ingest session, with its digest and size.
#[derive(Clone, Debug)]
pub struct TempBlob {
    pub path: PathBuf,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Default)]
struct Staged {
    blobs: HashMap<Digest, StagedBlob>,
    layers: Vec<(Digest, PathBuf)>,
}

struct StagedBlob {
    path: PathBuf,
    size: u64,
    media_type: String,
}

/// A private staging area. Everything in it is discarded when it is dropped;
/// `Store::commit` moves what was staged into the store.
pub struct Ingest<'s> {
    store: &'s Store,
    dir: PathBuf,
    lock_path: PathBuf,
    lock: Option<FileLock>,
    staged: Mutex<Staged>,
    counter: AtomicU64,
}

impl Ingest<'_> {
    fn staged(&self) -> MutexGuard<'_, Staged> {
        self.staged.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn temp_name(&self, prefix: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{prefix}-{n}"))
    }

    /// Streams `reader` into a file of the session, hashing as it goes. The
    /// file is not staged: pass it to `stage_temp` to have `commit` keep it.
    pub fn write_temp(&self, reader: &mut dyn Read) -> Result<TempBlob, Error> {
        let path = self.temp_name("blob");
        let file = OpenOptions::new().write(true).create_new(true).open(&path).at(&path)?;
        let mut writer = HashingWriter::new(io::BufWriter::with_capacity(BUF, file));
        let copied = io::copy(reader, &mut writer);
        let (buffered, digest, size) = writer.finish();
        let flushed = copied.and_then(|_| buffered.into_inner().map_err(|e| e.into_error()));
        if let Err(e) = flushed {
            let _ = fs::remove_file(&path);
            return Err(Error::Io { path, source: e });
        }
        Ok(TempBlob { path, digest, size })
    }

    /// A session's own name for `blob`, a verified file that others may move or delete once the caller
    /// lets go of it (a shared download): a hard link, or a copy across filesystems. Like `write_temp`,
    /// not staged.
    pub fn link_temp(&self, blob: &TempBlob) -> Result<TempBlob, Error> {
        let path = self.temp_name("blob");
        if fs::hard_link(&blob.path, &path).is_err() {
            fs::copy(&blob.path, &path).at(&path)?;
        }
        Ok(TempBlob {
            path,
            digest: blob.digest.clone(),
            size: blob.size,
        })
    }

    /// Streams `reader` into a staged blob. With `expected`, a different
    /// digest is an error and nothing is kept.
    pub fn write_blob(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
        media_type: &str,
    ) -> Result<(Digest, u64), Error> {
        let temp = self.write_temp(reader)?;
        if let Some(want) = expected {
            if *want != temp.digest {
                let _ = fs::remove_file(&temp.path);
                return Err(Error::DigestMismatch {
                    expected: want.to_string(),
                    actual: temp.digest.to_string(),
                });
            }
        }
        self.stage_temp(&temp, media_type)?;
        Ok((temp.digest, temp.size))
    }

    /// Stages bytes already in memory (configs, manifests).
    pub fn write_blob_bytes(&self, bytes: &[u8], media_type: &str) -> Result<Digest, Error> {
        let (digest, _) = self.write_blob(&mut &bytes[..], None, media_type)?;
        Ok(digest)
    }

    /// Stages a file from `write_temp` as a blob; `commit` moves it into the
    /// store. The temp file stays readable at its path until then.
    pub fn stage_temp(&self, temp: &TempBlob, media_type: &str) -> Result<(), Error> {
        let mut staged = self.staged();
        staged.blobs.entry(temp.digest.clone()).or_insert_with(|| StagedBlob {
            path: temp.path.clone(),
            size: temp.size,
            media_type: media_type.to_string(),
        });
        Ok(())
    }

    /// Where a blob can be read: staged here, or already in the store.
    pub fn blob_path(&self, digest: &Digest) -> Option<PathBuf> {
        if let Some(blob) = self.staged().blobs.get(digest) {
            return Some(blob.path.clone());
        }
        let path = self.store.blob_path(digest);
        path.is_file().then_some(path)
    }

    pub fn has_staged_blob(&self, digest: &Digest) -> bool {
        self.staged().blobs.contains_key(digest)
    }

    /// A fresh directory in the session, e.g. to unpack a layer into.
    pub fn new_dir(&self) -> Result<PathBuf, Error> {
        let path = self.temp_name("dir");
        fs::create_dir(&path).at(&path)?;
        Ok(path)
    }

    /// Stages an unpacked layer: `dir` (from `new_dir`) holds `diff/`.
    pub fn stage_layer(&self, chain_id: Digest, dir: PathBuf) {
        self.staged().layers.push((chain_id, dir));
    }

    /// Whether a layer with this chain ID is staged in this session.
    pub fn has_staged_layer(&self, chain_id: &Digest) -> bool {
        self.staged().layers.iter().any(|(c, _)| c == chain_id)
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        let _ = remove_path(&self.dir);
        self.lock.take();
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// A small helper for writing a file atomically: temp, fsync, rename.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let temp = path.with_extension(format!("tmp-{:08x}", rand::random::<u32>()));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.at(path)
}
