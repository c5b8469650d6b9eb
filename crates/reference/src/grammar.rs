//! Hand-written matchers for the distribution/reference grammar.
//!
//! Each function decides whether a whole string matches one production of the
//! grammar (the equivalent of an anchored regular expression).

/// `[a-z0-9]`
fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `\w` in Go's RE2 syntax: `[0-9A-Za-z_]`.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// path-component := alpha-numeric [separator alpha-numeric]*
/// separator := [_.] | __ | [-]+
pub(crate) fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let run_start = i;
        while i < b.len() && is_lower_alnum(b[i]) {
            i += 1;
        }
        if i == run_start {
            // Empty component, leading separator, trailing separator or a
            // separator followed by a different separator.
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// remote-name := path-component ['/' path-component]*
pub(crate) fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        }
        _ => false,
    }
}

/// domain-name := domain-component ['.' domain-component]*
fn is_domain_name(s: &str) -> bool {
    s.split('.').all(is_domain_component)
}

/// port-number := [0-9]+
fn is_port(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// domain := host [':' port-number]; host := domain-name | '[' [a-fA-F0-9:]+ ']'
pub(crate) fn is_domain_and_port(s: &str) -> bool {
    let (host_ok, rest) = if let Some(inner) = s.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return false;
        };
        let addr = &inner[..close];
        let ok = !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        (ok, &inner[close + 1..])
    } else {
        match s.find(':') {
            Some(i) => (is_domain_name(&s[..i]), &s[i..]),
            None => (is_domain_name(s), ""),
        }
    };
    if !host_ok {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    rest.strip_prefix(':').is_some_and(is_port)
}

/// tag := [\w][\w.-]{0,127}
pub(crate) fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    match b.split_first() {
        Some((&first, rest)) => {
            b.len() <= 128 && is_word(first) && rest.iter().all(|&c| is_word(c) || c == b'.' || c == b'-')
        }
        None => false,
    }
}

/// The reference grammar's digest:
/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
pub(crate) fn is_reference_digest(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    if hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let mut at_component_start = true;
    for b in algorithm.bytes() {
        if at_component_start {
            if !b.is_ascii_alphabetic() {
                return false;
            }
            at_component_start = false;
        } else if matches!(b, b'-' | b'_' | b'+' | b'.') {
            at_component_start = true;
        } else if !b.is_ascii_alphanumeric() {
            return false;
        }
    }
    !at_component_start
}

/// go-digest's `DigestRegexp`: `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`
pub(crate) fn is_go_digest_syntax(s: &str) -> bool {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    let algorithm_ok = algorithm
        .split(['.', '+', '_', '-'])
        .all(|part| !part.is_empty() && part.bytes().all(is_lower_alnum));
    encoded_ok && algorithm_ok
}

/// `[a-f0-9]`
pub(crate) fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        for ok in ["a", "abc", "a.b", "a_b", "a__b", "a-b", "a---b", "a.b_c-d", "0", "a1.2"] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "A", "-a", "a-", ".a", "a.", "a..b", "a___b", "a._b", "a-.b", "a_-b", "a b", "a/b", "a:b",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn domains() {
        for ok in [
            "localhost",
            "localhost:5000",
            "example.com",
            "EXAMPLE.com",
            "a-b.c",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:5000",
            "[2001:DB8::1]",
            "x",
        ] {
            assert!(is_domain_and_port(ok), "{ok}");
        }
        for bad in [
            "", "-a.com", "a-.com", "a..b", "a.", ".a", "a:", "a:b", "[]", "[::1", "[::1]:", "[g::1]", "a_b.c", "a:5:5",
        ] {
            assert!(!is_domain_and_port(bad), "{bad}");
        }
    }

    #[test]
    fn tags() {
        assert!(is_tag("latest"));
        assert!(is_tag("_x"));
        assert!(is_tag("1.0-rc.1_X"));
        assert!(is_tag(&"a".repeat(128)));
        assert!(!is_tag(&"a".repeat(129)));
        assert!(!is_tag(""));
        assert!(!is_tag(".a"));
        assert!(!is_tag("-a"));
        assert!(!is_tag("a b"));
        assert!(!is_tag("a/b"));
    }

    #[test]
    fn digests() {
        let hex32 = "0123456789abcdef0123456789ABCDEF";
        assert!(is_reference_digest(&format!("sha256:{hex32}")));
        assert!(is_reference_digest(&format!("SHA256+b64.x-y_z:{hex32}")));
        assert!(!is_reference_digest(&format!("sha256:{}", &hex32[1..])));
        assert!(!is_reference_digest(&format!("1sha:{hex32}")));
        assert!(!is_reference_digest(&format!("sha+:{hex32}")));
        assert!(!is_reference_digest(&format!(":{hex32}")));
        assert!(!is_reference_digest(&format!("sha256:{hex32}g")));
        assert!(is_go_digest_syntax("sha256+b64:abc=_-"));
        assert!(!is_go_digest_syntax("SHA256:abc"));
        assert!(!is_go_digest_syntax("sha256:"));
        assert!(!is_go_digest_syntax("sha..256:abc"));
    }
}
