//! `wait`, as Docker's API has it: until a container is not running, until its next run ends (what
//! `docker run` asks before it starts the container), or until it is removed. A wait can be
//! cancelled (a server's client went away), so none outlives its caller's interest.
//!
//! The exit code comes from the container's `die` event when there is one: a `--rm` container is
//! removed by its monitor right after it dies, and its row never records the exit.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_store::containers as rows;

use crate::events::{Event, EventsRequest, Next};
use crate::{Engine, Error, Result};

/// Docker's `condition` of a wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WaitCondition {
    /// Until the container is not running: at once when it is not.
    #[default]
    NotRunning,
    /// Until the run going on now, or else the next one, ends.
    NextExit,
    /// Until the container is removed.
    Removed,
}

impl FromStr for WaitCondition {
    type Err = Error;

    fn from_str(text: &str) -> Result<WaitCondition> {
        match text {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(Error::InvalidArgument(format!(
                "invalid condition: \"{text}\": use not-running, next-exit or removed"
            ))),
        }
    }
}

/// How a wait ended: Docker's `ContainerWaitResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitOutcome {
    pub status_code: i64,
    /// Why the container's last run failed, when its record says.
    pub error: Option<String>,
}

/// How often a wait reads the container's new events (its `die` and `destroy` end most waits) and
/// the cancel flag: reading what was appended to the log is cheap, and `docker run` waits on it.
const POLL: Duration = Duration::from_millis(5);
/// For its first moments a wait reads every millisecond: `docker run --rm` of a short command waits
/// on the container's removal right after its start, and the read costs a few microseconds.
const FIRST_POLL: Duration = Duration::from_millis(1);
const FIRST_POLLS_FOR: Duration = Duration::from_secs(1);
/// How often it also looks at the record (a monitor killed before it could say anything).
const RECORD_EVERY: Duration = Duration::from_millis(20);

/// What a container's new events said.
#[derive(Default)]
struct Deaths {
    died: bool,
    destroyed: bool,
}

/// The container as one look at the store saw it.
enum Seen {
    Gone,
    Running,
    Stopped {
        code: i64,
        finished_at: String,
        error: String,
    },
}

/// A wait that has taken its first look at the container and listens for its events, from
/// [`Engine::container_waiter`]: what happens to the container from then on is seen by
/// [`Waiter::wait`], however late that is called (a server answers with headers first, and the
/// docker CLI starts the container as soon as it has them).
pub struct Waiter {
    id: String,
    condition: WaitCondition,
    events: crate::events::Events,
    /// Done at the first look (a container not running, for `not-running`).
    done: Option<WaitOutcome>,
    /// When the run before the wait ended, for `next-exit`; None while it runs.
    first_finish: Option<String>,
}

fn outcome(code: i64, error: &str) -> WaitOutcome {
    WaitOutcome {
        status_code: code,
        error: (!error.is_empty()).then(|| error.to_string()),
    }
}

impl Engine {
    /// Blocks until `condition` holds for container `name`. `None` when `cancel` was set first: it is
    /// read at every poll (see `Waiter::wait`).
    pub fn wait_container_until(
        &self,
        name: &str,
        condition: WaitCondition,
        cancel: &AtomicBool,
    ) -> Result<Option<WaitOutcome>> {
        self.container_waiter(name, condition)?.wait(self, cancel)
    }

    /// Starts a wait for `condition` on container `name`: resolves it (unknown is an error now),
    /// starts listening for its events and takes the first look at it.
    pub fn container_waiter(&self, name: &str, condition: WaitCondition) -> Result<Waiter> {
        let id = self.container(name)?.id().to_string();
        // The events before the state: an exit between the two looks is then in the events.
        let events = self.events(EventsRequest::default())?;
        let mut waiter = Waiter {
            id,
            condition,
            events,
            done: None,
            first_finish: None,
        };
        match self.seen(&waiter.id)? {
            Seen::Gone => waiter.done = Some(outcome(0, "")),
            Seen::Stopped { code, error, .. } if condition == WaitCondition::NotRunning => {
                waiter.done = Some(outcome(code, &error))
            }
            Seen::Stopped { finished_at, .. } => waiter.first_finish = Some(finished_at),
            Seen::Running => {}
        }
        Ok(waiter)
    }
}

