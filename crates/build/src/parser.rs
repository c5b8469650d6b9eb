//! The Dockerfile parser: BuildKit's line handling (parser directives,
//! continuations, comments, here-documents) and its per-instruction
//! argument rules, producing the typed tree in [`crate::ast`].

use crate::ast::*;
use crate::error::{Error, Result};
use crate::flags::{extract_builder_flags, parse_go_duration, parse_network, parse_security, FlagType, Flags};
use crate::shell::{split_words, Lexer};

/// Parses a Dockerfile; errors name it `Dockerfile`.
pub fn parse(text: &str) -> Result<Dockerfile> {
    parse_named("Dockerfile", text)
}

/// Parses a Dockerfile; `file` is the name errors carry.
pub fn parse_named(file: &str, text: &str) -> Result<Dockerfile> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let fail = |line: usize, instruction: Option<&str>, message: String| Error::Parse {
        file: file.to_string(),
        line,
        instruction: instruction.map(str::to_string),
        message,
    };

    let mut directives = DirectiveParser::default();
    let mut nodes: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i].trim_start();
        i += 1;
        let start = i;
        directives.parse_line(first).map_err(|m| fail(start, None, m))?;
        let escape = directives.value.escape;
        let first = if first.starts_with('#') { "" } else { first };
        let (line, mut done) = trim_continuation(first, escape);
        let mut line = line.to_string();
        if done && line.is_empty() {
            continue;
        }
        while !done && i < lines.len() {
            let raw = lines[i];
            i += 1;
            // Comment and blank lines inside a continuation are skipped.
            if raw.trim_start().starts_with('#') || raw.trim().is_empty() {
                continue;
            }
            let (part, d) = trim_continuation(raw, escape);
            line.push_str(part);
            done = d;
        }
        let line = line.trim().to_string();

        let mut heredocs = Vec::new();
        if line.contains("<<") && may_hold_heredocs(&line) {
            let keyword = keyword_of(&line);
            for mut doc in heredocs_from_line(&line).map_err(|m| fail(start, Some(&keyword), m))? {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let candidate = if doc.chomp { raw.trim_start_matches('\t') } else { raw };
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(if doc.chomp { candidate } else { raw });
                    doc.content.push('\n');
                }
                if !terminated {
                    return Err(fail(
                        start,
                        Some(&keyword),
                        format!("unterminated heredoc {}", doc.name),
                    ));
                }
                heredocs.push(doc);
            }
        }
        let parsed = parse_instruction(&line, escape, &heredocs).map_err(|(kw, m)| fail(start, kw.as_deref(), m))?;
        nodes.push(Node {
            line: start,
            end_line: i,
            original: line,
            parsed,
        });
    }

    if nodes.is_empty() {
        return Err(fail(0, None, "file with no instructions".to_string()));
    }

    let mut df = Dockerfile {
        directives: directives.value,
        args_before_from: Vec::new(),
        stages: Vec::new(),
    };
    for node in nodes {
        match node.parsed {
            Parsed::From { name, base, platform } => df.stages.push(Stage {
                name,
                base,
                platform,
                line: node.line,
                original: node.original,
                instructions: Vec::new(),
            }),
            Parsed::Instruction(kind) => match df.stages.last_mut() {
                Some(stage) => stage.instructions.push(Instruction {
                    line: node.line,
                    end_line: node.end_line,
                    original: node.original,
                    kind,
                }),
                None => match kind {
                    InstructionKind::Arg(args) => df.args_before_from.extend(args),
                    other => {
                        return Err(fail(
                            node.line,
                            Some(other.keyword()),
                            format!(
                                "no build stage in current context: {} must come after FROM (only ARG may precede it)",
                                other.keyword()
                            ),
                        ))
                    }
                },
            },
        }
    }
    if df.stages.is_empty() {
        return Err(fail(
            0,
            None,
            "dockerfile contains no stages to build: add a FROM instruction".to_string(),
        ));
    }
    Ok(df)
}

struct Node {
    line: usize,
    end_line: usize,
    original: String,
    parsed: Parsed,
}

