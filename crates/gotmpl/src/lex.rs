//! Lexer: splits template source into text and action tokens.
//!
//! Follows the token rules of Go's `text/template/parse` lexer: `{{` / `}}`
//! delimiters, `{{- ` and ` -}}` trim markers, `{{/* */}}` comments, and the
//! action vocabulary (fields, variables, identifiers, literals, `|`, `:=`, `=`,
//! parentheses).

use crate::{parse_error, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kw {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl Kw {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kw::Block => "block",
            Kw::Break => "break",
            Kw::Continue => "continue",
            Kw::Define => "define",
            Kw::Else => "else",
            Kw::End => "end",
            Kw::If => "if",
            Kw::Range => "range",
            Kw::Template => "template",
            Kw::With => "with",
        }
    }

    fn from_word(word: &str) -> Option<Kw> {
        Some(match word {
            "block" => Kw::Block,
            "break" => Kw::Break,
            "continue" => Kw::Continue,
            "define" => Kw::Define,
            "else" => Kw::Else,
            "end" => Kw::End,
            "if" => Kw::If,
            "range" => Kw::Range,
            "template" => Kw::Template,
            "with" => Kw::With,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Plain text outside actions (trim markers already applied).
    Text(String),
    LeftDelim,
    RightDelim,
    Bool(bool),
    /// A printable ASCII character with no other meaning (e.g. `,`).
    Char(char),
    /// A character constant such as `'a'`, already decoded to its code point.
    CharConst(u32),
    /// `=`
    Assign,
    /// `:=`
    Declare,
    /// `.Name` (stored without the dot).
    Field(String),
    Ident(String),
    Keyword(Kw),
    LeftParen,
    RightParen,
    /// Number literal text, parsed by the parser.
    Number(String),
    Pipe,
    /// A quoted or raw string literal, already unquoted.
    Str(String),
    /// `$name` (stored with the dollar sign).
    Variable(String),
    Dot,
    Nil,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offsets of the token in the source.
    pub start: usize,
    pub end: usize,
    /// Whether whitespace separated this token from the previous one (inside actions).
    pub space_before: bool,
}

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, Error> {
    let mut lexer = Lexer {
        src,
        pos: 0,
        toks: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.toks)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// ` -}}` at the start of `s`.
fn has_right_trim(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if is_space(c)) && chars.as_str().starts_with("-}}")
}

/// `- ` right after a left delimiter.
fn has_left_trim(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next() == Some('-') && matches!(chars.next(), Some(c) if is_space(c))
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    toks: Vec<Token>,
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn err(&self, offset: usize, message: impl Into<String>) -> Error {
        parse_error(self.src, offset, message.into())
    }

    fn push(&mut self, tok: Tok, start: usize, space_before: bool) {
        self.toks.push(Token {
            tok,
            start,
            end: self.pos,
            space_before,
        });
    }

    fn skip_spaces(&mut self) {
        while let Some(c) = self.peek() {
            if !is_space(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn run(&mut self) -> Result<(), Error> {
        loop {
            let rest = self.rest();
            let Some(idx) = rest.find("{{") else {
                if !rest.is_empty() {
                    let start = self.pos;
                    self.pos = self.src.len();
                    self.push(Tok::Text(rest.to_string()), start, false);
                }
                break;
            };
            let delim = self.pos + idx;
            let after = &self.src[delim + 2..];
            let trim = has_left_trim(after);
            let text = &rest[..idx];
            let text = if trim { text.trim_end_matches(is_space) } else { text };
            if !text.is_empty() {
                self.toks.push(Token {
                    tok: Tok::Text(text.to_string()),
                    start: self.pos,
                    end: self.pos + text.len(),
                    space_before: false,
                });
            }
            // `- ` is two ASCII bytes.
            self.pos = delim + 2 + if trim { 2 } else { 0 };
            if self.rest().starts_with("/*") {
                self.lex_comment(delim)?;
                continue;
            }
            self.toks.push(Token {
                tok: Tok::LeftDelim,
                start: delim,
                end: self.pos,
                space_before: false,
            });
            self.lex_action(delim)?;
        }
        self.toks.push(Token {
            tok: Tok::Eof,
            start: self.src.len(),
            end: self.src.len(),
            space_before: false,
        });
        Ok(())
    }

    fn lex_comment(&mut self, start: usize) -> Result<(), Error> {
        let body = self.pos + 2;
        let Some(close) = self.src[body..].find("*/") else {
            return Err(self.err(start, "unclosed comment"));
        };
        self.pos = body + close + 2;
        let rest = self.rest();
        if has_right_trim(rest) {
            self.pos += 4;
            self.skip_spaces();
        } else if rest.starts_with("}}") {
            self.pos += 2;
        } else {
            return Err(self.err(start, "comment ends before closing delimiter"));
        }
        Ok(())
    }

    fn at_terminator(&self) -> bool {
        let rest = self.rest();
        match rest.chars().next() {
            None => true,
            Some(c) => is_space(c) || matches!(c, '.' | ',' | '|' | ':' | '(' | ')' | '=') || rest.starts_with("}}"),
        }
    }

    fn check_terminator(&self) -> Result<(), Error> {
        if self.at_terminator() {
            return Ok(());
        }
        let c = self.peek().unwrap_or(' ');
        Err(self.err(self.pos, format!("bad character U+{:04X} '{c}'", c as u32)))
    }

    fn scan_alnum(&mut self) {
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Lexes the inside of an action; `open` is the offset of its `{{`.
    fn lex_action(&mut self, open: usize) -> Result<(), Error> {
        let mut parens = 0usize;
        let mut space_before = false;
        loop {
            let rest = self.rest();
            let trim = has_right_trim(rest);
            if trim || rest.starts_with("}}") {
                if parens > 0 {
                    return Err(self.err(open, "unclosed left paren"));
                }
                let start = self.pos;
                self.pos += if trim { 4 } else { 2 };
                self.push(Tok::RightDelim, start, space_before);
                if trim {
                    self.skip_spaces();
                }
                return Ok(());
            }
            let start = self.pos;
            let Some(c) = self.bump() else {
                return Err(self.err(open, "unclosed action"));
            };
            let tok = match c {
                c if is_space(c) => {
                    while let Some(c) = self.peek() {
                        if !is_space(c) || has_right_trim(self.rest()) {
                            break;
                        }
                        self.pos += c.len_utf8();
                    }
                    space_before = true;
                    continue;
                }
                '=' => Tok::Assign,
                ':' => {
                    if self.peek() != Some('=') {
                        return Err(self.err(start, "expected :="));
                    }
                    self.pos += 1;
                    Tok::Declare
                }
                '|' => Tok::Pipe,
                '"' => self.lex_quote(start)?,
                '`' => {
                    let Some(end) = self.rest().find('`') else {
                        return Err(self.err(start, "unterminated raw quoted string"));
                    };
                    let body = &self.rest()[..end];
                    // Go drops carriage returns from raw strings.
                    let text: String = body.chars().filter(|&c| c != '\r').collect();
                    self.pos += end + 1;
                    Tok::Str(text)
                }
                '\'' => self.lex_char(start)?,
                '$' => {
                    self.scan_alnum();
                    self.check_terminator()?;
                    Tok::Variable(self.src[start..self.pos].to_string())
                }
                '.' if !matches!(self.peek(), Some('0'..='9')) => {
                    self.scan_alnum();
                    self.check_terminator()?;
                    if self.pos == start + 1 {
                        Tok::Dot
                    } else {
                        Tok::Field(self.src[start + 1..self.pos].to_string())
                    }
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.pos = start;
                    self.lex_number()?
                }
                c if is_alnum(c) => {
                    self.scan_alnum();
                    self.check_terminator()?;
                    let word = &self.src[start..self.pos];
                    match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => match Kw::from_word(word) {
                            Some(kw) => Tok::Keyword(kw),
                            None => Tok::Ident(word.to_string()),
                        },
                    }
                }
                '(' => {
                    parens += 1;
                    Tok::LeftParen
                }
                ')' => {
                    if parens == 0 {
                        return Err(self.err(start, "unexpected right paren"));
                    }
                    parens -= 1;
                    Tok::RightParen
                }
                c if c.is_ascii_graphic() => Tok::Char(c),
                c => {
                    return Err(self.err(start, format!("unrecognized character in action: U+{:04X}", c as u32)));
                }
            };
            self.push(tok, start, space_before);
            space_before = false;
        }
    }

    /// Scans the body of a quoted literal up to the closing `quote`; the opening
    /// quote has been consumed. Returns the body text.
    fn scan_quoted(&mut self, start: usize, quote: char, what: &str) -> Result<&'s str, Error> {
        let body_start = self.pos;
        loop {
            match self.bump() {
                Some('\\') => match self.bump() {
                    Some('\n') | None => return Err(self.err(start, format!("unterminated {what}"))),
                    Some(_) => {}
                },
                Some('\n') | None => return Err(self.err(start, format!("unterminated {what}"))),
                Some(c) if c == quote => return Ok(&self.src[body_start..self.pos - 1]),
                Some(_) => {}
            }
        }
    }

    fn lex_quote(&mut self, start: usize) -> Result<Tok, Error> {
        let body = self.scan_quoted(start, '"', "quoted string")?;
        let text = unquote(body, '"').map_err(|m| self.err(start, m))?;
        Ok(Tok::Str(text))
    }

    fn lex_char(&mut self, start: usize) -> Result<Tok, Error> {
        let body = self.scan_quoted(start, '\'', "character constant")?;
        let malformed = || self.err(start, format!("malformed character constant: '{body}'"));
        let mut chars = body.chars();
        let value = match chars.next() {
            Some('\\') => {
                let (value, rest) = unescape(chars.as_str(), '\'').map_err(|_| malformed())?;
                if !rest.is_empty() {
                    return Err(malformed());
                }
                match value {
                    Unescaped::Byte(b) => u32::from(b),
                    Unescaped::Char(c) => c as u32,
                }
            }
            Some(c) if chars.as_str().is_empty() => c as u32,
            _ => return Err(malformed()),
        };
        Ok(Tok::CharConst(value))
    }

    fn accept(&mut self, set: &str) -> bool {
        match self.peek() {
            Some(c) if set.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn lex_number(&mut self) -> Result<Tok, Error> {
        let start = self.pos;
        self.accept("+-");
        let mut digits = "0123456789_";
        let mut hex = false;
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
                hex = true;
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if hex && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(c) = self.peek() {
            if is_alnum(c) {
                self.pos += c.len_utf8();
                return Err(self.err(start, format!("bad number syntax: {:?}", &self.src[start..self.pos])));
            }
        }
        Ok(Tok::Number(self.src[start..self.pos].to_string()))
    }
}

pub(crate) enum Unescaped {
    Byte(u8),
    Char(char),
}

/// Decodes one escape sequence; `s` starts right after the backslash.
/// Returns the decoded value and the rest of the input.
pub(crate) fn unescape(s: &str, quote: char) -> Result<(Unescaped, &str), String> {
    let mut chars = s.chars();
    let bad = || "invalid escape sequence in quoted literal".to_string();
    let c = chars.next().ok_or_else(bad)?;
    let simple = |b: u8| Ok((Unescaped::Byte(b), chars.as_str()));
    match c {
        'a' => simple(7),
        'b' => simple(8),
        'f' => simple(12),
        'n' => simple(b'\n'),
        'r' => simple(b'\r'),
        't' => simple(b'\t'),
        'v' => simple(11),
        '\\' => simple(b'\\'),
        '\'' | '"' if c == quote => simple(c as u8),
        'x' | 'u' | 'U' => {
            let n = match c {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let rest = chars.as_str();
            let hex = rest.get(..n).ok_or_else(bad)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            let value = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
            let rest = &rest[n..];
            if c == 'x' {
                Ok((Unescaped::Byte(value as u8), rest))
            } else {
                let ch = char::from_u32(value).ok_or_else(bad)?;
                Ok((Unescaped::Char(ch), rest))
            }
        }
        '0'..='7' => {
            let oct = s.get(..3).ok_or_else(bad)?;
            if !oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err(bad());
            }
            let value = u32::from_str_radix(oct, 8).map_err(|_| bad())?;
            let byte = u8::try_from(value).map_err(|_| bad())?;
            Ok((Unescaped::Byte(byte), &s[3..]))
        }
        _ => Err(bad()),
    }
}

/// Decodes the body of a double-quoted string literal (Go escape rules).
pub(crate) fn unquote(body: &str, quote: char) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(idx) = rest.find('\\') {
        bytes.extend_from_slice(&rest.as_bytes()[..idx]);
        let (value, after) = unescape(&rest[idx + 1..], quote)?;
        match value {
            Unescaped::Byte(b) => bytes.push(b),
            Unescaped::Char(c) => {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        rest = after;
    }
    bytes.extend_from_slice(rest.as_bytes());
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}
