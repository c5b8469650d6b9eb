//! Docker-style output: human sizes and durations, `--format` templates,
//! `table` headers and column alignment.

use berth_gotmpl::{align_columns, Template};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use berth_engine::units::format_g;
pub use berth_engine::units::human_size;

/// go-units BytesSize: binary units with two decimals at most, as docker
/// prints memory (`1.5GiB`, `64MiB`).
pub fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, 4), UNITS[unit])
}

pub use berth_engine::units::human_duration;

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// "2 days ago", or "N/A" for an unknown time, as docker prints CREATED.
pub fn since(created: Option<&str>) -> String {
    match created.and_then(parse_time) {
        Some(t) if t.timestamp() > 0 => format!("{} ago", human_duration((Utc::now() - t).num_seconds())),
        _ => "N/A".into(),
    }
}

/// Go's time.Time String(): "2006-01-02 15:04:05 +0000 UTC".
pub fn go_time(created: Option<&str>) -> String {
    match created.and_then(parse_time) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        None => String::new(),
    }
}

/// [`since`] for Unix seconds (the API's image times); 0 is unknown.
pub fn since_unix(created: i64) -> String {
    match DateTime::from_timestamp(created, 0) {
        Some(t) if created > 0 => format!("{} ago", human_duration((Utc::now() - t).num_seconds())),
        _ => "N/A".into(),
    }
}

/// [`go_time`] for Unix seconds; empty for 0 (unknown).
pub fn go_time_unix(created: i64) -> String {
    match DateTime::from_timestamp(created, 0) {
        Some(t) if created != 0 => t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        _ => String::new(),
    }
}

/// Unix seconds as RFC 3339, as Docker's client prints history's CREATED AT.
pub fn rfc3339_unix(created: i64) -> String {
    DateTime::from_timestamp(created, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Docker's stringutils.Ellipsis.
pub fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// How a list command prints: docker's `--format` values.
pub enum Listing {
    Table(Template),
    Raw(Template),
}

impl Listing {
    /// `format` as given to `--format`; `default_table` is the command's
    /// table template (without the `table ` prefix).
    pub fn new(format: Option<&str>, default_table: &str) -> anyhow::Result<Listing> {
        let format = format.unwrap_or("table").trim_start();
        Ok(if format == "table" {
            Listing::Table(Template::parse(default_table)?)
        } else if let Some(rest) = format.strip_prefix("table ") {
            Listing::Table(Template::parse(&unescape(rest))?)
        } else if format == "json" {
            Listing::Raw(Template::parse("{{json .}}")?)
        } else {
            Listing::Raw(Template::parse(&unescape(format))?)
        })
    }

    /// Renders rows; `headers` maps each field to its column title.
    pub fn render(&self, rows: &[Value], headers: &Map<String, Value>) -> anyhow::Result<String> {
        let mut out = String::new();
        match self {
            Listing::Table(t) => {
                out.push_str(&t.render(&Value::Object(headers.clone()))?);
                out.push('\n');
                for row in rows {
                    out.push_str(&t.render(row)?);
                    out.push('\n');
                }
                Ok(align_columns(&out))
            }
            Listing::Raw(t) => {
                for row in rows {
                    out.push_str(&t.render(row)?);
                    out.push('\n');
                }
                Ok(out)
            }
        }
    }
}

/// Docker lets users type `\t` and `\n` in --format strings.
pub fn unescape(format: &str) -> String {
    format.replace("\\t", "\t").replace("\\n", "\n")
}

/// Renders one value with a `--format` template (inspect, info, version).
pub fn render_one(format: &str, value: &Value) -> anyhow::Result<String> {
    let format = if format == "json" { "{{json .}}" } else { format };
    Ok(Template::parse(&unescape(format))?.render(value)?)
}

/// JSON as `docker inspect` prints it: 4-space indent, no HTML escaping.
pub fn inspect_json(value: &Value) -> String {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_cuts_like_docker() {
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }
}
