//! Docker's events: what happened to containers, images, networks and volumes, recorded by every
//! berth process and read back by `berth events` (and later `GET /events`) in another.
//!
//! Events are JSON lines appended to `$BERTH_ROOT/events.log`, one `write` each with O_APPEND, so
//! lines from processes writing at once never interleave. Past 4 MiB the log is renamed to
//! `events.log.1` (replacing the older one), so about the last 4-8 MiB of events are kept, where
//! Docker keeps the last 256 in memory. No fsync: events are for watching, not for recovery, and
//! an fsync would cost every `run` several milliseconds.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::filters::Filters;
use crate::{Engine, Result};

/// The log is rotated past this size.
const ROTATE_AT: u64 = 4 << 20;
/// How often a follower looks for new events.
const POLL: Duration = Duration::from_millis(50);

/// One event, in the Docker Engine API's JSON (`EventMessage`, with the legacy `status`, `id` and
/// `from` of container and image events).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// What an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Container,
    Image,
    Network,
    Volume,
    Builder,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Container => "container",
            EventType::Image => "image",
            EventType::Network => "network",
            EventType::Volume => "volume",
            EventType::Builder => "builder",
        }
    }
}

impl Event {
    /// An event that happens now. Container and image events also carry Docker's legacy fields.
    pub fn new(kind: EventType, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let now = chrono::Utc::now();
        let time_nano = now.timestamp_nanos_opt().unwrap_or(0);
        let legacy = matches!(kind, EventType::Container | EventType::Image);
        Event {
            status: if legacy { action.to_string() } else { String::new() },
            id: if legacy { id.to_string() } else { String::new() },
            from: match kind {
                EventType::Container => attributes.get("image").cloned().unwrap_or_default(),
                _ => String::new(),
            },
            kind: kind.as_str().to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano,
        }
    }

    /// Whether the event passes Docker's event filters (see [`FILTER_KEYS`]).
    pub fn passes(&self, filters: &Filters) -> bool {
        let attr = |key: &str| self.actor.attributes.get(key).map(String::as_str).unwrap_or("");
        // Docker's "fuzzy" match: the value is a prefix of the ID or the name.
        let fuzzy =
            |want: &str| self.actor.id.starts_with(want) || (!want.is_empty() && attr("name").starts_with(want));
        let is = |kind: &str| self.kind == kind;
        filters.allows("type", |t| is(t))
            && filters.allows("event", |e| {
                self.action == e || self.action.split_once(':').is_some_and(|(a, _)| a == e)
            })
            && filters.allows("container", |c| is("container") && fuzzy(c))
            && filters.allows("image", |i| {
                let image = if is("image") {
                    self.actor.id.as_str()
                } else {
                    attr("image")
                };
                image == i || image.strip_suffix(":latest") == Some(i) || attr("name") == i
            })
            && filters.allows("network", |n| is("network") && fuzzy(n))
            && filters.allows("volume", |v| is("volume") && self.actor.id == v)
            && filters.allows("scope", |s| s == "local")
            && ["daemon", "node", "plugin", "service", "secret", "config"]
                .iter()
                .all(|k| filters.get(k).is_empty())
            && filters.allows_labels(&self.actor.attributes)
    }
}

/// The filter keys `events` takes (Docker's; swarm's match nothing here).
pub const FILTER_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// What `events` streams.
#[derive(Clone, Debug, Default)]
pub struct EventsRequest {
    /// Past events from this time on (ns since the epoch); None streams only new ones.
    pub since: Option<i64>,
    /// Stop at this time (ns since the epoch); None follows for ever.
    pub until: Option<i64>,
    pub filters: Filters,
}

/// What reading the event stream gave.
#[derive(Debug)]
pub enum Next {
    Event(Box<Event>),
    /// Nothing new yet: call again (a server checks its client meanwhile).
    Pending,
    /// The stream reached `until`.
    End,
}

impl Engine {
    fn events_path(&self) -> PathBuf {
        self.layout().events_log()
    }

    /// Records an event for `events` readers. Recording must never fail an operation: a problem is
    /// only logged.
    pub(crate) fn emit(&self, kind: EventType, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let event = Event::new(kind, action, id, attributes);
        if let Err(err) = self.append_event(&event) {
            tracing::warn!(error = %err, action, "could not record an event");
        }
    }

