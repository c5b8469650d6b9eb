//! Long engine calls whose output streams to the client as it comes (pull, push, build, load, save):
//! the call runs on the blocking pool and writes into a [`Sink`], a small channel that the response
//! body reads.
//!
//! The answer's status waits for the first byte: a call that fails before writing anything (an
//! unknown image, a context that is no archive, a truncated load) answers with the error's own
//! status and `{"message"}`, as dockerd does before it has flushed. Once bytes have gone, a failure
//! can only end the stream: as Docker's `{"errorDetail":…,"error":…}` line in a JSON stream, or by
//! aborting a raw one (a save), so the client sees an incomplete transfer, never a short archive.
//!
//! A client that goes away drops the body: the channel closes, every later send fails quietly, and
//! the call runs to its end on its own (an operation the engine finishes or leaves undone, never
//! half-done); a writer to a gone client fails, which ends a save.

use std::io;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::ApiError;

/// Chunks waiting for a slow client before the call waits for it.
const BUFFERED_CHUNKS: usize = 16;
/// What a writer gathers before it sends a chunk.
const CHUNK: usize = 64 * 1024;

enum Message {
    Data(Bytes),
    End(berth_engine::Result<()>),
}

/// Where a streaming call writes. Every send blocks while the client is slow; none fails the call.
pub struct Sink {
    tx: mpsc::Sender<Message>,
}

impl Sink {
    /// Sends `bytes`; false when the client has gone.
    pub fn send(&self, bytes: Bytes) -> bool {
        self.tx.blocking_send(Message::Data(bytes)).is_ok()
    }

    /// Sends one message of Docker's JSON stream, as a line.
    pub fn json(&self, message: &JsonMessage) -> bool {
        match serde_json::to_vec(message) {
            Ok(mut line) => {
                line.push(b'\n');
                self.send(Bytes::from(line))
            }
            Err(e) => {
                tracing::warn!(error = %e, "a progress message did not serialize");
                true
            }
        }
    }

    /// A `Write` that sends what is written in chunks (the archive of a save).
    pub fn writer(&self) -> SinkWriter<'_> {
        SinkWriter {
            sink: self,
            buffer: Vec::with_capacity(CHUNK),
        }
    }
}

/// A blocking writer into a [`Sink`]; a write fails once the client has gone.
pub struct SinkWriter<'a> {
    sink: &'a Sink,
    buffer: Vec<u8>,
}

impl SinkWriter<'_> {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        if self.sink.send(Bytes::from(chunk)) {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
        }
    }
}

impl io::Write for SinkWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send_buffer()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

impl Drop for SinkWriter<'_> {
    fn drop(&mut self) {
        let _ = self.send_buffer();
    }
}

/// How a stream that has begun tells a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Docker's JSON progress stream (`application/json`): an `errorDetail` line ends it.
    Json,
    /// Raw bytes (a tar): the stream is cut off.
    Raw,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Raw => "application/x-tar",
        }
    }
}

