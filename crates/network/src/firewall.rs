//! NAT, forwarding policy and published ports in berth's own nftables
//! table (`ip <table>`); other tables are never touched.
//!
//! Layout of the table:
//! - `prerouting` (nat, dstnat) and `output` (nat, -100): `fib daddr type
//!   local jump ports`, so published ports answer on every local address,
//!   127.0.0.1 included.
//! - `ports`: one `jump ctr-<owner>` per container with published ports;
//!   the chain `ctr-<owner>` holds that container's DNAT rules.
//! - `postrouting` (nat, srcnat): masquerade per network.
//! - `forward` (filter): per network, what may enter its bridge.
//! - `guard` (filter, prerouting, raw): drops packets from a bridge to
//!   127.0.0.0/8 (the bridge has route_localnet=1, which would otherwise
//!   let containers reach the host's loopback services).
//!
//! Every rule carries a comment naming its owner: `base`, `net:<bridge>`,
//! or `ctr:<owner>` (DNAT rules add the mapping after a space). Removal
//! finds rules by comment and deletes them by handle, under an flock so
//! that concurrent berth processes never delete by a stale handle.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::error::{check_ifname, invalid, Error, Result};
use crate::nft::{self, ct, eq, fib_daddr_local, jump, meta, ne, payload, prefix, verdict, RuleInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// The firewall side of one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    pub bridge: String,
    /// Network address and prefix length, e.g. (10.210.3.0, 24).
    pub subnet: (Ipv4Addr, u8),
    /// No traffic between the bridge and any other interface.
    pub internal: bool,
}

/// One published port: host_ip:host_port/proto -> container_ip:container_port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortForward {
    /// `None` publishes on every local address, 127.0.0.1 included.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub proto: Proto,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

impl PortForward {
    /// The tag this forward's rule carries after `ctr:<owner> `.
    fn key(&self) -> String {
        format!(
            "{} {}:{} {}:{}",
            self.proto,
            self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            self.host_port,
            self.container_ip,
            self.container_port
        )
    }
}

const BASE: &str = "base";
const BASE_CHAINS: [&str; 6] = ["prerouting", "output", "postrouting", "forward", "guard", "ports"];

/// berth's nftables table. Cheap to make; holds no resources.
#[derive(Debug, Clone)]
pub struct Firewall {
    table: String,
    lock_path: PathBuf,
}

