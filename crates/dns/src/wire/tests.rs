//! Test helpers shared with the crate's other tests (a stub resolver's query, decoded answers), and
//! a test that runs every parser over damaged messages.

use super::reader::Reader;
use super::response::OPT_LEN;
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
