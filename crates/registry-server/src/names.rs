//! The distribution spec's grammars for repository names, tags and manifest
//! references. Names become directories under the root, so this is also what
//! keeps `..`, encoded dots, absolute paths and backslashes out of the file
//! system: only `[a-z0-9._/-]` in a strict shape ever passes.

use berth_store::Digest;

use crate::error::{Error, Result};

pub const MAX_NAME: usize = 255;

/// Checks a repository name against
/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*`.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME || !name.split('/').all(component_ok) {
        return Err(Error::NameInvalid(name.to_string()));
    }
    Ok(())
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run between two alphanumerics: ".", "_", "__" or dashes.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Checks a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<()> {
    let b = tag.as_bytes();
    let first_ok = b.first().is_some_and(|x| x.is_ascii_alphanumeric() || *x == b'_');
    let rest_ok = b
        .iter()
        .skip(1)
        .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'));
    if !first_ok || !rest_ok || b.len() > 128 {
        return Err(Error::TagInvalid(tag.to_string()));
    }
    Ok(())
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference> {
        if s.contains(':') {
            return parse_digest(s).map(Reference::Digest);
        }
        check_tag(s)?;
        Ok(Reference::Tag(s.to_string()))
    }
}

/// Parses a digest a client sent. berth stores only sha256; other algorithms
/// are refused as invalid.
pub fn parse_digest(s: &str) -> Result<Digest> {
    s.parse::<Digest>()
        .map_err(|_| Error::DigestInvalid(format!("{s:?} is not a sha256 digest")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in [
            "a",
            "library/busybox",
            "a.b/c_d/e__f/g-h/i---j",
            "0/1",
            "x/blobs/uploads",
            &"a".repeat(255),
        ] {
            check_name(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "..",
            "a/..",
            "a/../b",
            "../a",
            "/a",
            "a/",
            "a//b",
            "A",
            "a%2e%2e",
            "%2e%2e/a",
            "a\\b",
            "a/.b",
            "a..b",
            "a___b",
            "a._b",
            "-a",
            "a-",
            "_a",
            "a b",
            "a:b",
            &"a".repeat(256),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tags() {
        for good in ["latest", "v1.0", "_x", "A-b_c.d", &"a".repeat(128)] {
            check_tag(good).unwrap();
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "..", &"a".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn references() {
        let d = Digest::of(b"x");
        assert_eq!(Reference::parse(&d.to_string()).unwrap(), Reference::Digest(d));
        assert_eq!(Reference::parse("v1").unwrap(), Reference::Tag("v1".into()));
        assert!(Reference::parse("sha256:abc").is_err());
        assert!(Reference::parse("sha512:abc").is_err());
    }
}
