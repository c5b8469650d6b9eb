//! Variable substitution in Dockerfile words, with the rules of BuildKit's
//! shell lexer: `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`,
//! `${VAR+w}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#p}`, `${VAR##p}`,
//! `${VAR%p}`, `${VAR%%p}`; single quotes keep text literal, double quotes
//! still expand, the escape character (backslash or backtick) escapes.
//! Quotes are removed from the result, as Docker does.

use crate::error::{Error, Result};

/// Instructions whose arguments the builder expands with the stage's
/// environment and build args before using them. RUN, CMD, ENTRYPOINT and
/// SHELL are left to the shell; ONBUILD's trigger is expanded only when it
/// runs in a child build; HEALTHCHECK and MAINTAINER are stored as written.
pub fn expands_variables(keyword: &str) -> bool {
    matches!(
        keyword.to_ascii_uppercase().as_str(),
        "ADD" | "ARG" | "COPY" | "ENV" | "EXPOSE" | "FROM" | "LABEL" | "STOPSIGNAL" | "USER" | "VOLUME" | "WORKDIR"
    )
}

/// Expands one word: variables substituted, quotes and escapes removed.
/// `lookup` returns a variable's value, `None` when unset.
pub fn expand(word: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    Lexer::new(escape).process_word(word, lookup)
}

/// Expands a word and splits the result into fields the way Docker's
/// `ProcessWords` does: whitespace outside quotes separates, and so does
/// whitespace that came out of an unquoted variable.
pub fn expand_words(word: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    Lexer::new(escape).process_words(word, lookup)
}

/// Splits an instruction's arguments into words at unquoted whitespace,
/// keeping quotes and escapes in the words (they are removed later by
/// [`expand`]). This is how ENV, LABEL and ARG find their `key=value` pairs.
pub fn split_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut pos = 0;
    while pos < chars.len() {
        let ch = chars[pos];
        pos += 1;
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    continue;
                }
                phase = Phase::Word;
                pos -= 1;
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                    word.push(ch);
                    continue;
                }
                if ch == escape {
                    // An escape at the very end is dropped; otherwise it is
                    // kept with the character it protects.
                    if pos == chars.len() {
                        continue;
                    }
                    word.push(ch);
                    word.push(chars[pos]);
                    pos += 1;
                    continue;
                }
                word.push(ch);
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                    word.push(ch);
                    continue;
                }
                // Nothing can be escaped inside single quotes.
                if ch == escape && quote != '\'' {
                    if pos == chars.len() {
                        phase = Phase::Word;
                        continue;
                    }
                    word.push(ch);
                    word.push(chars[pos]);
                    pos += 1;
                    continue;
                }
                word.push(ch);
            }
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// The lexer with BuildKit's switches; the parser needs the raw variants to
/// recognise here-document delimiters.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    pub fn process_word(&self, word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
        Ok(self.process(word, lookup)?.0)
    }

    pub fn process_words(&self, word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>> {
        Ok(self.process(word, lookup)?.1)
    }

    fn process(&self, word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(String, Vec<String>)> {
        let mut sw = ShellWord {
            lex: self,
            chars: word.chars().collect(),
            pos: 0,
            lookup,
        };
        let (out, words) = sw.process_stop_on(None, self.raw_escapes)?;
        Ok((out, words.finish()))
    }
}

/// Collects fields while a word is processed.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    fn add_rune(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word {
                self.in_word = false;
                self.words.push(std::mem::take(&mut self.word));
            }
            return;
        }
        self.add_raw_rune(ch);
    }

    fn add_raw_rune(&mut self, ch: char) {
        self.in_word = true;
        self.word.push(ch);
    }

    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_rune(ch);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.in_word = true;
        self.word.push_str(s);
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct ShellWord<'a> {
    lex: &'a Lexer,
    chars: Vec<char>,
    pos: usize,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

