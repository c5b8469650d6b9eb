//! The DNS wire format (RFC 1035, plus the EDNS0 OPT record of RFC 6891),
//! only as much as a server that answers a few names and relays the rest
//! needs: headers, questions, skipping records, A and PTR answers.
//!
//! Every read is bounds-checked and returns `Error::Malformed`; nothing here
//! may panic on bytes from the network.

use std::net::Ipv4Addr;

use crate::{Error, Result};

pub(crate) const HEADER_LEN: usize = 12;
const MAX_NAME_LEN: usize = 255;
const MAX_LABEL_LEN: usize = 63;

pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_PTR: u16 = 12;
pub(crate) const TYPE_OPT: u16 = 41;
pub(crate) const TYPE_ANY: u16 = 255;
pub(crate) const CLASS_IN: u16 = 1;
pub(crate) const CLASS_ANY: u16 = 255;

pub(crate) const NOERROR: u16 = 0;
pub(crate) const FORMERR: u16 = 1;
pub(crate) const SERVFAIL: u16 = 2;
pub(crate) const NOTIMP: u16 = 4;
pub(crate) const REFUSED: u16 = 5;
/// Extended rcode (needs an OPT record to carry its upper bits).
pub(crate) const BADVERS: u16 = 16;

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
const CD: u16 = 0x0010;
const OPCODE_MASK: u16 = 0x7800;

/// The UDP payload size we advertise and never exceed for our own answers:
/// the DNS flag day 2020 value, small enough to avoid IP fragmentation.
pub(crate) const OUR_UDP_SIZE: u16 = 1232;
/// Without EDNS a UDP message may not exceed 512 bytes (RFC 1035 4.2.1).
pub(crate) const CLASSIC_UDP_SIZE: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(msg: &[u8]) -> Result<Header> {
        let mut r = Reader::new(msg);
        Ok(Header {
            id: r.u16()?,
            flags: r.u16()?,
            qdcount: r.u16()?,
            ancount: r.u16()?,
            nscount: r.u16()?,
            arcount: r.u16()?,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        for v in [
            self.id,
            self.flags,
            self.qdcount,
            self.ancount,
            self.nscount,
            self.arcount,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }

    pub fn is_response(&self) -> bool {
        self.flags & QR != 0
    }

    pub fn opcode(&self) -> u16 {
        (self.flags & OPCODE_MASK) >> 11
    }

    pub fn rcode(&self) -> u16 {
        self.flags & 0x000f
    }

    #[cfg(test)]
    pub fn truncated(&self) -> bool {
        self.flags & TC != 0
    }

    #[cfg(test)]
    pub fn authoritative(&self) -> bool {
        self.flags & AA != 0
    }

    /// Flags for our reply to a query with these flags: opcode, RD and CD are
    /// echoed; RA is set because we do offer recursion (by forwarding).
    fn reply_flags(&self, authoritative: bool, truncated: bool, rcode: u16) -> u16 {
        let mut flags = QR | RA | (self.flags & (OPCODE_MASK | RD | CD)) | (rcode & 0x000f);
        if authoritative {
            flags |= AA;
        }
        if truncated {
            flags |= TC;
        }
        flags
    }
}

/// A domain name in uncompressed wire form (length-prefixed labels ending
/// with the root's zero byte), case preserved as received so the question
/// can be echoed exactly (resolvers using 0x20 randomisation compare it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name {
    wire: Vec<u8>,
}

impl Name {
    /// Parses presentation form ("web.net." or "web.net"; "" and "." are the
    /// root). No escapes: names come from the engine, not from users.
    pub fn from_dotted(s: &str) -> Result<Name> {
        let s = s.strip_suffix('.').unwrap_or(s);
        let mut wire = Vec::with_capacity(s.len() + 2);
        if !s.is_empty() {
            for label in s.split('.') {
                if label.is_empty() {
                    return Err(Error::Malformed("empty label"));
                }
                if label.len() > MAX_LABEL_LEN {
                    return Err(Error::Malformed("label longer than 63 bytes"));
                }
                wire.push(label.len() as u8);
                wire.extend_from_slice(label.as_bytes());
            }
        }
        wire.push(0);
        if wire.len() > MAX_NAME_LEN {
            return Err(Error::Malformed("name longer than 255 bytes"));
        }
        Ok(Name { wire })
    }

    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    fn labels(&self) -> Labels<'_> {
        Labels { wire: &self.wire }
    }

    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.labels().count() == other.labels().count()
            && self
                .labels()
                .zip(other.labels())
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// The name as the `Names` trait sees it: lowercase, dot-separated, no
    /// trailing dot. `None` when a label holds bytes no host name has (a dot,
    /// whitespace, control or non-ASCII bytes): such a name cannot be ours,
    /// and turning it into text could make it collide with one that is.
    pub fn normalized(&self) -> Option<String> {
        let mut out = String::with_capacity(self.wire.len());
        for label in self.labels() {
            if !out.is_empty() {
                out.push('.');
            }
            for &b in label {
                if !b.is_ascii_graphic() || b == b'.' {
                    return None;
                }
                out.push(b.to_ascii_lowercase() as char);
            }
        }
        Some(out)
    }
}

