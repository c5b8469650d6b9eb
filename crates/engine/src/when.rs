//! Points in time as Docker's `--since`/`--until` take them: a Go duration back from now (`10m`,
//! `1h30m`), an RFC 3339 time or a shorter date, or Unix seconds with an optional fraction.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::{Error, Result};

/// Nanoseconds since the Unix epoch that `text` names, relative to `now` for a duration.
pub fn parse_when(text: &str, now: DateTime<Utc>) -> Result<i64> {
    let invalid = || {
        Error::InvalidArgument(format!(
            "invalid time {text:?}: use a timestamp (2006-01-02T15:04:05Z, or Unix seconds) or a duration such as 10m"
        ))
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(back) = berth_build::parse_go_duration(text) {
        let back = chrono::Duration::from_std(back).map_err(|_| invalid())?;
        return nanos(now - back).ok_or_else(invalid);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return nanos(t.with_timezone(&Utc)).ok_or_else(invalid);
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, layout) {
            return nanos(t.and_utc()).ok_or_else(invalid);
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| nanos(t.and_utc()))
            .ok_or_else(invalid);
    }
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let secs: i64 = secs.parse().map_err(|_| invalid())?;
    // The fraction is nanoseconds as written: "1.5" is 1.5 s, "1.000000001" one nanosecond more.
    let mut digits = fraction.chars().take(9).collect::<String>();
    while digits.len() < 9 {
        digits.push('0');
    }
    let fraction: i64 = digits.parse().map_err(|_| invalid())?;
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(fraction))
        .ok_or_else(invalid)
}

/// A Go duration (`30m`, `1h30m`, `1.5s`), as Docker's flags and filters write them: the one parser
/// of them both front doors use.
pub fn parse_duration(text: &str) -> Result<std::time::Duration> {
    berth_build::parse_go_duration(text).map_err(|_| Error::InvalidArgument(format!("invalid duration {text:?}")))
}

fn nanos(t: DateTime<Utc>) -> Option<i64> {
    t.timestamp_nanos_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_dates_and_unix_seconds() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let noon = now.timestamp_nanos_opt().unwrap();
        assert_eq!(parse_when("10m", now).unwrap(), noon - 600_000_000_000);
        assert_eq!(parse_when("1h30m", now).unwrap(), noon - 5_400_000_000_000);
        assert_eq!(parse_when("2026-12-07T12:00:00Z", now).unwrap(), noon);
        assert_eq!(parse_when("2026-12-07T13:00:00+01:00", now).unwrap(), noon);
        assert_eq!(parse_when("2026-12-07T12:00:00", now).unwrap(), noon);
        assert_eq!(parse_when("2026-12-07", now).unwrap(), noon - 12 * 3_600_000_000_000);
        assert_eq!(parse_when(&(noon / 1_000_000_000).to_string(), now).unwrap(), noon);
        assert_eq!(parse_when("1.5", now).unwrap(), 1_500_000_000);
        for bad in ["", "soon", "10x", "-1", "1.2.3", "2026-13-01"] {
            assert!(parse_when(bad, now).is_err(), "{bad:?} must be refused");
        }
    }
}
