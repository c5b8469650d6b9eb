//! `events` (and `system events`): streams what happens, as recorded by every berth process.

use std::io::Write;

use berth_engine::events::{Event, EventsRequest};
use berth_engine::filters::Filters;
use berth_engine::Options;
use clap::Args;
use serde_json::{json, Value};

use super::engine;
use crate::format::unescape;

#[derive(Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template: 'json' (JSON lines), or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
}

pub fn events(options: &Options, args: EventsArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let when = |t: &Option<String>| t.as_deref().map(|t| berth_engine::when::parse_when(t, now)).transpose();
    let request = EventsRequest {
        since: when(&args.since)?,
        until: when(&args.until)?,
        filters: Filters::from_args(&args.filter)?,
    };
    let template = match args.format.as_deref() {
        None | Some("") | Some("json") | Some("{{json .}}") => None,
        Some(format) => Some(berth_gotmpl::Template::parse(&unescape(format))?),
    };
    let json = matches!(args.format.as_deref(), Some("json") | Some("{{json .}}"));
    let mut events = engine(options)?.events(request)?;
    let mut out = crate::out::stdout();
    while let Some(event) = events.next_event()? {
        let line = match &template {
            Some(template) => template.render(&go_fields(&event))?,
            None if json => serde_json::to_string(&event)?,
            None => plain_line(&event),
        };
        // A closed stdout (`| head -1`) ends the stream, quietly (`main` sees it noted).
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(())
}

/// Docker's default line: time, type, action, actor, then the attributes sorted by key.
fn plain_line(event: &Event) -> String {
    let time = chrono::DateTime::from_timestamp_nanos(event.time_nano).with_timezone(&chrono::Local);
    let mut line = format!(
        "{} {} {} {}",
        time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        event.kind,
        event.action,
        event.actor.id
    );
    if !event.actor.attributes.is_empty() {
        let attributes: Vec<String> = event.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" ({})", attributes.join(", ")));
    }
    line
}

/// The event under the Go field names templates use (`.Type`, `.Actor.ID`, `.TimeNano`).
fn go_fields(event: &Event) -> Value {
    json!({
        "Status": event.status,
        "ID": event.id,
        "From": event.from,
        "Type": event.kind,
        "Action": event.action,
        "Actor": {"ID": event.actor.id, "Attributes": event.actor.attributes},
        "Scope": event.scope,
        "Time": event.time,
        "TimeNano": event.time_nano,
    })
}
