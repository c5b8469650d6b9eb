//! Built-in functions: Go's text/template builtins plus docker/cli's extras.

use std::borrow::Cow;

use serde_json::Value;

use crate::exec::{null, V};
use crate::printf::{is_print, sprint, sprintf, sprintln};
use crate::value::{is_true, num, to_json, to_v, type_name, values_eq, values_lt};

/// Upper bound for `pad` counts, so a typo cannot exhaust memory.
const MAX_PAD: i64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    And,
    Or,
    Not,
    Len,
    Index,
    Slice,
    Print,
    Printf,
    Println,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Html,
    Js,
    Urlquery,
    Json,
    Split,
    Join,
    Title,
    Lower,
    Upper,
    Pad,
    Truncate,
}

const ALL: [(Func, &str); 26] = [
    (Func::And, "and"),
    (Func::Or, "or"),
    (Func::Not, "not"),
    (Func::Len, "len"),
    (Func::Index, "index"),
    (Func::Slice, "slice"),
    (Func::Print, "print"),
    (Func::Printf, "printf"),
    (Func::Println, "println"),
    (Func::Eq, "eq"),
    (Func::Ne, "ne"),
    (Func::Lt, "lt"),
    (Func::Le, "le"),
    (Func::Gt, "gt"),
    (Func::Ge, "ge"),
    (Func::Html, "html"),
    (Func::Js, "js"),
    (Func::Urlquery, "urlquery"),
    (Func::Json, "json"),
    (Func::Split, "split"),
    (Func::Join, "join"),
    (Func::Title, "title"),
    (Func::Lower, "lower"),
    (Func::Upper, "upper"),
    (Func::Pad, "pad"),
    (Func::Truncate, "truncate"),
];

/// Why a call failed: Go reports argument type problems as they are and
/// wraps failures inside the function as "error calling NAME: ...".
pub(crate) enum Fail {
    Arg(String),
    Call(String),
}

fn call_err<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Call(msg.into()))
}

impl Func {
    pub(crate) fn from_name(name: &str) -> Option<Func> {
        ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    pub(crate) fn name(self) -> &'static str {
        ALL.iter().find(|(f, _)| *f == self).map_or("?", |(_, n)| n)
    }

    /// Number of fixed parameters and whether more may follow.
    fn arity(self) -> (usize, bool) {
        use Func::*;
        match self {
            And | Or | Index | Slice | Printf | Eq => (1, true),
            Print | Println | Html | Js | Urlquery => (0, true),
            Not | Len | Json | Title | Lower | Upper => (1, false),
            Ne | Lt | Le | Gt | Ge | Split | Join | Truncate => (2, false),
            Pad => (3, false),
        }
    }

    pub(crate) fn check_arity(self, got: usize) -> Result<(), String> {
        let (want, variadic) = self.arity();
        if variadic && got < want {
            return Err(format!(
                "wrong number of args for {}: want at least {want} got {got}",
                self.name()
            ));
        }
        if !variadic && got != want {
            return Err(format!(
                "wrong number of args for {}: want {want} got {got}",
                self.name()
            ));
        }
        Ok(())
    }
}

fn owned<'a>(v: Value) -> V<'a> {
    Cow::Owned(v)
}

fn string<'a>(s: String) -> V<'a> {
    Cow::Owned(Value::String(s))
}

fn boolean<'a>(b: bool) -> V<'a> {
    Cow::Owned(Value::Bool(b))
}

fn str_arg(v: &Value) -> Result<&str, Fail> {
    match v {
        Value::String(s) => Ok(s),
        Value::Null => Err(Fail::Arg("invalid value; expected string".into())),
        other => Err(Fail::Arg(format!(
            "wrong type for value; expected string; got {}",
            type_name(other)
        ))),
    }
}

fn int_arg(v: &Value) -> Result<i64, Fail> {
    match v {
        Value::Number(n) => match num(n).as_int().and_then(|i| i64::try_from(i).ok()) {
            Some(i) => Ok(i),
            None => Err(Fail::Arg(format!(
                "wrong type for value; expected int; got {}",
                type_name(v)
            ))),
        },
        Value::Null => Err(Fail::Arg("invalid value; expected int".into())),
        other => Err(Fail::Arg(format!(
            "wrong type for value; expected int; got {}",
            type_name(other)
        ))),
    }
}

