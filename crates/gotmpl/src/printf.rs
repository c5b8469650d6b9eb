//! Go `fmt.Sprint`, `fmt.Sprintln` and `fmt.Sprintf` over JSON values.

use serde_json::{Number, Value};

use crate::float;
use crate::value::{num, sorted_entries, type_name, write_v, Num};

/// Go refuses widths and precisions above this.
const TOO_LARGE: usize = 1_000_000;

#[derive(Debug, Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprint`: spaces between operands when neither is a string.
pub(crate) fn sprint(args: &[&Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = arg.is_string();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        write_v(&mut out, arg);
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: spaces between all operands, newline at the end.
pub(crate) fn sprintln(args: &[&Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, arg);
    }
    out.push('\n');
    out
}

/// Parses a decimal number at `i`; `None` if there are no digits. A number
/// that is too large consumes the rest of the format, as in Go.
fn parse_num(b: &[u8], mut i: usize, end: usize) -> (Option<usize>, usize) {
    let mut n = 0usize;
    let mut any = false;
    while i < end && b[i].is_ascii_digit() {
        if n > TOO_LARGE {
            return (None, end);
        }
        n = n * 10 + usize::from(b[i] - b'0');
        any = true;
        i += 1;
    }
    (any.then_some(n), i)
}

/// Integer value of a `*` width/precision argument.
fn int_arg(args: &[&Value], arg_num: usize) -> (Option<i64>, usize) {
    let Some(v) = args.get(arg_num) else {
        return (None, arg_num);
    };
    let n = match v {
        Value::Number(n) => match num(n) {
            Num::Int(i) => i64::try_from(i).ok().filter(|i| i.unsigned_abs() <= TOO_LARGE as u64),
            Num::Float(_) => None,
        },
        _ => None,
    };
    (n, arg_num + 1)
}

struct Printer<'v, 'a> {
    args: &'v [&'a Value],
    arg_num: usize,
    reordered: bool,
    good_arg_num: bool,
}

impl Printer<'_, '_> {
    /// `[n]` argument index at `i`. Returns the new position and whether an index was found.
    fn arg_index(&mut self, b: &[u8], i: usize) -> (usize, bool) {
        if b.get(i) != Some(&b'[') {
            return (i, false);
        }
        self.reordered = true;
        let Some(close) = b[i..].iter().position(|&c| c == b']') else {
            self.good_arg_num = false;
            return (i + 1, false);
        };
        let (n, after) = parse_num(b, i + 1, i + close);
        match n {
            Some(n) if after == i + close => {
                if n >= 1 && n <= self.args.len() {
                    self.arg_num = n - 1;
                } else {
                    self.good_arg_num = false;
                }
                (i + close + 1, true)
            }
            _ => {
                self.good_arg_num = false;
                (i + close + 1, false)
            }
        }
    }
}

/// `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[&Value]) -> String {
    let b = format.as_bytes();
    let end = b.len();
    let mut out = String::with_capacity(format.len());
    let mut p = Printer {
        args,
        arg_num: 0,
        reordered: false,
        good_arg_num: true,
    };
    let mut i = 0;
    while i < end {
        p.good_arg_num = true;
        let lit = i;
        while i < end && b[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[lit..i]);
        if i >= end {
            break;
        }
        i += 1;

        let mut spec = Spec::default();
        while i < end {
            match b[i] {
                b'#' => spec.sharp = true,
                b'0' => spec.zero = !spec.minus,
                b'+' => spec.plus = true,
                b'-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }

        let (ni, mut after_index) = p.arg_index(b, i);
        i = ni;
        if i < end && b[i] == b'*' {
            i += 1;
            let (w, next) = int_arg(args, p.arg_num);
            p.arg_num = next;
            match w {
                Some(w) => {
                    if w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = usize::try_from(w.unsigned_abs()).ok();
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
            after_index = false;
        } else {
            let (w, ni) = parse_num(b, i, end);
            i = ni;
            spec.width = w;
            if after_index && w.is_some() {
                p.good_arg_num = false;
            }
        }

        if i + 1 < end && b[i] == b'.' {
            i += 1;
            if after_index {
                p.good_arg_num = false;
            }
            let (ni, ai) = p.arg_index(b, i);
            i = ni;
            after_index = ai;
            if i < end && b[i] == b'*' {
                i += 1;
                let (pr, next) = int_arg(args, p.arg_num);
                p.arg_num = next;
                match pr {
                    Some(pr) if pr >= 0 => spec.prec = usize::try_from(pr).ok(),
                    Some(_) => {}
                    None => out.push_str("%!(BADPREC)"),
                }
                after_index = false;
            } else {
                let (pr, ni) = parse_num(b, i, end);
                i = ni;
                spec.prec = Some(pr.unwrap_or(0));
            }
        }

        if !after_index {
            let (ni, _) = p.arg_index(b, i);
            i = ni;
        }

        let Some(verb) = format.get(i..).and_then(|s| s.chars().next()) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();

        if verb == '%' {
            out.push('%');
        } else if !p.good_arg_num {
            out.push_str(&format!("%!{verb}(BADINDEX)"));
        } else if let Some(arg) = args.get(p.arg_num) {
            if verb == 'v' {
                // `%+v` and `%#v` are separate formats in Go; for JSON data they print like `%v`.
                spec.plus = false;
                spec.sharp = false;
            }
            fmt_arg(&mut out, &spec, verb, arg);
            p.arg_num += 1;
        } else {
            out.push_str(&format!("%!{verb}(MISSING)"));
        }
    }

    if !p.reordered && p.arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, arg) in args[p.arg_num..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if arg.is_null() {
                out.push_str("<nil>");
            } else {
                out.push_str(type_name(arg));
                out.push('=');
                write_v(&mut out, arg);
            }
        }
        out.push(')');
    }
    out
}

fn bad_verb(out: &mut String, verb: char, v: &Value) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if v.is_null() {
        out.push_str("<nil>");
    } else {
        out.push_str(type_name(v));
        out.push('=');
        write_v(out, v);
    }
    out.push(')');
}

