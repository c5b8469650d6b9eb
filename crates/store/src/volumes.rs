//! Volume rows: the local driver's volumes, their labels and options.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::Error;

#[derive(Clone, Debug, PartialEq)]
pub struct VolumeRow {
    pub name: String,
    pub created: String,
    /// JSON object of labels.
    pub labels: String,
    /// JSON object of driver options (`--opt`).
    pub options: String,
    /// Made for one container (`-v /path`, an image's VOLUME), not by name.
    pub anonymous: bool,
}

fn row(r: &Row) -> rusqlite::Result<VolumeRow> {
    Ok(VolumeRow {
        name: r.get(0)?,
        created: r.get(1)?,
        labels: r.get(2)?,
        options: r.get(3)?,
        anonymous: r.get(4)?,
    })
}

/// Inserts a volume; returns false if the name exists already.
pub fn insert(conn: &Connection, v: &VolumeRow) -> Result<bool, Error> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO volumes (name, created, labels, options, anonymous) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![v.name, v.created, v.labels, v.options, v.anonymous],
    )?;
    Ok(n > 0)
}

pub fn get(conn: &Connection, name: &str) -> Result<Option<VolumeRow>, Error> {
    Ok(conn
        .query_row(
            "SELECT name, created, labels, options, anonymous FROM volumes WHERE name = ?1",
            [name],
            row,
        )
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<VolumeRow>, Error> {
    let mut stmt = conn.prepare("SELECT name, created, labels, options, anonymous FROM volumes ORDER BY name")?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete(conn: &Connection, name: &str) -> Result<(), Error> {
    conn.execute("DELETE FROM volumes WHERE name = ?1", [name])?;
    Ok(())
}