/// Calls a builtin with evaluated arguments (arity already checked).
pub(crate) fn call<'a>(f: Func, args: Vec<V<'a>>) -> Result<V<'a>, Fail> {
    let refs: Vec<&Value> = args.iter().map(|a| a.as_ref()).collect();
    match f {
        Func::And | Func::Or => {
            // Normally evaluated lazily by the executor; this is the eager fallback.
            let want = f == Func::Or;
            let mut last = null();
            for a in args {
                if is_true(&a) == want {
                    return Ok(a);
                }
                last = a;
            }
            Ok(last)
        }
        Func::Not => Ok(boolean(!refs.first().is_some_and(|v| is_true(v)))),
        Func::Len => {
            let Some(v) = refs.first() else {
                return call_err("missing argument");
            };
            let n = match v {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                // A nil slice or map has length 0.
                Value::Null => 0,
                other => return call_err(format!("len of type {}", type_name(other))),
            };
            Ok(owned(Value::from(n)))
        }
        Func::Index => index(args),
        Func::Slice => slice(args),
        Func::Print => Ok(string(sprint(&refs))),
        Func::Println => Ok(string(sprintln(&refs))),
        Func::Printf => {
            let Some((first, rest)) = refs.split_first() else {
                return call_err("missing format");
            };
            Ok(string(sprintf(str_arg(first)?, rest)))
        }
        Func::Eq => {
            let Some((first, rest)) = refs.split_first() else {
                return call_err("missing argument");
            };
            if rest.is_empty() {
                return call_err("missing argument for comparison");
            }
            for other in rest {
                if values_eq(first, other).map_err(Fail::Call)? {
                    return Ok(boolean(true));
                }
            }
            Ok(boolean(false))
        }
        Func::Ne | Func::Lt | Func::Le | Func::Gt | Func::Ge => {
            let [a, b] = refs.as_slice() else {
                return call_err("expected two arguments");
            };
            let result = match f {
                Func::Ne => !values_eq(a, b).map_err(Fail::Call)?,
                Func::Lt => values_lt(a, b).map_err(Fail::Call)?,
                Func::Ge => !values_lt(a, b).map_err(Fail::Call)?,
                _ => {
                    let le = values_lt(a, b).map_err(Fail::Call)? || values_eq(a, b).map_err(Fail::Call)?;
                    if f == Func::Le {
                        le
                    } else {
                        !le
                    }
                }
            };
            Ok(boolean(result))
        }
        Func::Html => Ok(string(html_escape(&args_string(&refs)))),
        Func::Js => Ok(string(js_escape(&args_string(&refs)))),
        Func::Urlquery => Ok(string(query_escape(&args_string(&refs)))),
        Func::Json => Ok(string(refs.first().map_or_else(|| "null".to_string(), |v| to_json(v)))),
        Func::Split => {
            let [s, sep] = refs.as_slice() else {
                return call_err("expected two arguments");
            };
            let (s, sep) = (str_arg(s)?, str_arg(sep)?);
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep).map(|p| Value::String(p.to_string())).collect()
            };
            Ok(owned(Value::Array(parts)))
        }
        Func::Join => {
            let [items, sep] = refs.as_slice() else {
                return call_err("expected two arguments");
            };
            let sep = str_arg(sep)?;
            let joined = match items {
                Value::Array(items) => {
                    let parts: Vec<String> = items.iter().map(to_v).collect();
                    parts.join(sep)
                }
                Value::Null => String::new(),
                other => {
                    return Err(Fail::Arg(format!(
                        "wrong type for value; expected []string; got {}",
                        type_name(other)
                    )))
                }
            };
            Ok(string(joined))
        }
        Func::Title => Ok(string(title(str_arg(first(&refs))?))),
        Func::Lower => Ok(string(str_arg(first(&refs))?.chars().map(lower_char).collect())),
        Func::Upper => Ok(string(str_arg(first(&refs))?.chars().map(upper_char).collect())),
        Func::Pad => {
            let [s, left, right] = refs.as_slice() else {
                return call_err("expected three arguments");
            };
            let (s, left, right) = (str_arg(s)?, int_arg(left)?, int_arg(right)?);
            if left < 0 || right < 0 {
                return call_err("strings: negative Repeat count");
            }
            if left > MAX_PAD || right > MAX_PAD {
                return call_err("pad count too large");
            }
            if s.is_empty() {
                return Ok(string(String::new()));
            }
            let (left, right) = (left as usize, right as usize);
            Ok(string(format!("{}{s}{}", " ".repeat(left), " ".repeat(right))))
        }
        Func::Truncate => {
            let [s, n] = refs.as_slice() else {
                return call_err("expected two arguments");
            };
            let (s, n) = (str_arg(s)?, int_arg(n)?);
            let Ok(n) = usize::try_from(n) else {
                return call_err(format!("slice bounds out of range [:{n}]"));
            };
            Ok(string(s.chars().take(n).collect()))
        }
    }
}

fn first<'v>(refs: &[&'v Value]) -> &'v Value {
    refs.first().copied().unwrap_or(&Value::Null)
}

enum Indexed<'v> {
    Ref(&'v Value),
    Val(Value),
}

/// Go's `indexArg`: an integer in `0..=cap`.
fn index_arg(idx: &Value, cap: usize) -> Result<usize, Fail> {
    let x = match idx {
        Value::Number(n) => match num(n).as_int() {
            Some(x) => x,
            None => return call_err(format!("cannot index slice/array with type {}", type_name(idx))),
        },
        Value::Null => return call_err("cannot index slice/array with nil"),
        other => return call_err(format!("cannot index slice/array with type {}", type_name(other))),
    };
    match usize::try_from(x) {
        Ok(i) if i <= cap => Ok(i),
        _ => call_err(format!("index out of range: {x}")),
    }
}

