//! Docker's human units (go-units): sizes and durations as `docker` shows them; the parsers of sizes
//! and CPU counts that flags and API fields share.

pub use berth_runtime::spec::{parse_cpus, parse_memory};

/// go-units HumanDuration, as in "2 days ago".
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let minutes = s / 60;
    let hours = (s as f64 / 3600.0).round() as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// go-units HumanSizeWithPrecision: decimal units, `%.{precision}g`.
pub fn human_size(bytes: u64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, precision), UNITS[unit])
}

/// Go's `%.{p}g` for non-negative values.
pub fn format_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let p = precision.max(1);
    let exponent = value.abs().log10().floor() as i32;
    // Rounding can carry into the next power of ten (999.9 -> 1e+03).
    let rounded: f64 = format!("{:.*e}", p - 1, value).parse().unwrap_or(value);
    let exponent = if rounded.abs() > 0.0 {
        rounded.abs().log10().floor() as i32
    } else {
        exponent
    };
    if exponent < -4 || exponent >= p as i32 {
        let mantissa = rounded / 10f64.powi(exponent);
        let m = trim_zeros(format!("{:.*}", p - 1, mantissa));
        format!("{m}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
    } else {
        let decimals = (p as i32 - 1 - exponent).max(0) as usize;
        trim_zeros(format!("{:.*}", decimals, rounded))
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size(0, 3), "0B");
        assert_eq!(human_size(5, 3), "5B");
        assert_eq!(human_size(1234, 3), "1.23kB");
        assert_eq!(human_size(4_261_550, 3), "4.26MB");
        assert_eq!(human_size(72_800_000, 3), "72.8MB");
        assert_eq!(human_size(133_000_000, 3), "133MB");
        assert_eq!(human_size(4_261_550, 4), "4.262MB");
        assert_eq!(human_size(1_000_000, 3), "1MB");
        assert_eq!(human_size(999_999, 3), "1e+03kB");
    }

    #[test]
    fn durations_match_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(70), "About a minute");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(100 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }
}
