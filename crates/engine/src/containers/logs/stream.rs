//! `logs` as both front doors ask for it: the entries of a time window, the last N, and with
//! `follow` what comes next until the container stops. The stream never waits: a caller polls it
//! and checks meanwhile whether anyone still reads (a server's client may have left).

use super::{Entry, Reader};
use crate::{Engine, Error, Result};

/// What `logs` is asked for, as Docker's API and CLI name it.
#[derive(Clone, Debug, Default)]
pub struct LogsRequest {
    /// Only the last N lines (before following).
    pub tail: Option<usize>,
    /// Go on with what the container writes next, until it stops.
    pub follow: bool,
    /// Only entries from this time on (ns since the epoch).
    pub since: Option<i64>,
    /// Only entries up to this time (ns since the epoch); following ends once it has passed.
    pub until: Option<i64>,
}

/// What polling the stream gave.
#[derive(Debug)]
pub enum LogNext {
    Entry(Entry),
    /// Nothing new yet while following: poll again after a pause.
    Pending,
    /// The end: of the log, or of the container's run when following.
    End,
}

/// A container's log entries as a [`LogsRequest`] selects them, from [`Engine::container_log_stream`].
pub struct LogStream {
    id: String,
    reader: Reader,
    request: LogsRequest,
    /// The container has stopped: what is left is read, then the stream ends.
    draining: bool,
}

impl Engine {
    /// The log of container `name` as `request` selects it. Refused for a container whose logging
    /// driver keeps nothing to read.
    pub fn container_log_stream(&self, name: &str, request: LogsRequest) -> Result<LogStream> {
        let c = self.container(name)?;
        if c.config.host.log_type == "none" {
            return Err(Error::InvalidArgument(
                "configured logging driver does not support reading".into(),
            ));
        }
        let reader = self.container_logs(c.id(), request.tail, request.follow)?;
        Ok(LogStream {
            id: c.id().to_string(),
            reader,
            draining: !request.follow,
            request,
        })
    }
}

impl LogStream {
    /// The next entry if there is one now, without waiting.
    pub fn poll_next(&mut self, engine: &Engine) -> Result<LogNext> {
        loop {
            if let Some(entry) = self.reader.next_entry()? {
                if self.wanted(&entry) {
                    return Ok(LogNext::Entry(entry));
                }
                continue;
            }
            if self.draining {
                return Ok(LogNext::End);
            }
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
            let stopped = match engine.container(&self.id) {
                Ok(c) => !c.is_running(),
                Err(Error::NoSuchContainer(_)) => true,
                Err(e) => return Err(e),
            };
            if stopped || self.request.until.is_some_and(|until| now > until) {
                // One last read for what arrived while it stopped.
                self.draining = true;
                continue;
            }
            return Ok(LogNext::Pending);
        }
    }

    fn wanted(&self, entry: &Entry) -> bool {
        if self.request.since.is_none() && self.request.until.is_none() {
            return true;
        }
        let Some(t) = entry_time(entry) else {
            return true;
        };
        self.request.since.is_none_or(|s| t >= s) && self.request.until.is_none_or(|u| t <= u)
    }
}

/// An entry's time in ns since the epoch.
fn entry_time(entry: &Entry) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&entry.time)
        .ok()?
        .timestamp_nanos_opt()
}
