//! Bridges, veth pairs, addresses and routes through rtnetlink, plus the
//! few sysctls container networking needs.
//!
//! Every function acts on the network namespace of the calling thread
//! (wrap it in [`crate::netns::run_in`] to act elsewhere).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::error::{check_ifname, invalid, Error, Result};
use crate::netlink::{to_error, Netlink};
use crate::netns;

/// How to wire one container interface: a veth pair whose host end joins
/// `bridge` and whose other end becomes `container_ifname` inside `netns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethConfig {
    pub bridge: String,
    /// Host end, e.g. "veth" + 8 hex digits; at most 15 characters.
    pub host_ifname: String,
    /// A namespace file made by [`netns::create`].
    pub netns: PathBuf,
    /// Name inside the namespace, usually "eth0".
    pub container_ifname: String,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    /// Default route via this address when set (and when the namespace
    /// has no default route yet).
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
    pub mtu: u32,
    /// The host end's alias (berth's owner tag), set with the hairpin mode in the same request.
    pub alias: Option<String>,
}

/// Docker's MAC scheme: 02:42 (locally administered) and the IPv4 address,
/// so an address always comes back with the same MAC and neighbours' ARP
/// caches stay right when an address is reused.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Creates the bridge if it is missing, sets its MTU, adds the gateway
/// address if missing, brings it up and sets `route_localnet=1` on it
/// (so DNAT of 127.0.0.1 to a container works). Safe to call again and
/// from racing processes.
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix_len: u8, mtu: u32) -> Result<()> {
    check_ifname("bridge name", name)?;
    check_prefix(prefix_len)?;
    check_mtu(mtu)?;
    let mut nl = Netlink::open()?;

    let mut create = LinkMessage::default();
    create.attributes = vec![
        LinkAttribute::IfName(name.to_string()),
        LinkAttribute::Mtu(mtu),
        // A MAC set by hand stays put; otherwise the bridge takes the
        // lowest MAC of its ports and containers' ARP entries go stale.
        LinkAttribute::Address(mac_for(gateway).to_vec()),
        LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
    ];
    let op = format!("create bridge {name}");
    match nl.request_raw(RouteNetlinkMessage::NewLink(create), NLM_F_CREATE | NLM_F_EXCL, &op)? {
        Ok(_) => {}
        Err(f) if f.errno == libc::EEXIST => {
            // Made earlier or by a racing process: fine if it is a bridge.
            let link = get_link(&mut nl, name)?.ok_or_else(|| Error::LinkNotFound(name.into()))?;
            let kind = link_kind(&link);
            if kind.as_deref() != Some("bridge") {
                return Err(Error::NotABridge {
                    name: name.into(),
                    kind: kind.unwrap_or_else(|| "unknown kind".into()),
                });
            }
        }
        Err(f) => return Err(to_error(&op, f)),
    }
    let index = index_of(&mut nl, name)?;

    let mut addr = AddressMessage::default();
    addr.header.family = AddressFamily::Inet;
    addr.header.prefix_len = prefix_len;
    addr.header.index = index;
    addr.attributes = vec![
        AddressAttribute::Local(IpAddr::V4(gateway)),
        AddressAttribute::Address(IpAddr::V4(gateway)),
    ];
    if prefix_len < 31 {
        addr.attributes
            .push(AddressAttribute::Broadcast(broadcast(gateway, prefix_len)));
    }
    let op = format!("add address {gateway}/{prefix_len} to {name}");
    match nl.request_raw(RouteNetlinkMessage::NewAddress(addr), NLM_F_CREATE | NLM_F_EXCL, &op)? {
        Ok(_) => {}
        Err(f) if f.errno == libc::EEXIST => {}
        Err(f) => return Err(to_error(&op, f)),
    }

    let mut up = LinkMessage::default();
    up.header.index = index;
    up.header.flags = LinkFlags::Up;
    up.header.change_mask = LinkFlags::Up;
    up.attributes = vec![LinkAttribute::Mtu(mtu)];
    nl.request(RouteNetlinkMessage::NewLink(up), 0, &format!("set up bridge {name}"))?;

    set_sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1")
}

/// Deletes an interface (a bridge, or a veth with its peer). A missing
/// interface is not an error.
pub fn delete_link(name: &str) -> Result<()> {
    check_ifname("interface name", name)?;
    let mut nl = Netlink::open()?;
    delete_by_name(&mut nl, name)
}

