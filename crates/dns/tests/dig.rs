//! The server driven by real clients (dig, nslookup) over loopback. A second
//! server plays the host's resolver, so forwarding is tested end to end
//! without sending anything off the machine.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{closed_port, config, dig, have, network, upstream, Running};

use berth_dns::{Config, Server};

/// dig is required (bind9-dnsutils); skip loudly where it is missing.
macro_rules! need_dig {
    () => {
        if !have("dig") {
            eprintln!("SKIPPED: dig not installed (apt-get install bind9-dnsutils)");
            return;
        }
    };
}

fn under_test() -> (Running, Running) {
    let up = upstream();
    let server = Running::start(config(vec![up.addr]), network());
    (server, up)
}

#[test]
fn own_names_over_udp_and_tcp() {
    need_dig!();
    let (server, _up) = under_test();
    for transport in ["+notcp", "+tcp"] {
        let d = dig(server.addr, &[transport, "web", "A"]);
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert!(
            d.has_flag("qr") && d.has_flag("aa") && d.has_flag("rd") && d.has_flag("ra"),
            "{}",
            d.raw
        );
        assert!(!d.has_flag("tc"));
        assert_eq!(d.data(), ["10.88.0.2", "10.88.0.3"], "{}", d.raw);
        assert!(
            d.answers.iter().all(|a| a.0 == "web." && a.1 == 600 && a.2 == "A"),
            "{}",
            d.raw
        );

        // Mixed case and a trailing dot; the question's case is echoed.
        let d = dig(server.addr, &[transport, "WeB.", "A"]);
        assert_eq!(d.data(), ["10.88.0.2", "10.88.0.3"], "{}", d.raw);
        assert_eq!(d.answers[0].0, "WeB.");

        // An alias, a short id (in capitals), a dotted container name.
        assert_eq!(dig(server.addr, &[transport, "www"]).data(), ["10.88.0.2"]);
        assert_eq!(dig(server.addr, &[transport, "3F4E5D6C7B8A"]).data(), ["10.88.0.2"]);
        assert_eq!(dig(server.addr, &[transport, "db.mynet."]).data(), ["10.88.0.9"]);

        // dig without RD: RD stays clear in the reply.
        let d = dig(server.addr, &[transport, "+norecurse", "www"]);
        assert!(!d.has_flag("rd") && d.has_flag("aa"), "{}", d.raw);
    }
}

#[test]
fn other_types_for_own_names_are_nodata() {
    need_dig!();
    let (server, _up) = under_test();
    for qtype in ["AAAA", "MX", "TXT"] {
        for transport in ["+notcp", "+tcp"] {
            let d = dig(server.addr, &[transport, "web", qtype]);
            assert_eq!(d.status, "NOERROR", "{qtype}: {}", d.raw);
            assert!(d.answers.is_empty(), "{qtype}: {}", d.raw);
            assert!(d.has_flag("aa"));
        }
    }
}

#[test]
fn ptr_for_own_addresses() {
    need_dig!();
    let (server, _up) = under_test();
    for transport in ["+notcp", "+tcp"] {
        let d = dig(server.addr, &[transport, "-x", "10.88.0.2"]);
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert_eq!(d.answers.len(), 1, "{}", d.raw);
        assert_eq!(d.answers[0].0, "2.0.88.10.in-addr.arpa.");
        assert_eq!((d.answers[0].2.as_str(), d.answers[0].3.as_str()), ("PTR", "web."));
        let d = dig(server.addr, &[transport, "-x", "10.88.0.9"]);
        assert_eq!(d.data(), ["db.mynet."]);
    }
    // Not ours: forwarded; the stand-in upstream has no upstream of its own.
    let d = dig(server.addr, &["-x", "10.88.0.200"]);
    assert_eq!(d.status, "SERVFAIL", "{}", d.raw);
}

