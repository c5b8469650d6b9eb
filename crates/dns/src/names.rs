use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::RwLock;

/// Where the server learns which names belong to its network.
///
/// Both methods are called on the server's receive thread for every query,
/// so they should be quick (an in-memory map, not a database query).
pub trait Names: Send + Sync {
    /// Addresses of `name`, given in normalised form (see [`normalize`]):
    /// `Some` (possibly empty) when the name belongs to the network (a
    /// container name, an alias, a 12-hex short id), `None` when it does not,
    /// in which case the query is forwarded to the upstream resolvers.
    fn lookup_v4(&self, name: &str) -> Option<Vec<Ipv4Addr>>;

    /// The name PTR queries for `ip` answer, without trailing dot; `None`
    /// when the address is not ours (the query is then forwarded).
    fn reverse(&self, ip: Ipv4Addr) -> Option<String>;
}

/// The form names reach [`Names::lookup_v4`] in: ASCII-lowercased, without
/// the trailing dot. Implementations should key their tables with it.
pub fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// A ready-made [`Names`]: an in-memory table the owner updates while the
/// server runs (it is shared through an `Arc`).
#[derive(Debug, Default)]
pub struct Table {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    forward: HashMap<String, Vec<Ipv4Addr>>,
    reverse: HashMap<Ipv4Addr, String>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// Makes `name` resolve to `ip` (among the addresses it already has).
    /// The first name inserted for an address is the one PTR queries answer,
    /// so insert a container's primary name before its aliases.
    pub fn insert(&self, name: &str, ip: Ipv4Addr) {
        let name = normalize(name);
        let mut inner = self.write();
        inner.reverse.entry(ip).or_insert_with(|| name.clone());
        let addrs = inner.forward.entry(name).or_default();
        if !addrs.contains(&ip) {
            addrs.push(ip);
        }
    }

    /// Forgets `ip` everywhere (its container left the network); names left
    /// without addresses are forgotten as well.
    pub fn remove_addr(&self, ip: Ipv4Addr) {
        let mut inner = self.write();
        inner.reverse.remove(&ip);
        inner.forward.retain(|_, addrs| {
            addrs.retain(|a| *a != ip);
            !addrs.is_empty()
        });
    }

    // A panic elsewhere while holding the lock leaves the maps consistent
    // (every update is a single map operation), so poisoning is ignored.
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Names for Table {
    fn lookup_v4(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.read().forward.get(name).cloned()
    }

    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        self.read().reverse.get(&ip).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let t = Table::new();
        let a = Ipv4Addr::new(10, 0, 0, 2);
        let b = Ipv4Addr::new(10, 0, 0, 3);
        t.insert("Web", a);
        t.insert("web-alias.", a);
        t.insert("web", b);
        t.insert("web", b);
        assert_eq!(t.lookup_v4("web"), Some(vec![a, b]));
        assert_eq!(t.lookup_v4("web-alias"), Some(vec![a]));
        assert_eq!(t.reverse(a).as_deref(), Some("web"));
        t.remove_addr(a);
        assert_eq!(t.lookup_v4("web"), Some(vec![b]));
        assert_eq!(t.lookup_v4("web-alias"), None);
        assert_eq!(t.reverse(a), None);
        assert_eq!(normalize("A.b.C."), "a.b.c");
    }
}
