//! What we send: answers to a query (truncated to the client's size), bare error replies, and
//! relayed responses cut down for UDP.

use std::net::Ipv4Addr;

use super::reader::Reader;
use super::{Header, Name, Query, CLASS_IN, HEADER_LEN, OUR_UDP_SIZE, TC, TYPE_A, TYPE_OPT, TYPE_PTR};

/// The data of one answer record; its owner is always the question name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rdata {
    A(Ipv4Addr),
    Ptr(Name),
}

impl Rdata {
    fn rtype(&self) -> u16 {
        match self {
            Rdata::A(_) => TYPE_A,
            Rdata::Ptr(_) => TYPE_PTR,
        }
    }
}

/// Pointer to offset 12, where the (only) question name always starts.
const QUESTION_NAME_PTR: [u8; 2] = [0xc0, HEADER_LEN as u8];
pub(super) const OPT_LEN: usize = 11;

/// Builds our reply to `query`. Answers that do not fit in `limit` bytes are
/// left out and TC is set, so the client retries over TCP. An OPT record is
/// added when the client sent one (RFC 6891 7).
pub(crate) fn build_response(
    query: &Query,
    rcode: u16,
    authoritative: bool,
    answers: &[Rdata],
    ttl: u32,
    limit: usize,
) -> Vec<u8> {
    let opt_len = if query.edns.is_some() { OPT_LEN } else { 0 };
    let mut out = Vec::with_capacity(limit.min(512));
    out.resize(HEADER_LEN, 0);
    query.question.write(&mut out);
    let mut count: u16 = 0;
    let mut truncated = false;
    for rd in answers {
        let octets;
        let data: &[u8] = match rd {
            Rdata::A(addr) => {
                octets = addr.octets();
                &octets
            }
            Rdata::Ptr(name) => name.wire(),
        };
        let len = 2 + 2 + 2 + 4 + 2 + data.len();
        if out.len() + len + opt_len > limit || count == u16::MAX {
            truncated = true;
            break;
        }
        out.extend_from_slice(&QUESTION_NAME_PTR);
        out.extend_from_slice(&rd.rtype().to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
        count += 1;
    }
    if let Some(edns) = query.edns {
        out.push(0); // root owner
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&OUR_UDP_SIZE.to_be_bytes());
        // TTL field: extended rcode (upper 8 of 12 bits), version 0, DO echoed (RFC 3225).
        let mut ttl_field = u32::from(rcode >> 4) << 24;
        if edns.dnssec_ok {
            ttl_field |= 0x8000;
        }
        out.extend_from_slice(&ttl_field.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
    }
    let header = Header {
        id: query.header.id,
        flags: query.header.reply_flags(authoritative, truncated, rcode),
        qdcount: 1,
        ancount: count,
        nscount: 0,
        arcount: u16::from(query.edns.is_some()),
    };
    let mut head = Vec::with_capacity(HEADER_LEN);
    header.write(&mut head);
    out[..HEADER_LEN].copy_from_slice(&head);
    out
}

/// A bare header reply (no sections), for queries whose question we could
/// not or would not parse.
pub(crate) fn error_reply(query: &Header, rcode: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    Header {
        id: query.id,
        flags: query.reply_flags(false, false, rcode),
        ..Header::default()
    }
    .write(&mut out);
    out
}

/// Cuts a relayed response down to header and question with TC set, for a
/// UDP client that cannot take it whole. `None` if it does not parse.
pub(crate) fn truncate_response(msg: &[u8]) -> Option<Vec<u8>> {
    let header = Header::parse(msg).ok()?;
    let mut r = Reader::new(msg);
    r.pos = HEADER_LEN;
    let mut qdcount = 0;
    if header.qdcount == 1 {
        r.question().ok()?;
        qdcount = 1;
    }
    let mut out = Vec::with_capacity(r.pos);
    Header {
        id: header.id,
        flags: header.flags | TC,
        qdcount,
        ..Header::default()
    }
    .write(&mut out);
    out.extend_from_slice(msg.get(HEADER_LEN..r.pos)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::{answers, query};
    use crate::wire::{first_question, BADVERS, NOERROR, RA, RD, SERVFAIL};

    #[test]
    fn response_layout() {
        let q = Query::parse(&query(0x1234, "Web.Net", TYPE_A, None)).unwrap();
        let ips = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)];
        let answers_in: Vec<_> = ips.iter().map(|&ip| Rdata::A(ip)).collect();
        let msg = build_response(&q, NOERROR, true, &answers_in, 600, 512);
        let h = Header::parse(&msg).unwrap();
        assert_eq!(h.id, 0x1234);
        assert!(h.is_response() && h.authoritative() && !h.truncated());
        assert_eq!(h.flags & (RD | RA), RD | RA);
        assert_eq!((h.qdcount, h.ancount, h.nscount, h.arcount), (1, 2, 0, 0));
        assert_eq!(first_question(&msg).unwrap(), q.question);
        let ans = answers(&msg);
        assert_eq!(ans.len(), 2);
        assert_eq!(ans[0].0.wire(), b"\x03Web\x03Net\x00");
        assert_eq!((ans[0].1, ans[0].2, &ans[0].3[..]), (TYPE_A, 600, &[10, 0, 0, 2][..]));
        assert_eq!(ans[1].3, [10, 0, 0, 3]);
        // 12 header + 13 question + 2 * 16 answers: the pointer keeps it small.
        assert_eq!(msg.len(), 12 + 13 + 32);
    }

    #[test]
    fn response_truncates_at_limit() {
        let answers_in: Vec<_> = (0..100).map(|i| Rdata::A(Ipv4Addr::new(10, 0, 0, i))).collect();
        let q = Query::parse(&query(1, "many", TYPE_A, None)).unwrap();
        let msg = build_response(&q, NOERROR, true, &answers_in, 600, 512);
        let h = Header::parse(&msg).unwrap();
        assert!(msg.len() <= 512 && h.truncated());
        assert_eq!(usize::from(h.ancount), (512 - 12 - 10) / 16);
        assert_eq!(answers(&msg).len(), usize::from(h.ancount));

        let q = Query::parse(&query(1, "many", TYPE_A, Some(4096))).unwrap();
        let msg = build_response(&q, NOERROR, true, &answers_in, 600, q.udp_limit());
        let h = Header::parse(&msg).unwrap();
        assert!(msg.len() <= 1232 && h.truncated());
        assert_eq!(h.arcount, 1, "OPT kept when truncating");

        let msg = build_response(&q, NOERROR, true, &answers_in, 600, 65535);
        let h = Header::parse(&msg).unwrap();
        assert!(!h.truncated());
        assert_eq!(h.ancount, 100);
    }

    #[test]
    fn badvers_goes_into_opt() {
        let q = Query::parse(&query(1, "a", TYPE_A, Some(1232))).unwrap();
        let msg = build_response(&q, BADVERS, false, &[], 0, 512);
        let h = Header::parse(&msg).unwrap();
        assert_eq!(h.rcode(), 0);
        let n = msg.len();
        assert_eq!(msg[n - 6], 1, "extended rcode 16 >> 4");
    }

    #[test]
    fn truncating_relayed_responses() {
        let q = Query::parse(&query(5, "big.example", TYPE_A, None)).unwrap();
        let ips: Vec<_> = (0..50).map(|i| Rdata::A(Ipv4Addr::new(1, 1, 1, i))).collect();
        let full = build_response(&q, NOERROR, false, &ips, 60, 65535);
        let cut = truncate_response(&full).unwrap();
        let h = Header::parse(&cut).unwrap();
        assert!(h.truncated());
        assert_eq!((h.id, h.qdcount, h.ancount, h.arcount), (5, 1, 0, 0));
        assert_eq!(first_question(&cut).unwrap(), q.question);
        assert!(truncate_response(&full[..20]).is_none());
        let reply = error_reply(&q.header, SERVFAIL);
        let cut = truncate_response(&reply).unwrap();
        assert_eq!(Header::parse(&cut).unwrap().qdcount, 0);
    }
}
