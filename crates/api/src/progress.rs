//! A pull's or push's typed progress events as Docker's JSON progress stream.
//!
//! dockerd says "Pulling from" only once the registry has answered for the reference; the engine says
//! it before it asks. So that a missing image is the answer's 404, not an error after a 200, the
//! line is held until the next event shows the registry answered.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_engine::registry::{LayerState, Progress, Status};
use serde_json::json;

use crate::stream::{JsonMessage, ProgressDetail, Sink};

/// How often a layer's byte count is sent at most (the last one always is).
const EVERY: Duration = Duration::from_millis(100);

pub struct JsonProgress<'a> {
    sink: &'a Sink,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    held: Vec<JsonMessage>,
    last_sent: HashMap<String, Instant>,
}

impl<'a> JsonProgress<'a> {
    pub fn new(sink: &'a Sink) -> JsonProgress<'a> {
        JsonProgress {
            sink,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends what is held, then `messages`.
    fn send(&self, state: &mut State, messages: impl IntoIterator<Item = JsonMessage>) {
        for message in state.held.drain(..).chain(messages) {
            // A client that went away gets nothing more; the transfer goes on to its end.
            let _ = self.sink.json(&message);
        }
    }
}

/// Docker's message for a layer's state.
pub fn layer_message(id: &str, state: &LayerState) -> JsonMessage {
    let detail = match state.progress() {
        Some((current, total)) => ProgressDetail {
            current: Some(current),
            total: (total > 0).then_some(total),
        },
        None => ProgressDetail::default(),
    };
    JsonMessage {
        progress_detail: Some(detail),
        progress: state.bar(),
        ..JsonMessage::status(state.status(), Some(id))
    }
}

/// Docker's messages for a status line: none for "Using default tag" (the client says it itself),
/// and the `aux` with the tag, digest and size after a pushed tag's line.
pub fn status_messages(status: &Status) -> Vec<JsonMessage> {
    match status {
        Status::UsingDefaultTag => Vec::new(),
        Status::PushedTag { tag, digest, size } => vec![
            JsonMessage::status(status.text(), None),
            JsonMessage {
                progress_detail: Some(ProgressDetail::default()),
                ..JsonMessage::aux(json!({ "Tag": tag, "Digest": digest.to_string(), "Size": size }))
            },
        ],
        _ => vec![JsonMessage::status(status.text(), status.id())],
    }
}

impl Progress for JsonProgress<'_> {
    fn layer(&self, id: &str, state: LayerState) {
        let mut guard = self.state();
        if let Some((done, total)) = state.progress() {
            let now = Instant::now();
            let recent = guard
                .last_sent
                .get(id)
                .is_some_and(|at| now.duration_since(*at) < EVERY);
            if recent && done < total {
                return;
            }
            guard.last_sent.insert(id.to_string(), now);
        }
        self.send(&mut guard, [layer_message(id, &state)]);
    }

    fn status(&self, status: &Status) {
        let mut guard = self.state();
        let messages = status_messages(status);
        if matches!(status, Status::PullingFrom { .. }) {
            guard.held.extend(messages);
        } else {
            self.send(&mut guard, messages);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_states_read_as_dockers_messages() {
        let downloading = layer_message("0123456789ab", &LayerState::Downloading { done: 10, total: 20 });
        let value = serde_json::to_value(&downloading).unwrap();
        assert_eq!(value["status"], "Downloading");
        assert_eq!(value["id"], "0123456789ab");
        assert_eq!(value["progressDetail"], json!({"current": 10, "total": 20}));
        assert!(value["progress"].as_str().unwrap().starts_with("[="));
        let done = serde_json::to_value(layer_message("x", &LayerState::PullComplete)).unwrap();
        assert_eq!(
            done,
            json!({"status": "Pull complete", "progressDetail": {}, "id": "x"})
        );
    }

    #[test]
    fn a_pushed_tag_ends_with_its_aux() {
        let digest: berth_engine::Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let messages = status_messages(&Status::PushedTag {
            tag: "v1".into(),
            digest: digest.clone(),
            size: 527,
        });
        assert_eq!(messages.len(), 2);
        assert_eq!(
            messages[0].status.as_deref(),
            Some(format!("v1: digest: {digest} size: 527").as_str())
        );
        let aux = serde_json::to_value(&messages[1]).unwrap();
        assert_eq!(
            aux["aux"],
            json!({"Tag": "v1", "Digest": digest.to_string(), "Size": 527})
        );
        assert!(status_messages(&Status::UsingDefaultTag).is_empty());
    }
}