/// Runs `call` on the blocking pool with a [`Sink`] and answers with what it writes (see the module
/// docs for when its error is the status and when a line of the stream).
pub async fn respond<F>(format: Format, call: F) -> Response
where
    F: FnOnce(&Sink) -> berth_engine::Result<()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel(BUFFERED_CHUNKS);
    let sink = Sink { tx: tx.clone() };
    tokio::task::spawn_blocking(move || {
        let result = call(&sink);
        if let Err(e) = &result {
            // Logged here, where it is seen even when the client has gone.
            tracing::warn!(error = %e, "a streamed operation failed");
        }
        drop(sink);
        let _ = tx.blocking_send(Message::End(result));
    });
    let first = match rx.recv().await {
        // The call panicked: its sender went without an end.
        None => return ApiError::internal("the operation ended without an answer").into_response(),
        Some(Message::End(Err(e))) => return ApiError::from(e).into_response(),
        Some(Message::End(Ok(()))) => None,
        Some(Message::Data(bytes)) => Some(bytes),
    };
    let rest = futures_util::stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Message::Data(bytes)) => Some((Ok(bytes), Some(rx))),
            Some(Message::End(Ok(()))) => None,
            Some(Message::End(Err(e))) => Some((failure(format, &e), None)),
            None => Some((
                failure(
                    format,
                    &berth_engine::Error::Internal("the operation ended without an answer".into()),
                ),
                None,
            )),
        }
    });
    let head = futures_util::stream::iter(first.map(Ok::<Bytes, io::Error>));
    let body = Body::from_stream(futures_util::StreamExt::chain(head, rest));
    (StatusCode::OK, [(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

/// The end of a stream that failed after it began.
fn failure(format: Format, e: &berth_engine::Error) -> io::Result<Bytes> {
    match format {
        Format::Json => {
            let mut line = serde_json::to_vec(&JsonMessage::error(e)).unwrap_or_default();
            line.push(b'\n');
            Ok(Bytes::from(line))
        }
        Format::Raw => Err(io::Error::other(e.to_string())),
    }
}

/// One message of Docker's JSON stream (its `jsonmessage.JSONMessage`): only the fields set are
/// written.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A transfer's bytes so far (`{}` for a layer state without them).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorDetail {
    /// A build step's exit code (the docker client exits with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
}

impl JsonMessage {
    /// `{"stream": text}`: a line of build or load output (`text` ends with its newline).
    pub fn stream(text: impl Into<String>) -> JsonMessage {
        JsonMessage {
            stream: Some(text.into()),
            ..JsonMessage::default()
        }
    }

    /// `{"status": text}`, with an `id` when given.
    pub fn status(text: impl Into<String>, id: Option<&str>) -> JsonMessage {
        JsonMessage {
            status: Some(text.into()),
            id: id.map(str::to_string),
            ..JsonMessage::default()
        }
    }

    /// `{"aux": value}`.
    pub fn aux(value: serde_json::Value) -> JsonMessage {
        JsonMessage {
            aux: Some(value),
            ..JsonMessage::default()
        }
    }

    /// The last line of a stream that failed.
    pub fn error(e: &berth_engine::Error) -> JsonMessage {
        let code = match e {
            berth_engine::Error::StepFailed { code, .. } => Some(*code),
            _ => None,
        };
        JsonMessage {
            error_detail: Some(ErrorDetail {
                code,
                message: e.to_string(),
            }),
            error: Some(e.to_string()),
            ..JsonMessage::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_write_only_their_fields() {
        let json = serde_json::to_string(&JsonMessage::status("Pulling from library/busybox", Some("latest"))).unwrap();
        assert_eq!(json, r#"{"status":"Pulling from library/busybox","id":"latest"}"#);
        let failed = JsonMessage::error(&berth_engine::Error::StepFailed {
            code: 3,
            message: "The command '/bin/sh -c exit 3' returned a non-zero code: 3".into(),
        });
        let value = serde_json::to_value(&failed).unwrap();
        assert_eq!(value["errorDetail"]["code"], 3);
        assert_eq!(value["error"], value["errorDetail"]["message"]);
        let plain = serde_json::to_value(JsonMessage::error(&berth_engine::Error::NotFound("x".into()))).unwrap();
        assert_eq!(
            plain,
            serde_json::json!({"errorDetail": {"message": "x"}, "error": "x"})
        );
        let empty = JsonMessage {
            progress_detail: Some(ProgressDetail::default()),
            ..JsonMessage::status("Pull complete", Some("abc"))
        };
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"status":"Pull complete","progressDetail":{},"id":"abc"}"#
        );
    }

    async fn body_of(response: Response) -> (StatusCode, Result<Vec<u8>, String>) {
        use http_body_util::BodyExt as _;
        let status = response.status();
        let collected = response.into_body().collect().await;
        (
            status,
            collected.map(|c| c.to_bytes().to_vec()).map_err(|e| e.to_string()),
        )
    }

    #[tokio::test]
    async fn an_error_before_any_output_is_the_status() {
        let response = respond(Format::Json, |_| Err(berth_engine::Error::NoSuchImage("x".into()))).await;
        let (status, body) = body_of(response).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            String::from_utf8(body.unwrap()).unwrap(),
            "{\"message\":\"No such image: x\"}\n"
        );
    }

    #[tokio::test]
    async fn an_error_after_output_ends_the_stream() {
        let response = respond(Format::Json, |sink| {
            sink.json(&JsonMessage::stream("Step 1/1 : RUN false\n"));
            Err(berth_engine::Error::StepFailed {
                code: 1,
                message: "failed".into(),
            })
        })
        .await;
        let (status, body) = body_of(response).await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(body.unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[1].contains("\"errorDetail\":{\"code\":1"), "{text}");
    }

    #[tokio::test]
    async fn a_raw_stream_that_fails_is_cut_off() {
        let response = respond(Format::Raw, |sink| {
            use std::io::Write as _;
            let mut w = sink.writer();
            w.write_all(&[0u8; 100_000]).map_err(|e| berth_engine::Error::Stream {
                context: "writing".into(),
                source: e,
            })?;
            w.flush().ok();
            Err(berth_engine::Error::Internal("disk gone".into()))
        })
        .await;
        let (status, body) = body_of(response).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_err(), "the body must end in an error, not look complete");
    }

    #[tokio::test]
    async fn a_gone_client_fails_writes_not_the_server() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let response = respond(Format::Raw, move |sink| {
            use std::io::Write as _;
            let mut w = sink.writer();
            let mut result = Ok(());
            for _ in 0..1000 {
                if let Err(e) = w.write_all(&[1u8; CHUNK]) {
                    result = Err(e);
                    break;
                }
            }
            let _ = done_tx.send(result.is_err());
            Ok(())
        })
        .await;
        drop(response);
        assert!(done_rx.await.unwrap(), "writes fail once the body is dropped");
    }
}