#[test]
fn forwarded_names_come_back_with_the_clients_id() {
    need_dig!();
    let (server, _up) = under_test();
    for (transport, qid) in [("+notcp", "4242"), ("+tcp", "31337")] {
        let d = dig(server.addr, &[transport, &format!("+qid={qid}"), "deb.example."]);
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert_eq!(d.id.to_string(), qid);
        assert_eq!(d.data(), ["192.0.2.10", "192.0.2.11"], "{}", d.raw);
        assert!(!d.raw.contains("mismatch"), "{}", d.raw);
    }
    // Raw client with an explicit ID, and without EDNS.
    let reply = raw_udp(server.addr, &raw_query(0xbeef, "DEB.example", 1));
    assert_eq!(&reply[..2], &[0xbe, 0xef]);
    assert_eq!(reply[3] & 0x0f, 0, "rcode NOERROR");
    assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 2, "two answers");
}

#[test]
fn servfail_when_upstreams_fail() {
    need_dig!();
    // Closed port: ICMP refused, fails fast.
    let server = Running::start(config(vec![closed_port()]), network());
    for transport in ["+notcp", "+tcp"] {
        let d = dig(server.addr, &[transport, "deb.example"]);
        assert_eq!(d.status, "SERVFAIL", "{}", d.raw);
        assert!(!d.has_flag("aa"));
    }
    // No upstreams at all.
    let server = Running::start(config(vec![]), network());
    assert_eq!(dig(server.addr, &["deb.example"]).status, "SERVFAIL");
    // An upstream that never answers: SERVFAIL after the timeout.
    let silent = UdpSocket::bind(common::loopback()).unwrap();
    let mut c = config(vec![silent.local_addr().unwrap()]);
    c.upstream_timeout = Duration::from_millis(300);
    let server = Running::start(c, network());
    let started = Instant::now();
    assert_eq!(dig(server.addr, &["deb.example"]).status, "SERVFAIL");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn dead_upstream_is_skipped() {
    need_dig!();
    let up = upstream();
    let server = Running::start(config(vec![closed_port(), up.addr]), network());
    let d = dig(server.addr, &["deb.example"]);
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert_eq!(d.answers.len(), 2);
}

#[test]
fn slow_forwards_do_not_block_own_names() {
    need_dig!();
    // The upstream swallows queries; each forward waits its full timeout.
    let silent = UdpSocket::bind(common::loopback()).unwrap();
    let mut c = config(vec![silent.local_addr().unwrap()]);
    c.upstream_timeout = Duration::from_secs(3);
    let server = Running::start(c, network());
    let client = UdpSocket::bind(common::loopback()).unwrap();
    for id in 0..10u16 {
        client.send_to(&raw_query(id, "slow.example", 1), server.addr).unwrap();
    }
    let started = Instant::now();
    let d = dig(server.addr, &["web"]);
    assert_eq!(d.answers.len(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "own name waited for forwards"
    );
}

#[test]
fn udp_truncation_and_tcp_fallback() {
    need_dig!();
    let (server, _up) = under_test();
    // Without EDNS: 512 bytes, TC; +ignore keeps dig from retrying over TCP.
    let d = dig(server.addr, &["+ignore", "+noedns", "many"]);
    assert!(d.has_flag("tc"), "{}", d.raw);
    assert!(d.answers.len() < 100);
    // With a 4096 EDNS buffer we still stop at 1232 bytes.
    let d = dig(server.addr, &["+ignore", "+bufsize=4096", "many"]);
    assert!(d.has_flag("tc"), "{}", d.raw);
    let raw = raw_udp(server.addr, &raw_query(1, "many", 1));
    assert!(raw.len() <= 512);
    // dig's default: retry over TCP on TC, get all of them.
    let d = dig(server.addr, &["many"]);
    assert!(!d.has_flag("tc"));
    assert_eq!(d.answers.len(), 100);
}

#[test]
fn garbage_does_not_hurt() {
    need_dig!();
    let (server, _up) = under_test();
    let client = UdpSocket::bind(common::loopback()).unwrap();
    client.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut seed = 0x2545f4914f6cdd1du64;
    for len in 0..200 {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        client.send_to(&junk, server.addr).unwrap();
    }
    // A compression loop in the question: FORMERR.
    let mut looped = raw_query(7, "a", 1);
    looped.truncate(12);
    looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    let reply = raw_udp(server.addr, &looped);
    assert_eq!((&reply[..2], reply[3] & 0x0f), (&[0, 7][..], 1));
    // Two questions: FORMERR.
    let mut two = raw_query(8, "web", 1);
    two[5] = 2;
    two.extend_from_slice(&two.clone()[12..]);
    let reply = raw_udp(server.addr, &two);
    assert_eq!(reply[3] & 0x0f, 1);
    // Still serving.
    assert_eq!(dig(server.addr, &["web"]).answers.len(), 2);
    // Garbage over TCP: connection closed or FORMERR, server fine.
    use std::io::Write;
    let mut tcp = std::net::TcpStream::connect(server.addr).unwrap();
    let _ = tcp.write_all(&[0, 3, 1, 2, 3, 0xff, 0xff]);
    drop(tcp);
    assert_eq!(dig(server.addr, &["+tcp", "web"]).answers.len(), 2);
}

#[test]
fn nslookup_asks_a_and_aaaa() {
    if !have("nslookup") {
        eprintln!("SKIPPED: nslookup not installed");
        return;
    }
    let (server, _up) = under_test();
    let out = Command::new("nslookup")
        .args([
            &format!("-port={}", server.addr.port()),
            "-timeout=5",
            "-retry=1",
            "web",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Address: 10.88.0.2") && text.contains("Address: 10.88.0.3"),
        "{text}"
    );
    assert!(!text.contains("can't find"), "{text}");
}

#[test]
fn idle_check_stops_run() {
    let idle = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = Server::bind(
        Config {
            idle_check: Some((Duration::from_millis(50), {
                let idle = Arc::clone(&idle);
                let checks = Arc::clone(&checks);
                Box::new(move || {
                    checks.fetch_add(1, Ordering::SeqCst);
                    idle.load(Ordering::SeqCst)
                })
            })),
            ..config(vec![])
        },
        network(),
    )
    .unwrap();
    let addr = server.local_addrs()[0];
    let runner = thread::spawn(move || server.run());
    thread::sleep(Duration::from_millis(300));
    assert!(!runner.is_finished());
    assert!(checks.load(Ordering::SeqCst) >= 2, "checked every interval");
    // Serving in between checks.
    let reply = raw_udp(addr, &raw_query(3, "web", 1));
    assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 2);
    idle.store(true, Ordering::SeqCst);
    let started = Instant::now();
    while !runner.is_finished() {
        assert!(started.elapsed() < Duration::from_secs(2), "run() did not return");
        thread::sleep(Duration::from_millis(10));
    }
    runner.join().unwrap().unwrap();
}

#[test]
fn shutdown_stops_run() {
    let server = Server::bind(config(vec![]), network()).unwrap();
    let addr: SocketAddr = server.local_addrs()[0];
    let stop = server.shutdown_handle();
    let runner = thread::spawn(move || server.run());
    thread::sleep(Duration::from_millis(100));
    assert!(!runner.is_finished());
    let started = Instant::now();
    stop.trigger();
    stop.trigger();
    runner.join().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(stop.is_triggered());
    // The port is free again once run() returned.
    Server::bind(
        Config {
            listen: vec![addr],
            ..Config::default()
        },
        network(),
    )
    .unwrap();
}

/// A minimal query, built by hand so the tests check the ID themselves.
fn raw_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

fn raw_udp(server: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let sock = UdpSocket::bind(common::loopback()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(msg, server).unwrap();
    let mut buf = vec![0u8; 65535];
    let n = sock.recv(&mut buf).expect("reply");
    buf.truncate(n);
    buf
}