fn delete_by_name(nl: &mut Netlink, name: &str) -> Result<()> {
    let mut msg = LinkMessage::default();
    msg.attributes = vec![LinkAttribute::IfName(name.to_string())];
    let op = format!("delete interface {name}");
    match nl.request_raw(RouteNetlinkMessage::DelLink(msg), 0, &op)? {
        Ok(_) => Ok(()),
        Err(f) if f.errno == libc::ENODEV => Ok(()),
        Err(f) => Err(to_error(&op, f)),
    }
}

/// Creates a veth pair, puts one end into `cfg.netns` (renamed, with the
/// MAC, MTU, address and default route) and attaches the other end to the
/// bridge with hairpin mode on. On failure, removes what it created.
pub fn attach_veth(cfg: &VethConfig) -> Result<()> {
    check_ifname("bridge name", &cfg.bridge)?;
    check_ifname("host interface name", &cfg.host_ifname)?;
    check_ifname("container interface name", &cfg.container_ifname)?;
    check_prefix(cfg.prefix_len)?;
    check_mtu(cfg.mtu)?;
    let ns = netns::open(&cfg.netns)?;
    let mut nl = Netlink::open()?;
    let bridge = index_of(&mut nl, &cfg.bridge)?;

    let mut peer = LinkMessage::default();
    peer.attributes = vec![
        LinkAttribute::IfName(cfg.container_ifname.clone()),
        LinkAttribute::Mtu(cfg.mtu),
        LinkAttribute::Address(cfg.mac.to_vec()),
        // The peer is born inside the namespace, so its name never clashes
        // with host interfaces.
        LinkAttribute::NetNsFd(ns.as_raw_fd()),
    ];
    let mut host = LinkMessage::default();
    host.header.flags = LinkFlags::Up;
    host.header.change_mask = LinkFlags::Up;
    host.attributes = vec![
        LinkAttribute::IfName(cfg.host_ifname.clone()),
        LinkAttribute::Mtu(cfg.mtu),
        LinkAttribute::Controller(bridge),
        LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]),
    ];
    let op = format!("create veth pair {} <-> {}", cfg.host_ifname, cfg.container_ifname);
    match nl.request_raw(RouteNetlinkMessage::NewLink(host), NLM_F_CREATE | NLM_F_EXCL, &op)? {
        Ok(_) => {}
        Err(f) if f.errno == libc::EEXIST => {
            // Either end may be the one that exists; nothing was created.
            return Err(Error::VethExists {
                host: cfg.host_ifname.clone(),
                container: cfg.container_ifname.clone(),
                netns: cfg.netns.clone(),
            });
        }
        Err(f) => return Err(to_error(&op, f)),
    }
    drop(ns);

    let result = finish_veth(&mut nl, cfg);
    if result.is_err() {
        if let Err(e) = delete_by_name(&mut nl, &cfg.host_ifname) {
            tracing::warn!("cleaning up {} after a failed attach: {e}", cfg.host_ifname);
        }
    }
    result
}

fn finish_veth(nl: &mut Netlink, cfg: &VethConfig) -> Result<()> {
    let host_index = index_of(nl, &cfg.host_ifname)?;
    // Hairpin lets a container reach its own published port through the
    // host address: with br_netfilter, that DNAT is bridged straight back
    // out of the port it came in on, which the bridge drops otherwise.
    let mut hairpin = LinkMessage::default();
    hairpin.header.index = host_index;
    hairpin.attributes = vec![LinkAttribute::LinkInfo(vec![
        LinkInfo::PortKind(InfoPortKind::Bridge),
        LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(true)])),
    ])];
    hairpin.attributes.extend(cfg.alias.clone().map(LinkAttribute::IfAlias));
    nl.request(
        RouteNetlinkMessage::NewLink(hairpin),
        0,
        &format!("set hairpin mode on {}", cfg.host_ifname),
    )?;

    netns::run_in(&cfg.netns, || {
        let mut nl = Netlink::open()?;
        let name = &cfg.container_ifname;
        let index = index_of(&mut nl, name)?;
        add_address(&mut nl, index, name, cfg.address, cfg.prefix_len)?;
        set_up_index(&mut nl, index, name)?;
        if let Some(gw) = cfg.gateway {
            add_default_route(&mut nl, index, gw)?;
        }
        Ok(())
    })
}

