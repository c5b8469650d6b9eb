//! Timestamps as Docker writes them: RFC 3339 in UTC with nanoseconds,
//! trailing zeros trimmed (Go's RFC3339Nano). One implementation serves the
//! store and the logs: berth_relay's, which the small shim also uses.

pub fn now() -> String {
    berth_relay::log::now_rfc3339_nano()
}

/// A recorded time as Unix seconds; 0 when absent or unreadable, as Docker's zero time.
pub fn unix_seconds(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp())
}