enum Parsed {
    From {
        name: Option<String>,
        base: String,
        platform: Option<String>,
    },
    Instruction(InstructionKind),
}

#[derive(Default)]
struct DirectiveParser {
    done: bool,
    seen: Vec<String>,
    value: Directives,
}

impl DirectiveParser {
    /// Directives are only recognised in the leading run of `# key=value`
    /// lines; the first other line (an unknown directive, a comment, a blank
    /// line, an instruction) ends it.
    fn parse_line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive_syntax(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "escape" => {
                self.value.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => return Err(format!("invalid escape token '{value}' does not match ` or \\")),
                }
            }
            "syntax" => self.value.syntax = Some(value.to_string()),
            _ => self.value.check = Some(value.to_string()),
        }
        Ok(())
    }
}

/// `#\s*name\s*=\s*value` with a name of letters and digits.
fn directive_syntax(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name, value))
}

/// Removes a trailing escape character (and whitespace after it). Returns
/// the line and whether the instruction ends here.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest, false),
        None => (line, true),
    }
}

/// Splits `KEYWORD [--flags] args`: the keyword lower-cased, the flags, the
/// trimmed rest.
fn split_command(line: &str) -> (String, Vec<String>, &str) {
    let line = line.trim();
    match line.find(is_ws) {
        None => (line.to_ascii_lowercase(), Vec::new(), ""),
        Some(at) => {
            let (flags, args) = extract_builder_flags(line[at..].trim_start_matches(is_ws));
            (line[..at].to_ascii_lowercase(), flags, args.trim())
        }
    }
}

/// Go's `[\t\v\f\r ]`: the separator of whitespace-delimited arguments.
fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

fn split_ws(s: &str) -> Vec<String> {
    s.split(is_ws).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

fn keyword_of(line: &str) -> String {
    split_command(line).0.to_ascii_uppercase()
}

/// RUN, COPY and ADD in shell form (also as an ONBUILD trigger) may name
/// here-documents.
fn may_hold_heredocs(line: &str) -> bool {
    let (cmd, _, args) = split_command(line);
    match cmd.as_str() {
        "run" | "copy" | "add" => !matches!(parse_json(args), Some(Ok(_))),
        "onbuild" => may_hold_heredocs(args),
        _ => false,
    }
}

/// The here-documents a line names, in order, with empty bodies.
fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let lex = Lexer {
        escape: '\\',
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: false,
    };
    // A line that does not lex names no here-documents.
    let Ok(words) = lex.process_words(line, &|_| None) else {
        return Ok(Vec::new());
    };
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Recognises `[n]<<[-]NAME` (NAME possibly quoted). A quoted name turns
/// expansion of the body off.
pub(crate) fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let fd = if digits == 0 {
        0
    } else {
        word[..digits]
            .parse()
            .map_err(|_| format!("invalid file descriptor in {word:?}"))?
    };
    let mut lex = Lexer {
        escape: '\\',
        raw_quotes: false,
        raw_escapes: false,
        skip_unset: true,
    };
    let none = |_: &str| None;
    let words = lex.process_words(rest, &none).map_err(|e| e.to_string())?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &none).map_err(|e| e.to_string())?;
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    let expand = raw.len() == 1 && quotes(name) == quotes(&raw[0]);
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand,
        chomp,
        fd,
    }))
}

/// `Some(Ok(args))` for a JSON array of strings, `Some(Err)` for a JSON
/// array holding something else (an error, as in Docker), `None` when the
/// text is not JSON (shell form).
fn parse_json(rest: &str) -> Option<Result<Vec<String>, String>> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return None;
    }
    let serde_json::Value::Array(items) = serde_json::from_str::<serde_json::Value>(rest).ok()? else {
        return None;
    };
    Some(
        items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err("when using JSON array syntax, arrays must be comprised of strings only".to_string()),
            })
            .collect(),
    )
}