/// Deletes a container's veth pair by its host end; missing is success.
pub fn detach_veth(host_ifname: &str) -> Result<()> {
    delete_link(host_ifname)
}

/// Brings an interface up (used for "lo" in new namespaces).
pub fn set_up(name: &str) -> Result<()> {
    let mut nl = Netlink::open()?;
    let index = index_of(&mut nl, name)?;
    set_up_index(&mut nl, index, name)
}

/// Whether an interface of that name exists.
pub fn link_exists(name: &str) -> Result<bool> {
    check_ifname("interface name", name)?;
    let mut nl = Netlink::open()?;
    Ok(get_link(&mut nl, name)?.is_some())
}

/// Names of all interfaces (a dump: meant for a container's namespace, with its few interfaces).
pub fn list_link_names() -> Result<Vec<String>> {
    let mut nl = Netlink::open()?;
    let links = nl.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), "list interfaces")?;
    Ok(links.into_iter().filter_map(link_name).collect())
}

/// The MTU of the interface that carries the IPv4 default route, 1500
/// when there is none (or it cannot be read).
pub fn uplink_mtu() -> u32 {
    const FALLBACK: u32 = 1500;
    let Ok(mut nl) = Netlink::open() else {
        return FALLBACK;
    };
    let Ok(routes) = dump_routes(&mut nl) else {
        return FALLBACK;
    };
    // Several default routes: the kernel prefers the lowest metric.
    let Some(oif) = routes
        .iter()
        .filter(|r| r.header.destination_prefix_length == 0)
        .min_by_key(|r| {
            r.attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Priority(p) => Some(*p),
                    _ => None,
                })
                .unwrap_or(0)
        })
        .and_then(route_oif)
    else {
        return FALLBACK;
    };
    let mut msg = LinkMessage::default();
    msg.header.index = oif;
    match nl.request_raw(RouteNetlinkMessage::GetLink(msg), 0, "get uplink") {
        Ok(Ok(answers)) => answers
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Mtu(m) => Some(*m),
                    _ => None,
                }),
                _ => None,
            })
            .unwrap_or(FALLBACK),
        _ => FALLBACK,
    }
}

/// The host's IPv4 unicast routes in the main table, as (destination,
/// prefix length, interface name). The default route shows up as
/// 0.0.0.0/0; a caller checking a subnet for clashes skips it.
pub fn host_routes_v4() -> Result<Vec<(Ipv4Addr, u8, String)>> {
    let mut nl = Netlink::open()?;
    let mut names = NamesByIndex(HashMap::new());
    let mut out = Vec::new();
    for r in dump_routes(&mut nl)? {
        let dst = r
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                _ => None,
            })
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let ifname = match route_oif(&r) {
            Some(index) => names.name(&mut nl, index)?,
            None => String::new(),
        };
        out.push((dst, r.header.destination_prefix_length, ifname));
    }
    Ok(out)
}

/// The host's IPv4 addresses as (address, prefix length, interface name).
pub fn host_addresses_v4() -> Result<Vec<(Ipv4Addr, u8, String)>> {
    let mut nl = Netlink::open()?;
    let mut names = NamesByIndex(HashMap::new());
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    let mut out = Vec::new();
    for m in nl.dump(RouteNetlinkMessage::GetAddress(msg), "list addresses")? {
        let RouteNetlinkMessage::NewAddress(a) = m else {
            continue;
        };
        if a.header.family != AddressFamily::Inet {
            continue;
        }
        let local = a.attributes.iter().find_map(|at| match at {
            AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        });
        let addr = local.or_else(|| {
            a.attributes.iter().find_map(|at| match at {
                AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            })
        });
        if let Some(ip) = addr {
            let name = names.name(&mut nl, a.header.index)?;
            out.push((ip, a.header.prefix_len, name));
        }
    }
    Ok(out)
}

