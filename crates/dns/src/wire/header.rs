//! The fixed 12-byte header: counts, flags, opcode and rcode.

use super::reader::Reader;
use super::{AA, CD, OPCODE_MASK, QR, RA, RD, TC};
use crate::Result;

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
    pub(super) fn reply_flags(&self, authoritative: bool, truncated: bool, rcode: u16) -> u16 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::HEADER_LEN;

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
}
