//! The metadata database: one SQLite file in WAL mode, shared by every berth
//! process on a root. Schema changes are numbered migrations.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::Connection;

use crate::Error;

/// Migrations, applied in order; `PRAGMA user_version` records how many ran.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    media_type TEXT NOT NULL DEFAULT ''
);
CREATE TABLE layers (
    chain_id        TEXT PRIMARY KEY,
    diff_id         TEXT NOT NULL,
    parent          TEXT,
    blob_digest     TEXT NOT NULL,
    blob_media_type TEXT NOT NULL,
    blob_size       INTEGER NOT NULL,
    diff_size       INTEGER NOT NULL,
    size            INTEGER NOT NULL
);
CREATE TABLE images (
    id              TEXT PRIMARY KEY,
    size            INTEGER NOT NULL,
    created         TEXT,
    parent          TEXT,
    manifest_digest TEXT,
    added_at        TEXT NOT NULL
);
CREATE TABLE image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    chain_id TEXT NOT NULL,
    PRIMARY KEY (image_id, idx)
);
CREATE INDEX image_layers_chain ON image_layers(chain_id);
CREATE TABLE tags (
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    added_at TEXT NOT NULL
);
CREATE INDEX tags_image ON tags(image_id);
CREATE TABLE repo_digests (
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE pending (
    kind   TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (kind, digest)
);
"#,
    r#"
CREATE TABLE containers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    image_id      TEXT NOT NULL,
    created       TEXT NOT NULL,
    config        TEXT NOT NULL,
    state         TEXT NOT NULL,
    pid           INTEGER NOT NULL DEFAULT 0,
    monitor_pid   INTEGER NOT NULL DEFAULT 0,
    monitor_start INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z',
    finished_at   TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z',
    error         TEXT NOT NULL DEFAULT '',
    oom_killed    INTEGER NOT NULL DEFAULT 0,
    restart_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX containers_image ON containers(image_id);
"#,
    r#"
CREATE TABLE volumes (
    name      TEXT PRIMARY KEY,
    created   TEXT NOT NULL,
    labels    TEXT NOT NULL DEFAULT '{}',
    options   TEXT NOT NULL DEFAULT '{}',
    anonymous INTEGER NOT NULL DEFAULT 0
);
"#,
    r#"
CREATE TABLE networks (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    driver   TEXT NOT NULL,
    subnet   TEXT NOT NULL,
    gateway  TEXT NOT NULL,
    ip_range TEXT NOT NULL DEFAULT '',
    internal INTEGER NOT NULL DEFAULT 0,
    bridge   TEXT NOT NULL,
    labels   TEXT NOT NULL DEFAULT '{}',
    options  TEXT NOT NULL DEFAULT '{}',
    created  TEXT NOT NULL
);
CREATE TABLE endpoints (
    network_id   TEXT NOT NULL REFERENCES networks(id),
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    ip           TEXT NOT NULL,
    mac          TEXT NOT NULL,
    aliases      TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, ip)
);
CREATE INDEX endpoints_container ON endpoints(container_id);
"#,
    // 5: the build cache: a step's key (parent image, instruction, build args, content) -> the image it made.
    r#"
CREATE TABLE build_cache (
    key      TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created  TEXT NOT NULL
);
CREATE INDEX build_cache_image ON build_cache(image_id);
"#,
    // 6: the boot a container's monitor ran in: a pid and start time from before a reboot can match a new
    // process. Empty for rows written before this column.
    r#"
ALTER TABLE containers ADD COLUMN monitor_boot TEXT NOT NULL DEFAULT '';
"#,
    // 7: the host ids a `--userns=auto` container's user namespace maps to, its for life (its upper dir is
    // stored shifted), freed with its row. Allocated in the create transaction; `base` is unique.
    r#"
CREATE TABLE id_ranges (
    container_id TEXT PRIMARY KEY REFERENCES containers(id) ON DELETE CASCADE,
    base         INTEGER NOT NULL UNIQUE,
    size         INTEGER NOT NULL
);
"#,
];

pub(crate) fn open(path: &Path) -> Result<Connection, Error> {
    // While one process turns a new database to WAL, SQLite answers others that open it SQLITE_BUSY at
    // once, without waiting in the busy handler (10 commands on a fresh root failed 2 times in 30 here).
    let mut attempt = 0u64;
    loop {
        match open_once(path) {
            Err(Error::Db(e)) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) && attempt < 400 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(attempt.min(25)));
            }
            other => return other,
        }
    }
}

fn open_once(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every berth command is a short process. By default the last connection to close checkpoints and deletes
    // the WAL, so the next command recreates it with an fsync of the file and of the directory: two syncs on
    // every container start. Left open, the WAL is checkpointed by SQLite's automatic checkpoints instead,
    // kept short because the first connection of each process reads every frame in it again (recovery).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.pragma_update(None, "wal_autocheckpoint", 64)?;
    conn.pragma_update(None, "journal_size_limit", 1 << 20)?;
    migrate(&conn)?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), Error> {
    let done: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if done >= MIGRATIONS.len() {
        return Ok(());
    }
    // IMMEDIATE takes the write lock first, so two processes opening a new
    // root at once do not both run the same migration.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let done: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            conn.execute_batch(sql)?;
            conn.pragma_update(None, "user_version", i + 1)?;
        }
        Ok::<(), rusqlite::Error>(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
    }
    Ok(())
}
