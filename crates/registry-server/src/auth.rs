//! Basic authentication against an htpasswd file of bcrypt entries, as
//! `htpasswd -B` writes them (the only kind Docker's registry accepts too).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use base64::Engine as _;
use berth_store::Digest;

use crate::error::{Error, Result};

pub const REALM: &str = "berth registry";

/// The cost of the dummy hash when the file's first entry has none usable:
/// what `htpasswd -B` writes by default.
const DEFAULT_COST: u32 = 5;

pub struct Htpasswd {
    /// Digests of the user names, with their bcrypt hashes, in file order.
    /// Names are compared as digests so a comparison takes the same time
    /// whatever the name's length or how much of it matches.
    users: Vec<(Digest, String)>,
    /// A hash of a random password at the cost of the file's entries: an
    /// unknown user is verified against it, so refusing one takes as long as
    /// refusing a wrong password and timing does not reveal user names.
    dummy: String,
    /// Digests of Authorization headers already verified: bcrypt is slow on
    /// purpose, and clients send the same header with every request.
    verified: Mutex<HashSet<Digest>>,
    /// How many bcrypt verifications ran: lets tests see that every path does one.
    bcrypt_runs: AtomicUsize,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Htpasswd> {
        let bad = |reason: String| Error::Htpasswd {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut users = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(bad(format!("line {} is not user:hash", n + 1)));
            };
            if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
                tracing::warn!(
                    "htpasswd {}: user {user:?} has no bcrypt hash and cannot log in; recreate it with htpasswd -B",
                    path.display()
                );
                continue;
            }
            users.push((Digest::of(user.as_bytes()), hash.to_string()));
        }
        let Some((_, first)) = users.first() else {
            return Err(bad("no bcrypt entries: add users with `htpasswd -B FILE USER`".into()));
        };
        let cost = bcrypt_cost(first).unwrap_or(DEFAULT_COST);
        let password = format!("{:032x}", rand::random::<u128>());
        let dummy = bcrypt::hash(password, cost).map_err(|e| bad(format!("cannot make a bcrypt hash: {e}")))?;
        Ok(Htpasswd {
            users,
            dummy,
            verified: Mutex::new(HashSet::new()),
            bcrypt_runs: AtomicUsize::new(0),
        })
    }

    /// Whether this exact Authorization header was verified before: cheap,
    /// so it can run on the async workers and spare bcrypt for new headers.
    pub fn is_verified(&self, authorization: Option<&[u8]>) -> bool {
        authorization.is_some_and(|value| {
            let key = Digest::of(value);
            self.verified.lock().unwrap_or_else(|p| p.into_inner()).contains(&key)
        })
    }

    /// Checks an Authorization header value. Blocking: bcrypt takes
    /// milliseconds or more, so call this off the async workers.
    pub fn check(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else { return false };
        if self.is_verified(Some(value)) {
            return true;
        }
        let ok = self.verify(value);
        if ok {
            let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 1024 {
                cache.clear();
            }
            cache.insert(Digest::of(value));
        }
        ok
    }

    fn verify(&self, value: &[u8]) -> bool {
        let Ok(value) = std::str::from_utf8(value) else {
            return false;
        };
        let Some((scheme, encoded)) = value.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return false;
        };
        // Every entry is compared, and an unknown user is verified against
        // the dummy hash: the same work whether or not the user exists.
        let wanted = Digest::of(user.as_bytes());
        let mut found: Option<&str> = None;
        for (name, hash) in &self.users {
            if same_bytes(name.hex().as_bytes(), wanted.hex().as_bytes()) {
                found = Some(hash);
            }
        }
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
        let matches = bcrypt::verify(password, found.unwrap_or(&self.dummy)).unwrap_or(false);
        found.is_some() && matches
    }
}

/// The cost field of a `$2y$NN$...` hash, if it is one bcrypt accepts.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.get(4..6)
        .and_then(|c| c.parse().ok())
        .filter(|c| (4..=31).contains(c))
}

/// Compares two strings of equal length without stopping at the first
/// difference.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    #[test]
    fn checks_bcrypt_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let hash = bcrypt::hash("s3cret", 4).unwrap().replacen("$2b$", "$2y$", 1);
        std::fs::write(&path, format!("# users\nalice:{hash}\nbob:{{SHA}}abc\n")).unwrap();
        let h = Htpasswd::load(&path).unwrap();
        assert!(h.check(Some(&header("alice", "s3cret"))));
        assert!(h.check(Some(&header("alice", "s3cret"))));
        assert!(!h.check(Some(&header("alice", "wrong"))));
        assert!(!h.check(Some(&header("bob", "abc"))));
        assert!(!h.check(Some(b"Basic !!!")));
        assert!(!h.check(Some(b"Bearer x")));
        assert!(!h.check(None));
    }

    /// An unknown user costs a bcrypt verification like a wrong password,
    /// so the time of a refusal does not tell which user names exist.
    #[test]
    fn unknown_users_cost_a_bcrypt_verification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
        let h = Htpasswd::load(&path).unwrap();
        let runs = || h.bcrypt_runs.load(Ordering::Relaxed);
        assert!(!h.check(Some(&header("alice", "wrong"))));
        assert_eq!(runs(), 1);
        assert!(!h.check(Some(&header("mallory", "wrong"))));
        assert_eq!(runs(), 2, "an unknown user was refused without a bcrypt verification");
        assert!(!h.check(Some(&header("", ""))));
        assert_eq!(runs(), 3);
    }

    #[test]
    fn dummy_hash_has_the_cost_of_the_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let hash = bcrypt::hash("s3cret", 6).unwrap();
        std::fs::write(&path, format!("alice:{hash}\nalice2:{hash}\n")).unwrap();
        let h = Htpasswd::load(&path).unwrap();
        assert_eq!(bcrypt_cost(&h.dummy), Some(6));
        assert!(h.check(Some(&header("alice2", "s3cret"))));
        assert!(!h.check(Some(&header("alice3", "s3cret"))));
        assert_eq!(bcrypt_cost("$2y$xx$abc"), None);
        assert_eq!(bcrypt_cost("$2y$99$abc"), None);
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"ab"));
    }

    #[test]
    fn refuses_files_without_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, "bob:plain\n").unwrap();
        assert!(Htpasswd::load(&path).is_err());
        assert!(Htpasswd::load(&dir.path().join("missing")).is_err());
    }
}
