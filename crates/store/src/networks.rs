//! Network rows and their endpoints: which container holds which address on which network.
//!
//! Addresses are handed out inside a write transaction, and `(network_id, ip)` is unique, so two
//! processes never get the same address, and a crash leaves either the whole endpoint or none.

use std::net::Ipv4Addr;

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::Error;

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkRow {
    pub id: String,
    pub name: String,
    pub driver: String,
    /// CIDR, e.g. 172.18.0.0/16.
    pub subnet: String,
    pub gateway: String,
    /// CIDR the addresses come from (within the subnet); empty for the whole subnet.
    pub ip_range: String,
    pub internal: bool,
    /// The host's bridge interface.
    pub bridge: String,
    /// JSON object.
    pub labels: String,
    /// JSON object (`--opt`).
    pub options: String,
    pub created: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRow {
    pub network_id: String,
    pub container_id: String,
    pub ip: String,
    pub mac: String,
    /// JSON array of the names this container answers to on this network (`--network-alias`).
    pub aliases: String,
}

const NETWORK_COLUMNS: &str = "id, name, driver, subnet, gateway, ip_range, internal, bridge, labels, options, created";

fn network(r: &Row) -> rusqlite::Result<NetworkRow> {
    Ok(NetworkRow {
        id: r.get(0)?,
        name: r.get(1)?,
        driver: r.get(2)?,
        subnet: r.get(3)?,
        gateway: r.get(4)?,
        ip_range: r.get(5)?,
        internal: r.get(6)?,
        bridge: r.get(7)?,
        labels: r.get(8)?,
        options: r.get(9)?,
        created: r.get(10)?,
    })
}

fn endpoint(r: &Row) -> rusqlite::Result<EndpointRow> {
    Ok(EndpointRow {
        network_id: r.get(0)?,
        container_id: r.get(1)?,
        ip: r.get(2)?,
        mac: r.get(3)?,
        aliases: r.get(4)?,
    })
}

/// Inserts a network; false if the name is taken.
pub fn insert(conn: &Connection, n: &NetworkRow) -> Result<bool, Error> {
    let count = conn.execute(
        &format!(
            "INSERT OR IGNORE INTO networks ({NETWORK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            n.id, n.name, n.driver, n.subnet, n.gateway, n.ip_range, n.internal, n.bridge, n.labels, n.options,
            n.created
        ],
    )?;
    Ok(count > 0)
}

pub fn list(conn: &Connection) -> Result<Vec<NetworkRow>, Error> {
    let mut stmt = conn.prepare(&format!("SELECT {NETWORK_COLUMNS} FROM networks ORDER BY name"))?;
    let rows = stmt.query_map([], network)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get_by_name(conn: &Connection, name: &str) -> Result<Option<NetworkRow>, Error> {
    Ok(conn
        .query_row(
            &format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE name = ?1"),
            [name],
            network,
        )
        .optional()?)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<NetworkRow>, Error> {
    Ok(conn
        .query_row(
            &format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE id = ?1"),
            [id],
            network,
        )
        .optional()?)
}

/// Removes a network row; its endpoints must be gone (the foreign key refuses otherwise).
pub fn delete(conn: &Connection, id: &str) -> Result<(), Error> {
    conn.execute("DELETE FROM networks WHERE id = ?1", [id])?;
    Ok(())
}

pub fn endpoints_of_network(conn: &Connection, network_id: &str) -> Result<Vec<EndpointRow>, Error> {
    let mut stmt = conn.prepare(
        "SELECT network_id, container_id, ip, mac, aliases FROM endpoints WHERE network_id = ?1 ORDER BY ip",
    )?;
    let rows = stmt.query_map([network_id], endpoint)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn endpoints_of_container(conn: &Connection, container_id: &str) -> Result<Vec<EndpointRow>, Error> {
    let mut stmt = conn.prepare(
        "SELECT e.network_id, e.container_id, e.ip, e.mac, e.aliases FROM endpoints e \
         JOIN networks n ON n.id = e.network_id WHERE e.container_id = ?1 ORDER BY n.name",
    )?;
    let rows = stmt.query_map([container_id], endpoint)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete_endpoint(conn: &Connection, network_id: &str, container_id: &str) -> Result<(), Error> {
    conn.execute(
        "DELETE FROM endpoints WHERE network_id = ?1 AND container_id = ?2",
        [network_id, container_id],
    )?;
    Ok(())
}

pub fn delete_endpoints_of_container(conn: &Connection, container_id: &str) -> Result<(), Error> {
    conn.execute("DELETE FROM endpoints WHERE container_id = ?1", [container_id])?;
    Ok(())
}

/// Why an address could not be handed out.
#[derive(Debug, PartialEq, Eq)]
pub enum Allocation {
    Done(EndpointRow),
    /// The requested address is another endpoint's.
    InUse(Ipv4Addr),
    /// No address is left in the range.
    Exhausted,
}

/// Gives `container_id` an address on `network`: `wanted` if it is free, else the lowest free one in the
/// network's range, never the network, broadcast or gateway address. Call inside a write transaction.
pub fn allocate(
    conn: &Connection,
    network: &NetworkRow,
    container_id: &str,
    wanted: Option<Ipv4Addr>,
    mac: impl Fn(Ipv4Addr) -> String,
    aliases: &str,
) -> Result<Allocation, Error> {
    let (base, prefix) = parse_cidr(&network.subnet)
        .ok_or_else(|| Error::Corrupt(format!("network {} has a bad subnet {}", network.name, network.subnet)))?;
    let (range_base, range_prefix) = if network.ip_range.is_empty() {
        (base, prefix)
    } else {
        parse_cidr(&network.ip_range)
            .ok_or_else(|| Error::Corrupt(format!("network {} has a bad range {}", network.name, network.ip_range)))?
    };
    let gateway: Option<Ipv4Addr> = network.gateway.parse().ok();
    let taken: std::collections::HashSet<Ipv4Addr> = endpoints_of_network(conn, &network.id)?
        .iter()
        .filter_map(|e| e.ip.parse().ok())
        .collect();
    let size = |p: u8| if p >= 32 { 1u64 } else { 1u64 << (32 - p) };
    let first = u32::from(base) as u64;
    let last = first + size(prefix) - 1;
    let usable = |ip: u64| ip > first && ip < last && Some(Ipv4Addr::from(ip as u32)) != gateway;
    let pick = match wanted {
        Some(ip) => {
            if taken.contains(&ip) {
                return Ok(Allocation::InUse(ip));
            }
            Some(ip)
        }
        None => {
            let start = u32::from(range_base) as u64;
            (start..start + size(range_prefix))
                .filter(|ip| usable(*ip))
                .map(|ip| Ipv4Addr::from(ip as u32))
                .find(|ip| !taken.contains(ip))
        }
    };
    let Some(ip) = pick else {
        return Ok(Allocation::Exhausted);
    };
    let row = EndpointRow {
        network_id: network.id.clone(),
        container_id: container_id.to_string(),
        ip: ip.to_string(),
        mac: mac(ip),
        aliases: aliases.to_string(),
    };
    conn.execute(
        "INSERT INTO endpoints (network_id, container_id, ip, mac, aliases) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![row.network_id, row.container_id, row.ip, row.mac, row.aliases],
    )?;
    Ok(Allocation::Done(row))
}

/// "a.b.c.d/n" -> (address with host bits cleared, n).
pub fn parse_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, prefix) = text.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    if prefix > 32 {
        return None;
    }
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    Some((Ipv4Addr::from(u32::from(ip) & mask), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        // These tests are about addresses: endpoints for containers that have no rows.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        for sql in crate::db::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        conn
    }

    fn net(subnet: &str, range: &str) -> NetworkRow {
        NetworkRow {
            id: "n1".into(),
            name: "net".into(),
            driver: "bridge".into(),
            subnet: subnet.into(),
            gateway: parse_cidr(subnet)
                .map(|(b, _)| Ipv4Addr::from(u32::from(b) + 1).to_string())
                .unwrap(),
            ip_range: range.into(),
            internal: false,
            bridge: "br-test".into(),
            labels: "{}".into(),
            options: "{}".into(),
            created: "now".into(),
        }
    }

    fn ip_of(a: Allocation) -> String {
        match a {
            Allocation::Done(e) => e.ip,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hands_out_lowest_free_never_twice_and_reuses_released() {
        let conn = db();
        let n = net("10.5.0.0/29", "");
        assert!(insert(&conn, &n).unwrap());
        assert!(!insert(&conn, &n).unwrap(), "names are unique");
        let mac = |ip: Ipv4Addr| format!("mac-{ip}");
        // .0 is the network, .1 the gateway, .7 broadcast: .2 to .6 are usable.
        let got: Vec<String> = (0..5)
            .map(|i| ip_of(allocate(&conn, &n, &format!("c{i}"), None, mac, "[]").unwrap()))
            .collect();
        assert_eq!(got, ["10.5.0.2", "10.5.0.3", "10.5.0.4", "10.5.0.5", "10.5.0.6"]);
        assert_eq!(
            allocate(&conn, &n, "c9", None, mac, "[]").unwrap(),
            Allocation::Exhausted
        );
        delete_endpoint(&conn, "n1", "c2").unwrap();
        assert_eq!(ip_of(allocate(&conn, &n, "c9", None, mac, "[]").unwrap()), "10.5.0.4");
        let wanted = Some("10.5.0.3".parse().unwrap());
        assert_eq!(
            allocate(&conn, &n, "c10", wanted, mac, "[]").unwrap(),
            Allocation::InUse("10.5.0.3".parse().unwrap())
        );
        // The unique index is the last line of defence.
        let dup = conn.execute(
            "INSERT INTO endpoints (network_id, container_id, ip, mac, aliases) VALUES ('n1', 'x', '10.5.0.3', '', '[]')",
            [],
        );
        assert!(dup.is_err());
    }

    #[test]
    fn ip_range_limits_the_pool() {
        let conn = db();
        let n = net("10.6.0.0/24", "10.6.0.128/30");
        insert(&conn, &n).unwrap();
        let mac = |_| String::new();
        let got: Vec<String> = (0..4)
            .map(|i| ip_of(allocate(&conn, &n, &format!("c{i}"), None, mac, "[]").unwrap()))
            .collect();
        assert_eq!(got, ["10.6.0.128", "10.6.0.129", "10.6.0.130", "10.6.0.131"]);
        assert_eq!(
            allocate(&conn, &n, "c5", None, mac, "[]").unwrap(),
            Allocation::Exhausted
        );
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(parse_cidr("10.1.2.3/16"), Some(("10.1.0.0".parse().unwrap(), 16)));
        assert_eq!(parse_cidr("10.1.2.3/33"), None);
        assert_eq!(parse_cidr("10.1.2.3"), None);
        assert_eq!(parse_cidr("x/8"), None);
    }
}
