//! Messages as they arrive: the question, and a query with its EDNS0 OPT record.

use super::reader::Reader;
use super::{Header, Name, CLASSIC_UDP_SIZE, HEADER_LEN, OUR_UDP_SIZE, TYPE_OPT};
use crate::{Error, Result};

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

    pub(super) fn write(&self, out: &mut Vec<u8>) {
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

/// The first question of a message (used to check relayed responses).
pub(crate) fn first_question(msg: &[u8]) -> Result<Question> {
    let mut r = Reader::new(msg);
    r.pos = HEADER_LEN;
    r.question()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::response::OPT_LEN;
    use crate::wire::tests::query;
    use crate::wire::TYPE_A;

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
}
