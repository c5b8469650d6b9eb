//! Docker's human units (go-units): durations as `docker ps` shows them; the parsers of sizes
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

#[cfg(test)]
mod tests {
    use super::*;

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