struct Lock(#[allow(dead_code)] File);

impl Firewall {
    /// `table` is the nftables table (production: "berth"); `lock_path` a
    /// file (created if missing) that every berth process using this table
    /// flocks while it changes rules.
    pub fn new(table: &str, lock_path: impl Into<PathBuf>) -> Result<Self> {
        if table.is_empty()
            || table.len() > 64
            || !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "nftables table name",
                table,
                "use 1 to 64 letters, digits, '_' or '-'",
            ));
        }
        Ok(Firewall {
            table: table.to_string(),
            lock_path: lock_path.into(),
        })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table, its chains and the jumps into `ports`; adds only
    /// what is missing.
    pub fn ensure_base(&self) -> Result<()> {
        let _lock = self.lock()?;
        let listing = nft::list_table(&self.table, "list the firewall table")?;
        let cmds = self.base_cmds(listing.as_deref());
        nft::apply(&cmds, "create the firewall table")
    }

    /// Adds (or replaces) a network's NAT and forwarding rules. Also sets up
    /// the base table when it is missing.
    pub fn add_network(&self, net: &NetworkRules) -> Result<()> {
        check_ifname("bridge name", &net.bridge)?;
        let (addr, len) = net.subnet;
        if len == 0 || len > 32 {
            return Err(invalid("subnet prefix length", len.to_string(), "give 1 to 32"));
        }
        let subnet = network_address(addr, len);
        let _lock = self.lock()?;
        let listing = nft::list_table(&self.table, "list the firewall table")?;
        let mut cmds = self.base_cmds(listing.as_deref());
        let tag = format!("net:{}", net.bridge);
        // Replace rather than skip, so a changed subnet or mode takes
        // effect; the batch is atomic, so traffic never sees a gap.
        if let Some(items) = &listing {
            cmds.extend(self.delete_cmds(items, |c| c == tag));
        }
        cmds.extend(self.network_cmds(&net.bridge, subnet, len, net.internal, &tag));
        nft::apply(&cmds, &format!("add firewall rules for {}", net.bridge))
    }

    /// Removes exactly the rules of one network; missing is success.
    pub fn remove_network(&self, bridge: &str) -> Result<()> {
        check_ifname("bridge name", bridge)?;
        let _lock = self.lock()?;
        let Some(items) = nft::list_table(&self.table, "list the firewall table")? else {
            return Ok(());
        };
        let tag = format!("net:{bridge}");
        let cmds = self.delete_cmds(&items, |c| c == tag);
        nft::apply(&cmds, &format!("remove firewall rules of {bridge}"))
    }

    /// Publishes one port for a container.
    pub fn publish(&self, owner: &str, forward: &PortForward) -> Result<()> {
        self.publish_all(owner, std::slice::from_ref(forward))
    }

    /// Publishes all of a container's ports. The first publish for an
    /// owner costs one `nft` run; publishing again adds only what is
    /// missing (two runs).
    pub fn publish_all(&self, owner: &str, forwards: &[PortForward]) -> Result<()> {
        check_owner(owner)?;
        let mut seen = HashSet::new();
        let forwards: Vec<&PortForward> = forwards.iter().filter(|f| seen.insert(**f)).collect();
        if forwards.is_empty() {
            return Ok(());
        }
        let chain = owner_chain(owner);
        let tag = format!("ctr:{owner}");
        let op = format!("publish ports of {owner}");
        let _lock = self.lock()?;

        // Fast path: `create chain` fails if the owner already has one, and
        // the whole batch with it, so a first publish is one atomic run.
        let mut cmds = vec![
            json!({ "create": { "chain": self.chain_obj(&chain) } }),
            self.add_rule("ports", &tag, vec![jump(&chain)]),
        ];
        cmds.extend(forwards.iter().map(|f| self.forward_rule(&chain, &tag, f)));
        let stderr = match nft::apply_raw(&cmds, &op)? {
            Ok(()) => return Ok(()),
            Err(stderr) if stderr.contains("File exists") => stderr,
            Err(stderr) => return Err(nft::nft_error(&op, stderr)),
        };

        // The owner has published before: add only the missing rules.
        let items = nft::list_table(&self.table, &op)?.ok_or_else(|| nft::nft_error(&op, stderr))?;
        let rules = nft::rules_of(&items);
        let have: HashSet<&str> = rules
            .iter()
            .filter(|r| r.chain == chain)
            .filter_map(|r| r.comment.as_deref())
            .collect();
        let mut cmds = Vec::new();
        if !nft::chains_of(&items).contains(&chain) {
            cmds.push(json!({ "add": { "chain": self.chain_obj(&chain) } }));
        }
        let jumps = rules
            .iter()
            .any(|r| r.chain == "ports" && r.comment.as_deref() == Some(tag.as_str()));
        if !jumps {
            cmds.push(self.add_rule("ports", &tag, vec![jump(&chain)]));
        }
        for f in forwards {
            if !have.contains(format!("{tag} {}", f.key()).as_str()) {
                cmds.push(self.forward_rule(&chain, &tag, f));
            }
        }
        nft::apply(&cmds, &op)
    }

    /// Removes every published port of `owner`; missing is success.
    pub fn unpublish(&self, owner: &str) -> Result<()> {
        check_owner(owner)?;
        let _lock = self.lock()?;
        let Some(items) = nft::list_table(&self.table, "list the firewall table")? else {
            return Ok(());
        };
        let chain = owner_chain(owner);
        let tag = format!("ctr:{owner}");
        let prefix = format!("{tag} ");
        let mut cmds: Vec<Value> = nft::rules_of(&items)
            .iter()
            .filter(|r| r.chain != chain)
            .filter(|r| r.comment.as_deref().is_some_and(|c| c == tag || c.starts_with(&prefix)))
            .map(|r| self.delete_rule(r))
            .collect();
        if nft::chains_of(&items).contains(&chain) {
            cmds.push(json!({ "flush": { "chain": self.chain_obj(&chain) } }));
            cmds.push(json!({ "delete": { "chain": self.chain_obj(&chain) } }));
        }
        nft::apply(&cmds, &format!("unpublish ports of {owner}"))
    }

    /// Every owner whose name starts with `prefix` and that has a chain or a rule in the table (berth
    /// prefixes owners with its data root's identity, so the ports a killed command left are found).
    pub fn owners_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let Some(items) = nft::list_table(&self.table, "list the firewall table")? else {
            return Ok(Vec::new());
        };
        let from_chains = nft::chains_of(&items)
            .into_iter()
            .filter_map(|c| c.strip_prefix("ctr-").map(str::to_string));
        let from_rules = nft::rules_of(&items).into_iter().filter_map(|r| {
            let owner = r.comment?.strip_prefix("ctr:")?.split(' ').next()?.to_string();
            Some(owner)
        });
        let mut owners: Vec<String> = from_chains
            .chain(from_rules)
            .filter(|o| o.starts_with(prefix))
            .collect();
        owners.sort();
        owners.dedup();
        Ok(owners)
    }

    /// Deletes the whole table; a missing table is success.
    pub fn remove_all(&self) -> Result<()> {
        let _lock = self.lock()?;
        // `add` first makes the `delete` safe when the table is missing.
        let t = self.table_obj();
        nft::apply(
            &[json!({ "add": { "table": t } }), json!({ "delete": { "table": t } })],
            "remove the firewall table",
        )
    }

    /// Whether the table exists.
    pub fn exists(&self) -> Result<bool> {
        Ok(nft::list_table(&self.table, "list the firewall table")?.is_some())
    }

    /// The table's rules (none when it does not exist), for inspection.
    pub fn rules(&self) -> Result<Vec<RuleInfo>> {
        Ok(nft::list_table(&self.table, "list the firewall table")?
            .map(|items| nft::rules_of(&items))
            .unwrap_or_default())
    }

    // ---- building blocks ----

    fn lock(&self) -> Result<Lock> {
        let fail = |source: std::io::Error| Error::Lock {
            path: self.lock_path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.lock_path)
            .map_err(fail)?;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => return Ok(Lock(file)),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(fail(e.into())),
            }
        }
    }

    fn table_obj(&self) -> Value {
        json!({ "family": "ip", "name": self.table })
    }

    fn chain_obj(&self, name: &str) -> Value {
        json!({ "family": "ip", "table": self.table, "name": name })
    }

    fn base_chain(&self, name: &str, kind: &str, hook: &str, prio: i32) -> Value {
        json!({ "add": { "chain": {
            "family": "ip", "table": self.table, "name": name,
            "type": kind, "hook": hook, "prio": prio, "policy": "accept",
        } } })
    }

    fn rule_obj(&self, chain: &str, comment: &str, expr: Vec<Value>) -> Value {
        json!({
            "family": "ip", "table": self.table, "chain": chain,
            "comment": comment, "expr": expr,
        })
    }

    fn add_rule(&self, chain: &str, comment: &str, expr: Vec<Value>) -> Value {
        json!({ "add": { "rule": self.rule_obj(chain, comment, expr) } })
    }

    /// `insert` puts the rule at the head of the chain.
    fn insert_rule(&self, chain: &str, comment: &str, expr: Vec<Value>) -> Value {
        json!({ "insert": { "rule": self.rule_obj(chain, comment, expr) } })
    }

    fn delete_rule(&self, r: &RuleInfo) -> Value {
        json!({ "delete": { "rule": {
            "family": "ip", "table": self.table, "chain": r.chain, "handle": r.handle,
        } } })
    }

    fn delete_cmds(&self, items: &[Value], pick: impl Fn(&str) -> bool) -> Vec<Value> {
        nft::rules_of(items)
            .iter()
            .filter(|r| r.comment.as_deref().is_some_and(&pick))
            .map(|r| self.delete_rule(r))
            .collect()
    }

    /// Commands that create whatever of the base layout `listing` lacks
    /// (everything when the table is missing); empty when complete.
    fn base_cmds(&self, listing: Option<&[Value]>) -> Vec<Value> {
        let (chains, rules) = match listing {
            Some(items) => (nft::chains_of(items), nft::rules_of(items)),
            None => (Vec::new(), Vec::new()),
        };
        let has_jump = |chain: &str| {
            rules
                .iter()
                .any(|r| r.chain == chain && r.comment.as_deref() == Some(BASE))
        };
        let complete = BASE_CHAINS.iter().all(|c| chains.iter().any(|have| have == c))
            && has_jump("prerouting")
            && has_jump("output");
        if complete {
            return Vec::new();
        }
        // Adding an existing table or chain is a no-op, so only the jump
        // rules need the check.
        let mut cmds = vec![
            json!({ "add": { "table": self.table_obj() } }),
            self.base_chain("prerouting", "nat", "prerouting", -100),
            self.base_chain("output", "nat", "output", -100),
            self.base_chain("postrouting", "nat", "postrouting", 100),
            self.base_chain("forward", "filter", "forward", 0),
            self.base_chain("guard", "filter", "prerouting", -300),
            json!({ "add": { "chain": self.chain_obj("ports") } }),
        ];
        for chain in ["prerouting", "output"] {
            if !has_jump(chain) {
                cmds.push(self.add_rule(chain, BASE, vec![fib_daddr_local(), jump("ports")]));
            }
        }
        cmds
    }

    fn network_cmds(&self, br: &str, subnet: Ipv4Addr, len: u8, internal: bool, tag: &str) -> Vec<Value> {
        let iif = || meta("iifname");
        let oif = || meta("oifname");
        let mut cmds = Vec::new();
        // The bridge has route_localnet=1; never let a container address
        // the host's loopback through it.
        cmds.push(self.add_rule(
            "guard",
            tag,
            vec![
                eq(iif(), br),
                eq(payload("ip", "daddr"), prefix(Ipv4Addr::new(127, 0, 0, 0), 8)),
                verdict("drop"),
            ],
        ));
        // Forward rules that decide what enters a bridge go to the head of
        // the chain (inserted in reverse), ahead of every network's "leave
        // the bridge" accept, so networks stay isolated from each other.
        let head: Vec<Vec<Value>> = if internal {
            vec![
                vec![eq(iif(), br), eq(oif(), br), verdict("accept")],
                vec![eq(iif(), br), verdict("drop")],
                vec![eq(oif(), br), verdict("drop")],
            ]
        } else {
            vec![
                vec![eq(oif(), br), eq(iif(), br), verdict("accept")],
                vec![
                    eq(oif(), br),
                    nft::matches("in", ct("state"), json!(["established", "related"])),
                    verdict("accept"),
                ],
                // Published ports (DNAT to a container).
                vec![
                    eq(oif(), br),
                    nft::matches("in", ct("status"), json!("dnat")),
                    verdict("accept"),
                ],
                vec![eq(oif(), br), verdict("drop")],
            ]
        };
        for expr in head.into_iter().rev() {
            cmds.push(self.insert_rule("forward", tag, expr));
        }
        if internal {
            return cmds;
        }
        cmds.push(self.add_rule("forward", tag, vec![eq(iif(), br), verdict("accept")]));
        let from_subnet = || eq(payload("ip", "saddr"), prefix(subnet, len));
        // Outbound NAT.
        cmds.push(self.add_rule(
            "postrouting",
            tag,
            vec![from_subnet(), ne(oif(), br), verdict("masquerade")],
        ));
        // Hairpin: a container reaching a published port (its own or a
        // neighbour's) through a host address. Without this the answer
        // would go straight back over the bridge, bypassing conntrack when
        // br_netfilter is off.
        cmds.push(self.add_rule(
            "postrouting",
            tag,
            vec![
                from_subnet(),
                eq(oif(), br),
                nft::matches("in", ct("status"), json!("dnat")),
                verdict("masquerade"),
            ],
        ));
        // DNAT of 127.0.0.1 to a container: the source must become routable.
        cmds.push(self.add_rule(
            "postrouting",
            tag,
            vec![
                eq(payload("ip", "saddr"), prefix(Ipv4Addr::new(127, 0, 0, 0), 8)),
                eq(oif(), br),
                verdict("masquerade"),
            ],
        ));
        cmds
    }

    fn forward_rule(&self, chain: &str, tag: &str, f: &PortForward) -> Value {
        let mut expr = Vec::new();
        if let Some(ip) = f.host_ip.filter(|ip| !ip.is_unspecified()) {
            expr.push(eq(payload("ip", "daddr"), ip.to_string()));
        }
        let l4 = f.proto.to_string();
        expr.push(eq(payload(&l4, "dport"), f.host_port));
        expr.push(json!({ "dnat": { "addr": f.container_ip.to_string(), "port": f.container_port } }));
        self.add_rule(chain, &format!("{tag} {}", f.key()), expr)
    }
}

