//! Typed rows of the metadata database: layers, images, tags, repo digests.
//! Callers pass a connection or a transaction (`&Transaction` derefs to it).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{Digest, DigestError, Error};

#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// The blob the layer was unpacked from, kept for save and push.
    pub blob_digest: Digest,
    pub blob_media_type: String,
    pub blob_size: u64,
    /// Bytes of the uncompressed layer tar (whose sha256 is the diff ID).
    pub diff_size: u64,
    /// Bytes of file content in the unpacked layer.
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// The config digest, which is the image ID.
    pub id: Digest,
    pub size: u64,
    pub created: Option<String>,
    pub parent: Option<Digest>,
    pub manifest_digest: Option<Digest>,
    pub added_at: String,
    /// Chain IDs, bottom-most first.
    pub layers: Vec<Digest>,
    /// Full normalised names, e.g. docker.io/library/busybox:latest.
    pub tags: Vec<String>,
    pub repo_digests: Vec<String>,
}

fn digest(row: &Row, idx: usize) -> rusqlite::Result<Digest> {
    let text: String = row.get(idx)?;
    text.parse().map_err(|e: DigestError| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn opt_digest(row: &Row, idx: usize) -> rusqlite::Result<Option<Digest>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        t.parse().map_err(|e: DigestError| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

pub fn insert_layer(conn: &Connection, layer: &Layer) -> Result<(), Error> {
    conn.execute(
        "INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, blob_digest, blob_media_type, blob_size, diff_size, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            layer.chain_id.to_string(),
            layer.diff_id.to_string(),
            layer.parent.as_ref().map(|p| p.to_string()),
            layer.blob_digest.to_string(),
            layer.blob_media_type,
            layer.blob_size as i64,
            layer.diff_size as i64,
            layer.size as i64
        ],
    )?;
    Ok(())
}

/// Points a layer at another blob with the same content (the gzip copy a push makes of a plain tar layer).
pub fn set_layer_blob(
    conn: &Connection,
    chain_id: &Digest,
    blob_digest: &Digest,
    media_type: &str,
    size: u64,
) -> Result<(), Error> {
    conn.execute(
        "UPDATE layers SET blob_digest = ?2, blob_media_type = ?3, blob_size = ?4 WHERE chain_id = ?1",
        params![chain_id.to_string(), blob_digest.to_string(), media_type, size as i64],
    )?;
    Ok(())
}

pub fn get_layer(conn: &Connection, chain_id: &Digest) -> Result<Option<Layer>, Error> {
    let layer = conn
        .query_row(
            "SELECT chain_id, diff_id, parent, blob_digest, blob_media_type, blob_size, diff_size, size FROM layers WHERE chain_id = ?1",
            [chain_id.to_string()],
            |r| {
                Ok(Layer {
                    chain_id: digest(r, 0)?,
                    diff_id: digest(r, 1)?,
                    parent: opt_digest(r, 2)?,
                    blob_digest: digest(r, 3)?,
                    blob_media_type: r.get(4)?,
                    blob_size: r.get::<_, i64>(5)? as u64,
                    diff_size: r.get::<_, i64>(6)? as u64,
                    size: r.get::<_, i64>(7)? as u64,
                })
            },
        )
        .optional()?;
    Ok(layer)
}

/// Records an image; an image with the same ID is left as it is.
/// Returns whether the image is new.
pub fn insert_image(conn: &Connection, image: &Image) -> Result<bool, Error> {
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO images (id, size, created, parent, manifest_digest, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            image.id.to_string(),
            image.size as i64,
            image.created,
            image.parent.as_ref().map(|p| p.to_string()),
            image.manifest_digest.as_ref().map(|p| p.to_string()),
            image.added_at
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    for (idx, chain_id) in image.layers.iter().enumerate() {
        conn.execute(
            "INSERT INTO image_layers (image_id, idx, chain_id) VALUES (?1, ?2, ?3)",
            params![image.id.to_string(), idx as i64, chain_id.to_string()],
        )?;
    }
    Ok(true)
}

/// Points `name` at `image_id`; returns the image it pointed at before, if another.
pub fn set_tag(conn: &Connection, name: &str, image_id: &Digest, now: &str) -> Result<Option<Digest>, Error> {
    let previous = resolve_tag(conn, name)?;
    if previous.as_ref() == Some(image_id) {
        return Ok(None);
    }
    conn.execute(
        "INSERT INTO tags (name, image_id, added_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, added_at = excluded.added_at",
        params![name, image_id.to_string(), now],
    )?;
    Ok(previous)
}

pub fn remove_tag(conn: &Connection, name: &str) -> Result<bool, Error> {
    Ok(conn.execute("DELETE FROM tags WHERE name = ?1", [name])? > 0)
}

pub fn add_repo_digest(conn: &Connection, name: &str, image_id: &Digest) -> Result<(), Error> {
    conn.execute(
        "INSERT INTO repo_digests (name, image_id) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
        params![name, image_id.to_string()],
    )?;
    Ok(())
}

pub fn remove_repo_digest(conn: &Connection, name: &str) -> Result<bool, Error> {
    Ok(conn.execute("DELETE FROM repo_digests WHERE name = ?1", [name])? > 0)
}

pub fn resolve_tag(conn: &Connection, name: &str) -> Result<Option<Digest>, Error> {
    let id = conn
        .query_row("SELECT image_id FROM tags WHERE name = ?1", [name], |r| digest(r, 0))
        .optional()?;
    Ok(id)
}

pub fn resolve_repo_digest(conn: &Connection, name: &str) -> Result<Option<Digest>, Error> {
    let id = conn
        .query_row("SELECT image_id FROM repo_digests WHERE name = ?1", [name], |r| {
            digest(r, 0)
        })
        .optional()?;
    Ok(id)
}

/// Image IDs starting with `hex_prefix` (lowercase hex, no algorithm).
pub fn image_ids_with_prefix(conn: &Connection, hex_prefix: &str) -> Result<Vec<Digest>, Error> {
    let pattern = format!("sha256:{hex_prefix}%");
    let mut stmt = conn.prepare("SELECT id FROM images WHERE id LIKE ?1 LIMIT 2")?;
    let rows = stmt.query_map([pattern], |r| digest(r, 0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get_image(conn: &Connection, id: &Digest) -> Result<Option<Image>, Error> {
    let mut images = query_images(conn, Some(id))?;
    Ok(images.pop())
}

pub fn list_images(conn: &Connection) -> Result<Vec<Image>, Error> {
    query_images(conn, None)
}

fn query_images(conn: &Connection, only: Option<&Digest>) -> Result<Vec<Image>, Error> {
    let filter = only.map(|d| d.to_string());
    let mut stmt = conn.prepare(
        "SELECT id, size, created, parent, manifest_digest, added_at FROM images
         WHERE ?1 IS NULL OR id = ?1 ORDER BY created DESC, id",
    )?;
    let rows = stmt.query_map([&filter], |r| {
        Ok(Image {
            id: digest(r, 0)?,
            size: r.get::<_, i64>(1)? as u64,
            created: r.get(2)?,
            parent: opt_digest(r, 3)?,
            manifest_digest: opt_digest(r, 4)?,
            added_at: r.get(5)?,
            layers: Vec::new(),
            tags: Vec::new(),
            repo_digests: Vec::new(),
        })
    })?;
    let mut images: Vec<Image> = rows.collect::<Result<_, _>>()?;
    let mut layers = conn.prepare("SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY idx")?;
    let mut tags = conn.prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY added_at, name")?;
    let mut digests = conn.prepare("SELECT name FROM repo_digests WHERE image_id = ?1 ORDER BY name")?;
    for image in &mut images {
        let id = image.id.to_string();
        image.layers = layers.query_map([&id], |r| digest(r, 0))?.collect::<Result<_, _>>()?;
        image.tags = tags.query_map([&id], |r| r.get(0))?.collect::<Result<_, _>>()?;
        image.repo_digests = digests.query_map([&id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    }
    Ok(images)
}

/// Deletes an image's row and, in the same transaction, asks for the collection of what it leaves
/// unused: the next process to take the store lock (or open the store) collects, should this one die
/// before it does.
pub fn delete_image(conn: &Connection, id: &Digest) -> Result<(), Error> {
    conn.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])?;
    conn.execute("INSERT OR IGNORE INTO pending (kind, digest) VALUES ('gc', '')", [])?;
    Ok(())
}

/// Images whose parent is `id` (intermediate build images).
pub fn children(conn: &Connection, id: &Digest) -> Result<Vec<Digest>, Error> {
    let mut stmt = conn.prepare("SELECT id FROM images WHERE parent = ?1")?;
    let rows = stmt.query_map([id.to_string()], |r| digest(r, 0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sum of the sizes of every layer and blob the store records, for `system df`.
pub fn layer_sizes(conn: &Connection) -> Result<Vec<(Digest, u64)>, Error> {
    let mut stmt = conn.prepare("SELECT chain_id, size FROM layers")?;
    let rows = stmt.query_map([], |r| Ok((digest(r, 0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The image a build step with this cache key made, if it is still there.
pub fn cached_step(conn: &Connection, key: &str) -> Result<Option<Digest>, Error> {
    let id: Option<String> = conn
        .query_row("SELECT image_id FROM build_cache WHERE key = ?1", [key], |r| r.get(0))
        .optional()?;
    Ok(id.map(|i| i.parse()).transpose()?)
}

/// Remembers the image a build step made.
pub fn cache_step(conn: &Connection, key: &str, image_id: &Digest, now: &str) -> Result<(), Error> {
    conn.execute(
        "INSERT OR REPLACE INTO build_cache (key, image_id, created) VALUES (?1, ?2, ?3)",
        params![key, image_id.to_string(), now],
    )?;
    Ok(())
}

/// Images only the build cache refers to (no tag, no repo digest), for `builder prune`.
pub fn cache_only_images(conn: &Connection) -> Result<Vec<Digest>, Error> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT image_id FROM build_cache
         WHERE image_id NOT IN (SELECT image_id FROM tags)
           AND image_id NOT IN (SELECT image_id FROM repo_digests)",
    )?;
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids.into_iter().map(|i| i.parse()).collect::<Result<_, DigestError>>()?)
}

/// Forgets every build step; returns how many there were.
pub fn clear_build_cache(conn: &Connection) -> Result<usize, Error> {
    Ok(conn.execute("DELETE FROM build_cache", [])?)
}
