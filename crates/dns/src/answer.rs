//! Deciding what to do with one query: answer it from our names, forward
//! it, or drop it. Pure (no I/O), so it is tested without sockets.

use std::net::Ipv4Addr;

use crate::wire::{self, Header, Query, Question, Rdata};
use crate::Names;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

#[derive(Debug)]
pub(crate) enum Action {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not ours: relay the query upstream.
    Forward(Forward),
    /// Not worth an answer (not a query, or too broken to address one).
    Drop,
}

/// What the forwarder needs besides the raw query.
#[derive(Debug)]
pub(crate) struct Forward {
    /// To recognise the upstream's response.
    pub question: Question,
    /// The client's ID, restored on the relayed response.
    pub client_id: u16,
    /// Largest response the client takes (UDP); bigger ones are cut to TC.
    pub limit: usize,
    /// Sent when no upstream answers.
    pub servfail: Vec<u8>,
}

pub(crate) fn answer(msg: &[u8], names: &dyn Names, ttl: u32, transport: Transport) -> Action {
    // Without a full header we cannot even address a reply.
    let Ok(header) = Header::parse(msg) else {
        return Action::Drop;
    };
    // Responses are never answered: that would let two servers (or a
    // spoofed source) bounce packets forever.
    if header.is_response() {
        return Action::Drop;
    }
    if header.qdcount != 1 {
        return Action::Reply(wire::error_reply(&header, wire::FORMERR));
    }
    let query = match Query::parse(msg) {
        Ok(q) => q,
        Err(_) => return Action::Reply(wire::error_reply(&header, wire::FORMERR)),
    };
    let limit = match transport {
        Transport::Udp => query.udp_limit(),
        Transport::Tcp => usize::from(u16::MAX),
    };
    let reply = |rcode, authoritative, answers: &[Rdata]| {
        Action::Reply(wire::build_response(&query, rcode, authoritative, answers, ttl, limit))
    };
    // Only standard queries; NOTIFY, UPDATE and friends are not for us.
    if header.opcode() != 0 {
        return reply(wire::NOTIMP, false, &[]);
    }
    if query.edns.is_some_and(|e| e.version != 0) {
        return reply(wire::BADVERS, false, &[]);
    }
    let question = &query.question;
    // Only class IN holds container names; CHAOS and the like go upstream.
    if question.qclass != wire::CLASS_IN && question.qclass != wire::CLASS_ANY {
        return forward(&query, transport);
    }
    let Some(name) = question.name.normalized().filter(|n| !n.is_empty()) else {
        return forward(&query, transport);
    };
    if question.qtype == wire::TYPE_PTR {
        if let Some(target) = reverse_v4(&name).and_then(|ip| names.reverse(ip)) {
            // A name the engine gave us that does not encode (too long) is
            // answered with no data rather than relayed to the host's resolver.
            let answers: Vec<_> = wire::Name::from_dotted(&target)
                .ok()
                .map(Rdata::Ptr)
                .into_iter()
                .collect();
            return reply(wire::NOERROR, true, &answers);
        }
    }
    let Some(mut addrs) = names.lookup_v4(&name) else {
        return forward(&query, transport);
    };
    // Our name but another type (AAAA, MX, ...): NOERROR without answers
    // (NODATA), never NXDOMAIN, which would make resolvers drop the A record
    // they got for the same name.
    let answers: Vec<_> = if matches!(question.qtype, wire::TYPE_A | wire::TYPE_ANY) {
        dedup(&mut addrs);
        addrs.into_iter().map(Rdata::A).collect()
    } else {
        Vec::new()
    };
    reply(wire::NOERROR, true, &answers)
}

fn forward(query: &Query, transport: Transport) -> Action {
    let limit = match transport {
        Transport::Udp => query.client_udp_limit(),
        Transport::Tcp => usize::from(u16::MAX),
    };
    Action::Forward(Forward {
        question: query.question.clone(),
        client_id: query.header.id,
        limit,
        servfail: wire::build_response(query, wire::SERVFAIL, false, &[], 0, limit),
    })
}

