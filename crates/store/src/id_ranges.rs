//! Host id ranges of user-namespaced containers (`--userns=auto`): one row per container, handed out
//! inside the create transaction from a pool, never overlapping another container's or an id the
//! host gives out itself (/etc/subuid and /etc/subgid), and freed with the container's row.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Error, IdRange};

/// Every range in use, lowest first.
pub fn taken(conn: &Connection) -> Result<Vec<IdRange>, Error> {
    let mut stmt = conn.prepare("SELECT base, size FROM id_ranges ORDER BY base")?;
    let rows = stmt.query_map([], |r| {
        Ok(IdRange {
            base: r.get(0)?,
            size: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The range a container holds, if it has one.
pub fn of(conn: &Connection, container_id: &str) -> Result<Option<IdRange>, Error> {
    Ok(conn
        .query_row(
            "SELECT base, size FROM id_ranges WHERE container_id = ?1",
            [container_id],
            |r| {
                Ok(IdRange {
                    base: r.get(0)?,
                    size: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Gives `container_id` the lowest free `size` ids of `pool` that overlap no range in use and none of
/// `excluded`; `None` when the pool has no such gap. Call inside a write transaction: the read of what
/// is taken and the insert must see the same table (and `base` is unique besides).
pub fn allocate(
    conn: &Connection,
    container_id: &str,
    pool: IdRange,
    size: u32,
    excluded: &[IdRange],
) -> Result<Option<IdRange>, Error> {
    let mut busy = taken(conn)?;
    busy.extend_from_slice(excluded);
    let Some(range) = first_free(pool, size, &busy) else {
        return Ok(None);
    };
    conn.execute(
        "INSERT INTO id_ranges (container_id, base, size) VALUES (?1, ?2, ?3)",
        params![container_id, range.base, range.size],
    )?;
    Ok(Some(range))
}

/// The lowest `size` ids of `pool`, aligned to `size` from the pool's start, that overlap none of `busy`.
fn first_free(pool: IdRange, size: u32, busy: &[IdRange]) -> Option<IdRange> {
    if size == 0 {
        return None;
    }
    let mut base = u64::from(pool.base);
    while base + u64::from(size) <= pool.end() {
        let candidate = IdRange {
            base: u32::try_from(base).ok()?,
            size,
        };
        match busy.iter().filter(|b| b.overlaps(&candidate)).map(IdRange::end).max() {
            None => return Some(candidate),
            // Past the furthest blocker, on the next aligned slot.
            Some(end) => {
                let slots = (end - u64::from(pool.base)).div_ceil(u64::from(size));
                base = u64::from(pool.base) + slots * u64::from(size);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: IdRange = IdRange {
        base: 1 << 31,
        size: 4 * 65536,
    };

    fn r(base: u32, size: u32) -> IdRange {
        IdRange { base, size }
    }

    #[test]
    fn gaps_are_found_lowest_first_and_aligned() {
        let b = POOL.base;
        assert_eq!(first_free(POOL, 65536, &[]), Some(r(b, 65536)));
        assert_eq!(first_free(POOL, 65536, &[r(b, 65536)]), Some(r(b + 65536, 65536)));
        // A host range that covers one id of a slot takes the whole slot.
        assert_eq!(
            first_free(POOL, 65536, &[r(b + 65535, 2)]),
            Some(r(b + 2 * 65536, 65536))
        );
        // A freed slot in the middle is used again.
        let busy = [r(b, 65536), r(b + 2 * 65536, 65536)];
        assert_eq!(first_free(POOL, 65536, &busy), Some(r(b + 65536, 65536)));
        let full: Vec<IdRange> = (0..4).map(|i| r(b + i * 65536, 65536)).collect();
        assert_eq!(first_free(POOL, 65536, &full), None);
        assert_eq!(first_free(POOL, 0, &[]), None);
        assert_eq!(first_free(POOL, 5 * 65536, &[]), None);
        // The pool's last id is the top of the id space: no overflow.
        let top = r(u32::MAX - 65536, 65536);
        assert_eq!(first_free(top, 65536, &[]), Some(top));
    }

    #[test]
    fn rows_hold_ranges_until_their_container_goes() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("berth.db")).unwrap();
        for id in ["a", "b"] {
            conn.execute(
                "INSERT INTO containers (id, name, image_id, created, config, state) VALUES (?1, ?1, 'i', 't', '{}', 'created')",
                [id],
            )
            .unwrap();
        }
        let a = allocate(&conn, "a", POOL, 65536, &[]).unwrap().unwrap();
        let b = allocate(&conn, "b", POOL, 65536, &[]).unwrap().unwrap();
        assert!(!a.overlaps(&b));
        assert_eq!(of(&conn, "a").unwrap(), Some(a));
        // A second range for the same container is refused.
        assert!(allocate(&conn, "a", POOL, 65536, &[]).is_err());
        conn.execute("DELETE FROM containers WHERE id = 'a'", []).unwrap();
        assert_eq!(taken(&conn).unwrap(), vec![b]);
        assert_eq!(of(&conn, "a").unwrap(), None);
    }
}
