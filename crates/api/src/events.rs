//! `GET /events`: the engine's event stream as JSON lines, one per event, flushed as it comes.
//!
//! A blocking-pool task reads the engine's stream (`Events::poll_next` never waits) and hands each
//! line to the response body through a small channel. When the client goes away hyper drops the
//! body, the channel closes, and the reader sees that at its next poll and ends: nothing keeps
//! polling for a client that left.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_engine::events::{EventsRequest, Next};
use tokio::sync::mpsc;

use crate::error::ApiResult;
use crate::params::Params;
use crate::reply;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

/// How often the reader looks for new events (the engine's own follower polls as often).
const POLL: Duration = Duration::from_millis(50);
/// Lines waiting for a slow client before the reader waits for it.
const BUFFERED_LINES: usize = 64;

fn request(params: &Params) -> ApiResult<EventsRequest> {
    let now = chrono::Utc::now();
    let when = |key: &str| {
        params
            .text(key)
            .map(|t| berth_engine::when::parse_when(&t, now))
            .transpose()
    };
    Ok(EventsRequest {
        since: when("since")?,
        until: when("until")?,
        filters: params.filters()?,
    })
}

async fn events(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let request = request(&params)?;
    // Opened here so a bad filter is the request's 400, before any of the stream is sent.
    let events = state.call(move |engine| engine.events(request)).await?;
    let (tx, response) = reply::channel_body("application/json", BUFFERED_LINES);
    tokio::task::spawn_blocking(move || follow(events, tx));
    Ok(response)
}

/// Sends each event as a line until `until` passes, the log fails, or the client is gone.
fn follow(mut events: berth_engine::events::Events, tx: mpsc::Sender<Bytes>) {
    loop {
        match events.poll_next() {
            Ok(Next::Event(event)) => {
                if !reply::send_json_line(&tx, &event) {
                    break;
                }
            }
            Ok(Next::Pending) => {
                if tx.is_closed() {
                    break;
                }
                std::thread::sleep(POLL);
            }
            Ok(Next::End) => break,
            Err(e) => {
                // The stream has begun: the status is sent, so the error can only end it.
                tracing::warn!(error = %e, "reading events failed");
                break;
            }
        }
    }
    tracing::debug!("events stream ended");
}
