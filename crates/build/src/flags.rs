//! Instruction flags (`--from=x`, `--link`), Go-style durations and the
//! values RUN's flags take.

use std::collections::HashMap;
use std::time::Duration;

use crate::ast::{Mount, MountType, NetworkMode, SecurityMode, Sharing};

/// Splits leading `--flag[=value]` words off an instruction's arguments.
/// Quotes and backslashes inside flags are interpreted; `--` ends the flags.
/// Returns the flags and the rest of the line.
pub(crate) fn extract_builder_flags(line: &str) -> (Vec<String>, &str) {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && (bytes[pos] as char).is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= bytes.len() {
            return (words, "");
        }
        if !line[pos..].starts_with("--") {
            return (words, &line[pos..]);
        }
        let mut word = String::new();
        let mut blank_ok = false;
        let mut quote: Option<char> = None;
        let mut chars = line[pos..].char_indices().peekable();
        let mut end = line.len();
        while let Some((i, ch)) = chars.next() {
            match quote {
                None if ch.is_whitespace() => {
                    end = pos + i;
                    break;
                }
                None if ch == '\'' || ch == '"' => {
                    quote = Some(ch);
                    blank_ok = true;
                }
                Some(q) if ch == q => quote = None,
                _ if ch == '\\' => {
                    // A trailing backslash is dropped.
                    if let Some((_, next)) = chars.next() {
                        word.push(next);
                    }
                }
                _ => word.push(ch),
            }
        }
        if word == "--" {
            return (words, line[end..].trim_start());
        }
        if blank_ok || !word.is_empty() {
            words.push(word);
        }
        pos = end;
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum FlagType {
    Bool,
    String,
    /// Repeatable.
    Strings,
}

#[derive(Default)]
pub(crate) struct Flags {
    values: HashMap<&'static str, Vec<String>>,
}

impl Flags {
    /// Parses `args` against the flags an instruction accepts, with
    /// BuildKit's messages.
    pub(crate) fn parse(args: &[String], spec: &[(&'static str, FlagType)]) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for arg in args {
            let Some(arg) = arg.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {arg}"));
            };
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg, None),
            };
            let Some(&(key, ty)) = spec.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: {name}"));
            };
            if ty != FlagType::Strings && flags.values.contains_key(key) {
                return Err(format!("duplicate flag specified: {name}"));
            }
            let value = match (ty, value) {
                (FlagType::Bool, None) => "true".to_string(),
                (FlagType::Bool, Some("")) => return Err(format!("missing a value on flag: {name}")),
                (FlagType::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => return Err(format!("expecting boolean value for flag {name}, not: {v}")),
                },
                (_, None) => return Err(format!("missing a value on flag: {name}")),
                (_, Some(v)) => v.to_string(),
            };
            flags.values.entry(key).or_default().push(value);
        }
        Ok(flags)
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }

    pub(crate) fn bool(&self, name: &str) -> bool {
        self.string(name).as_deref() == Some("true")
    }

    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

/// Parses a duration as Go's `time.ParseDuration`: `300ms`, `1.5h`,
/// `2h45m`, units ns us µs ms s m h. Negative durations are errors here
/// (no Dockerfile field takes one).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    if neg && total > 0.0 {
        return Err(format!("duration {s:?} cannot be negative"));
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

pub(crate) fn parse_network(v: &str) -> Result<NetworkMode, String> {
    match v {
        "default" => Ok(NetworkMode::Default),
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        _ => Err(format!("unsupported network mode {v:?}: use default, none or host")),
    }
}

pub(crate) fn parse_security(v: &str) -> Result<SecurityMode, String> {
    match v {
        "sandbox" => Ok(SecurityMode::Sandbox),
        "insecure" => Ok(SecurityMode::Insecure),
        _ => Err(format!("unsupported security mode {v:?}: use sandbox or insecure")),
    }
}

/// Splits a CSV-style field list: commas separate, double quotes group.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = s.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => fields.push(std::mem::take(&mut field)),
            _ => field.push(ch),
        }
    }
    if in_quotes {
        return Err(format!("unterminated quote in {s:?}"));
    }
    fields.push(field);
    Ok(fields)
}

fn parse_bool_value(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    }
}

/// Byte sizes as Docker's `RAMInBytes`: `64m`, `1g`, `512k`, binary units.
fn parse_size(v: &str) -> Result<u64, String> {
    let lower = v.trim().to_ascii_lowercase();
    let num_len = lower.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
    let (num, unit) = lower.split_at(num_len);
    let value: f64 = num.parse().map_err(|_| format!("invalid size: {v:?}"))?;
    let mult: f64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return Err(format!("invalid size: {v:?}")),
    };
    Ok((value * mult) as u64)
}