struct Labels<'a> {
    wire: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        // `wire` was validated when the Name was built; `get` keeps this
        // total anyway.
        let len = *self.wire.first()? as usize;
        if len == 0 {
            return None;
        }
        let label = self.wire.get(1..1 + len)?;
        self.wire = &self.wire[1 + len..];
        Some(label)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

impl Question {
    pub fn matches(&self, other: &Question) -> bool {
        self.qtype == other.qtype && self.qclass == other.qclass && self.name.eq_ignore_case(&other.name)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name.wire());
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.extend_from_slice(&self.qclass.to_be_bytes());
    }
}

/// What the client's OPT record told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edns {
    pub udp_size: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub header: Header,
    pub question: Question,
    pub edns: Option<Edns>,
}

impl Query {
    /// Parses a query with exactly one question; answer and authority
    /// records (normally none) are skipped, the additional section is
    /// searched for an OPT record.
    pub fn parse(msg: &[u8]) -> Result<Query> {
        let header = Header::parse(msg)?;
        if header.qdcount != 1 {
            return Err(Error::Malformed("query must have exactly one question"));
        }
        let mut r = Reader::new(msg);
        r.pos = HEADER_LEN;
        let question = r.question()?;
        for _ in 0..u32::from(header.ancount) + u32::from(header.nscount) {
            r.record()?;
        }
        let mut edns = None;
        for _ in 0..header.arcount {
            let rr = r.record()?;
            if rr.rtype != TYPE_OPT {
                continue;
            }
            // RFC 6891 6.1.1: one OPT, owned by the root; otherwise FORMERR.
            if edns.is_some() || rr.name.wire() != [0] {
                return Err(Error::Malformed("bad OPT record"));
            }
            edns = Some(Edns {
                udp_size: rr.class,
                version: (rr.ttl >> 16) as u8,
                dnssec_ok: rr.ttl & 0x8000 != 0,
            });
        }
        Ok(Query { header, question, edns })
    }

    /// Largest UDP reply the client accepts for an answer of ours.
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            None => CLASSIC_UDP_SIZE,
            Some(e) => usize::from(e.udp_size).clamp(CLASSIC_UDP_SIZE, usize::from(OUR_UDP_SIZE)),
        }
    }

    /// Largest UDP reply the client accepts, for relayed answers (we do not
    /// cap those at our own advertised size: the upstream chose the size).
    pub fn client_udp_limit(&self) -> usize {
        match self.edns {
            None => CLASSIC_UDP_SIZE,
            Some(e) => usize::from(e.udp_size).max(CLASSIC_UDP_SIZE),
        }
    }
}

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
const OPT_LEN: usize = 11;

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