fn push_n(out: &mut String, c: char, n: usize) {
    for _ in 0..n {
        out.push(c);
    }
}

/// Pads `s` to the width, with zeros on the left when the zero flag is set.
fn pad(out: &mut String, s: &str, spec: &Spec) {
    let width = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        push_n(out, ' ', fill);
    } else {
        let c = if spec.zero { '0' } else { ' ' };
        push_n(out, c, fill);
        out.push_str(s);
    }
}

fn pad_spaces(out: &mut String, s: &str, spec: &Spec) {
    pad(out, s, &Spec { zero: false, ..*spec });
}

fn fmt_arg(out: &mut String, spec: &Spec, verb: char, v: &Value) {
    if verb == 'T' {
        pad(out, type_name(v), spec);
        return;
    }
    match v {
        Value::Null => {
            if verb == 'v' {
                pad(out, "<nil>", spec);
            } else {
                bad_verb(out, verb, v);
            }
        }
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, spec),
            _ => bad_verb(out, verb, v),
        },
        Value::Number(n) => fmt_number(out, spec, verb, n, v),
        Value::String(s) => fmt_string(out, spec, verb, s, v),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_arg(out, spec, verb, item);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push_str("map[");
            for (i, (k, item)) in sorted_entries(m).into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, spec, verb, k, &Value::String(k.clone()));
                out.push(':');
                fmt_arg(out, spec, verb, item);
            }
            out.push(']');
        }
    }
}

fn fmt_string(out: &mut String, spec: &Spec, verb: char, s: &str, v: &Value) {
    let truncated = match spec.prec {
        Some(p) => s.char_indices().nth(p).map_or(s, |(idx, _)| &s[..idx]),
        None => s,
    };
    match verb {
        'v' | 's' => pad(out, truncated, spec),
        'q' => pad(out, &quote(truncated, spec.plus), spec),
        'x' | 'X' => {
            let bytes = match spec.prec {
                Some(p) => &s.as_bytes()[..p.min(s.len())],
                None => s.as_bytes(),
            };
            pad(out, &hex_bytes(bytes, verb == 'X', spec), spec);
        }
        _ => bad_verb(out, verb, v),
    }
}

fn hex_bytes(bytes: &[u8], upper: bool, spec: &Spec) -> String {
    let mut s = String::new();
    for (i, byte) in bytes.iter().enumerate() {
        if spec.space && i > 0 {
            s.push(' ');
        }
        if spec.sharp && (i == 0 || spec.space) {
            s.push_str(if upper { "0X" } else { "0x" });
        }
        if upper {
            s.push_str(&format!("{byte:02X}"));
        } else {
            s.push_str(&format!("{byte:02x}"));
        }
    }
    s
}