fn err(msg: impl Into<String>) -> Error {
    Error::Substitution(msg.into())
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    fn process_stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Words)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words));
            }
            match ch {
                '$' => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '\'' => {
                    let value = self.process_single_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '"' => {
                    let value = self.process_double_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.lex.escape {
                        if raw_escapes {
                            words.add_raw_rune(ch);
                            result.push(ch);
                        }
                        // The escape escapes anything, except the end of the word.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_rune(escaped);
                        result.push(escaped);
                    } else {
                        words.add_rune(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(err(format!(
                "unexpected end of statement while looking for matching {stop}"
            )));
        }
        Ok((result, words))
    }

    fn process_single_quote(&mut self) -> Result<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(err(
                        "unexpected end of statement while looking for matching single-quote",
                    ))
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(err(
                        "unexpected end of statement while looking for matching double-quote",
                    ))
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(ch) => {
                    self.pos += 1;
                    if ch == self.lex.escape {
                        if self.lex.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // An escape at the end of the word is dropped.
                            None => continue,
                            // Only these can be escaped inside double quotes;
                            // before anything else the escape stays literal.
                            Some(next) if next == '"' || next == '$' || next == self.lex.escape => {
                                self.pos += 1;
                                result.push(next);
                            }
                            Some(_) => {
                                if !self.lex.raw_escapes {
                                    result.push(ch);
                                }
                            }
                        }
                        continue;
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn get_env(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '*' | '#' | '@' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                name.push(ch);
                return name;
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.pos += 1;
            name.push(ch);
        }
        name
    }

    fn process_dollar(&mut self) -> Result<String> {
        self.pos += 1; // the '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // the '{'
        match self.peek() {
            None => return Err(err("syntax error: missing '}'")),
            Some('{' | '}' | ':') => return Err(err("syntax error: bad substitution")),
            _ => {}
        }
        let name = self.process_name();
        let Some(mut op) = self.next() else {
            return Err(err("syntax error: missing '}'"));
        };
        if op == '}' {
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            });
        }
        let mut modifier = op.to_string();
        let null_is_unset = op == ':';
        if null_is_unset {
            let Some(next) = self.next() else {
                return Err(err("syntax error: missing '}'"));
            };
            op = next;
            modifier.push(op);
        }
        if !matches!(op, '-' | '+' | '?' | '#' | '%') {
            return Err(err(format!("unsupported modifier ({modifier}) in substitution")));
        }
        // Patterns keep their escapes so that `\*` stays a literal star.
        let pattern_op = op == '#' || op == '%';
        if null_is_unset && pattern_op {
            return Err(err(format!("unsupported modifier ({modifier}) in substitution")));
        }
        let word = match self.process_stop_on(Some('}'), pattern_op) {
            Ok((w, _)) => w,
            Err(e) => {
                if self.peek().is_none() {
                    return Err(err("syntax error: missing '}'"));
                }
                return Err(e);
            }
        };
        let value = self.get_env(&name);
        if self.lex.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let empty = match value.as_deref() {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            '-' => Ok(if empty { word } else { value.unwrap_or_default() }),
            '+' => Ok(if empty { String::new() } else { word }),
            '?' => match value {
                None => Err(err(format!("{name}: {}", or(word, "is not allowed to be unset")))),
                Some(v) if null_is_unset && v.is_empty() => {
                    Err(err(format!("{name}: {}", or(word, "is not allowed to be empty"))))
                }
                Some(v) => Ok(v),
            },
            _ => {
                let value = value.unwrap_or_default();
                let (longest, pattern) = match word.strip_prefix(op) {
                    Some(p) => (true, p.to_string()),
                    None => (false, word),
                };
                let pattern: Vec<char> = pattern.chars().collect();
                Ok(trim_pattern(&value, &pattern, op == '#', longest, self.lex.escape))
            }
        }
    }
}

fn or(word: String, default: &str) -> String {
    if word.is_empty() {
        default.to_string()
    } else {
        word
    }
}

/// `${v#p}` / `${v%p}`: removes the shortest (or longest) prefix or suffix of
/// `value` that the shell pattern matches.
fn trim_pattern(value: &str, pattern: &[char], prefix: bool, longest: bool, escape: char) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let mut lens: Vec<usize> = (0..=n).collect();
    if longest {
        lens.reverse();
    }
    for len in lens {
        let (part, rest) = if prefix {
            (&chars[..len], &chars[len..])
        } else {
            (&chars[n - len..], &chars[..n - len])
        };
        if glob_match(pattern, part, escape) {
            return rest.iter().collect();
        }
    }
    value.to_string()
}

