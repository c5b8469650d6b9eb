//! Responses as dockerd writes them: JSON bodies with `application/json`, and empty 204s.

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::mpsc;

/// `value` as a JSON body with `status`.
pub fn json_with_status(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            // dockerd's encoder ends each body with a newline; some clients' tests compare bodies.
            body.push(b'\n');
            (status, [(header::CONTENT_TYPE, "application/json")], Body::from(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "a response did not serialize");
            let body = serde_json::json!({ "message": format!("encoding the response: {e}") }).to_string();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
    }
}

/// `value` as a 200 JSON body.
pub fn json(value: &impl Serialize) -> Response {
    json_with_status(StatusCode::OK, value)
}

/// 201 Created with `value`, as create endpoints answer.
pub fn created(value: &impl Serialize) -> Response {
    json_with_status(StatusCode::CREATED, value)
}

/// 204 No Content, as actions without a result answer.
pub fn no_content() -> Response {
    empty(StatusCode::NO_CONTENT)
}

/// `status` with no body (a tag's 201).
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// A response whose body is what a blocking task sends down the returned channel (a followed log, the
/// events, a stream of stats readings). When the client goes away hyper drops the body, the channel
/// closes, and the task's next send fails: no task outlives its client's interest.
pub fn channel_body(content_type: &'static str, buffered: usize) -> (mpsc::Sender<Bytes>, Response) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(buffered);
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|c| c.map(Ok::<_, std::io::Error>)));
    let response = ([(header::CONTENT_TYPE, content_type)], Body::from_stream(body)).into_response();
    (tx, response)
}

/// Sends `value` down a [`channel_body`] as one JSON line, from a blocking task; false once the
/// client has gone. A value that does not serialize is logged and left out.
pub fn send_json_line(tx: &mpsc::Sender<Bytes>, value: &impl Serialize) -> bool {
    match serde_json::to_vec(value) {
        Ok(mut line) => {
            line.push(b'\n');
            tx.blocking_send(Bytes::from(line)).is_ok()
        }
        Err(e) => {
            tracing::warn!(error = %e, "a streamed line did not serialize");
            true
        }
    }
}