/// The first question of a message (used to check relayed responses).
pub(crate) fn first_question(msg: &[u8]) -> Result<Question> {
    let mut r = Reader::new(msg);
    r.pos = HEADER_LEN;
    r.question()
}

struct Record {
    name: Name,
    rtype: u16,
    class: u16,
    ttl: u32,
}

struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

const SHORT: Error = Error::Malformed("message ends early");

impl<'a> Reader<'a> {
    fn new(msg: &'a [u8]) -> Self {
        Reader { msg, pos: 0 }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(SHORT)?;
        let b = self.msg.get(self.pos..end).ok_or(SHORT)?;
        self.pos = end;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn question(&mut self) -> Result<Question> {
        Ok(Question {
            name: self.name()?,
            qtype: self.u16()?,
            qclass: self.u16()?,
        })
    }

    fn record(&mut self) -> Result<Record> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let len = self.u16()?;
        self.bytes(usize::from(len))?;
        Ok(Record {
            name,
            rtype,
            class,
            ttl,
        })
    }

    /// Reads a possibly compressed name. Every compression pointer must
    /// point strictly before the previous jump target (the first one before
    /// the name's start), so the walk always ends: no loops, however crafted.
    fn name(&mut self) -> Result<Name> {
        let mut wire = Vec::with_capacity(32);
        let mut pos = self.pos;
        let mut limit = self.pos;
        let mut after: Option<usize> = None;
        loop {
            let len = *self.msg.get(pos).ok_or(SHORT)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    wire.push(0);
                    self.pos = after.unwrap_or(pos + 1);
                    return Ok(Name { wire });
                }
                0x00 => {
                    let label = self.msg.get(pos + 1..pos + 1 + usize::from(len)).ok_or(SHORT)?;
                    // +1 for the root byte still to come.
                    if wire.len() + 1 + label.len() + 1 > MAX_NAME_LEN {
                        return Err(Error::Malformed("name longer than 255 bytes"));
                    }
                    wire.push(len);
                    wire.extend_from_slice(label);
                    pos += 1 + usize::from(len);
                }
                0xc0 => {
                    let low = *self.msg.get(pos + 1).ok_or(SHORT)?;
                    let target = usize::from(len & 0x3f) << 8 | usize::from(low);
                    if target >= limit {
                        return Err(Error::Malformed("compression pointer does not point backwards"));
                    }
                    after.get_or_insert(pos + 2);
                    limit = target;
                    pos = target;
                }
                _ => return Err(Error::Malformed("unknown label type")),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query as a stub resolver sends it.
    pub(crate) fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut out = Vec::new();
        Header {
            id,
            flags: RD,
            qdcount: 1,
            arcount: u16::from(edns.is_some()),
            ..Header::default()
        }
        .write(&mut out);
        out.extend_from_slice(Name::from_dotted(name).unwrap().wire());
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        if let Some(size) = edns {
            out.push(0);
            out.extend_from_slice(&TYPE_OPT.to_be_bytes());
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        out
    }

    /// Decoded answer records of a reply: (owner, type, ttl, rdata).
    pub(crate) fn answers(msg: &[u8]) -> Vec<(Name, u16, u32, Vec<u8>)> {
        let header = Header::parse(msg).unwrap();
        let mut r = Reader::new(msg);
        r.pos = HEADER_LEN;
        for _ in 0..header.qdcount {
            r.question().unwrap();
        }
        (0..header.ancount)
            .map(|_| {
                let name = r.name().unwrap();
                let rtype = r.u16().unwrap();
                let _class = r.u16().unwrap();
                let ttl = r.u32().unwrap();
                let len = r.u16().unwrap();
                let start = r.pos;
                let data = match rtype {
                    // Decompress PTR targets so tests compare names, not bytes.
                    TYPE_PTR => r.name().unwrap().wire().to_vec(),
                    _ => r.bytes(usize::from(len)).unwrap().to_vec(),
                };
                r.pos = start + usize::from(len);
                (name, rtype, ttl, data)
            })
            .collect()
    }

    #[test]
    fn header_round_trip() {
        let h = Header {
            id: 0xbeef,
            flags: 0x8180,
            qdcount: 1,
            ancount: 2,
            nscount: 3,
            arcount: 4,
        };
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(out.len(), HEADER_LEN);
        assert_eq!(Header::parse(&out).unwrap(), h);
        assert!(Header::parse(&out[..11]).is_err());
    }

    #[test]
    fn query_round_trip() {
        let msg = query(7, "Web.MyNet.", TYPE_A, Some(4096));
        let q = Query::parse(&msg).unwrap();
        assert_eq!(q.header.id, 7);
        assert_eq!(q.question.qtype, TYPE_A);
        assert_eq!(q.question.name.normalized().unwrap(), "web.mynet");
        // case is kept for echoing
        assert_eq!(q.question.name.wire(), b"\x03Web\x05MyNet\x00");
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_size: 4096,
                version: 0,
                dnssec_ok: false
            })
        );
        assert_eq!(q.udp_limit(), usize::from(OUR_UDP_SIZE));
        assert_eq!(q.client_udp_limit(), 4096);
    }

    #[test]
    fn names_from_dotted() {
        assert_eq!(Name::from_dotted("").unwrap().wire(), [0]);
        assert_eq!(Name::from_dotted(".").unwrap().wire(), [0]);
        assert_eq!(Name::from_dotted("a.b").unwrap(), Name::from_dotted("a.b.").unwrap());
        assert!(Name::from_dotted("a..b").is_err());
        assert!(Name::from_dotted(&"x".repeat(64)).is_err());
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(Name::from_dotted(&long).is_err());
        assert_eq!(Name::from_dotted("").unwrap().normalized().unwrap(), "");
    }

    #[test]
    fn normalized_rejects_odd_bytes() {
        let msg = |label: &[u8]| {
            let mut m = query(1, "x", TYPE_A, None);
            m.truncate(HEADER_LEN);
            m.push(label.len() as u8);
            m.extend_from_slice(label);
            m.extend_from_slice(&[0, 0, 1, 0, 1]);
            m
        };
        for bad in [&b"a.b"[..], b"a b", b"\xc3\xa9", b"a\x00"] {
            let q = Query::parse(&msg(bad)).unwrap();
            assert_eq!(q.question.name.normalized(), None, "{bad:?}");
        }
        let q = Query::parse(&msg(b"Under_Score-1")).unwrap();
        assert_eq!(q.question.name.normalized().unwrap(), "under_score-1");
    }

    #[test]
    fn compression_pointers_are_followed() {
        // A response: question "web.net", answer owner via pointer to 12, PTR
        // target "db" + pointer to "net" inside the question.
        let mut msg = query(9, "web.net", TYPE_PTR, None);
        msg[2] |= 0x80;
        msg[7] = 1; // ancount
        msg.extend_from_slice(&[0xc0, 12]);
        msg.extend_from_slice(&TYPE_PTR.to_be_bytes());
        msg.extend_from_slice(&CLASS_IN.to_be_bytes());
        msg.extend_from_slice(&60u32.to_be_bytes());
        msg.extend_from_slice(&5u16.to_be_bytes());
        msg.extend_from_slice(&[2, b'd', b'b', 0xc0, 16]);
        let ans = answers(&msg);
        assert_eq!(ans.len(), 1);
        assert_eq!(ans[0].0, Name::from_dotted("web.net").unwrap());
        assert_eq!(ans[0].3, Name::from_dotted("db.net").unwrap().wire());
    }

    #[test]
    fn compression_loops_are_rejected() {
        let base = query(1, "a", TYPE_A, None)[..HEADER_LEN].to_vec();
        let cases: Vec<Vec<u8>> = vec![
            // pointer to itself
            [&base[..], &[0xc0, 12, 0, 1, 0, 1]].concat(),
            // label then pointer back to the label: a -> a -> a ...
            [&base[..], &[1, b'a', 0xc0, 12, 0, 1, 0, 1]].concat(),
            // pointer forward
            [&base[..], &[0xc0, 14, 1, b'a', 0, 0, 1, 0, 1]].concat(),
            // pointer past the end
            [&base[..], &[0xff, 0xff, 0, 1, 0, 1]].concat(),
            // reserved label types
            [&base[..], &[0x40, 0, 0, 1, 0, 1]].concat(),
            [&base[..], &[0x80, 0, 0, 1, 0, 1]].concat(),
        ];
        for msg in cases {
            assert!(Query::parse(&msg).is_err(), "{msg:?}");
        }
        // Two names pointing at each other in the additional section.
        let mut msg = query(1, "a", TYPE_A, None);
        msg[11] = 2;
        let at = msg.len();
        for target in [at + 12, at] {
            msg.extend_from_slice(&[0xc0 | (target >> 8) as u8, target as u8]);
            msg.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
        }
        assert!(Query::parse(&msg).is_err());
    }

    #[test]
    fn overlong_names_are_rejected() {
        // 130 one-byte labels = 261 bytes of name.
        let mut msg = query(1, "a", TYPE_A, None)[..HEADER_LEN].to_vec();
        for _ in 0..130 {
            msg.extend_from_slice(&[1, b'x']);
        }
        msg.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert!(Query::parse(&msg).is_err());
        // Compression can't be used to build a long name either.
        let mut msg = query(1, "a", TYPE_A, None)[..HEADER_LEN].to_vec();
        msg[5] = 1;
        let mut prev = None;
        for _ in 0..200 {
            let here = msg.len();
            msg.extend_from_slice(&[1, b'x']);
            match prev {
                None => msg.push(0),
                Some(p) => msg.extend_from_slice(&[0xc0 | (p >> 8) as u8, p as u8]),
            }
            prev = Some(here);
        }
        assert!(Reader {
            msg: &msg,
            pos: prev.unwrap()
        }
        .name()
        .is_err());
    }

    #[test]
    fn edns_parsing() {
        let mut msg = query(1, "a", TYPE_A, Some(1400));
        // DO bit, version 1
        let n = msg.len();
        msg[n - 6..n - 2].copy_from_slice(&[0, 1, 0x80, 0]);
        let q = Query::parse(&msg).unwrap();
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_size: 1400,
                version: 1,
                dnssec_ok: true
            })
        );
        // Two OPT records: FORMERR territory.
        let mut two = query(1, "a", TYPE_A, Some(1400));
        two.extend_from_slice(&two.clone()[two.len() - OPT_LEN..]);
        two[11] = 2;
        assert!(Query::parse(&two).is_err());
        // OPT with a non-root owner.
        let mut named = query(1, "a", TYPE_A, None);
        named[11] = 1;
        named.extend_from_slice(&[1, b'x', 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
        assert!(Query::parse(&named).is_err());
        // Tiny advertised sizes mean 512.
        let q = Query::parse(&query(1, "a", TYPE_A, Some(100))).unwrap();
        assert_eq!(q.udp_limit(), 512);
    }

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

    #[test]
    fn every_prefix_and_bit_flip_is_handled() {
        let mut msg = query(0xabcd, "db.mynet", TYPE_A, Some(4096));
        // Add a compressed record in the authority section too.
        msg[9] = 1;
        let extra = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4];
        let opt_at = msg.len() - OPT_LEN;
        msg.splice(opt_at..opt_at, extra);
        assert!(Query::parse(&msg).is_ok());
        for n in 0..msg.len() {
            assert!(Query::parse(&msg[..n]).is_err(), "prefix {n} parsed");
            let _ = truncate_response(&msg[..n]);
        }
        for i in 0..msg.len() * 8 {
            let mut m = msg.clone();
            m[i / 8] ^= 1 << (i % 8);
            let _ = Query::parse(&m);
            let _ = truncate_response(&m);
            let _ = first_question(&m);
        }
    }
}