/// `4.3.2.1.in-addr.arpa` -> 1.2.3.4; partial or malformed names -> None.
fn reverse_v4(name: &str) -> Option<Ipv4Addr> {
    let digits = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut parts = digits.split('.');
    for slot in octets.iter_mut().rev() {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// Removes repeated addresses, keeping the first occurrence's order.
fn dedup(addrs: &mut Vec<Ipv4Addr>) {
    let mut seen = Vec::with_capacity(addrs.len());
    addrs.retain(|a| {
        let new = !seen.contains(a);
        seen.push(*a);
        new
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::{answers, query};
    use crate::wire::{Name, TYPE_A, TYPE_PTR};
    use crate::Table;

    const TYPE_AAAA: u16 = 28;
    const TYPE_MX: u16 = 15;

    fn names() -> Table {
        let t = Table::new();
        t.insert("web", Ipv4Addr::new(10, 88, 0, 2));
        t.insert("web", Ipv4Addr::new(10, 88, 0, 3));
        t.insert("api", Ipv4Addr::new(10, 88, 0, 4));
        t.insert("0123456789ab", Ipv4Addr::new(10, 88, 0, 4));
        t.insert("db.internal", Ipv4Addr::new(10, 88, 0, 5));
        t
    }

    fn reply(msg: &[u8], transport: Transport) -> Vec<u8> {
        match answer(msg, &names(), 600, transport) {
            Action::Reply(r) => r,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn a_answers(msg: &[u8]) -> Vec<Ipv4Addr> {
        answers(msg)
            .into_iter()
            .map(|(_, t, _, d)| {
                assert_eq!(t, TYPE_A);
                Ipv4Addr::new(d[0], d[1], d[2], d[3])
            })
            .collect()
    }

    #[test]
    fn a_records_for_our_names() {
        for name in ["web", "WEB", "Web.", "wEb."] {
            let r = reply(&query(42, name, TYPE_A, None), Transport::Udp);
            let h = Header::parse(&r).unwrap();
            assert_eq!(h.id, 42);
            assert_eq!(h.rcode(), wire::NOERROR);
            assert!(h.authoritative());
            assert_eq!(
                a_answers(&r),
                [Ipv4Addr::new(10, 88, 0, 2), Ipv4Addr::new(10, 88, 0, 3)]
            );
            // The question comes back with the client's spelling.
            let q = wire::first_question(&r).unwrap();
            assert_eq!(q.name, Name::from_dotted(name).unwrap());
            assert!(answers(&r).iter().all(|(_, _, ttl, _)| *ttl == 600));
        }
        let r = reply(&query(1, "0123456789AB", TYPE_A, Some(1232)), Transport::Udp);
        assert_eq!(a_answers(&r), [Ipv4Addr::new(10, 88, 0, 4)]);
        assert_eq!(Header::parse(&r).unwrap().arcount, 1, "OPT echoed");
        let r = reply(&query(1, "db.internal", wire::TYPE_ANY, None), Transport::Tcp);
        assert_eq!(a_answers(&r), [Ipv4Addr::new(10, 88, 0, 5)]);
    }

    #[test]
    fn other_types_for_our_names_are_nodata() {
        for qtype in [TYPE_AAAA, TYPE_MX, TYPE_PTR] {
            let r = reply(&query(3, "web", qtype, None), Transport::Udp);
            let h = Header::parse(&r).unwrap();
            assert_eq!(h.rcode(), wire::NOERROR, "type {qtype}");
            assert_eq!(h.ancount, 0);
            assert!(h.authoritative());
        }
    }

    #[test]
    fn ptr_for_our_addresses() {
        let r = reply(&query(9, "4.0.88.10.in-addr.arpa.", TYPE_PTR, None), Transport::Udp);
        let ans = answers(&r);
        assert_eq!(ans.len(), 1);
        assert_eq!(ans[0].1, TYPE_PTR);
        assert_eq!(ans[0].3, Name::from_dotted("api").unwrap().wire());
        let r = reply(&query(9, "5.0.88.10.IN-ADDR.ARPA", TYPE_PTR, None), Transport::Udp);
        assert_eq!(answers(&r)[0].3, Name::from_dotted("db.internal").unwrap().wire());
        // Not ours, or not a full address: forwarded.
        for name in [
            "9.0.88.10.in-addr.arpa",
            "0.88.10.in-addr.arpa",
            "1.4.0.88.10.in-addr.arpa",
        ] {
            let action = answer(&query(9, name, TYPE_PTR, None), &names(), 600, Transport::Udp);
            assert!(matches!(action, Action::Forward(_)), "{name}");
        }
    }

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_v4("4.3.2.1.in-addr.arpa"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        for bad in [
            "4.3.2.in-addr.arpa",
            "+4.3.2.1.in-addr.arpa",
            "256.3.2.1.in-addr.arpa",
            "4..2.1.in-addr.arpa",
            "x",
        ] {
            assert_eq!(reverse_v4(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_names_are_forwarded() {
        let msg = query(0x7777, "deb.example", TYPE_A, Some(4000));
        match answer(&msg, &names(), 600, Transport::Udp) {
            Action::Forward(f) => {
                assert_eq!(f.client_id, 0x7777);
                assert_eq!(f.limit, 4000);
                assert_eq!(f.question.name, Name::from_dotted("deb.example").unwrap());
                let h = Header::parse(&f.servfail).unwrap();
                assert_eq!((h.id, h.rcode()), (0x7777, wire::SERVFAIL));
                assert!(!h.authoritative());
            }
            other => panic!("{other:?}"),
        }
        // The root, and names with bytes no container name has.
        let mut odd = query(1, "x", TYPE_A, None);
        odd.splice(12..14, [3, b'w', b'.', b'b']);
        for msg in [query(1, "", TYPE_A, None), odd] {
            assert!(matches!(
                answer(&msg, &names(), 600, Transport::Udp),
                Action::Forward(_)
            ));
        }
        // Other classes (CHAOS version.bind) too.
        let mut chaos = query(1, "web", wire::TYPE_ANY, None);
        let n = chaos.len();
        chaos[n - 2..].copy_from_slice(&3u16.to_be_bytes());
        assert!(matches!(
            answer(&chaos, &names(), 600, Transport::Udp),
            Action::Forward(_)
        ));
    }

    #[test]
    fn formerr_and_drops() {
        // Short: dropped.
        assert!(matches!(
            answer(&[1, 2, 3], &names(), 600, Transport::Udp),
            Action::Drop
        ));
        // A response: dropped.
        let mut resp = query(1, "web", TYPE_A, None);
        resp[2] |= 0x80;
        assert!(matches!(answer(&resp, &names(), 600, Transport::Udp), Action::Drop));
        // QDCOUNT 0 and 2: FORMERR with the ID.
        for qd in [0u8, 2] {
            let mut m = query(0x0102, "web", TYPE_A, None);
            m[5] = qd;
            let r = reply(&m, Transport::Udp);
            let h = Header::parse(&r).unwrap();
            assert_eq!((h.id, h.rcode(), r.len()), (0x0102, wire::FORMERR, 12));
            assert!(h.is_response());
        }
        // Question cut short: FORMERR.
        let m = query(5, "web", TYPE_A, None);
        let r = reply(&m[..m.len() - 1], Transport::Udp);
        assert_eq!(Header::parse(&r).unwrap().rcode(), wire::FORMERR);
    }

    #[test]
    fn opcodes_and_edns_versions() {
        let mut m = query(5, "web", TYPE_A, None);
        m[2] |= 5 << 3; // UPDATE
        let h = Header::parse(&reply(&m, Transport::Udp)).unwrap();
        assert_eq!((h.rcode(), h.opcode()), (wire::NOTIMP, 5));
        let mut m = query(5, "web", TYPE_A, Some(1232));
        let n = m.len();
        m[n - 5] = 1; // EDNS version 1
        let r = reply(&m, Transport::Udp);
        assert_eq!(Header::parse(&r).unwrap().ancount, 0);
        assert_eq!(r[r.len() - 6], 1, "BADVERS in the OPT's extended rcode");
    }

    #[test]
    fn udp_truncation_and_tcp_full() {
        let t = Table::new();
        for i in 0..100 {
            t.insert("many", Ipv4Addr::new(10, 1, 0, i));
        }
        let get = |edns, transport| match answer(&query(1, "many", TYPE_A, edns), &t, 600, transport) {
            Action::Reply(r) => r,
            other => panic!("{other:?}"),
        };
        let r = get(None, Transport::Udp);
        assert!(r.len() <= 512 && Header::parse(&r).unwrap().truncated());
        let r = get(Some(4096), Transport::Udp);
        assert!(r.len() <= 1232 && Header::parse(&r).unwrap().truncated());
        let r = get(None, Transport::Tcp);
        let h = Header::parse(&r).unwrap();
        assert!(!h.truncated());
        assert_eq!(h.ancount, 100);
    }

    #[test]
    fn empty_address_list_is_nodata() {
        struct Empty;
        impl Names for Empty {
            fn lookup_v4(&self, _: &str) -> Option<Vec<Ipv4Addr>> {
                Some(Vec::new())
            }
            fn reverse(&self, _: Ipv4Addr) -> Option<String> {
                Some("x".repeat(300))
            }
        }
        let Action::Reply(r) = answer(&query(1, "gone", TYPE_A, None), &Empty, 600, Transport::Udp) else {
            panic!()
        };
        let h = Header::parse(&r).unwrap();
        assert_eq!((h.rcode(), h.ancount), (wire::NOERROR, 0));
        // A reverse name too long to encode: NODATA, no panic.
        let Action::Reply(r) = answer(
            &query(1, "1.0.0.10.in-addr.arpa", TYPE_PTR, None),
            &Empty,
            600,
            Transport::Udp,
        ) else {
            panic!()
        };
        assert_eq!(Header::parse(&r).unwrap().ancount, 0);
    }

    #[test]
    fn duplicate_addresses_answered_once() {
        struct Dups;
        impl Names for Dups {
            fn lookup_v4(&self, _: &str) -> Option<Vec<Ipv4Addr>> {
                Some(vec![Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST, Ipv4Addr::LOCALHOST])
            }
            fn reverse(&self, _: Ipv4Addr) -> Option<String> {
                None
            }
        }
        let Action::Reply(r) = answer(&query(1, "x", TYPE_A, None), &Dups, 600, Transport::Udp) else {
            panic!()
        };
        assert_eq!(a_answers(&r), [Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST]);
    }

    /// Deterministic xorshift, so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn check_no_panic(msg: &[u8], names: &Table) {
        for transport in [Transport::Udp, Transport::Tcp] {
            match answer(msg, names, 600, transport) {
                Action::Reply(r) => {
                    let h = Header::parse(&r).expect("replies have a header");
                    assert!(h.is_response());
                    assert!(transport == Transport::Tcp || r.len() <= 1232);
                }
                Action::Forward(f) => assert!(Header::parse(&f.servfail).is_ok()),
                Action::Drop => {}
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let names = names();
        // BERTH_DNS_FUZZ_ROUNDS scales the run up for a longer soak.
        let rounds: usize = std::env::var("BERTH_DNS_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let mut rng = Rng(0x9e3779b97f4a7c15);
        for _ in 0..20_000 * rounds {
            let len = (rng.next() % 300) as usize;
            let mut msg: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Make many of them look like queries so parsing goes deep.
            if msg.len() >= 12 && rng.next() & 1 == 0 {
                msg[2] &= 0x7f;
                msg[4] = 0;
                msg[5] = 1;
            }
            check_no_panic(&msg, &names);
        }
        // Mutations of valid queries, including compression pointers.
        let seeds = [
            query(1, "web", TYPE_A, Some(1232)),
            query(2, "4.0.88.10.in-addr.arpa", TYPE_PTR, None),
            query(3, "db.internal", TYPE_AAAA, Some(512)),
        ];
        for seed in &seeds {
            for _ in 0..5_000 * rounds {
                let mut m = seed.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let i = (rng.next() as usize) % m.len();
                    match rng.next() % 4 {
                        0 => m[i] = rng.next() as u8,
                        1 => m[i] = 0xc0 | (rng.next() as u8 & 1),
                        2 => m.truncate(i),
                        _ => m.insert(i, rng.next() as u8),
                    }
                    if m.is_empty() {
                        break;
                    }
                }
                check_no_panic(&m, &names);
            }
        }
    }
}
