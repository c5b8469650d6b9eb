//! Parser: builds the node tree from tokens, checking what Go checks at parse
//! time (known functions, defined variables, `{{end}}` matching, ...).

use serde_json::{Number, Value};

use crate::funcs::Func;
use crate::lex::{self, Kw, Tok, Token};
use crate::{parse_error, Error};

/// Maximum nesting of control structures and parenthesised pipelines.
const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Box<Branch>),
    With(Box<Branch>),
    Range(Box<Branch>),
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub args: Vec<Term>,
}

#[derive(Debug, Clone)]
pub(crate) struct Term {
    pub span: Span,
    pub kind: TermKind,
}

#[derive(Debug, Clone)]
pub(crate) enum TermKind {
    /// A function name.
    Func(Func),
    Dot,
    Nil,
    /// Bool, number or string constant.
    Lit(Value),
    /// `.A.B`: fields of dot.
    Field(Vec<String>),
    /// `$x.A.B`
    Var(String, Vec<String>),
    /// `(pipeline).A.B` or `func.A`
    Chain(Box<Term>, Vec<String>),
    /// `(pipeline)`
    Pipe(Box<Pipe>),
}

enum Item {
    Node(Node),
    End(usize),
    Else(usize),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ListEnd {
    End,
    Else,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Closer {
    Delim,
    Paren,
}

pub(crate) fn parse(src: &str) -> Result<Vec<Node>, Error> {
    let toks = lex::lex(src)?;
    let eof = Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
        space_before: false,
    };
    let mut p = Parser {
        src,
        toks,
        eof,
        pos: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
    };
    let mut nodes = Vec::new();
    while p.peek().tok != Tok::Eof {
        match p.text_or_action()? {
            Item::Node(n) => nodes.push(n),
            Item::End(at) => return Err(p.err(at, "unexpected {{end}}")),
            Item::Else(at) => return Err(p.err(at, "unexpected {{else}}")),
        }
    }
    Ok(nodes)
}

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    eof: Token,
    pos: usize,
    /// Variables in scope, innermost last.
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.toks.get(self.pos).unwrap_or(&self.eof)
    }

    fn peek_at(&self, n: usize) -> &Token {
        self.toks.get(self.pos + n).unwrap_or(&self.eof)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or(0, |t| t.end)
    }

    fn err(&self, offset: usize, message: impl Into<String>) -> Error {
        parse_error(self.src, offset, message.into())
    }

    fn describe(&self, t: &Token) -> String {
        match &t.tok {
            Tok::Eof => "EOF".to_string(),
            Tok::Text(_) => "text".to_string(),
            _ => format!("{:?}", self.src.get(t.start..t.end).unwrap_or("")),
        }
    }

    fn unexpected(&self, t: &Token, context: &str) -> Error {
        self.err(t.start, format!("unexpected {} in {context}", self.describe(t)))
    }

    fn enter(&mut self, at: usize) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(at, "max depth exceeded"));
        }
        Ok(())
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), Error> {
        let t = self.next();
        if t.tok != Tok::RightDelim {
            return Err(self.unexpected(&t, context));
        }
        Ok(())
    }

    fn text_or_action(&mut self) -> Result<Item, Error> {
        let t = self.next();
        match t.tok {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s))),
            Tok::LeftDelim => self.action(),
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self) -> Result<Item, Error> {
        let t = self.peek().clone();
        let Tok::Keyword(kw) = t.tok else {
            let pipe = self.pipeline("command", Closer::Delim)?;
            return Ok(Item::Node(Node::Action(pipe)));
        };
        self.next();
        match kw {
            Kw::If => Ok(Item::Node(Node::If(Box::new(self.control("if", t.start)?)))),
            Kw::With => Ok(Item::Node(Node::With(Box::new(self.control("with", t.start)?)))),
            Kw::Range => Ok(Item::Node(Node::Range(Box::new(self.control("range", t.start)?)))),
            Kw::Else => {
                // `{{else if ...}}` / `{{else with ...}}` leave the keyword pending.
                if !matches!(self.peek().tok, Tok::Keyword(Kw::If | Kw::With)) {
                    self.expect_right_delim("else")?;
                }
                Ok(Item::Else(t.start))
            }
            Kw::End => {
                self.expect_right_delim("end")?;
                Ok(Item::End(t.start))
            }
            Kw::Break | Kw::Continue => {
                let name = kw.name();
                if self.range_depth == 0 {
                    return Err(self.err(t.start, format!("{{{{{name}}}}} outside {{{{range}}}}")));
                }
                self.expect_right_delim(&format!("{{{{{name}}}}}"))?;
                Ok(Item::Node(if kw == Kw::Break { Node::Break } else { Node::Continue }))
            }
            Kw::Block | Kw::Define | Kw::Template => {
                Err(self.err(t.start, format!("{{{{{}}}}} is not supported", kw.name())))
            }
        }
    }

    fn item_list(&mut self) -> Result<(Vec<Node>, ListEnd), Error> {
        let mut list = Vec::new();
        loop {
            if self.peek().tok == Tok::Eof {
                return Err(self.err(self.src.len(), "unexpected EOF"));
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::End(_) => return Ok((list, ListEnd::End)),
                Item::Else(_) => return Ok((list, ListEnd::Else)),
            }
        }
    }

    fn control(&mut self, context: &str, at: usize) -> Result<Branch, Error> {
        self.enter(at)?;
        let mark = self.vars.len();
        let pipe = self.pipeline(context, Closer::Delim)?;
        let is_range = context == "range";
        if is_range {
            self.range_depth += 1;
        }
        let body_mark = self.vars.len();
        let (list, end) = self.item_list()?;
        if is_range {
            self.range_depth -= 1;
        }
        self.vars.truncate(body_mark);
        let else_list = match end {
            ListEnd::End => None,
            ListEnd::Else => {
                let t = self.peek().clone();
                match t.tok {
                    Tok::Keyword(Kw::If) if context == "if" => {
                        self.next();
                        Some(vec![Node::If(Box::new(self.control("if", t.start)?))])
                    }
                    Tok::Keyword(Kw::With) if context == "with" => {
                        self.next();
                        Some(vec![Node::With(Box::new(self.control("with", t.start)?))])
                    }
                    Tok::Keyword(_) => return Err(self.unexpected(&t, "input")),
                    _ => {
                        let (list, end) = self.item_list()?;
                        if end != ListEnd::End {
                            return Err(self.err(self.prev_end(), "expected end; found {{else}}"));
                        }
                        Some(list)
                    }
                }
            }
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Branch { pipe, list, else_list })
    }

    fn pipeline(&mut self, context: &str, closer: Closer) -> Result<Pipe, Error> {
        let mut decl = Vec::new();
        let mut is_assign = false;
        if let Tok::Variable(name) = &self.peek().tok {
            let name = name.clone();
            let after = self.peek_at(1).clone();
            match after.tok {
                Tok::Declare | Tok::Assign => {
                    is_assign = after.tok == Tok::Assign;
                    self.pos += 2;
                    decl.push(name);
                }
                Tok::Char(',') => {
                    self.pos += 2;
                    decl.push(name);
                    if context != "range" {
                        return Err(self.err(after.start, format!("too many declarations in {context}")));
                    }
                    let second = self.next();
                    let Tok::Variable(name2) = second.tok else {
                        return Err(self.err(second.start, "range can only initialize variables"));
                    };
                    let op = self.next();
                    match op.tok {
                        Tok::Declare | Tok::Assign => is_assign = op.tok == Tok::Assign,
                        Tok::Char(',') => return Err(self.err(op.start, "too many declarations in range")),
                        _ => return Err(self.err(op.start, "expected := or = after range variables")),
                    }
                    decl.push(name2);
                }
                _ => {}
            }
        }
        if is_assign {
            for name in &decl {
                if !self.vars.contains(name) {
                    return Err(self.err(self.prev_end(), format!("undefined variable {name:?}")));
                }
            }
        }

        let mut cmds = Vec::new();
        let mut after_pipe = false;
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::RightDelim if closer == Closer::Delim => break,
                Tok::RightParen if closer == Closer::Paren => break,
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen
                    if after_pipe || cmds.is_empty() =>
                {
                    let (cmd, piped) = self.command()?;
                    cmds.push(cmd);
                    after_pipe = piped;
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
        let close = self.next();
        if after_pipe {
            return Err(self.err(close.start, format!("missing command after | in {context}")));
        }
        if cmds.is_empty() {
            return Err(self.err(close.start, format!("missing value for {context}")));
        }
        for (i, cmd) in cmds.iter().enumerate().skip(1) {
            if let Some(first) = cmd.args.first() {
                if matches!(first.kind, TermKind::Lit(_) | TermKind::Dot | TermKind::Nil) {
                    return Err(self.err(
                        first.span.start,
                        format!("non executable command in pipeline stage {}", i + 1),
                    ));
                }
            }
        }
        if !is_assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe { is_assign, decl, cmds })
    }

    /// Parses one command; returns it and whether it ended with `|`.
    fn command(&mut self) -> Result<(Cmd, bool), Error> {
        let mut args = Vec::new();
        loop {
            match self.operand()? {
                Some(term) => args.push(term),
                None => {
                    let t = self.peek().clone();
                    return Err(self.unexpected(&t, "operand"));
                }
            }
            let t = self.peek().clone();
            match t.tok {
                Tok::RightDelim | Tok::RightParen => return Ok((Cmd { args }, false)),
                Tok::Pipe => {
                    self.next();
                    return Ok((Cmd { args }, true));
                }
                _ if t.space_before => continue,
                _ => return Err(self.unexpected(&t, "operand")),
            }
        }
    }

    fn operand(&mut self) -> Result<Option<Term>, Error> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        let mut end = term.span.end;
        while let Tok::Field(name) = &self.peek().tok {
            if self.peek().space_before {
                break;
            }
            fields.push(name.clone());
            end = self.peek().end;
            self.pos += 1;
        }
        if fields.is_empty() {
            return Ok(Some(term));
        }
        let span = Span {
            start: term.span.start,
            end,
        };
        let kind = match term.kind {
            TermKind::Field(mut f) => {
                f.extend(fields);
                TermKind::Field(f)
            }
            TermKind::Var(name, mut f) => {
                f.extend(fields);
                TermKind::Var(name, f)
            }
            TermKind::Lit(_) | TermKind::Nil | TermKind::Dot => {
                let text = self.src.get(term.span.start..term.span.end).unwrap_or("");
                return Err(self.err(term.span.start, format!("unexpected . after term {text:?}")));
            }
            kind => TermKind::Chain(Box::new(Term { span: term.span, kind }), fields),
        };
        Ok(Some(Term { span, kind }))
    }

    fn term(&mut self) -> Result<Option<Term>, Error> {
        let t = self.peek().clone();
        let kind = match t.tok {
            Tok::Ident(name) => match Func::from_name(&name) {
                Some(f) => TermKind::Func(f),
                None => return Err(self.err(t.start, format!("function {name:?} not defined"))),
            },
            Tok::Dot => TermKind::Dot,
            Tok::Nil => TermKind::Nil,
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.err(t.start, format!("undefined variable {name:?}")));
                }
                TermKind::Var(name, Vec::new())
            }
            Tok::Field(name) => TermKind::Field(vec![name]),
            Tok::Bool(b) => TermKind::Lit(Value::Bool(b)),
            Tok::CharConst(c) => TermKind::Lit(Value::from(c)),
            Tok::Number(text) => TermKind::Lit(parse_number(&text).map_err(|m| self.err(t.start, m))?),
            Tok::Str(s) => TermKind::Lit(Value::String(s)),
            Tok::LeftParen => {
                self.next();
                self.enter(t.start)?;
                // Consumes the right paren.
                let pipe = self.pipeline("parenthesized pipeline", Closer::Paren)?;
                self.depth -= 1;
                let span = Span {
                    start: t.start,
                    end: self.prev_end(),
                };
                return Ok(Some(Term {
                    span,
                    kind: TermKind::Pipe(Box::new(pipe)),
                }));
            }
            _ => return Ok(None),
        };
        self.next();
        Ok(Some(Term {
            span: Span {
                start: t.start,
                end: t.end,
            },
            kind,
        }))
    }
}