/// Writes `value` to /proc/sys/`path`, e.g. `set_sysctl("net/ipv4/ip_forward", "1")`.
/// Network sysctls apply to the calling thread's namespace.
pub fn set_sysctl(path: &str, value: &str) -> Result<()> {
    let rel = Path::new(path);
    if path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(invalid(
            "sysctl path",
            path,
            "give a relative path under /proc/sys without '..'",
        ));
    }
    // /proc/sys/net/... resolves by the calling thread's namespace: opened on the host side.
    let full = Path::new("/proc/sys").join(rel);
    let opened = crate::host::on_host_side(|| Ok(OpenOptions::new().write(true).open(&full)))?;
    let mut f = opened.map_err(|source| Error::Sysctl {
        path: full.clone(),
        value: value.into(),
        source,
    })?;
    f.write_all(value.as_bytes()).map_err(|source| Error::Sysctl {
        path: full.clone(),
        value: value.into(),
        source,
    })
}

// ---- helpers ----

fn check_prefix(prefix_len: u8) -> Result<()> {
    if prefix_len == 0 || prefix_len > 32 {
        return Err(invalid("prefix length", prefix_len.to_string(), "give 1 to 32"));
    }
    Ok(())
}

fn check_mtu(mtu: u32) -> Result<()> {
    if !(68..=65535).contains(&mtu) {
        return Err(invalid("mtu", mtu.to_string(), "give 68 to 65535"));
    }
    Ok(())
}

fn broadcast(ip: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0);
    Ipv4Addr::from(u32::from(ip) | !mask)
}

fn get_link(nl: &mut Netlink, name: &str) -> Result<Option<LinkMessage>> {
    let mut msg = LinkMessage::default();
    msg.attributes = vec![LinkAttribute::IfName(name.to_string())];
    let op = format!("look up interface {name}");
    match nl.request_raw(RouteNetlinkMessage::GetLink(msg), 0, &op)? {
        Ok(answers) => Ok(answers.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        })),
        Err(f) if f.errno == libc::ENODEV => Ok(None),
        Err(f) => Err(to_error(&op, f)),
    }
}

fn index_of(nl: &mut Netlink, name: &str) -> Result<u32> {
    match get_link(nl, name)? {
        Some(l) if l.header.index != 0 => Ok(l.header.index),
        _ => Err(Error::LinkNotFound(name.to_string())),
    }
}

fn link_kind(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k.to_string()),
            _ => None,
        }),
        _ => None,
    })
}

/// The interface name in a link message.
fn link_name(message: RouteNetlinkMessage) -> Option<String> {
    match message {
        RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n),
            _ => None,
        }),
        _ => None,
    }
}

/// Interface names by index, looked up one at a time as `name` is asked. Unlike a dump of every interface,
/// a single lookup is answered at once, so interfaces that come and go meanwhile (containers starting on a
/// busy host) never interrupt it.
struct NamesByIndex(HashMap<u32, String>);

impl NamesByIndex {
    fn name(&mut self, nl: &mut Netlink, index: u32) -> Result<String> {
        if let Some(name) = self.0.get(&index) {
            return Ok(name.clone());
        }
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let op = format!("look up interface {index}");
        let name = match nl.request_raw(RouteNetlinkMessage::GetLink(msg), 0, &op)? {
            Ok(answers) => answers.into_iter().find_map(link_name).unwrap_or_default(),
            // Gone since the route or address was listed.
            Err(f) if f.errno == libc::ENODEV => String::new(),
            Err(f) => return Err(to_error(&op, f)),
        };
        self.0.insert(index, name.clone());
        Ok(name)
    }
}

fn set_up_index(nl: &mut Netlink, index: u32, name: &str) -> Result<()> {
    let mut up = LinkMessage::default();
    up.header.index = index;
    up.header.flags = LinkFlags::Up;
    up.header.change_mask = LinkFlags::Up;
    nl.request(RouteNetlinkMessage::NewLink(up), 0, &format!("set up {name}"))
}

