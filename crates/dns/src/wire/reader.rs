//! A bounds-checked cursor over a message: every read returns `Error::Malformed` when the
//! message ends early.

use super::{Name, Question};
use crate::{Error, Result};

pub(super) struct Record {
    pub(super) name: Name,
    pub(super) rtype: u16,
    pub(super) class: u16,
    pub(super) ttl: u32,
}

pub(super) struct Reader<'a> {
    pub(super) msg: &'a [u8],
    pub(super) pos: usize,
}

pub(super) const SHORT: Error = Error::Malformed("message ends early");

impl<'a> Reader<'a> {
    pub(super) fn new(msg: &'a [u8]) -> Self {
        Reader { msg, pos: 0 }
    }

    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(SHORT)?;
        let b = self.msg.get(self.pos..end).ok_or(SHORT)?;
        self.pos = end;
        Ok(b)
    }

    pub(super) fn u16(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(super) fn u32(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn question(&mut self) -> Result<Question> {
        Ok(Question {
            name: self.name()?,
            qtype: self.u16()?,
            qclass: self.u16()?,
        })
    }

    pub(super) fn record(&mut self) -> Result<Record> {
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
}
