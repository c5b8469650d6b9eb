//! Integration tests against the real kernel and nft (run as root). Each
//! test makes its own namespaces, bridges, veths and nft table with a
//! random suffix, so they run in parallel; traffic stays on loopback and
//! in namespaces the tests make.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use berth_network::{link, netns, reserve_port, Error, NetworkRules, PortForward, Proto, RuleInfo};
use berth_types::ErrorKind;
use common::{blocked, enable_forwarding, listen, reach, uplink_address, Lab};

fn ns_inode(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn netns_create_run_in_remove() {
    let lab = Lab::new();
    let before = ns_inode("/proc/thread-self/ns/net");
    let ns = lab.netns("a");
    assert_eq!(
        ns_inode("/proc/thread-self/ns/net"),
        before,
        "caller's namespace changed"
    );

    let names = netns::run_in(&ns, link::list_link_names).unwrap();
    assert_eq!(names, vec!["lo".to_string()]);
    // Loopback is up: something can listen and connect on 127.0.0.1.
    let l = listen(&ns, Ipv4Addr::LOCALHOST, 0);
    let port = l.local_addr().unwrap().port();
    reach(&l, Some(&ns), SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    // ... and that listener is not visible from the host.
    drop(l);
    assert_eq!(ns_inode("/proc/thread-self/ns/net"), before);

    // A second create on the same path is refused, not clobbered.
    let err = netns::create(&ns).unwrap_err();
    assert!(matches!(err, Error::NetnsExists(_)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Conflict);

    netns::remove(&ns).unwrap();
    assert!(!ns.exists());
    netns::remove(&ns).unwrap();
    // A plain file that is not a mount point is removed too.
    let plain = lab.dir.path().join("plain");
    std::fs::write(&plain, b"").unwrap();
    netns::remove(&plain).unwrap();
    assert!(!plain.exists());

    let err = netns::run_in(&ns, || Ok(())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    lab.finish();
}

#[test]
fn bridge_connects_containers_and_host() {
    let lab = Lab::new();
    let net = lab.subnet();
    let br = lab.bridge("bt", net);
    // Idempotent: a second call (as from a racing process) succeeds.
    link::ensure_bridge(&br, net.gateway(), net.len, 1500).unwrap();
    assert!(link::link_exists(&br).unwrap());
    let a = lab.container("a", &br, net, 2, true);
    let b = lab.container("b", &br, net, 3, true);
    assert!(link::link_exists(&a.veth).unwrap());

    let mut inside = netns::run_in(&a.ns, link::list_link_names).unwrap();
    inside.sort();
    assert_eq!(inside, vec!["eth0".to_string(), "lo".to_string()]);
    let routes = netns::run_in(&a.ns, link::host_routes_v4).unwrap();
    assert!(
        routes.contains(&(Ipv4Addr::UNSPECIFIED, 0, "eth0".into())),
        "no default route in {routes:?}"
    );
    assert!(routes.contains(&(net.net, 24, "eth0".into())), "{routes:?}");
    let addrs = netns::run_in(&a.ns, link::host_addresses_v4).unwrap();
    assert!(addrs.contains(&(a.ip, 24, "eth0".into())), "{addrs:?}");

    let l = listen(&a.ns, a.ip, 0);
    let port = l.local_addr().unwrap().port();
    let target = SocketAddrV4::new(a.ip, port);
    // Container to container over the bridge: no NAT.
    assert_eq!(reach(&l, Some(&b.ns), target).ip(), b.ip);
    // Host to container: comes from the gateway address.
    assert_eq!(reach(&l, None, target).ip(), net.gateway());
    // Containers reach the gateway (the host) too.
    let hl = std::net::TcpListener::bind((net.gateway(), 0)).unwrap();
    hl.set_nonblocking(true).unwrap();
    let hport = hl.local_addr().unwrap().port();
    assert_eq!(
        reach(&hl, Some(&a.ns), SocketAddrV4::new(net.gateway(), hport)).ip(),
        a.ip
    );

    // The host end carries the alias it was given (berth's owner tag).
    let alias = std::fs::read_to_string(format!("/sys/class/net/{}/ifalias", a.veth)).unwrap();
    assert_eq!(alias.trim_end(), "lab:a");
    // The host end was attached with the requested MTU; uplink_mtu works.
    assert!(link::uplink_mtu() >= 68);

    // Attaching the same host name again fails cleanly and changes nothing.
    let err = link::attach_veth(&berth_network::VethConfig {
        bridge: br.clone(),
        host_ifname: a.veth.clone(),
        netns: b.ns.clone(),
        container_ifname: "eth1".into(),
        address: net.host(9),
        prefix_len: 24,
        gateway: None,
        mac: link::mac_for(net.host(9)),
        mtu: 1500,
        alias: None,
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(link::link_exists(&a.veth).unwrap());
    // A missing bridge is NotFound, and leaves nothing behind.
    let err = link::attach_veth(&berth_network::VethConfig {
        bridge: lab.name("bx"),
        host_ifname: lab.name("vx"),
        netns: b.ns.clone(),
        container_ifname: "eth1".into(),
        address: net.host(9),
        prefix_len: 24,
        gateway: None,
        mac: link::mac_for(net.host(9)),
        mtu: 1500,
        alias: None,
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(!link::link_exists(&lab.name("vx")).unwrap());

    // Detach removes both ends; detaching again is fine.
    link::detach_veth(&a.veth).unwrap();
    link::detach_veth(&a.veth).unwrap();
    assert!(!link::link_exists(&a.veth).unwrap());
    let inside = netns::run_in(&a.ns, link::list_link_names).unwrap();
    assert_eq!(inside, vec!["lo".to_string()]);
    link::delete_link(&lab.name("zz")).unwrap();
    drop(l);
    lab.finish();
}

#[test]
fn attach_failure_inside_namespace_cleans_up() {
    let lab = Lab::new();
    let net = lab.subnet();
    let br = lab.bridge("bt", net);
    let ns = lab.netns("a");
    // A gateway outside the container's subnet cannot be a next hop: the
    // route fails after the pair exists, so attach_veth must remove it.
    let veth = lab.name("va");
    let err = link::attach_veth(&berth_network::VethConfig {
        bridge: br,
        host_ifname: veth.clone(),
        netns: ns.clone(),
        container_ifname: "eth0".into(),
        address: net.host(2),
        prefix_len: 24,
        gateway: Some(Ipv4Addr::new(10, 199, 199, 1)),
        mac: link::mac_for(net.host(2)),
        mtu: 1500,
        alias: None,
    })
    .unwrap_err();
    assert!(matches!(err, Error::Netlink { .. }), "{err}");
    assert!(!link::link_exists(&veth).unwrap());
    assert_eq!(
        netns::run_in(&ns, link::list_link_names).unwrap(),
        vec!["lo".to_string()]
    );
    lab.finish();
}

/// A namespace standing for "the outside world": on its own bridge with a
/// /30 and a default route via the host, like a router upstream that
/// would happily answer a container's own address if it saw it.
fn outside(lab: &Lab) -> (common::Ctr, Ipv4Addr) {
    let mut o = lab.subnet();
    o.len = 30;
    let br = lab.bridge("bo", o);
    let ctr = lab.container("o", &br, o, 2, true);
    (ctr, o.gateway())
}

#[test]
fn nat_outbound_masquerades_and_networks_are_isolated() {
    enable_forwarding();
    let lab = Lab::new();
    lab.fw.ensure_base().unwrap();
    let (out, host_side) = outside(&lab);

    let net = lab.subnet();
    let br = lab.bridge("bt", net);
    lab.fw
        .add_network(&NetworkRules {
            bridge: br.clone(),
            subnet: (net.net, 24),
            internal: false,
        })
        .unwrap();
    let a = lab.container("a", &br, net, 2, true);

    let inet = lab.subnet();
    let ibr = lab.bridge("bi", inet);
    lab.fw
        .add_network(&NetworkRules {
            bridge: ibr.clone(),
            subnet: (inet.net, 24),
            internal: true,
        })
        .unwrap();
    let i = lab.container("i", &ibr, inet, 2, true);

    let l = listen(&out.ns, out.ip, 0);
    let port = l.local_addr().unwrap().port();
    let target = SocketAddrV4::new(out.ip, port);
    // The outside sees the host's address, not the container's.
    assert_eq!(reach(&l, Some(&a.ns), target).ip(), host_side);
    // The internal network cannot leave its bridge.
    blocked(Some(&i.ns), target);

    // Networks do not reach each other's containers directly.
    let li = listen(&i.ns, i.ip, 0);
    blocked(Some(&a.ns), SocketAddrV4::new(i.ip, li.local_addr().unwrap().port()));
    let la = listen(&a.ns, a.ip, 0);
    let pa = la.local_addr().unwrap().port();
    blocked(Some(&i.ns), SocketAddrV4::new(a.ip, pa));
    // The outside cannot open connections to containers either.
    blocked(Some(&out.ns), SocketAddrV4::new(a.ip, pa));
    // The host itself can.
    assert_eq!(reach(&la, None, SocketAddrV4::new(a.ip, pa)).ip(), net.gateway());

    // Without the network's rules, nothing is masqueraded any more, and
    // nothing keeps the networks apart.
    lab.fw.remove_network(&br).unwrap();
    assert_eq!(reach(&l, Some(&a.ns), target).ip(), a.ip);
    assert_eq!(reach(&la, Some(&out.ns), SocketAddrV4::new(a.ip, pa)).ip(), out.ip);
    drop((l, li, la));
    lab.finish();
}

fn publish_scenario(lab: &Lab, host_addrs: &[Ipv4Addr]) {
    lab.fw.ensure_base().unwrap();
    let (out, host_side) = outside(lab);
    let net = lab.subnet();
    let br = lab.bridge("bt", net);
    lab.fw
        .add_network(&NetworkRules {
            bridge: br.clone(),
            subnet: (net.net, 24),
            internal: false,
        })
        .unwrap();
    let a = lab.container("a", &br, net, 2, true);
    let b = lab.container("b", &br, net, 3, true);

    let l = listen(&a.ns, Ipv4Addr::UNSPECIFIED, 80);
    let (_hold, hp) = reserve_port(None, 0, Proto::Tcp).unwrap();
    let owner = format!("ctr{}", lab.suffix);
    let fwd = PortForward {
        host_ip: None,
        host_port: hp,
        proto: Proto::Tcp,
        container_ip: a.ip,
        container_port: 80,
    };
    let t = Instant::now();
    lab.fw.publish(&owner, &fwd).unwrap();
    eprintln!("publish took {:?}", t.elapsed());

    let mut addrs = vec![Ipv4Addr::LOCALHOST, host_side, net.gateway()];
    addrs.extend_from_slice(host_addrs);
    for ip in &addrs {
        let to = SocketAddrV4::new(*ip, hp);
        // From the host.
        reach(&l, None, to);
        // From the other container, and from the container itself
        // (hairpin): both come in masqueraded as the gateway.
        if !ip.is_loopback() {
            assert_eq!(reach(&l, Some(&b.ns), to).ip(), net.gateway(), "b via {to}");
            assert_eq!(reach(&l, Some(&a.ns), to).ip(), net.gateway(), "a via {to}");
        }
    }
    // From the outside namespace through the host's address on its link:
    // DNAT without masquerade, so the container sees the real client.
    assert_eq!(reach(&l, Some(&out.ns), SocketAddrV4::new(host_side, hp)).ip(), out.ip);
    // Loopback inside a container is its own, not the host's.
    blocked(Some(&b.ns), SocketAddrV4::new(Ipv4Addr::LOCALHOST, hp));

    // A port bound to one host address answers only there.
    let (_hold2, hp2) = reserve_port(Some(Ipv4Addr::LOCALHOST), 0, Proto::Tcp).unwrap();
    lab.fw
        .publish(
            &owner,
            &PortForward {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: hp2,
                proto: Proto::Tcp,
                container_ip: a.ip,
                container_port: 80,
            },
        )
        .unwrap();
    reach(&l, None, SocketAddrV4::new(Ipv4Addr::LOCALHOST, hp2));
    blocked(None, SocketAddrV4::new(host_side, hp2));

    // UDP.
    let (_hold3, up) = reserve_port(None, 0, Proto::Udp).unwrap();
    let usock = netns::run_in(&a.ns, || {
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 5353)).map_err(|e| Error::Netns {
            path: a.ns.clone(),
            op: "bind udp",
            source: e,
        })
    })
    .unwrap();
    usock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    lab.fw
        .publish_all(
            &format!("udp{}", lab.suffix),
            &[PortForward {
                host_ip: None,
                host_port: up,
                proto: Proto::Udp,
                container_ip: a.ip,
                container_port: 5353,
            }],
        )
        .unwrap();
    let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    client.send_to(b"dns?", (Ipv4Addr::LOCALHOST, up)).unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = usock
        .recv_from(&mut buf)
        .expect("udp datagram through the published port");
    assert_eq!(&buf[..n], b"dns?");

    lab.fw.unpublish(&owner).unwrap();
    for ip in &addrs {
        let to = SocketAddrV4::new(*ip, hp);
        blocked(None, to);
        blocked(Some(&b.ns), to);
    }
    blocked(None, SocketAddrV4::new(Ipv4Addr::LOCALHOST, hp2));
    drop(l);
}

#[test]
fn publish_reaches_container_from_host_and_containers() {
    enable_forwarding();
    let lab = Lab::new();
    let uplink: Vec<Ipv4Addr> = uplink_address().into_iter().collect();
    publish_scenario(&lab, &uplink);
    lab.finish();
}

/// Runs the publish scenario in a private "host" namespace with
/// br_netfilter's iptables hook on or off (it is per namespace), so both
/// hairpin paths are covered whatever the real host has.
fn publish_in_private_host(br_netfilter: bool) {
    let lab = Lab::new();
    let host = lab.netns("host");
    netns::run_in(&host, || {
        link::set_sysctl("net/ipv4/ip_forward", "1")?;
        let value = if br_netfilter { "1" } else { "0" };
        match link::set_sysctl("net/bridge/bridge-nf-call-iptables", value) {
            Ok(()) => {}
            // Without br_netfilter the sysctl does not exist: that is
            // the "off" case already.
            Err(_) if !br_netfilter => {}
            Err(e) => {
                eprintln!("SKIPPED: br_netfilter not available: {e}");
                return Ok(());
            }
        }
        publish_scenario(&lab, &[]);
        // Clean up inside the namespace, where the links and table live.
        let errors = lab.cleanup();
        assert!(errors.is_empty(), "{errors:?}");
        Ok(())
    })
    .unwrap();
    netns::remove(&host).unwrap();
    lab.finish();
}

#[test]
fn hairpin_without_br_netfilter() {
    publish_in_private_host(false);
}

#[test]
fn hairpin_with_br_netfilter() {
    publish_in_private_host(true);
}

#[test]
fn reserve_port_holds_the_port() {
    for proto in [Proto::Tcp, Proto::Udp] {
        let (fd, port) = reserve_port(None, 0, proto).unwrap();
        assert_ne!(port, 0);
        let err = reserve_port(None, port, proto).unwrap_err();
        assert!(matches!(err, Error::PortAllocated { .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(
            err.to_string(),
            format!("bind for 0.0.0.0:{port} failed: port is already allocated")
        );
        let err = reserve_port(Some(Ipv4Addr::LOCALHOST), port, proto).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        // No SO_REUSEADDR on ours: even a socket that sets it (std's
        // TcpListener does) cannot take the port.
        if proto == Proto::Tcp {
            assert!(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err());
        } else {
            assert!(UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err());
        }
        drop(fd);
        let (_fd, again) = reserve_port(None, port, proto).unwrap();
        assert_eq!(again, port);
    }
    // A host address that is not ours.
    let err = reserve_port(Some(Ipv4Addr::new(192, 0, 2, 254)), 0, Proto::Tcp).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

fn count(rules: &[RuleInfo], pred: impl Fn(&RuleInfo) -> bool) -> usize {
    rules.iter().filter(|r| pred(r)).count()
}

fn tagged<'a>(tag: &'a str) -> impl Fn(&RuleInfo) -> bool + 'a {
    move |r| {
        r.comment
            .as_deref()
            .is_some_and(|c| c == tag || c.starts_with(&format!("{tag} ")))
    }
}

#[test]
fn firewall_operations_are_idempotent() {
    let lab = Lab::new();
    let fw = &lab.fw;
    assert!(!fw.exists().unwrap());
    fw.remove_all().unwrap();
    fw.unpublish("nobody").unwrap();
    fw.remove_network("nothing").unwrap();

    fw.ensure_base().unwrap();
    fw.ensure_base().unwrap();
    let rules = fw.rules().unwrap();
    assert_eq!(count(&rules, tagged("base")), 2, "{rules:#?}");
    assert_eq!(rules.len(), 2);

    let x = lab.name("bx");
    let y = lab.name("by");
    let nx = NetworkRules {
        bridge: x.clone(),
        subnet: (Ipv4Addr::new(10, 250, 1, 7), 24),
        internal: false,
    };
    let ny = NetworkRules {
        bridge: y.clone(),
        subnet: (Ipv4Addr::new(10, 250, 2, 0), 24),
        internal: true,
    };
    fw.add_network(&nx).unwrap();
    fw.add_network(&nx).unwrap();
    fw.add_network(&ny).unwrap();
    fw.add_network(&ny).unwrap();
    fw.ensure_base().unwrap();
    let rules = fw.rules().unwrap();
    let tx = format!("net:{x}");
    let ty = format!("net:{y}");
    assert_eq!(count(&rules, tagged(&tx)), 9, "{rules:#?}");
    assert_eq!(count(&rules, tagged(&ty)), 4, "{rules:#?}");
    assert_eq!(count(&rules, tagged("base")), 2);
    // The subnet is normalised to its network address.
    let masq = rules
        .iter()
        .find(|r| r.chain == "postrouting" && r.comment.as_deref() == Some(tx.as_str()))
        .unwrap();
    assert!(masq.expr.to_string().contains("\"10.250.1.0\""), "{}", masq.expr);
    // Every "leave the bridge" accept comes after every rule that guards
    // what enters a bridge, so networks stay isolated.
    let forward: Vec<&RuleInfo> = rules.iter().filter(|r| r.chain == "forward").collect();
    let last_guard = forward
        .iter()
        .rposition(|r| r.expr.to_string().contains("\"drop\""))
        .unwrap();
    let first_out = forward
        .iter()
        .position(|r| {
            r.expr.as_array().map(|e| e.len()) == Some(2)
                && r.expr.to_string().contains("iifname")
                && r.expr.to_string().contains("accept")
        })
        .unwrap();
    assert!(last_guard < first_out, "{forward:#?}");

    let owner = format!("c{}", lab.suffix);
    let f1 = PortForward {
        host_ip: None,
        host_port: 18080,
        proto: Proto::Tcp,
        container_ip: Ipv4Addr::new(10, 250, 1, 2),
        container_port: 80,
    };
    let f2 = PortForward {
        host_ip: Some(Ipv4Addr::LOCALHOST),
        host_port: 18081,
        proto: Proto::Udp,
        container_ip: Ipv4Addr::new(10, 250, 1, 2),
        container_port: 53,
    };
    let f3 = PortForward { host_port: 18082, ..f1 };
    fw.publish(&owner, &f1).unwrap();
    fw.publish(&owner, &f1).unwrap();
    let tc = format!("ctr:{owner}");
    let rules = fw.rules().unwrap();
    assert_eq!(count(&rules, |r| r.chain == "ports" && tagged(&tc)(r)), 1, "{rules:#?}");
    assert_eq!(count(&rules, |r| r.chain != "ports" && tagged(&tc)(r)), 1, "{rules:#?}");
    fw.publish(&owner, &f2).unwrap();
    fw.publish_all(&owner, &[f1, f2, f3, f3]).unwrap();
    let rules = fw.rules().unwrap();
    assert_eq!(count(&rules, |r| r.chain == "ports" && tagged(&tc)(r)), 1);
    assert_eq!(count(&rules, |r| r.chain != "ports" && tagged(&tc)(r)), 3, "{rules:#?}");
    // A second owner is independent of the first.
    let other = format!("d{}", lab.suffix);
    fw.publish_all(&other, &[PortForward { host_port: 18090, ..f1 }])
        .unwrap();

    fw.unpublish(&owner).unwrap();
    fw.unpublish(&owner).unwrap();
    let rules = fw.rules().unwrap();
    assert_eq!(count(&rules, tagged(&tc)), 0, "{rules:#?}");
    assert_eq!(count(&rules, tagged(&format!("ctr:{other}"))), 2);

    fw.remove_network(&x).unwrap();
    fw.remove_network(&x).unwrap();
    let rules = fw.rules().unwrap();
    assert_eq!(count(&rules, tagged(&tx)), 0);
    assert_eq!(count(&rules, tagged(&ty)), 4);
    assert_eq!(count(&rules, tagged("base")), 2);

    // A missing table makes publish say what to do.
    fw.remove_all().unwrap();
    fw.remove_all().unwrap();
    assert!(!fw.exists().unwrap());
    let err = fw.publish(&owner, &f1).unwrap_err();
    assert!(err.to_string().contains("ensure_base"), "{err}");
    lab.finish();
}

#[test]
fn concurrent_firewall_changes_do_not_collide() {
    let lab = Lab::new();
    lab.fw.ensure_base().unwrap();
    let fw = lab.fw.clone();
    // Several "processes" (threads with their own Firewall values, sharing
    // only the lock file) publish and unpublish at once.
    std::thread::scope(|s| {
        for t in 0..4u16 {
            let fw = fw.clone();
            let suffix = lab.suffix.clone();
            s.spawn(move || {
                for i in 0..5u16 {
                    let owner = format!("t{t}i{i}{suffix}");
                    let f = PortForward {
                        host_ip: None,
                        host_port: 20000 + t * 100 + i,
                        proto: Proto::Tcp,
                        container_ip: Ipv4Addr::new(10, 250, 9, 2),
                        container_port: 80,
                    };
                    fw.publish(&owner, &f).unwrap();
                    fw.publish(&owner, &f).unwrap();
                    if i % 2 == 0 {
                        fw.unpublish(&owner).unwrap();
                    }
                }
            });
        }
    });
    let rules = lab.fw.rules().unwrap();
    // 4 threads x 2 kept owners (i = 1, 3) x (jump + dnat).
    assert_eq!(
        count(&rules, |r| r.comment.as_deref().is_some_and(|c| c.starts_with("ctr:"))),
        16,
        "{rules:#?}"
    );
    lab.finish();
}

#[test]
fn errors_name_the_problem() {
    let err = link::ensure_bridge("this-name-is-too-long", Ipv4Addr::new(10, 0, 0, 1), 24, 1500).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = link::ensure_bridge("lo", Ipv4Addr::new(10, 0, 0, 1), 24, 1500).unwrap_err();
    assert!(matches!(err, Error::NotABridge { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(link::set_sysctl("net/ipv4/no_such_sysctl", "1").is_err());
    assert!(berth_network::Firewall::new("bad name", "/tmp/x").is_err());
}

#[test]
fn publish_costs_one_nft_run() {
    let lab = Lab::new();
    lab.fw.ensure_base().unwrap();
    let f = PortForward {
        host_ip: None,
        host_port: 30000,
        proto: Proto::Tcp,
        container_ip: Ipv4Addr::new(10, 250, 9, 2),
        container_port: 80,
    };
    let n = 20u16;
    let t = Instant::now();
    for i in 0..n {
        let ports = [
            PortForward {
                host_port: 30000 + 2 * i,
                ..f
            },
            PortForward {
                host_port: 30001 + 2 * i,
                proto: Proto::Udp,
                ..f
            },
        ];
        lab.fw.publish_all(&format!("p{i}{}", lab.suffix), &ports).unwrap();
    }
    let publish = t.elapsed() / u32::from(n);
    let t = Instant::now();
    for i in 0..n {
        lab.fw.unpublish(&format!("p{i}{}", lab.suffix)).unwrap();
    }
    let unpublish = t.elapsed() / u32::from(n);
    eprintln!("publish_all (2 ports): {publish:?} per call; unpublish: {unpublish:?} per call");
    // Generous: one nft run is a few ms here; this only catches a
    // regression to many runs per call.
    assert!(publish < Duration::from_millis(200), "{publish:?}");
    assert_eq!(lab.fw.rules().unwrap().len(), 2);
    lab.finish();
}

/// Listing routes and addresses with their interfaces' names while other interfaces come and go. A dump of
/// every interface takes the kernel several batches on a host with many, and a change between two batches
/// interrupts it: `network create` failed so beside ten parallel tests. The names now come from one lookup
/// per interface, which nothing interrupts.
#[test]
fn routes_and_addresses_are_listed_while_interfaces_come_and_go() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let lab = Lab::new();
    let ns = lab.netns("churn");
    netns::run_in(&ns, || {
        (0..100u8).try_for_each(|i| link::ensure_bridge(&format!("many{i}"), Ipv4Addr::new(10, 124, i, 1), 24, 1500))
    })
    .expect("bridges");
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let churn = scope.spawn(|| {
            netns::run_in(&ns, || {
                let mut rounds = 0u32;
                while !done.load(Ordering::Relaxed) {
                    link::ensure_bridge("churn0", Ipv4Addr::new(10, 123, 0, 1), 24, 1500)?;
                    link::delete_link("churn0")?;
                    rounds += 1;
                }
                Ok(rounds)
            })
        });
        let listed = netns::run_in(&ns, || {
            (0..20)
                .map(|_| Ok((link::host_routes_v4()?, link::host_addresses_v4()?)))
                .collect::<Result<Vec<_>, Error>>()
        });
        done.store(true, Ordering::Relaxed);
        let rounds = churn.join().expect("churn thread").expect("churn");
        assert!(rounds > 0);
        for (routes, addresses) in listed.expect("every listing completes") {
            for i in 0..100u8 {
                let name = format!("many{i}");
                assert!(
                    routes.contains(&(Ipv4Addr::new(10, 124, i, 0), 24, name.clone())),
                    "no route via {name}: {routes:?}"
                );
                assert!(
                    addresses.contains(&(Ipv4Addr::new(10, 124, i, 1), 24, name.clone())),
                    "no address on {name}: {addresses:?}"
                );
            }
        }
    });
    lab.finish();
}