fn add_address(nl: &mut Netlink, index: u32, name: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<()> {
    let mut addr = AddressMessage::default();
    addr.header.family = AddressFamily::Inet;
    addr.header.prefix_len = prefix_len;
    addr.header.index = index;
    addr.attributes = vec![
        AddressAttribute::Local(IpAddr::V4(ip)),
        AddressAttribute::Address(IpAddr::V4(ip)),
    ];
    if prefix_len < 31 {
        addr.attributes
            .push(AddressAttribute::Broadcast(broadcast(ip, prefix_len)));
    }
    nl.request(
        RouteNetlinkMessage::NewAddress(addr),
        NLM_F_CREATE | NLM_F_EXCL,
        &format!("add address {ip}/{prefix_len} to {name}"),
    )
}

fn add_default_route(nl: &mut Netlink, index: u32, gateway: Ipv4Addr) -> Result<()> {
    let mut route = RouteMessage::default();
    route.header.address_family = AddressFamily::Inet;
    route.header.table = RouteHeader::RT_TABLE_MAIN;
    route.header.protocol = RouteProtocol::Boot;
    route.header.scope = RouteScope::Universe;
    route.header.kind = RouteType::Unicast;
    route.attributes = vec![
        RouteAttribute::Gateway(RouteAddress::Inet(gateway)),
        RouteAttribute::Oif(index),
    ];
    let op = format!("add default route via {gateway}");
    match nl.request_raw(RouteNetlinkMessage::NewRoute(route), NLM_F_CREATE | NLM_F_EXCL, &op)? {
        Ok(_) => Ok(()),
        // The namespace already has a default route (an earlier network
        // of the same container): that one stays.
        Err(f) if f.errno == libc::EEXIST => Ok(()),
        Err(f) => Err(to_error(&op, f)),
    }
}

/// IPv4 unicast routes of the main table.
fn dump_routes(nl: &mut Netlink) -> Result<Vec<RouteMessage>> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    let mut out = Vec::new();
    for m in nl.dump(RouteNetlinkMessage::GetRoute(msg), "list routes")? {
        let RouteNetlinkMessage::NewRoute(r) = m else {
            continue;
        };
        let table = r
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::Table(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(u32::from(r.header.table));
        if r.header.address_family == AddressFamily::Inet
            && table == u32::from(RouteHeader::RT_TABLE_MAIN)
            && r.header.kind == RouteType::Unicast
        {
            out.push(r);
        }
    }
    Ok(out)
}

fn route_oif(r: &RouteMessage) -> Option<u32> {
    r.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        RouteAttribute::MultiPath(hops) => hops.first().map(|h| h.interface_index),
        _ => None,
    })
}

/// Sets an interface's alias (`ip link set NAME alias TEXT`): berth writes its owner tag there, so that
/// its bridges can be found when their record is gone. Over netlink, on the host side (sysfs shows the
/// namespace that mounted it, which a rootless berth's host side is not).
pub fn set_alias(name: &str, alias: &str) -> Result<()> {
    check_ifname("interface name", name)?;
    let mut nl = Netlink::open()?;
    let mut msg = LinkMessage::default();
    msg.header.index = index_of(&mut nl, name)?;
    msg.attributes.push(LinkAttribute::IfAlias(alias.to_string()));
    nl.request(
        RouteNetlinkMessage::NewLink(msg),
        0,
        &format!("set the alias of {name}"),
    )
}

/// (name, alias) of every interface on the host side whose alias starts with `prefix`.
pub fn links_with_alias(prefix: &str) -> Vec<(String, String)> {
    let Ok(mut nl) = Netlink::open() else {
        return Vec::new();
    };
    let Ok(links) = nl.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), "list interfaces") else {
        return Vec::new();
    };
    links
        .into_iter()
        .filter_map(|msg| {
            let RouteNetlinkMessage::NewLink(link) = &msg else {
                return None;
            };
            let alias = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfAlias(alias) => Some(alias.clone()),
                _ => None,
            })?;
            alias
                .starts_with(prefix)
                .then(|| Some((link_name(msg.clone())?, alias)))?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_follows_docker() {
        assert_eq!(
            mac_for(Ipv4Addr::new(172, 17, 0, 2)),
            [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]
        );
    }

    #[test]
    fn broadcast_addresses() {
        assert_eq!(broadcast(Ipv4Addr::new(10, 1, 2, 1), 24), Ipv4Addr::new(10, 1, 2, 255));
        assert_eq!(broadcast(Ipv4Addr::new(10, 1, 2, 1), 30), Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(broadcast(Ipv4Addr::new(10, 1, 2, 1), 32), Ipv4Addr::new(10, 1, 2, 1));
    }

    #[test]
    fn sysctl_paths_stay_under_proc_sys() {
        assert!(set_sysctl("../etc/passwd", "x").is_err());
        assert!(set_sysctl("/etc/passwd", "x").is_err());
        assert!(set_sysctl("", "x").is_err());
    }
}
