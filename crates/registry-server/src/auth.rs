//! Basic authentication against an htpasswd file of bcrypt entries, as
//! `htpasswd -B` writes them (the only kind Docker's registry accepts too).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use berth_store::Digest;

use crate::error::{Error, Result};

pub const REALM: &str = "berth registry";

pub struct Htpasswd {
    users: HashMap<String, String>,
    /// Digests of Authorization headers already verified: bcrypt is slow on
    /// purpose, and clients send the same header with every request.
    verified: Mutex<HashSet<Digest>>,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Htpasswd> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Htpasswd {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(Error::Htpasswd {
                    path: path.to_path_buf(),
                    reason: format!("line {} is not user:hash", n + 1),
                });
            };
            if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
                tracing::warn!(
                    "htpasswd {}: user {user:?} has no bcrypt hash and cannot log in; recreate it with htpasswd -B",
                    path.display()
                );
                continue;
            }
            users.insert(user.to_string(), hash.to_string());
        }
        if users.is_empty() {
            return Err(Error::Htpasswd {
                path: path.to_path_buf(),
                reason: "no bcrypt entries: add users with `htpasswd -B FILE USER`".into(),
            });
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Checks an Authorization header value. Blocking: bcrypt takes tens of
    /// milliseconds, so call this off the async workers.
    pub fn check(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else { return false };
        let key = Digest::of(value);
        if self.verified.lock().unwrap_or_else(|p| p.into_inner()).contains(&key) {
            return true;
        }
        let ok = self.verify(value);
        if ok {
            let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 1024 {
                cache.clear();
            }
            cache.insert(key);
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
        let Some(hash) = self.users.get(user) else { return false };
        bcrypt::verify(password, hash).unwrap_or(false)
    }
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

    #[test]
    fn refuses_files_without_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, "bob:plain\n").unwrap();
        assert!(Htpasswd::load(&path).is_err());
        assert!(Htpasswd::load(&dir.path().join("missing")).is_err());
    }
}
