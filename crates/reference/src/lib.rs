//! Docker image references.
//!
//! Parses and normalises image references the way Docker does
//! (`github.com/distribution/reference`: `ParseNormalizedNamed`, `ParseDockerRef`,
//! `FamiliarString`), including Docker's error texts.
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [domain '/'] remote-name
//! ```
//!
//! `busybox` normalises to `docker.io/library/busybox`; its familiar form is
//! `busybox` again.
//!
//! ```
//! use berth_reference::Reference;
//!
//! let r = Reference::parse_docker("busybox").unwrap();
//! assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
//! assert_eq!(r.familiar_string(), "busybox:latest");
//! assert_eq!(
//!     Reference::parse("Busybox").unwrap_err().to_string(),
//!     "invalid reference format: repository name (library/Busybox) must be lowercase"
//! );
//! ```

mod grammar;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

/// Domain of Docker Hub used in normalised names.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Legacy Docker Hub domain, rewritten to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Namespace of official images on Docker Hub.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Tag added by [`Reference::parse_docker`] when neither tag nor digest is given.
pub const DEFAULT_TAG: &str = "latest";
/// Maximum length of the repository path (the name without its domain).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

const LOCALHOST: &str = "localhost";

/// Errors, whose `Display` texts are Docker's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Anything that does not match the grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// Uppercase letters in the repository name (found by the normalising parser).
    /// Holds the offending remote name, e.g. `library/Busybox`.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    RepositoryNotLowercase(String),
    /// Uppercase letters elsewhere that make the reference invalid (found by the
    /// inner parser: lower-casing the input would make it valid).
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// The whole input is a 64-character hex string (an image ID, not a name).
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexRepositoryName(String),
    /// The repository path is longer than [`NAME_TOTAL_LENGTH_MAX`].
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// The name is empty.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// A tag given to [`Reference::with_tag`] is malformed.
    #[error("invalid tag format")]
    TagInvalidFormat,
    /// A digest given to [`Reference::with_digest`] does not match the reference grammar.
    #[error("invalid digest format")]
    DigestInvalidFormat,
    /// The digest's encoded part is malformed for its algorithm (e.g. uppercase sha256 hex).
    #[error("invalid checksum digest format")]
    ChecksumInvalidFormat,
    /// The digest's encoded part has the wrong length for its algorithm.
    #[error("invalid checksum digest length")]
    ChecksumInvalidLength,
    /// The digest algorithm is well-formed but not sha256, sha384 or sha512.
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
}

/// A parsed, normalised image reference: `domain/path[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses a reference as Docker's `ParseNormalizedNamed` does: familiar names
    /// are normalised (`busybox` → `docker.io/library/busybox`), no default tag is added.
    pub fn parse(s: &str) -> Result<Reference, Error> {
        if is_full_hex_id(s) {
            return Err(Error::HexRepositoryName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => &remainder[..],
        };
        if go_to_lower(remote) != remote {
            return Err(Error::RepositoryNotLowercase(remote.to_string()));
        }
        parse_unnormalized(&format!("{domain}/{remainder}"))
    }

    /// Parses a reference as Docker's `ParseDockerRef` does: like [`Reference::parse`],
    /// then `:latest` is added when there is neither tag nor digest, and the tag is
    /// dropped when there are both (the digest alone identifies the image).
    pub fn parse_docker(s: &str) -> Result<Reference, Error> {
        let mut r = Reference::parse(s)?;
        match (&r.tag, &r.digest) {
            (Some(_), Some(_)) => r.tag = None,
            (None, None) => r.tag = Some(DEFAULT_TAG.to_string()),
            _ => {}
        }
        Ok(r)
    }

    /// The registry domain, e.g. `docker.io` or `localhost:5000`.
    ///
    /// Empty in one corner case Docker also has: a first component that looks like a
    /// domain (contains `.`) but is only valid as a path component, e.g. `a_b.c/app`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path below the domain, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, e.g. `sha256:…`.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The full normalised name without tag or digest, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The name as Docker shows it: `busybox`, `team/app`, `localhost:5000/team/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            if let Some(rest) = self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                if !rest.contains('/') {
                    return rest.to_string();
                }
            }
            return self.path.clone();
        }
        self.name()
    }

    /// The reference as Docker shows it: familiar name plus `:tag` and `@digest` as present.
    pub fn familiar_string(&self) -> String {
        with_suffixes(self.familiar_name(), self.tag(), self.digest())
    }

    /// The same name with `tag` as its only qualifier (any digest is dropped).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, Error> {
        if !tag_is_valid(tag) {
            return Err(Error::TagInvalidFormat);
        }
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// The same reference with `digest` set (a tag, if any, is kept, as Docker's
    /// `WithDigest` does). The digest must match the grammar and be a valid
    /// sha256/sha384/sha512 digest.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, Error> {
        validate_digest(digest)?;
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: self.tag.clone(),
            digest: Some(digest.to_string()),
        })
    }

    /// The name alone, tag and digest removed.
    pub fn name_only(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// True when there is neither a tag nor a digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }
}

impl fmt::Display for Reference {
    /// The full normalised form, e.g. `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&with_suffixes(self.name(), self.tag(), self.digest()))
    }
}

