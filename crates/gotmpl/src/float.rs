//! Go `strconv` style float formatting (`%e`, `%f`, `%g`, shortest `%v`).

/// Decimal digits of a non-negative float: value = 0.d1d2d3... × 10^dp.
/// No trailing zeros; zero has no digits.
pub(crate) struct Decimal {
    digits: Vec<u8>,
    dp: i32,
}

impl Decimal {
    /// Parses Rust's `{:e}` output for a non-negative number.
    fn from_sci(s: &str) -> Decimal {
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        let dp = if digits.is_empty() { 0 } else { exp + 1 };
        Decimal { digits, dp }
    }

    /// Shortest digits that round-trip.
    pub(crate) fn shortest(abs: f64) -> Decimal {
        Decimal::from_sci(&format!("{abs:e}"))
    }

    /// Rounded to `sig` (>= 1) significant digits.
    pub(crate) fn rounded(abs: f64, sig: usize) -> Decimal {
        Decimal::from_sci(&format!("{:.*e}", sig.saturating_sub(1), abs))
    }

    fn digit(&self, i: i64) -> char {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.digits.get(i))
            .map_or('0', |&d| d as char)
    }

    fn nd(&self) -> i32 {
        i32::try_from(self.digits.len()).unwrap_or(i32::MAX)
    }

    /// `%e` with `prec` digits after the point.
    pub(crate) fn fmt_e(&self, prec: usize, upper: bool) -> String {
        let mut s = String::new();
        s.push(self.digit(0));
        if prec > 0 {
            s.push('.');
            for i in 1..=prec {
                s.push(self.digit(i as i64));
            }
        }
        s.push(if upper { 'E' } else { 'e' });
        let exp = if self.digits.is_empty() { 0 } else { self.dp - 1 };
        s.push(if exp < 0 { '-' } else { '+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            s.push('0');
        }
        s.push_str(&abs.to_string());
        s
    }

    /// `%f` with `prec` digits after the point.
    pub(crate) fn fmt_f(&self, prec: usize) -> String {
        let mut s = String::new();
        if self.dp > 0 {
            for i in 0..self.dp {
                s.push(self.digit(i64::from(i)));
            }
        } else {
            s.push('0');
        }
        if prec > 0 {
            s.push('.');
            for i in 0..prec {
                s.push(self.digit(i64::from(self.dp) + i as i64));
            }
        }
        s
    }

    /// `%g`; `prec` is the requested precision (the digit count when shortest).
    pub(crate) fn fmt_g(&self, prec: usize, shortest: bool, upper: bool) -> String {
        let nd = self.nd();
        let prec = i32::try_from(prec).unwrap_or(i32::MAX);
        let mut eprec = prec;
        if eprec > nd && nd >= self.dp {
            eprec = nd;
        }
        if shortest {
            eprec = 6;
        }
        let exp = self.dp - 1;
        if exp < -4 || exp >= eprec {
            let p = prec.min(nd);
            return self.fmt_e((p - 1).max(0) as usize, upper);
        }
        let p = if prec > self.dp { nd } else { prec };
        self.fmt_f((p - self.dp).max(0) as usize)
    }
}

/// Go's `%v` / `%g` with the shortest representation, for a non-negative value.
pub(crate) fn g_shortest(abs: f64, upper: bool) -> String {
    let d = Decimal::shortest(abs);
    d.fmt_g(d.digits.len(), true, upper)
}

/// Go's `%.{prec}g` for a non-negative value.
pub(crate) fn g_prec(abs: f64, prec: usize, upper: bool) -> String {
    let prec = prec.max(1);
    Decimal::rounded(abs, prec).fmt_g(prec, false, upper)
}

/// Go's `%.{prec}e` for a non-negative value.
pub(crate) fn e_prec(abs: f64, prec: usize, upper: bool) -> String {
    Decimal::rounded(abs, prec + 1).fmt_e(prec, upper)
}

/// How a JSON number prints with `%v`: integral values (below 1e21) without
/// a fractional part, other floats like Go's shortest `%v`.
pub(crate) fn float_v(f: f64) -> String {
    let abs = f.abs();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if abs.fract() == 0.0 && abs < 1e21 {
        format!("{sign}{abs:.0}")
    } else {
        format!("{sign}{}", g_shortest(abs, false))
    }
}

/// Go `encoding/json` float formatting.
pub(crate) fn float_json(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let d = Decimal::shortest(abs);
        let sign = if f.is_sign_negative() { "-" } else { "" };
        let mut mantissa = String::new();
        mantissa.push(d.digit(0));
        if d.digits.len() > 1 {
            mantissa.push('.');
            for i in 1..d.digits.len() {
                mantissa.push(d.digit(i as i64));
            }
        }
        let exp = d.dp - 1;
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{esign}{}", exp.unsigned_abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_g_like_go() {
        assert_eq!(g_shortest(1.5, false), "1.5");
        assert_eq!(g_shortest(1e21, false), "1e+21");
        assert_eq!(g_shortest(1e6, false), "1e+06");
        assert_eq!(g_shortest(123456.0, false), "123456");
        assert_eq!(g_shortest(0.0001, false), "0.0001");
        assert_eq!(g_shortest(0.00001, false), "1e-05");
        assert_eq!(g_shortest(1234567.5, false), "1.2345675e+06");
        assert_eq!(g_shortest(0.0, false), "0");
        assert_eq!(g_shortest(1e-300, true), "1E-300");
    }

    #[test]
    fn precision_g_like_go() {
        assert_eq!(g_prec(1.5, 3, false), "1.5");
        assert_eq!(g_prec(100.0, 3, false), "100");
        assert_eq!(g_prec(1234.0, 3, false), "1.23e+03");
        assert_eq!(g_prec(999.9, 3, false), "1e+03");
        assert_eq!(g_prec(0.0, 3, false), "0");
        assert_eq!(g_prec(4.56789, 0, false), "5");
    }

    #[test]
    fn e_and_f() {
        assert_eq!(e_prec(1.5, 6, false), "1.500000e+00");
        assert_eq!(e_prec(0.0, 2, true), "0.00E+00");
        assert_eq!(e_prec(123456.0, 2, false), "1.23e+05");
        assert_eq!(Decimal::shortest(1234.5).fmt_f(3), "1234.500");
        assert_eq!(Decimal::shortest(0.05).fmt_f(2), "0.05");
    }

    #[test]
    fn value_and_json_floats() {
        assert_eq!(float_v(3.0), "3");
        assert_eq!(float_v(-2.5), "-2.5");
        assert_eq!(float_v(1e21), "1e+21");
        assert_eq!(float_v(1e20), "100000000000000000000");
        assert_eq!(float_json(1.5), "1.5");
        assert_eq!(float_json(3.0), "3");
        assert_eq!(float_json(1e21), "1e+21");
        assert_eq!(float_json(1e-7), "1e-7");
        assert_eq!(float_json(-1.25e-10), "-1.25e-10");
        assert_eq!(float_json(0.000001), "0.000001");
    }
}