/// Shell pattern matching: `*` any run, `?` one character, `[...]` a class
/// (`!` or `^` negates), the escape character makes the next one literal.
fn glob_match(pattern: &[char], text: &[char], escape: char) -> bool {
    let Some(&p) = pattern.first() else {
        return text.is_empty();
    };
    match p {
        '*' => (0..=text.len()).any(|i| glob_match(&pattern[1..], &text[i..], escape)),
        '?' => !text.is_empty() && glob_match(&pattern[1..], &text[1..], escape),
        '[' => {
            let Some(&c) = text.first() else { return false };
            match match_class(&pattern[1..], c) {
                Some((true, used)) => glob_match(&pattern[1 + used..], &text[1..], escape),
                Some((false, _)) => false,
                // An unclosed '[' is a literal.
                None => c == '[' && glob_match(&pattern[1..], &text[1..], escape),
            }
        }
        _ if p == escape && pattern.len() > 1 => {
            text.first() == Some(&pattern[1]) && glob_match(&pattern[2..], &text[1..], escape)
        }
        _ => text.first() == Some(&p) && glob_match(&pattern[1..], &text[1..], escape),
    }
}

/// Matches `c` against a class body (after the '['). Returns whether it
/// matched and how many pattern characters the class used, `None` if the
/// class is not closed.
fn match_class(body: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(body.first(), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < body.len() {
        let lo = body[i];
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < body.len() && body[i + 1] == '-' && body[i + 2] != ']' {
            if lo <= c && c <= body[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("A", "a"),
            ("EMPTY", ""),
            ("SP", "x  y"),
            ("PATH_V", "/usr/local/bin:/usr/bin"),
            ("FILE", "archive.tar.gz"),
        ])
    }

    fn ex(word: &str) -> Result<String> {
        let env = env();
        expand(word, '\\', &|k| env.get(k).map(|v| v.to_string()))
    }

    fn ex_tick(word: &str) -> Result<String> {
        let env = env();
        expand(word, '`', &|k| env.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn operators() {
        let cases: &[(&str, &str)] = &[
            ("$A", "a"),
            ("${A}", "a"),
            ("x$A.y", "xa.y"),
            ("${A}b", "ab"),
            ("$Ab", ""),
            ("$UNSET", ""),
            ("${UNSET}", ""),
            ("${UNSET:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${A:-def}", "a"),
            ("${UNSET-def}", "def"),
            ("${EMPTY-def}", ""),
            ("${A-def}", "a"),
            ("${UNSET:+alt}", ""),
            ("${EMPTY:+alt}", ""),
            ("${A:+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${A+alt}", "alt"),
            ("${A?oops}", "a"),
            ("${EMPTY?oops}", ""),
            ("${A:?oops}", "a"),
            ("${UNSET:-${A}}", "a"),
            ("${UNSET:-${ALSO:-deep}}", "deep"),
            ("${UNSET:-a b}", "a b"),
            ("${UNSET:-\"q }\"}", "q }"),
            ("${UNSET:-'$A'}", "$A"),
            ("${FILE#*.}", "tar.gz"),
            ("${FILE##*.}", "gz"),
            ("${FILE%.*}", "archive.tar"),
            ("${FILE%%.*}", "archive"),
            ("${FILE#nomatch}", "archive.tar.gz"),
            ("${PATH_V%%:*}", "/usr/local/bin"),
            ("$", "$"),
            ("a$", "a$"),
            ("$ A", "$ A"),
            ("$1", ""),
            ("${A}${A}", "aa"),
        ];
        for (word, want) in cases {
            assert_eq!(ex(word).as_deref(), Ok(*want), "{word}");
        }
    }

    #[test]
    fn quotes_and_escapes() {
        let cases: &[(&str, &str)] = &[
            ("'$A'", "$A"),
            ("\"$A\"", "a"),
            ("\"'$A'\"", "'a'"),
            ("'\"$A\"'", "\"$A\""),
            ("\\$A", "$A"),
            ("\\${A}", "${A}"),
            ("\"\\$A\"", "$A"),
            ("\"a\\\"b\"", "a\"b"),
            ("\"a\\nb\"", "a\\nb"),
            ("\"a\\\\b\"", "a\\b"),
            ("a\\ b", "a b"),
            ("a\\", "a"),
            ("'a\\'", "a\\"),
            ("hello\\world", "helloworld"),
            ("\"\"", ""),
            ("a\"b c\"d", "ab cd"),
        ];
        for (word, want) in cases {
            assert_eq!(ex(word).as_deref(), Ok(*want), "{word}");
        }
    }

    #[test]
    fn backtick_escape() {
        let cases: &[(&str, &str)] = &[
            ("`$A", "$A"),
            ("\\$A", "\\a"),
            ("C:\\path\\$A", "C:\\path\\a"),
            ("\"`\"x\"", "\"x"),
            ("\"`$A\"", "$A"),
            ("a` b", "a b"),
        ];
        for (word, want) in cases {
            assert_eq!(ex_tick(word).as_deref(), Ok(*want), "{word}");
        }
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            ("${UNSET?}", "UNSET: is not allowed to be unset"),
            ("${UNSET:?}", "UNSET: is not allowed to be unset"),
            ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
            ("${UNSET:?set it with --build-arg}", "UNSET: set it with --build-arg"),
            ("${A", "syntax error: missing '}'"),
            ("${A:-x", "syntax error: missing '}'"),
            ("${}", "syntax error: bad substitution"),
            ("${:x}", "syntax error: bad substitution"),
            ("${A:x}", "unsupported modifier (:x) in substitution"),
            ("${A/x/y}", "unsupported modifier (/) in substitution"),
            ("${A:#x}", "unsupported modifier (:#) in substitution"),
            (
                "'abc",
                "unexpected end of statement while looking for matching single-quote",
            ),
            (
                "\"abc",
                "unexpected end of statement while looking for matching double-quote",
            ),
        ];
        for (word, want) in cases {
            assert_eq!(ex(word), Err(Error::Substitution(want.to_string())), "{word}");
        }
    }

    #[test]
    fn words() {
        let env = env();
        let lookup = |k: &str| env.get(k).map(|v| v.to_string());
        let cases: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            ("\"a b\" c", &["a b", "c"]),
            ("$SP z", &["x", "y", "z"]),
            ("\"$SP\" z", &["x  y", "z"]),
            ("a\\ b", &["a b"]),
            ("'' x", &["", "x"]),
            ("", &[]),
        ];
        for (word, want) in cases {
            assert_eq!(expand_words(word, '\\', &lookup).unwrap(), *want, "{word}");
        }
    }

    #[test]
    fn raw_and_skip_unset() {
        let lex = Lexer {
            escape: '\\',
            raw_quotes: true,
            raw_escapes: true,
            skip_unset: true,
        };
        let none = |_: &str| None;
        assert_eq!(
            lex.process_word("'a' \"b\" \\c $X ${Y:-z}", &none).unwrap(),
            "'a' \"b\" \\c $X ${Y:-z}"
        );
    }

    #[test]
    fn split_words_keeps_quotes() {
        let cases: &[(&str, &[&str])] = &[
            ("a=b c=d", &["a=b", "c=d"]),
            ("a=\"b c\" d='e f'", &["a=\"b c\"", "d='e f'"]),
            ("a=b\\ c", &["a=b\\ c"]),
            ("a=\"b\\\"c\"", &["a=\"b\\\"c\""]),
            ("a='b\\' c", &["a='b\\'", "c"]),
            ("  x   ", &["x"]),
            ("x=\"\"", &["x=\"\""]),
            ("\"\"", &["\"\""]),
            ("a\\", &["a"]),
        ];
        for (rest, want) in cases {
            assert_eq!(split_words(rest, '\\'), *want, "{rest}");
        }
        assert_eq!(split_words("a=b` c d", '`'), ["a=b` c", "d"]);
    }

    #[test]
    fn which_instructions_expand() {
        for k in [
            "ADD",
            "copy",
            "ENV",
            "EXPOSE",
            "FROM",
            "LABEL",
            "STOPSIGNAL",
            "USER",
            "VOLUME",
            "WORKDIR",
            "ARG",
        ] {
            assert!(expands_variables(k), "{k}");
        }
        for k in [
            "RUN",
            "CMD",
            "ENTRYPOINT",
            "SHELL",
            "ONBUILD",
            "HEALTHCHECK",
            "MAINTAINER",
        ] {
            assert!(!expands_variables(k), "{k}");
        }
    }
}