fn owner_chain(owner: &str) -> String {
    format!("ctr-{owner}")
}

fn check_owner(owner: &str) -> Result<()> {
    if owner.is_empty()
        || owner.len() > 64
        || !owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(invalid(
            "port owner",
            owner,
            "use 1 to 64 letters, digits, '_', '-' or '.' (a container id)",
        ));
    }
    Ok(())
}

fn network_address(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    Ipv4Addr::from(u32::from(addr) & mask)
}

/// Binds (without listening, without SO_REUSEADDR) a socket on the host
/// port so nothing else can take it while the container runs; port 0
/// picks a free one. Returns the socket (close-on-exec) and the port.
#[allow(unsafe_code)]
pub fn reserve_port(host_ip: Option<Ipv4Addr>, port: u16, proto: Proto) -> Result<(OwnedFd, u16)> {
    let addr = host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let fail = |source: std::io::Error| {
        if source.raw_os_error() == Some(libc::EADDRINUSE) {
            Error::PortAllocated { addr, port, proto }
        } else {
            Error::PortReserve {
                addr,
                port,
                proto,
                source,
            }
        }
    };
    let ty = match proto {
        Proto::Tcp => libc::SOCK_STREAM,
        Proto::Udp => libc::SOCK_DGRAM,
    };
    // SAFETY: socket() takes no pointers; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sin is a valid sockaddr_in and the length passed matches it.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    // SAFETY: zeroed sockaddr_in is a valid value (plain integers).
    let mut bound: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: bound and len are valid for writes and len holds its size.
    let rc = unsafe { libc::getsockname(fd, (&mut bound as *mut libc::sockaddr_in).cast(), &mut len) };
    if rc < 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    Ok((sock, u16::from_be(bound.sin_port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(Firewall::new("berth", "/tmp/x").is_ok());
        assert!(Firewall::new("", "/tmp/x").is_err());
        assert!(Firewall::new("a b", "/tmp/x").is_err());
        assert!(check_owner("abc123").is_ok());
        assert!(check_owner("a\"b").is_err());
        assert!(check_owner(&"a".repeat(65)).is_err());
    }

    #[test]
    fn subnet_is_normalised() {
        assert_eq!(
            network_address(Ipv4Addr::new(10, 1, 2, 3), 24),
            Ipv4Addr::new(10, 1, 2, 0)
        );
        assert_eq!(
            network_address(Ipv4Addr::new(10, 1, 2, 3), 32),
            Ipv4Addr::new(10, 1, 2, 3)
        );
    }

    #[test]
    fn forward_keys_name_the_mapping() {
        let f = PortForward {
            host_ip: None,
            host_port: 8080,
            proto: Proto::Tcp,
            container_ip: Ipv4Addr::new(10, 0, 0, 2),
            container_port: 80,
        };
        assert_eq!(f.key(), "tcp 0.0.0.0:8080 10.0.0.2:80");
    }
}