impl Waiter {
    /// Blocks until the condition holds. `None` when `cancel` was set first: it is read at every
    /// poll, 1 ms apart at first, then 5 ms.
    pub fn wait(mut self, engine: &Engine, cancel: &AtomicBool) -> Result<Option<WaitOutcome>> {
        if let Some(done) = self.done.take() {
            return Ok(Some(done));
        }
        let (id, condition) = (self.id.clone(), self.condition);
        // The last exit code seen, from a `die` event or the record.
        let mut last_code = None;
        let began = std::time::Instant::now();
        let mut next_look = began;
        let pause = || match began.elapsed() < FIRST_POLLS_FOR {
            true => FIRST_POLL,
            false => POLL,
        };
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let seen = engine.read_deaths(&mut self.events, &id, &mut last_code)?;
            if seen.died && condition != WaitCondition::Removed {
                return Ok(Some(outcome(last_code.unwrap_or(0), "")));
            }
            if seen.destroyed {
                return Ok(Some(outcome(last_code.unwrap_or(0), "")));
            }
            if std::time::Instant::now() < next_look {
                std::thread::sleep(pause());
                continue;
            }
            next_look = std::time::Instant::now() + RECORD_EVERY;
            match engine.seen(&id)? {
                Seen::Gone => {
                    // Its `die` may have been written between the two reads above.
                    engine.read_deaths(&mut self.events, &id, &mut last_code)?;
                    return Ok(Some(outcome(last_code.unwrap_or(0), "")));
                }
                Seen::Stopped {
                    code,
                    finished_at,
                    error,
                } => {
                    let ended_since = self.first_finish.as_ref() != Some(&finished_at);
                    // A `--rm` container being removed has no exit recorded: its `die` event's
                    // code stands.
                    if ended_since || last_code.is_none() {
                        last_code = Some(code);
                    }
                    match condition {
                        WaitCondition::NotRunning => return Ok(Some(outcome(code, &error))),
                        WaitCondition::NextExit if ended_since => return Ok(Some(outcome(code, &error))),
                        _ => {}
                    }
                }
                Seen::Running => {}
            }
            std::thread::sleep(pause());
        }
    }
}

impl Engine {
    /// Reads the events there are now: whether container `id` died (its code in `last`) or was
    /// removed among them.
    fn read_deaths(&self, events: &mut crate::events::Events, id: &str, last: &mut Option<i64>) -> Result<Deaths> {
        let mut seen = Deaths::default();
        while let Next::Event(event) = events.poll_next()? {
            if let Some(code) = death_of(&event, id) {
                *last = Some(code);
                seen.died = true;
            }
            if event.kind == "container" && event.action == "destroy" && event.actor.id == id {
                seen.destroyed = true;
            }
        }
        Ok(seen)
    }

    /// One look at container `id`'s record (a dead monitor's container is recorded as exited first).
    fn seen(&self, id: &str) -> Result<Seen> {
        let Some(row) = rows::get(&*self.store().db()?, id)? else {
            return Ok(Seen::Gone);
        };
        let container = self.reconcile(self.load_container(row)?)?;
        if container.is_running() {
            return Ok(Seen::Running);
        }
        Ok(Seen::Stopped {
            code: container.row.exit_code,
            finished_at: container.row.finished_at,
            error: container.row.error,
        })
    }
}

/// The exit code when `event` is the death of container `id`.
fn death_of(event: &Event, id: &str) -> Option<i64> {
    if event.kind != "container" || event.action != "die" || event.actor.id != id {
        return None;
    }
    Some(
        event
            .actor
            .attributes
            .get("exitCode")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_as_docker_names_them() {
        assert_eq!("".parse::<WaitCondition>().unwrap(), WaitCondition::NotRunning);
        assert_eq!("next-exit".parse::<WaitCondition>().unwrap(), WaitCondition::NextExit);
        assert_eq!("removed".parse::<WaitCondition>().unwrap(), WaitCondition::Removed);
        let e = "soon".parse::<WaitCondition>().unwrap_err();
        assert!(e.to_string().contains("soon"), "{e}");
    }

    #[test]
    fn only_this_containers_death_counts() {
        let mut attributes = std::collections::BTreeMap::new();
        attributes.insert("exitCode".to_string(), "3".to_string());
        let die = Event::new(crate::events::EventType::Container, "die", "abc", attributes);
        assert_eq!(death_of(&die, "abc"), Some(3));
        assert_eq!(death_of(&die, "other"), None);
        let start = Event::new(crate::events::EventType::Container, "start", "abc", Default::default());
        assert_eq!(death_of(&start, "abc"), None);
    }
}
