//! Container rows: identity, the resolved configuration (JSON the engine
//! owns), and the runtime state the monitor keeps current.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{ContainerState, Error};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerRow {
    /// 64 lowercase hex.
    pub id: String,
    /// Without Docker's leading slash.
    pub name: String,
    pub image_id: String,
    pub created: String,
    /// The engine's resolved configuration, as JSON.
    pub config: String,
    pub state: ContainerState,
    pub pid: i64,
    pub monitor_pid: i64,
    /// The monitor's start time in clock ticks since boot (/proc/PID/stat),
    /// so a recycled pid is never mistaken for a live monitor.
    pub monitor_start: i64,
    /// The kernel's boot id when the monitor ran (/proc/sys/kernel/random/boot_id); empty if unknown.
    pub monitor_boot: String,
    pub exit_code: i64,
    pub started_at: String,
    pub finished_at: String,
    pub error: String,
    pub oom_killed: bool,
    pub restart_count: i64,
}

const COLUMNS: &str = "id, name, image_id, created, config, state, pid, monitor_pid, monitor_start, exit_code, \
                       started_at, finished_at, error, oom_killed, restart_count, monitor_boot";

fn row(r: &Row) -> rusqlite::Result<ContainerRow> {
    Ok(ContainerRow {
        id: r.get(0)?,
        name: r.get(1)?,
        image_id: r.get(2)?,
        created: r.get(3)?,
        config: r.get(4)?,
        // A state this berth does not know (a newer one's, or damage) reads as dead: removable.
        state: r.get::<_, String>(5)?.parse().unwrap_or(ContainerState::Dead),
        pid: r.get(6)?,
        monitor_pid: r.get(7)?,
        monitor_start: r.get(8)?,
        exit_code: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        error: r.get(12)?,
        oom_killed: r.get(13)?,
        restart_count: r.get(14)?,
        monitor_boot: r.get(15)?,
    })
}

/// Inserts a new container; a taken name is a constraint error the caller reports.
pub fn insert(conn: &Connection, c: &ContainerRow) -> Result<(), Error> {
    conn.execute(
        &format!("INSERT INTO containers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
        params![
            c.id,
            c.name,
            c.image_id,
            c.created,
            c.config,
            c.state.as_str(),
            c.pid,
            c.monitor_pid,
            c.monitor_start,
            c.exit_code,
            c.started_at,
            c.finished_at,
            c.error,
            c.oom_killed,
            c.restart_count,
            c.monitor_boot
        ],
    )?;
    Ok(())
}

/// Writes every mutable field of `c` back.
pub fn update(conn: &Connection, c: &ContainerRow) -> Result<(), Error> {
    conn.execute(
        "UPDATE containers SET name = ?2, config = ?3, state = ?4, pid = ?5, monitor_pid = ?6, monitor_start = ?7,
         exit_code = ?8, started_at = ?9, finished_at = ?10, error = ?11, oom_killed = ?12, restart_count = ?13,
         monitor_boot = ?14
         WHERE id = ?1",
        params![
            c.id,
            c.name,
            c.config,
            c.state.as_str(),
            c.pid,
            c.monitor_pid,
            c.monitor_start,
            c.exit_code,
            c.started_at,
            c.finished_at,
            c.error,
            c.oom_killed,
            c.restart_count,
            c.monitor_boot
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<ContainerRow>, Error> {
    Ok(conn
        .query_row(&format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"), [id], row)
        .optional()?)
}

pub fn by_name(conn: &Connection, name: &str) -> Result<Option<ContainerRow>, Error> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM containers WHERE name = ?1"),
            [name],
            row,
        )
        .optional()?)
}

/// Containers whose ID starts with `prefix` (at most two, enough to tell ambiguity).
pub fn with_prefix(conn: &Connection, prefix: &str) -> Result<Vec<ContainerRow>, Error> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM containers WHERE id LIKE ?1 LIMIT 2"))?;
    let rows = stmt.query_map([format!("{prefix}%")], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every container, newest first.
pub fn list(conn: &Connection) -> Result<Vec<ContainerRow>, Error> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM containers ORDER BY created DESC, id"))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete(conn: &Connection, id: &str) -> Result<(), Error> {
    conn.execute("DELETE FROM containers WHERE id = ?1", [id])?;
    Ok(())
}

/// How many containers use each image, for rmi and system df.
pub fn count_by_image(conn: &Connection, image_id: &str) -> Result<i64, Error> {
    Ok(
        conn.query_row("SELECT COUNT(*) FROM containers WHERE image_id = ?1", [image_id], |r| {
            r.get(0)
        })?,
    )
}