/// Exec form when the arguments are a JSON array of strings, else the text.
fn parse_maybe_json(rest: &str) -> Result<Option<CommandLine>, String> {
    if rest.is_empty() {
        return Ok(None);
    }
    match parse_json(rest) {
        Some(Ok(args)) => Ok(Some(CommandLine::Exec(args))),
        Some(Err(e)) => Err(e),
        None => Ok(Some(CommandLine::Shell(rest.to_string()))),
    }
}

/// A JSON array, or the whitespace-separated words. The bool says JSON.
fn parse_maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest) {
        Some(Ok(args)) => Ok((args, true)),
        Some(Err(e)) => Err(e),
        None => Ok((split_ws(rest), false)),
    }
}

type ParseError = (Option<String>, String);

fn parse_instruction(line: &str, escape: char, heredocs: &[Heredoc]) -> Result<Parsed, ParseError> {
    let (cmd, flags, args) = split_command(line);
    let kw = cmd.to_ascii_uppercase();
    let e = |m: String| (Some(kw.clone()), m);
    let flags_for = |spec: &[(&'static str, FlagType)]| Flags::parse(&flags, spec).map_err(e);
    let one_arg = |v: &str| {
        if v.is_empty() {
            Err(e(format!("{kw} requires exactly one argument")))
        } else {
            Ok(v.to_string())
        }
    };

    let kind = match cmd.as_str() {
        "from" => {
            let f = flags_for(&[("platform", FlagType::String)])?;
            let words = split_ws(args);
            let name = match words.as_slice() {
                [_] => None,
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    let lower = name.to_ascii_lowercase();
                    if !valid_stage_name(&lower) {
                        return Err(e(format!(
                            "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                        )));
                    }
                    Some(lower)
                }
                _ => return Err(e("FROM requires either one or three arguments".to_string())),
            };
            return Ok(Parsed::From {
                name,
                base: words[0].clone(),
                platform: f.string("platform"),
            });
        }
        "run" => {
            let f = flags_for(&[
                ("mount", FlagType::Strings),
                ("network", FlagType::String),
                ("security", FlagType::String),
            ])?;
            let mounts = f
                .strings("mount")
                .iter()
                .map(|m| Mount::parse(m))
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?;
            let network = f.string("network").map(|v| parse_network(&v)).transpose().map_err(e)?;
            let security = f
                .string("security")
                .map(|v| parse_security(&v))
                .transpose()
                .map_err(e)?;
            let command = parse_maybe_json(args)
                .map_err(e)?
                .unwrap_or(CommandLine::Shell(String::new()));
            InstructionKind::Run(Run {
                command,
                heredocs: heredocs.to_vec(),
                mounts,
                network,
                security,
            })
        }
        "cmd" => {
            flags_for(&[])?;
            InstructionKind::Cmd(
                parse_maybe_json(args)
                    .map_err(e)?
                    .unwrap_or(CommandLine::Shell(String::new())),
            )
        }
        "entrypoint" => {
            flags_for(&[])?;
            InstructionKind::Entrypoint(parse_maybe_json(args).map_err(e)?)
        }
        "shell" => {
            flags_for(&[])?;
            match parse_maybe_json(args).map_err(e)? {
                Some(CommandLine::Exec(v)) if !v.is_empty() => InstructionKind::Shell(v),
                None | Some(CommandLine::Exec(_)) => return Err(e("SHELL requires at least one argument".into())),
                Some(CommandLine::Shell(_)) => {
                    return Err(e("SHELL requires the arguments to be in JSON form".into()));
                }
            }
        }
        "env" | "label" => {
            flags_for(&[])?;
            let pairs = parse_name_val(args, &kw, escape).map_err(e)?;
            if cmd == "env" {
                InstructionKind::Env(pairs)
            } else {
                InstructionKind::Label(pairs)
            }
        }
        "arg" => {
            flags_for(&[])?;
            let words = split_words(args, escape);
            if words.is_empty() {
                return Err(e("ARG requires at least one argument".into()));
            }
            let mut out = Vec::new();
            for word in words {
                let arg = match word.split_once('=') {
                    Some(("", _)) => return Err(e("ARG names can not be blank".into())),
                    Some((k, v)) => Arg {
                        name: k.to_string(),
                        default: Some(v.to_string()),
                    },
                    None => Arg {
                        name: word,
                        default: None,
                    },
                };
                out.push(arg);
            }
            InstructionKind::Arg(out)
        }
        "maintainer" => {
            flags_for(&[])?;
            InstructionKind::Maintainer(one_arg(args)?)
        }
        "workdir" => {
            flags_for(&[])?;
            InstructionKind::Workdir(one_arg(args)?)
        }
        "user" => {
            flags_for(&[])?;
            InstructionKind::User(one_arg(args)?)
        }
        "stopsignal" => {
            flags_for(&[])?;
            InstructionKind::StopSignal(one_arg(args)?)
        }
        "expose" => {
            flags_for(&[])?;
            let ports = split_ws(args);
            if ports.is_empty() {
                return Err(e("EXPOSE requires at least one argument".into()));
            }
            InstructionKind::Expose(ports)
        }
        "volume" => {
            flags_for(&[])?;
            let (list, _) = parse_maybe_json_to_list(args).map_err(e)?;
            if list.is_empty() {
                return Err(e("VOLUME requires at least one argument".into()));
            }
            let mut volumes = Vec::new();
            for v in list {
                let v = v.trim();
                if v.is_empty() {
                    return Err(e("VOLUME specified can not be an empty string".into()));
                }
                volumes.push(v.to_string());
            }
            InstructionKind::Volume(volumes)
        }
        "copy" => {
            let f = flags_for(&[
                ("from", FlagType::String),
                ("chown", FlagType::String),
                ("chmod", FlagType::String),
                ("link", FlagType::Bool),
                ("exclude", FlagType::Strings),
                ("parents", FlagType::Bool),
            ])?;
            InstructionKind::Copy(Copy {
                files: parse_files(args, &kw, &f, heredocs).map_err(e)?,
                from: f.string("from"),
                parents: f.bool("parents"),
            })
        }
        "add" => {
            let f = flags_for(&[
                ("chown", FlagType::String),
                ("chmod", FlagType::String),
                ("link", FlagType::Bool),
                ("exclude", FlagType::Strings),
                ("checksum", FlagType::String),
                ("keep-git-dir", FlagType::Bool),
            ])?;
            InstructionKind::Add(Add {
                files: parse_files(args, &kw, &f, heredocs).map_err(e)?,
                checksum: f.string("checksum"),
                keep_git_dir: f.bool("keep-git-dir"),
            })
        }
        "healthcheck" => InstructionKind::Healthcheck(parse_healthcheck(args, &flags).map_err(e)?),
        "onbuild" => {
            flags_for(&[])?;
            if args.is_empty() {
                return Err(e("ONBUILD requires at least one argument".into()));
            }
            let trigger = keyword_of(args);
            match trigger.as_str() {
                "ONBUILD" => return Err(e("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())),
                "FROM" | "MAINTAINER" => return Err(e(format!("{trigger} isn't allowed as an ONBUILD trigger"))),
                _ => {}
            }
            let Parsed::Instruction(inner) = parse_instruction(args, escape, heredocs)? else {
                return Err(e(format!("{trigger} isn't allowed as an ONBUILD trigger")));
            };
            let mut expression = args.to_string();
            for doc in heredocs {
                expression.push('\n');
                expression.push_str(&doc.content);
                expression.push_str(&doc.name);
            }
            InstructionKind::Onbuild(Onbuild {
                expression,
                trigger: Box::new(inner),
            })
        }
        _ => return Err(e(format!("unknown instruction: {kw}"))),
    };
    Ok(Parsed::Instruction(kind))
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// ENV and LABEL: `k=v k2="v 2"`, or the legacy `K some value`.
fn parse_name_val(args: &str, kw: &str, escape: char) -> Result<Vec<KeyValue>, String> {
    let words = split_words(args, escape);
    let Some(first) = words.first() else {
        return Err(format!("{kw} requires at least one argument"));
    };
    if !first.contains('=') {
        let Some(at) = args.find(is_ws) else {
            return Err(format!("{kw} must have two arguments"));
        };
        return Ok(vec![KeyValue {
            key: args[..at].to_string(),
            value: args[at..].trim_start_matches(is_ws).to_string(),
        }]);
    }
    let mut pairs = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        if key.is_empty() {
            return Err(format!("{kw} names can not be blank"));
        }
        pairs.push(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(pairs)
}

fn parse_files(args: &str, kw: &str, f: &Flags, heredocs: &[Heredoc]) -> Result<Files, String> {
    let (mut list, json) = parse_maybe_json_to_list(args)?;
    if list.len() < 2 {
        return Err(format!(
            "{kw} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let dest = list.pop().unwrap_or_default();
    if !json && parse_heredoc(&dest)?.is_some() {
        return Err(format!("{kw} cannot accept a heredoc as a destination"));
    }
    let mut sources = Vec::new();
    for src in list {
        let doc = if json { None } else { parse_heredoc(&src)? };
        match doc {
            Some(doc) => {
                let body = heredocs.iter().find(|d| d.name == doc.name).cloned().unwrap_or(doc);
                sources.push(Source::Heredoc(body));
            }
            None => sources.push(Source::Path(src)),
        }
    }
    Ok(Files {
        sources,
        dest,
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.bool("link"),
        excludes: f.strings("exclude"),
        json,
    })
}

fn parse_healthcheck(args: &str, flags: &[String]) -> Result<Healthcheck, String> {
    let (typ, rest) = match args.find(char::is_whitespace) {
        Some(at) => (&args[..at], args[at..].trim_start()),
        None => (args, ""),
    };
    if typ.is_empty() {
        return Err("HEALTHCHECK requires at least one argument".into());
    }
    let typ = typ.to_ascii_uppercase();
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    let f = Flags::parse(
        flags,
        &[
            ("interval", FlagType::String),
            ("timeout", FlagType::String),
            ("start-period", FlagType::String),
            ("start-interval", FlagType::String),
            ("retries", FlagType::String),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!("Unknown type \"{typ}\" in HEALTHCHECK (try CMD)"));
    }
    let command = match parse_maybe_json(rest)? {
        None => return Err("Missing command after HEALTHCHECK CMD".into()),
        Some(CommandLine::Exec(v)) if v.is_empty() => return Err("Missing command after HEALTHCHECK CMD".into()),
        Some(c) => c,
    };
    let interval = |name: &str| -> Result<Option<std::time::Duration>, String> {
        let Some(v) = f.string(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let d = parse_go_duration(&v)?;
        if d.is_zero() {
            return Ok(None);
        }
        if d < std::time::Duration::from_millis(1) {
            return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
        }
        Ok(Some(d))
    };
    let retries = match f.string("retries").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            Some(u32::try_from(n).map_err(|_| format!("--retries out of range ({n})"))?)
        }
    };
    Ok(Healthcheck::Cmd {
        command,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })
}

/// A port, port range and protocol from an EXPOSE argument (after
/// expansion): `80`, `80/tcp`, `8000-8010/udp`, `9/sctp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PortSpec {
    pub start: u16,
    pub end: u16,
    pub proto: &'static str,
}

impl PortSpec {
    /// Each port as Docker's config key: `80/tcp`.
    pub fn keys(&self) -> Vec<String> {
        (self.start..=self.end).map(|p| format!("{p}/{}", self.proto)).collect()
    }
}

pub fn parse_port_spec(spec: &str) -> Result<PortSpec> {
    let bad = |reason: &str| Error::Substitution(format!("invalid port {spec:?} in EXPOSE: {reason}"));
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    let proto = match proto.as_str() {
        "tcp" => "tcp",
        "udp" => "udp",
        "sctp" => "sctp",
        _ => return Err(bad("the protocol must be tcp, udp or sctp")),
    };
    let num = |s: &str| s.parse::<u16>().map_err(|_| bad("ports are numbers from 0 to 65535"));
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(ports)?, num(ports)?),
    };
    if end < start {
        return Err(bad("the range ends before it starts"));
    }
    Ok(PortSpec { start, end, proto })
}
