//! Repository names and references (tags, digests), checked before they go into a URL.

use berth_store::Digest;

use crate::error::{Error, Result};

/// Repository names as distribution accepts them: lowercase path components.
pub(crate) fn check_repo(repo: &str) -> Result<()> {
    let ok = !repo.is_empty()
        && repo.len() <= 255
        && repo.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: "repository name",
            value: repo.into(),
            reason: "expected lowercase path components like library/busybox".into(),
        })
    }
}

/// A tag, or a digest when it contains ':'.
pub(crate) fn check_reference(reference: &str) -> Result<Option<Digest>> {
    if reference.contains(':') {
        return reference
            .parse::<Digest>()
            .map(Some)
            .map_err(|_| Error::InvalidArgument {
                what: "digest",
                value: reference.into(),
                reason: "expected sha256: followed by 64 lowercase hex characters (berth verifies sha256 only)".into(),
            });
    }
    let ok = !reference.is_empty()
        && reference.len() <= 128
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && reference
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(None)
    } else {
        Err(Error::InvalidArgument {
            what: "tag",
            value: reference.into(),
            reason: "tags are up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names() {
        check_repo("library/busybox").unwrap();
        check_repo("a.b-c_d/e").unwrap();
        for bad in ["", "UPPER", "a//b", "/a", "a/", "a?b", "-a", "a/../b/?"] {
            assert!(check_repo(bad).is_err(), "{bad}");
        }
        assert_eq!(check_reference("latest").unwrap(), None);
        assert!(check_reference(&format!("sha256:{}", "a".repeat(64)))
            .unwrap()
            .is_some());
        for bad in ["", ".x", "-x", "a/b", "sha512:aa", &"x".repeat(129)] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
    }
}