fn index_step<'v>(item: &'v Value, idx: &Value) -> Result<Indexed<'v>, Fail> {
    match item {
        Value::Array(a) => {
            let i = index_arg(idx, a.len())?;
            match a.get(i) {
                Some(v) => Ok(Indexed::Ref(v)),
                None => call_err(format!("index out of range: {i}")),
            }
        }
        Value::String(s) => {
            let i = index_arg(idx, s.len())?;
            match s.as_bytes().get(i) {
                Some(b) => Ok(Indexed::Val(Value::from(*b))),
                None => call_err(format!("index out of range: {i}")),
            }
        }
        Value::Object(m) => match idx {
            Value::String(k) => Ok(m.get(k).map_or(Indexed::Val(Value::Null), Indexed::Ref)),
            Value::Null => call_err("value is nil; should be of type string"),
            other => call_err(format!("value has type {}; should be string", type_name(other))),
        },
        // Indexing a nil map or slice gives the zero value.
        Value::Null => Ok(Indexed::Val(Value::Null)),
        other => call_err(format!("can't index item of type {}", type_name(other))),
    }
}

fn index(args: Vec<V<'_>>) -> Result<V<'_>, Fail> {
    let mut it = args.into_iter();
    let Some(mut item) = it.next() else {
        return call_err("missing argument");
    };
    for idx in it {
        item = match item {
            Cow::Borrowed(v) => match index_step(v, &idx)? {
                Indexed::Ref(r) => Cow::Borrowed(r),
                Indexed::Val(v) => Cow::Owned(v),
            },
            Cow::Owned(v) => Cow::Owned(match index_step(&v, &idx)? {
                Indexed::Ref(r) => r.clone(),
                Indexed::Val(v) => v,
            }),
        };
    }
    Ok(item)
}

fn slice(args: Vec<V<'_>>) -> Result<V<'_>, Fail> {
    let Some((item, idxs)) = args.split_first() else {
        return call_err("missing argument");
    };
    if idxs.len() > 3 {
        return call_err(format!("too many slice indexes: {}", idxs.len()));
    }
    let (len, cap) = match item.as_ref() {
        Value::String(s) => {
            if idxs.len() == 3 {
                return call_err("cannot 3-index slice a string");
            }
            (s.len(), s.len())
        }
        Value::Array(a) => (a.len(), a.len()),
        Value::Null => return Ok(null()),
        other => return call_err(format!("can't slice item of type {}", type_name(other))),
    };
    let mut bounds = [0, len, cap];
    for (i, idx) in idxs.iter().enumerate() {
        bounds[i] = index_arg(idx, cap)?;
    }
    if bounds[0] > bounds[1] {
        return call_err(format!("invalid slice index: {} > {}", bounds[0], bounds[1]));
    }
    if idxs.len() == 3 && bounds[1] > bounds[2] {
        return call_err(format!("invalid slice index: {} > {}", bounds[1], bounds[2]));
    }
    let (from, to) = (bounds[0], bounds[1]);
    match item.as_ref() {
        Value::String(s) => {
            let bytes = s.as_bytes().get(from..to).unwrap_or(&[]);
            Ok(string(String::from_utf8_lossy(bytes).into_owned()))
        }
        Value::Array(a) => Ok(owned(Value::Array(a.get(from..to).unwrap_or(&[]).to_vec()))),
        _ => Ok(null()),
    }
}

/// Go's `evalArgs` for html/js/urlquery: a lone string as is, else `fmt.Sprint`
/// with missing values shown as `<no value>`.
fn args_string(args: &[&Value]) -> String {
    if let [Value::String(s)] = args {
        return s.clone();
    }
    let no_value = Value::String("<no value>".into());
    let shown: Vec<&Value> = args.iter().map(|v| if v.is_null() { &no_value } else { *v }).collect();
    sprint(&shown)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() || is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// Go's url.QueryEscape: unreserved bytes as they are, space as '+', the rest %XX.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `unicode.ToUpper`: one-to-one mapping only.
fn upper_char(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower`: one-to-one mapping only.
fn lower_char(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn title_char(c: char) -> char {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        c => upper_char(c),
    }
}

/// Go's `strings.Title` word boundary rule.
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) { title_char(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (f, name) in ALL {
            assert_eq!(Func::from_name(name), Some(f));
            assert_eq!(f.name(), name);
        }
        assert_eq!(Func::from_name("call"), None);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            js_escape("a'b\"c<d>=&\\\n"),
            "a\\'b\\\"c\\u003Cd\\u003E\\u003D\\u0026\\\\\\u000A"
        );
        assert_eq!(query_escape("a b&c=d/é~"), "a+b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn title_like_go() {
        assert_eq!(title("hello wide-world foo_bar 3am"), "Hello Wide-World Foo_bar 3am");
        assert_eq!(title("élan vital"), "Élan Vital");
    }
}
