//! Registry authentication: `WWW-Authenticate` challenges, scopes, bearer tokens.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// A challenge from `WWW-Authenticate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scope the registry asked for, if it named one.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value into its challenges (RFC 7235: a scheme, then
/// comma-separated `key=value` or `key="quoted"` parameters; several challenges may share
/// one header). Unknown schemes are skipped.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut current: Option<(String, BTreeMap<String, String>)> = None;
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    loop {
        p.skip_ws_commas();
        if p.done() {
            break;
        }
        let token = p.token();
        if token.is_empty() {
            // Not a token character: skip it rather than loop forever on odd input.
            p.i += 1;
            continue;
        }
        p.skip_ws();
        if p.peek() == Some(b'=') {
            p.i += 1;
            p.skip_ws();
            let value = if p.peek() == Some(b'"') { p.quoted() } else { p.token() };
            if let Some((_, params)) = current.as_mut() {
                params.insert(token.to_ascii_lowercase(), value);
            }
        } else {
            if let Some(c) = current.take() {
                out.extend(finish(c));
            }
            current = Some((token, BTreeMap::new()));
        }
    }
    if let Some(c) = current.take() {
        out.extend(finish(c));
    }
    out
}

fn finish((scheme, mut params): (String, BTreeMap<String, String>)) -> Option<Challenge> {
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.remove("realm").filter(|r| !r.is_empty())?,
            service: params.remove("service"),
            scope: params.remove("scope").filter(|s| !s.is_empty()),
        }),
        _ => None,
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&c) {
                self.i += 1;
            } else {
                break;
            }
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }
    fn quoted(&mut self) -> String {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The scope to pull from a repository.
pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// The scope to push to a repository (Docker asks for pull too: pushes HEAD first).
pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

/// The scope to list the catalog.
pub fn catalog_scope() -> String {
    "registry:catalog:*".to_string()
}

/// A cached bearer token.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub value: String,
    pub expires: Instant,
}

/// Bearer tokens by scope set, shared by a client's threads.
#[derive(Default, Debug)]
pub(crate) struct TokenCache {
    tokens: HashMap<String, Token>,
}

/// The cache key for a set of scopes (order does not matter).
pub(crate) fn scope_key(scopes: &[String]) -> String {
    let mut s: Vec<&str> = scopes.iter().map(String::as_str).collect();
    s.sort_unstable();
    s.dedup();
    s.join(" ")
}

impl TokenCache {
    pub fn get(&self, key: &str) -> Option<&Token> {
        self.tokens.get(key).filter(|t| t.expires > Instant::now())
    }
    pub fn insert(&mut self, key: String, token: Token) {
        self.tokens.insert(key, token);
    }
    pub fn remove(&mut self, key: &str) {
        self.tokens.remove(key);
    }
}

/// A token server's answer.
#[derive(serde::Deserialize, Debug)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// The token and when to stop using it. The spec's minimum lifetime is 60 s; a tenth of
    /// the lifetime is kept in reserve so a token does not expire on the way.
    pub fn into_token(self) -> Option<(Token, Option<String>)> {
        let value = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let life = Duration::from_secs(self.expires_in.unwrap_or(60).max(60));
        Some((
            Token {
                value,
                expires: Instant::now() + life - life / 10,
            },
            self.refresh_token,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull",error="insufficient_scope""#,
        );
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            }]
        );
    }

    #[test]
    fn parses_basic_odd_and_several() {
        assert_eq!(
            parse_challenges(r#"Basic realm="Registry Realm""#),
            vec![Challenge::Basic]
        );
        assert_eq!(
            parse_challenges(r#"Negotiate, basic realm=x , Bearer realm="a\"b", service=s"#),
            vec![
                Challenge::Basic,
                Challenge::Bearer {
                    realm: "a\"b".into(),
                    service: Some("s".into()),
                    scope: None
                }
            ]
        );
        // A bearer challenge without a realm is useless.
        assert!(parse_challenges("Bearer service=x").is_empty());
        assert!(parse_challenges("").is_empty());
        assert!(parse_challenges("=== ,,, \"").is_empty());
    }

    #[test]
    fn token_responses() {
        let r: TokenResponse = serde_json::from_str(r#"{"access_token":"a","expires_in":10}"#).unwrap();
        let (t, _) = r.into_token().unwrap();
        assert_eq!(t.value, "a");
        assert!(t.expires > Instant::now() + Duration::from_secs(50));
        let r: TokenResponse = serde_json::from_str(r#"{"token":"t","access_token":"a"}"#).unwrap();
        assert_eq!(r.into_token().unwrap().0.value, "t");
        let r: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(r.into_token().is_none());
        assert_eq!(scope_key(&["b".into(), "a".into(), "b".into()]), "a b");
    }
}