fn fmt_number(out: &mut String, spec: &Spec, verb: char, n: &Number, v: &Value) {
    let value = num(n);
    match verb {
        'v' => match value {
            Num::Int(i) => fmt_integer(out, spec, 'd', i),
            Num::Float(f) => fmt_float(out, spec, 'v', f),
        },
        'd' | 'b' | 'o' | 'O' | 'x' | 'X' | 'c' | 'q' | 'U' => match value.as_int() {
            Some(i) => fmt_integer(out, spec, verb, i),
            None => bad_verb(out, verb, v),
        },
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => fmt_float(out, spec, verb, value.as_f64()),
        _ => bad_verb(out, verb, v),
    }
}

fn fmt_integer(out: &mut String, spec: &Spec, verb: char, i: i128) {
    let neg = i < 0;
    let mag = i.unsigned_abs();
    match verb {
        'c' => {
            let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            pad(out, c.encode_utf8(&mut [0; 4]), spec);
            return;
        }
        'q' => {
            let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c, spec.plus), spec);
            return;
        }
        'U' => {
            pad(out, &format!("U+{mag:04X}"), spec);
            return;
        }
        _ => {}
    }
    let digits = match verb {
        'b' => format!("{mag:b}"),
        'o' | 'O' => format!("{mag:o}"),
        'x' => format!("{mag:x}"),
        'X' => format!("{mag:X}"),
        _ => mag.to_string(),
    };
    let mut min_digits = 0;
    if let Some(p) = spec.prec {
        if p == 0 && mag == 0 {
            pad_spaces(out, "", spec);
            return;
        }
        min_digits = p;
    } else if spec.zero && !spec.minus {
        if let Some(w) = spec.width {
            min_digits = w;
            if neg || spec.plus || spec.space {
                min_digits = min_digits.saturating_sub(1);
            }
        }
    }
    let mut body = String::new();
    if neg {
        body.push('-');
    } else if spec.plus {
        body.push('+');
    } else if spec.space {
        body.push(' ');
    }
    let zeros = min_digits.saturating_sub(digits.len());
    match verb {
        'b' if spec.sharp => body.push_str("0b"),
        'o' if spec.sharp && zeros == 0 && !digits.starts_with('0') => body.push('0'),
        'O' => body.push_str("0o"),
        'x' if spec.sharp => body.push_str("0x"),
        'X' if spec.sharp => body.push_str("0X"),
        _ => {}
    }
    push_n(&mut body, '0', zeros);
    body.push_str(&digits);
    pad_spaces(out, &body, spec);
}

fn fmt_float(out: &mut String, spec: &Spec, verb: char, f: f64) {
    let abs = f.abs();
    let upper = verb.is_ascii_uppercase();
    let body = match verb {
        'v' => float::float_v(abs),
        'e' | 'E' => float::e_prec(abs, spec.prec.unwrap_or(6), upper),
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), abs),
        _ => match spec.prec {
            Some(p) => float::g_prec(abs, p, upper),
            None => float::g_shortest(abs, upper),
        },
    };
    let sign = if f.is_sign_negative() {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let len = sign.len() + body.len();
    match spec.width {
        Some(w) if spec.zero && !spec.minus && w > len => {
            out.push_str(sign);
            push_n(out, '0', w - len);
            out.push_str(&body);
        }
        _ => pad_spaces(out, &format!("{sign}{body}"), spec),
    }
}

/// Approximation of Go's `unicode.IsPrint`.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'))
}