    fn append_event(&self, event: &Event) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let path = self.events_path();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)?;
        file.write_all(&line)?;
        if file.metadata()?.len() > ROTATE_AT {
            // One rotator at a time; the others' lines land in whichever file they opened.
            if let Ok(Some(_lock)) = berth_store::FileLock::try_exclusive(&self.layout().events_lock()) {
                if fs::metadata(&path).is_ok_and(|m| m.len() > ROTATE_AT) {
                    fs::rename(&path, path.with_extension("log.1"))?;
                }
            }
        }
        Ok(())
    }

    /// The events `request` asks for: past ones from `since`, then new ones as they are recorded,
    /// until `until`.
    pub fn events(&self, request: EventsRequest) -> Result<Events> {
        request.filters.accept_only(FILTER_KEYS)?;
        let path = self.events_path();
        let mut events = Events {
            path: path.clone(),
            request,
            file: None,
            inode: 0,
            pending: Vec::new(),
            ready: std::collections::VecDeque::new(),
        };
        match events.request.since {
            Some(_) => {
                // The rotated file first, then the current one.
                let old = path.with_extension("log.1");
                if let Ok(mut file) = File::open(&old) {
                    let mut text = Vec::new();
                    let _ = file.read_to_end(&mut text);
                    events.take_lines(&text);
                    events.pending.clear();
                }
                events.open_current(false);
            }
            None => events.open_current(true),
        }
        Ok(events)
    }
}

/// A stream of events, read from the log as other processes append to it.
#[derive(Debug)]
pub struct Events {
    path: PathBuf,
    request: EventsRequest,
    file: Option<File>,
    inode: u64,
    /// The start of a line whose end is not written yet.
    pending: Vec<u8>,
    ready: std::collections::VecDeque<Event>,
}

impl Events {
    /// Opens the current log, at its end when only new events are wanted.
    fn open_current(&mut self, at_end: bool) {
        self.pending.clear();
        self.file = File::open(&self.path).ok();
        self.inode = 0;
        if let Some(file) = &mut self.file {
            self.inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
            if at_end {
                let _ = file.seek(SeekFrom::End(0));
            }
        }
    }

    fn take_lines(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let rest = self.pending.split_off(last + 1);
        let complete = std::mem::replace(&mut self.pending, rest);
        for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            // A damaged line (a disk filled mid-write) is skipped, not fatal.
            let Ok(event) = serde_json::from_slice::<Event>(line) else {
                continue;
            };
            let since = self.request.since.unwrap_or(i64::MIN);
            let until = self.request.until.unwrap_or(i64::MAX);
            if event.time_nano >= since && event.time_nano <= until && event.passes(&self.request.filters) {
                self.ready.push_back(event);
            }
        }
    }

    /// The next event if there is one now, without waiting.
    pub fn poll_next(&mut self) -> Result<Next> {
        if let Some(event) = self.ready.pop_front() {
            return Ok(Next::Event(Box::new(event)));
        }
        let mut bytes = Vec::new();
        if let Some(file) = &mut self.file {
            let _ = file.read_to_end(&mut bytes);
        }
        if !bytes.is_empty() {
            self.take_lines(&bytes);
            return self.poll_next();
        }
        // Caught up with our file: has it been rotated away, or made since we looked?
        let current = fs::metadata(&self.path).map(|m| m.ino()).unwrap_or(0);
        if current != 0 && current != self.inode {
            self.open_current(false);
            return self.poll_next();
        }
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        if self.request.until.is_some_and(|until| now > until) {
            return Ok(Next::End);
        }
        Ok(Next::Pending)
    }

    /// The next event, waiting for one; None once `until` has passed.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            match self.poll_next()? {
                Next::Event(event) => return Ok(Some(*event)),
                Next::End => return Ok(None),
                Next::Pending => std::thread::sleep(POLL),
            }
        }
    }
}

/// Attributes of a container's events: its name, image and labels, as Docker gives them.
pub(crate) fn container_attributes(c: &crate::containers::Container) -> BTreeMap<String, String> {
    let mut attributes = c.config.labels.clone();
    attributes.insert("image".into(), c.config.image.clone());
    attributes.insert("name".into(), c.row.name.clone());
    attributes
}