impl Mount {
    /// Parses the value of `RUN --mount=`. Call it again on the expanded
    /// text when the value holds variables.
    pub fn parse(value: &str) -> Result<Mount, String> {
        let mut kind = MountType::Bind;
        let mut fields = Vec::new();
        for field in csv_fields(value)? {
            let (key, val) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_string())),
                None => (field.trim().to_ascii_lowercase(), None),
            };
            if key == "type" {
                kind = match val.as_deref().unwrap_or("") {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    other => return Err(format!("unsupported mount type {other:?}")),
                };
            } else {
                fields.push((key, val));
            }
        }
        let mut m = Mount {
            kind,
            target: None,
            source: None,
            from: None,
            // Only bind mounts are read-only unless asked otherwise.
            readonly: kind == MountType::Bind,
            id: None,
            sharing: Sharing::Shared,
            required: false,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            env: None,
        };
        let mut sharing_set = false;
        for (key, val) in fields {
            let Some(val) = val else {
                match key.as_str() {
                    "readonly" | "ro" => m.readonly = true,
                    "readwrite" | "rw" => m.readonly = false,
                    "required" if matches!(kind, MountType::Secret | MountType::Ssh) => m.required = true,
                    _ => return Err(format!("unexpected key '{key}' in '{value}'")),
                }
                continue;
            };
            match key.as_str() {
                "target" | "dst" | "destination" => m.target = Some(val),
                "source" | "src" => m.source = Some(val),
                "from" => m.from = Some(val),
                "readonly" | "ro" => m.readonly = parse_bool_value(&key, &val)?,
                "readwrite" | "rw" => m.readonly = !parse_bool_value(&key, &val)?,
                "required" => m.required = parse_bool_value(&key, &val)?,
                "id" => m.id = Some(val),
                "sharing" => {
                    sharing_set = true;
                    m.sharing = match val.as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        _ => return Err(format!("unsupported sharing value {val:?}")),
                    }
                }
                "mode" => {
                    m.mode = Some(u32::from_str_radix(&val, 8).map_err(|_| format!("invalid mode {val:?}: use octal"))?)
                }
                "uid" => m.uid = Some(val.parse().map_err(|_| format!("invalid uid {val:?}"))?),
                "gid" => m.gid = Some(val.parse().map_err(|_| format!("invalid gid {val:?}"))?),
                "size" if kind == MountType::Tmpfs => m.size = Some(parse_size(&val)?),
                "env" if kind == MountType::Secret => m.env = Some(val),
                _ => return Err(format!("unexpected key '{key}' in '{key}={val}'")),
            }
        }
        match kind {
            MountType::Bind | MountType::Cache | MountType::Tmpfs => {
                if m.target.is_none() {
                    return Err("mount target is required: add target=/path".to_string());
                }
            }
            MountType::Secret => {
                if m.from.is_some() {
                    return Err("secret mount should not have a from".to_string());
                }
                if sharing_set {
                    return Err("secret mount should not define sharing".to_string());
                }
                if m.source.is_some() && m.id.is_some() {
                    return Err("both source and id can't be set".to_string());
                }
                if m.source.is_none() && m.target.is_none() && m.id.is_none() && m.env.is_none() {
                    return Err("invalid secret mount. one of source, target required".to_string());
                }
                // The id defaults to the source, then the target's base name.
                if m.id.is_none() {
                    m.id = m.source.take().or_else(|| {
                        m.target
                            .as_deref()
                            .map(|t| t.rsplit('/').next().unwrap_or(t).to_string())
                    });
                }
                if m.target.is_none() && m.env.is_none() {
                    m.target = m.id.as_ref().map(|id| format!("/run/secrets/{id}"));
                }
                m.readonly = true;
            }
            MountType::Ssh => {
                if m.from.is_some() {
                    return Err("ssh mount should not have a from".to_string());
                }
                if m.id.is_none() {
                    m.id = Some("default".to_string());
                }
                m.readonly = true;
            }
        }
        if sharing_set && kind != MountType::Cache {
            return Err("sharing is only for cache mounts".to_string());
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_flags() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("--from=a b c", &["--from=a"], "b c"),
            ("  --link --chown=1:2   src dst", &["--link", "--chown=1:2"], "src dst"),
            (
                "--mount=type=cache,target=\"/a b\" make",
                &["--mount=type=cache,target=/a b"],
                "make",
            ),
            ("-- --not-a-flag x", &[], "--not-a-flag x"),
            ("-x y", &[], "-x y"),
            ("--only", &["--only"], ""),
            ("", &[], ""),
            ("--a=\"\" x", &["--a="], "x"),
        ];
        for (line, flags, rest) in cases {
            let (f, r) = extract_builder_flags(line);
            assert_eq!(
                (f, r),
                (flags.iter().map(|s| s.to_string()).collect::<Vec<_>>(), *rest),
                "{line}"
            );
        }
    }

    #[test]
    fn flag_parsing() {
        let spec = [
            ("from", FlagType::String),
            ("link", FlagType::Bool),
            ("exclude", FlagType::Strings),
        ];
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = Flags::parse(&args(&["--from=x", "--link", "--exclude=a", "--exclude=b"]), &spec).unwrap();
        assert_eq!(f.string("from").as_deref(), Some("x"));
        assert!(f.bool("link"));
        assert_eq!(f.strings("exclude"), ["a", "b"]);
        let f = Flags::parse(&args(&["--link=FALSE"]), &spec).unwrap();
        assert!(!f.bool("link"));
        let errs: &[(&[&str], &str)] = &[
            (&["--nope=1"], "unknown flag: nope"),
            (&["--from"], "missing a value on flag: from"),
            (&["--from=a", "--from=b"], "duplicate flag specified: from"),
            (&["--link=maybe"], "expecting boolean value for flag link, not: maybe"),
            (&["--link="], "missing a value on flag: link"),
        ];
        for (a, want) in errs {
            assert_eq!(Flags::parse(&args(a), &spec).err().as_deref(), Some(*want));
        }
    }

    #[test]
    fn durations() {
        let ok: &[(&str, u64)] = &[
            ("0", 0),
            ("1s", 1_000_000_000),
            ("300ms", 300_000_000),
            ("1.5h", 5_400_000_000_000),
            ("2h45m", 9_900_000_000_000),
            ("1m30s", 90_000_000_000),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("7ns", 7),
            ("+5s", 5_000_000_000),
            (".5s", 500_000_000),
        ];
        for (s, nanos) in ok {
            assert_eq!(parse_go_duration(s), Ok(Duration::from_nanos(*nanos)), "{s}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "time: invalid duration \"\""),
            ("1", "time: missing unit in duration \"1\""),
            ("1d", "time: unknown unit \"d\" in duration \"1d\""),
            ("s", "time: invalid duration \"s\""),
            ("1..2s", "time: invalid duration \"1..2s\""),
            ("-1s", "duration \"-1s\" cannot be negative"),
        ];
        for (s, want) in bad {
            assert_eq!(parse_go_duration(s).err().as_deref(), Some(*want), "{s}");
        }
    }

    #[test]
    fn mounts() {
        let m = Mount::parse("type=cache,target=/root/.cache,id=go,sharing=locked,mode=0755,uid=1000").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.id.as_deref(), Some("go"));
        assert_eq!(m.sharing, Sharing::Locked);
        assert_eq!(m.mode, Some(0o755));
        assert_eq!(m.uid, Some(1000));
        assert!(!m.readonly);

        let m = Mount::parse("target=/src,from=builder,source=/out").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.readonly);
        assert_eq!(m.from.as_deref(), Some("builder"));
        assert!(!Mount::parse("type=bind,target=/src,rw").unwrap().readonly);
        assert!(Mount::parse("type=cache,target=/c,ro").unwrap().readonly);

        let m = Mount::parse("type=tmpfs,target=/tmp,size=64m").unwrap();
        assert_eq!(m.size, Some(64 << 20));

        let m = Mount::parse("type=secret,id=npmrc,target=/root/.npmrc,required").unwrap();
        assert_eq!((m.id.as_deref(), m.required), (Some("npmrc"), true));
        let m = Mount::parse("type=secret,id=tok").unwrap();
        assert_eq!(m.target.as_deref(), Some("/run/secrets/tok"));
        let m = Mount::parse("type=secret,target=/etc/key.pem").unwrap();
        assert_eq!(m.id.as_deref(), Some("key.pem"));
        let m = Mount::parse("type=secret,id=tok,env=TOKEN").unwrap();
        assert_eq!((m.env.as_deref(), m.target.as_deref()), (Some("TOKEN"), None));
        let m = Mount::parse("type=ssh").unwrap();
        assert_eq!(m.id.as_deref(), Some("default"));
        let m = Mount::parse("type=bind,\"target=/a,b\"").unwrap();
        assert_eq!(m.target.as_deref(), Some("/a,b"));

        let errs: &[(&str, &str)] = &[
            ("type=nfs,target=/x", "unsupported mount type \"nfs\""),
            ("type=cache", "mount target is required: add target=/path"),
            (
                "type=cache,target=/x,sharing=weird",
                "unsupported sharing value \"weird\"",
            ),
            (
                "type=cache,target=/x,bogus",
                "unexpected key 'bogus' in 'type=cache,target=/x,bogus'",
            ),
            ("type=secret", "invalid secret mount. one of source, target required"),
            ("type=secret,id=a,from=b", "secret mount should not have a from"),
            ("type=cache,target=/x,mode=999", "invalid mode \"999\": use octal"),
        ];
        for (v, want) in errs {
            assert_eq!(Mount::parse(v).err().as_deref(), Some(*want), "{v}");
        }
    }

    #[test]
    fn network_and_security() {
        assert_eq!(parse_network("none"), Ok(NetworkMode::None));
        assert_eq!(parse_network("host"), Ok(NetworkMode::Host));
        assert!(parse_network("bridge").is_err());
        assert_eq!(parse_security("insecure"), Ok(SecurityMode::Insecure));
        assert!(parse_security("root").is_err());
    }
}
