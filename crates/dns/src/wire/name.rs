//! Domain names: from presentation form, label by label, and read from a message with its
//! compression pointers followed.

use super::reader::{Reader, SHORT};
use super::{MAX_LABEL_LEN, MAX_NAME_LEN};
use crate::{Error, Result};

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

impl<'a> Reader<'a> {
    /// Reads a possibly compressed name. Every compression pointer must
    /// point strictly before the previous jump target (the first one before
    /// the name's start), so the walk always ends: no loops, however crafted.
    pub(super) fn name(&mut self) -> Result<Name> {
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
mod tests {
    use super::*;
    use crate::wire::tests::{answers, query};
    use crate::wire::{Query, CLASS_IN, HEADER_LEN, TYPE_A, TYPE_PTR};

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
}