impl FromStr for Reference {
    type Err = Error;

    /// Same as [`Reference::parse`].
    fn from_str(s: &str) -> Result<Reference, Error> {
        Reference::parse(s)
    }
}

/// True for a full image ID: exactly 64 lowercase hex characters.
pub fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(grammar::is_lower_hex)
}

/// True for something usable to look an image up by ID prefix: 1 to 64 lowercase
/// hex characters, optionally preceded by `sha256:`.
pub fn is_id_prefix(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    (1..=64).contains(&hex.len()) && hex.bytes().all(grammar::is_lower_hex)
}

/// True when `tag` matches `[\w][\w.-]{0,127}`.
pub fn tag_is_valid(tag: &str) -> bool {
    grammar::is_tag(tag)
}

/// Checks a digest such as `sha256:<64 hex>`: it must match the reference grammar
/// ([`Error::DigestInvalidFormat`]) and pass go-digest's validation (supported
/// algorithm, exact length, lowercase hex).
pub fn validate_digest(digest: &str) -> Result<(), Error> {
    if !grammar::is_reference_digest(digest) {
        return Err(Error::DigestInvalidFormat);
    }
    check_digest(digest)
}

/// go-digest's `Digest.Validate`, with the algorithms Docker links in.
fn check_digest(digest: &str) -> Result<(), Error> {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err(Error::ChecksumInvalidFormat);
    };
    if algorithm.is_empty() || encoded.is_empty() {
        return Err(Error::ChecksumInvalidFormat);
    }
    let hex_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ if grammar::is_go_digest_syntax(digest) => return Err(Error::DigestUnsupported),
        _ => return Err(Error::ChecksumInvalidFormat),
    };
    if encoded.len() != hex_len {
        return Err(Error::ChecksumInvalidLength);
    }
    if !encoded.bytes().all(grammar::is_lower_hex) {
        return Err(Error::ChecksumInvalidFormat);
    }
    Ok(())
}

fn with_suffixes(mut s: String, tag: Option<&str>, digest: Option<&str>) -> String {
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(digest) = digest {
        s.push('@');
        s.push_str(digest);
    }
    s
}

/// Go's `strings.ToLower`: simple (one-to-one) Unicode case mapping per character.
fn go_to_lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\u{130}' {
            // The one character whose full lowercase mapping differs from the simple one.
            out.push('i');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Docker's `splitDockerDomain`: decides whether the first component is a registry
/// and prefixes `library/` for official images.
fn split_docker_domain(s: &str) -> (&str, String) {
    let Some((maybe_domain, maybe_remote)) = s.split_once('/') else {
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{s}"));
    };
    let (domain, remote) = if maybe_domain == LOCALHOST {
        (maybe_domain, maybe_remote)
    } else if maybe_domain == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, maybe_remote)
    } else if maybe_domain.contains(['.', ':']) || go_to_lower(maybe_domain) != maybe_domain {
        (maybe_domain, maybe_remote)
    } else {
        (DEFAULT_DOMAIN, s)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (domain, format!("{OFFICIAL_REPO_PREFIX}{remote}"))
    } else {
        (domain, remote.to_string())
    }
}

struct Parts<'a> {
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Matches the whole reference grammar, splitting it like Docker's regular
/// expressions do (the domain is taken whenever the first component is a valid one).
fn match_reference(s: &str) -> Option<Parts<'_>> {
    // Neither name nor tag may contain '@', so the first one starts the digest.
    let (name_and_tag, digest) = match s.split_once('@') {
        Some((before, digest)) => {
            if !grammar::is_reference_digest(digest) {
                return None;
            }
            (before, Some(digest))
        }
        None => (s, None),
    };
    // A ':' can only be in the name's domain part, which is followed by a '/', so a
    // last ':' with no '/' after it must start the tag.
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(i) if !name_and_tag[i + 1..].contains('/') => {
            let tag = &name_and_tag[i + 1..];
            if !grammar::is_tag(tag) {
                return None;
            }
            (&name_and_tag[..i], Some(tag))
        }
        _ => (name_and_tag, None),
    };
    if let Some((domain, path)) = name.split_once('/') {
        if grammar::is_domain_and_port(domain) && grammar::is_remote_name(path) {
            return Some(Parts {
                domain,
                path,
                tag,
                digest,
            });
        }
    }
    if grammar::is_remote_name(name) {
        return Some(Parts {
            domain: "",
            path: name,
            tag,
            digest,
        });
    }
    None
}

/// Docker's `Parse`: the grammar without normalisation.
fn parse_unnormalized(s: &str) -> Result<Reference, Error> {
    if s.is_empty() {
        return Err(Error::NameEmpty);
    }
    let Some(parts) = match_reference(s) else {
        let lower = go_to_lower(s);
        if lower != s && match_reference(&lower).is_some() {
            return Err(Error::NameContainsUppercase);
        }
        return Err(Error::InvalidFormat);
    };
    if parts.path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(Error::NameTooLong);
    }
    if let Some(digest) = parts.digest {
        check_digest(digest)?;
    }
    Ok(Reference {
        domain: parts.domain.to_string(),
        path: parts.path.to_string(),
        tag: parts.tag.map(str::to_string),
        digest: parts.digest.map(str::to_string),
    })
}