fn escape_char(s: &mut String, c: char, quote: char, ascii_only: bool) {
    match c {
        '\u{7}' => s.push_str("\\a"),
        '\u{8}' => s.push_str("\\b"),
        '\u{c}' => s.push_str("\\f"),
        '\n' => s.push_str("\\n"),
        '\r' => s.push_str("\\r"),
        '\t' => s.push_str("\\t"),
        '\u{b}' => s.push_str("\\v"),
        '\\' => s.push_str("\\\\"),
        c if c == quote => {
            s.push('\\');
            s.push(c);
        }
        c if c.is_ascii() && is_print(c) => s.push(c),
        c if !c.is_ascii() && !ascii_only && is_print(c) => s.push(c),
        c if (c as u32) < 0x80 => s.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => s.push_str(&format!("\\u{:04x}", c as u32)),
        c => s.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.Quote` (or `QuoteToASCII`).
pub(crate) fn quote(text: &str, ascii_only: bool) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        escape_char(&mut s, c, '"', ascii_only);
    }
    s.push('"');
    s
}

fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut s = String::from("'");
    escape_char(&mut s, c, '\'', ascii_only);
    s.push('\'');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(format: &str, args: &[Value]) -> String {
        let refs: Vec<&Value> = args.iter().collect();
        sprintf(format, &refs)
    }

    #[test]
    fn strings_and_widths() {
        assert_eq!(f("%-10s|", &[json!("abc")]), "abc       |");
        assert_eq!(f("%10s|", &[json!("abc")]), "       abc|");
        assert_eq!(f("%.2s", &[json!("héllo")]), "hé");
        assert_eq!(f("%q", &[json!("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(f("%x", &[json!("hi")]), "6869");
        assert_eq!(f("%X", &[json!("hi")]), "6869");
        assert_eq!(f("%5.1s|", &[json!("xyz")]), "    x|");
        assert_eq!(f("%*d", &[json!(4), json!(7)]), "   7");
        assert_eq!(f("%-*d|", &[json!(3), json!(7)]), "7  |");
    }

    #[test]
    fn integers() {
        assert_eq!(f("%d", &[json!(42)]), "42");
        assert_eq!(f("%05d", &[json!(-42)]), "-0042");
        assert_eq!(f("%+d", &[json!(5)]), "+5");
        assert_eq!(
            f("%x %X %o %b", &[json!(255), json!(255), json!(8), json!(5)]),
            "ff FF 10 101"
        );
        assert_eq!(f("%#x %#o", &[json!(255), json!(8)]), "0xff 010");
        assert_eq!(f("%.3d", &[json!(7)]), "007");
        assert_eq!(f("%c%c", &[json!(72), json!(105)]), "Hi");
        assert_eq!(f("%q", &[json!(97)]), "'a'");
        assert_eq!(f("%U", &[json!(0x1F600)]), "U+1F600");
        assert_eq!(f("%d", &[json!(18446744073709551615u64)]), "18446744073709551615");
        assert_eq!(f("%d", &[json!(3.0)]), "3");
        assert_eq!(f("%d", &[json!(1.5)]), "%!d(float64=1.5)");
    }

    #[test]
    fn floats() {
        assert_eq!(f("%f", &[json!(1.5)]), "1.500000");
        assert_eq!(f("%.2f", &[json!(4.56789)]), "4.57");
        assert_eq!(f("%8.3f|", &[json!(-4.56789)]), "  -4.568|");
        assert_eq!(f("%08.3f", &[json!(-4.56789)]), "-004.568");
        assert_eq!(f("%e", &[json!(1234.5678)]), "1.234568e+03");
        assert_eq!(f("%g", &[json!(0.000012)]), "1.2e-05");
        assert_eq!(f("%.3g", &[json!(1234.5)]), "1.23e+03");
        assert_eq!(f("%v", &[json!(2.5)]), "2.5");
        assert_eq!(f("%.1f", &[json!(2)]), "2.0");
    }

    #[test]
    fn other_verbs_and_errors() {
        assert_eq!(f("%t", &[json!(true)]), "true");
        assert_eq!(f("%v", &[Value::Null]), "<nil>");
        assert_eq!(f("%s", &[Value::Null]), "%!s(<nil>)");
        assert_eq!(f("%s", &[json!(3)]), "%!s(int=3)");
        assert_eq!(f("%d", &[json!("x")]), "%!d(string=x)");
        assert_eq!(f("%d %d", &[json!(1)]), "1 %!d(MISSING)");
        assert_eq!(f("%d", &[json!(1), json!("a")]), "1%!(EXTRA string=a)");
        assert_eq!(f("100%%", &[]), "100%");
        assert_eq!(f("%", &[]), "%!(NOVERB)");
        assert_eq!(f("%z", &[json!(1)]), "%!z(int=1)");
        assert_eq!(f("%[2]s %[1]s", &[json!("a"), json!("b")]), "b a");
        assert_eq!(f("%[3]s", &[json!("a")]), "%!s(BADINDEX)");
        assert_eq!(f("%T %T", &[json!("a"), json!([1])]), "string []interface {}");
        assert_eq!(f("%v", &[json!(["a", 1, null])]), "[a 1 <nil>]");
        assert_eq!(f("%q", &[json!(["a", "b"])]), "[\"a\" \"b\"]");
        assert_eq!(f("%v", &[json!({"b": 2, "a": [1]})]), "map[a:[1] b:2]");
        assert_eq!(f("%3d", &[json!([1, 2])]), "[  1   2]");
        assert_eq!(f("%9999999999d", &[json!(1)]), "%!(NOVERB)%!(EXTRA int=1)");
    }

    #[test]
    fn sprint_spacing() {
        let a = json!("a");
        let one = json!(1);
        let two = json!(2);
        assert_eq!(sprint(&[&a, &one, &two, &a]), "a1 2a");
        assert_eq!(sprintln(&[&a, &one]), "a 1\n");
    }
}
