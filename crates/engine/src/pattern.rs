//! Go's `path.Match` patterns, which Docker's filters (`reference=busybox*`, `reference=*/app:1.?`) and
//! COPY/ADD sources (`src/*/conf/*.yml`, matched part by part: `build/sources.rs`) use:
//! `*` is any run of characters but `/`, `?` one character but `/`, `[...]` a class of characters
//! (`[^...]` negated, `a-z` ranges), and `\` makes the next character literal. A malformed pattern is
//! an error, as in Go, rather than a pattern that never matches, so that a typo is reported.

use std::fmt;

/// A pattern Go's `path.Match` would refuse (`ErrBadPattern`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadPattern;

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Go's text for ErrBadPattern, which Docker passes on.
        f.write_str("syntax error in pattern")
    }
}

impl std::error::Error for BadPattern {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    pub fn new(pattern: &str) -> Result<Pattern, BadPattern> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Star,
                '?' => Token::One,
                '\\' => Token::Literal(chars.next().ok_or(BadPattern)?),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        // `]` closes the class only after at least one range: `[]` is malformed.
                        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                            break;
                        }
                        let lo = class_char(&mut chars)?;
                        let hi = if chars.next_if_eq(&'-').is_some() {
                            class_char(&mut chars)?
                        } else {
                            lo
                        };
                        if hi < lo {
                            return Err(BadPattern);
                        }
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                other => Token::Literal(other),
            });
        }
        Ok(Pattern { tokens })
    }

    /// Whether the whole of `name` matches. Dynamic programming over (token, position): linear in
    /// the product of the two lengths whatever the stars, so no pattern can make it slow.
    pub fn matches(&self, name: &str) -> bool {
        let text: Vec<char> = name.chars().collect();
        let n = text.len();
        // `next[j]`: whether the tokens after the current one match text[j..].
        let mut next = vec![false; n + 1];
        next[n] = true;
        for token in self.tokens.iter().rev() {
            let mut here = vec![false; n + 1];
            for j in (0..=n).rev() {
                here[j] = match token {
                    Token::Star => next[j] || (j < n && text[j] != '/' && here[j + 1]),
                    _ if j == n => false,
                    Token::One => text[j] != '/' && next[j + 1],
                    Token::Literal(c) => text[j] == *c && next[j + 1],
                    Token::Class { negated, ranges } => {
                        let hit = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&text[j]));
                        hit != *negated && next[j + 1]
                    }
                };
            }
            next = here;
        }
        next[0]
    }
}

/// One character of a class: `\` escapes; a bare `-` or `]`, or the end, is malformed.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, BadPattern> {
    match chars.next() {
        None | Some('-' | ']') => Err(BadPattern),
        Some('\\') => chars.next().ok_or(BadPattern),
        Some(c) => Ok(c),
    }
}

/// Go's `path.Match(pattern, name)`.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    Ok(Pattern::new(pattern)?.matches(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        path_match(pattern, name).unwrap()
    }

    #[test]
    fn stars_and_questions_stop_at_slashes() {
        assert!(m("busybox*", "busybox"));
        assert!(m("busy*", "busybox:latest"));
        assert!(!m("*", "library/busybox"));
        assert!(m("*/*", "library/busybox"));
        assert!(m("*/app:1.?", "team/app:1.2"));
        assert!(!m("a?b", "a/b"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
    }

    #[test]
    fn classes_ranges_and_escapes() {
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("[^a-c]x", "dx"));
        assert!(m("[\\]]", "]"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        // A class is not `?`: a negated one can match a slash, as in Go.
        assert!(m("a[^x]b", "a/b"));
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for bad in ["[", "[]", "[a", "[a-]", "[z-a]", "a\\", "[-a]", "[]a]"] {
            assert_eq!(path_match(bad, "a"), Err(BadPattern), "{bad:?}");
        }
        assert_eq!(BadPattern.to_string(), "syntax error in pattern");
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a".repeat(30) + "b";
        assert!(!m(&pattern, &"a".repeat(200)));
    }
}
