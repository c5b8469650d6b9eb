//! Timestamps as Docker writes them: RFC 3339 in UTC with nanoseconds,
//! trailing zeros trimmed (Go's RFC3339Nano). One implementation serves the
//! store and the logs: berth_relay's, which the small shim also uses.

pub fn now() -> String {
    berth_relay::log::now_rfc3339_nano()
}