impl Engine {
    /// Records a container event with the container's attributes and `extra` ones.
    pub(crate) fn emit_container(&self, c: &crate::containers::Container, action: &str, extra: &[(&str, String)]) {
        let mut attributes = container_attributes(c);
        for (k, v) in extra {
            attributes.insert(k.to_string(), v.clone());
        }
        self.emit(EventType::Container, action, c.id(), attributes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventType, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        let attributes = attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Event::new(kind, action, id, attributes)
    }

    #[test]
    fn filters_match_as_dockers_do() {
        let start = event(
            EventType::Container,
            "start",
            "3f2a9c",
            &[("name", "web"), ("image", "busybox"), ("tier", "front")],
        );
        let exec = event(
            EventType::Container,
            "exec_start: sh -c true",
            "3f2a9c",
            &[("name", "web")],
        );
        let pull = event(EventType::Image, "pull", "busybox:latest", &[("name", "busybox")]);
        let f = |args: &[&str]| Filters::from_args(args).unwrap();
        assert!(start.passes(&f(&[])));
        assert!(start.passes(&f(&["type=container", "event=start", "event=die"])));
        assert!(!start.passes(&f(&["type=image"])));
        assert!(start.passes(&f(&["container=web"])) && start.passes(&f(&["container=3f2a"])));
        assert!(!start.passes(&f(&["container=db"])));
        assert!(start.passes(&f(&["image=busybox"])) && pull.passes(&f(&["image=busybox"])));
        assert!(start.passes(&f(&["label=tier=front"])) && !start.passes(&f(&["label=tier=back"])));
        assert!(exec.passes(&f(&["event=exec_start"])));
        assert!(!pull.passes(&f(&["container=busybox"])));
        assert!(!start.passes(&f(&["daemon=x"])) && !start.passes(&f(&["scope=swarm"])));
    }

    #[test]
    fn a_follower_reads_on_across_a_rotation_and_a_replay_reads_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(crate::Options {
            root: dir.path().join("root"),
            runroot: dir.path().join("run"),
        })
        .unwrap();
        let volume = |name: &str, note: String| {
            let attributes = BTreeMap::from([("note".to_string(), note)]);
            engine.emit(EventType::Volume, "create", name, attributes);
        };
        volume("first", String::new());
        let mut follower = engine.events(EventsRequest::default()).unwrap();
        // Past the rotation size in one event: the log is renamed after it is written.
        volume("big", "x".repeat(ROTATE_AT as usize + 1));
        volume("after", String::new());
        assert!(dir.path().join("root/events.log.1").is_file());
        let seen: Vec<String> = (0..2)
            .map(|_| follower.next_event().unwrap().unwrap().actor.id)
            .collect();
        assert_eq!(seen, ["big", "after"]);
        assert!(matches!(follower.poll_next().unwrap(), Next::Pending));
        let replay = EventsRequest {
            since: Some(0),
            until: Some(chrono::Utc::now().timestamp_nanos_opt().unwrap()),
            filters: Filters::default(),
        };
        let mut replay = engine.events(replay).unwrap();
        let mut all = Vec::new();
        while let Some(event) = replay.next_event().unwrap() {
            all.push(event.actor.id);
        }
        assert_eq!(all, ["first", "big", "after"]);
    }

    #[test]
    fn a_damaged_line_is_skipped_and_a_line_being_written_waits_for_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(crate::Options {
            root: dir.path().join("root"),
            runroot: dir.path().join("run"),
        })
        .unwrap();
        engine.emit(EventType::Volume, "create", "one", BTreeMap::new());
        let mut follower = engine.events(EventsRequest::default()).unwrap();
        let path = dir.path().join("root/events.log");
        let mut log = OpenOptions::new().append(true).open(&path).unwrap();
        let line = serde_json::to_string(&event(EventType::Volume, "create", "two", &[])).unwrap();
        log.write_all(b"{\"damaged\n").unwrap();
        log.write_all(&line.as_bytes()[..10]).unwrap();
        assert!(
            matches!(follower.poll_next().unwrap(), Next::Pending),
            "half a line is not an event yet"
        );
        log.write_all(&line.as_bytes()[10..]).unwrap();
        log.write_all(b"\n").unwrap();
        assert_eq!(follower.next_event().unwrap().unwrap().actor.id, "two");
    }

    #[test]
    fn json_is_dockers_with_legacy_fields_only_for_containers_and_images() {
        let start = event(
            EventType::Container,
            "start",
            "abc",
            &[("image", "busybox"), ("name", "x")],
        );
        let json = serde_json::to_value(&start).unwrap();
        assert_eq!(json["status"], "start");
        assert_eq!(json["id"], "abc");
        assert_eq!(json["from"], "busybox");
        assert_eq!(json["Type"], "container");
        assert_eq!(json["Actor"]["Attributes"]["name"], "x");
        assert_eq!(json["scope"], "local");
        assert!(json["timeNano"].as_i64().unwrap() / 1_000_000_000 == json["time"].as_i64().unwrap());
        let net = serde_json::to_value(event(EventType::Network, "create", "n1", &[])).unwrap();
        assert!(net.get("status").is_none() && net.get("id").is_none());
    }
}