/// Parses a number literal the way Go templates type constants: text with a
/// `.`, `e` or `E` (decimal) is a float, anything else an integer.
pub(crate) fn parse_number(text: &str) -> Result<Value, String> {
    let illegal = || format!("illegal number syntax: {text:?}");
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let lower = body.to_ascii_lowercase();
    if lower.ends_with('i') {
        return Err(format!("complex numbers are not supported: {text:?}"));
    }
    let is_hex = lower.starts_with("0x");
    if is_hex && (lower.contains('.') || lower.contains('p')) {
        return Err(format!("hexadecimal floats are not supported: {text:?}"));
    }
    if !is_hex && (lower.contains('.') || lower.contains('e')) {
        let f: f64 = clean.parse().map_err(|_| illegal())?;
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("number out of range: {text:?}"));
    }
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(illegal());
    }
    let magnitude = u128::from_str_radix(digits, radix).map_err(|_| format!("integer overflow: {text:?}"))?;
    let overflow = || format!("integer overflow: {text:?}");
    if neg {
        let v = i128::try_from(magnitude).map_err(|_| overflow())?;
        let v = i64::try_from(-v).map_err(|_| overflow())?;
        Ok(Value::from(v))
    } else if let Ok(v) = i64::try_from(magnitude) {
        Ok(Value::from(v))
    } else {
        let v = u64::try_from(magnitude).map_err(|_| overflow())?;
        Ok(Value::from(v))
    }
}
