//! `GET /containers/{id}/logs`: the engine's log stream as Docker's stream format (frames without a
//! TTY, raw bytes with one).
//!
//! As `/events` does, a blocking-pool task polls the engine's stream (which never waits) and sends
//! chunks through a small channel into the response body. When the client goes away hyper drops
//! the body, the channel closes, and the reader ends at its next poll: a followed log leaves
//! nothing behind its client. Following ends when the container stops.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use berth_engine::containers::logs::{LogNext, LogStream, LogsRequest};
use berth_engine::Engine;
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::hijack::frame;
use crate::params::Params;
use crate::reply;
use crate::router::ApiVersion;
use crate::state::AppState;

/// How often a followed log is read again when there was nothing new.
const POLL: Duration = Duration::from_millis(100);
/// Chunks waiting for a slow client before the reader waits for it.
const BUFFERED: usize = 32;

/// What to show of each entry.
#[derive(Clone, Copy)]
struct Shape {
    tty: bool,
    stdout: bool,
    stderr: bool,
    timestamps: bool,
    details: bool,
}

fn request(params: &Params) -> ApiResult<LogsRequest> {
    let now = chrono::Utc::now();
    let when = |key: &str| -> ApiResult<Option<i64>> {
        match params.text(key) {
            // Docker's clients send 0 for "no bound".
            Some(t) if t == "0" => Ok(None),
            Some(t) => Ok(Some(berth_engine::when::parse_when(&t, now)?)),
            None => Ok(None),
        }
    };
    let tail = match params.text("tail").as_deref() {
        None | Some("all") => None,
        Some(n) => match n.parse::<i64>() {
            // Docker reads a negative tail as all of it.
            Ok(n) if n < 0 => None,
            Ok(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "invalid value for tail: {n:?}: use a number or all"
                )))
            }
        },
    };
    Ok(LogsRequest {
        tail,
        follow: params.flag("follow"),
        since: when("since")?,
        until: when("until")?,
    })
}

pub async fn logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    req: Request,
) -> ApiResult<Response> {
    let (stdout, stderr) = (params.flag("stdout"), params.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let request = request(&params)?;
    let version = req
        .extensions()
        .get::<ApiVersion>()
        .copied()
        .unwrap_or(crate::MAX_VERSION);
    // Opened here, so an unknown container or a log that cannot be read is the request's status.
    let (stream, tty) = state
        .call(move |engine| {
            let tty = engine.container(&id)?.config.tty;
            Ok((engine.container_log_stream(&id, request)?, tty))
        })
        .await?;
    let shape = Shape {
        tty,
        stdout,
        stderr,
        timestamps: params.flag("timestamps"),
        details: params.flag("details"),
    };
    let multiplexed = !tty && version >= ApiVersion { major: 1, minor: 42 };
    let content_type = match multiplexed {
        true => "application/vnd.docker.multiplexed-stream",
        false => "application/vnd.docker.raw-stream",
    };
    let (tx, response) = reply::channel_body(content_type, BUFFERED);
    let engine = state.engine();
    tokio::task::spawn_blocking(move || follow(&engine, stream, shape, tx));
    Ok(response)
}

/// Sends the entries until the stream ends or the client is gone.
fn follow(engine: &Engine, mut stream: LogStream, shape: Shape, tx: mpsc::Sender<Bytes>) {
    loop {
        match stream.poll_next(engine) {
            Ok(LogNext::Entry(entry)) => {
                let is_stderr = entry.stream == "stderr";
                if (is_stderr && !shape.stderr) || (!is_stderr && !shape.stdout) {
                    continue;
                }
                let line = entry.line(shape.timestamps, shape.details);
                let bytes = match shape.tty {
                    true => line.into_bytes(),
                    false => frame(if is_stderr { 2 } else { 1 }, line.as_bytes()),
                };
                if tx.blocking_send(Bytes::from(bytes)).is_err() {
                    break;
                }
            }
            Ok(LogNext::Pending) => {
                if tx.is_closed() {
                    break;
                }
                std::thread::sleep(POLL);
            }
            Ok(LogNext::End) => break,
            Err(e) => {
                // The answer has begun: an error can only end it.
                tracing::warn!(error = %e, "reading a container's log failed");
                break;
            }
        }
    }
    tracing::debug!("logs stream ended");
}
