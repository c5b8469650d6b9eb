//! How a session reaches its client, in the three ways dockerd offers:
//!
//! - the connection taken over after a 101 (`Upgrade: tcp`), Docker's stream both ways;
//! - no `Upgrade` header: dockerd takes the connection anyway and writes `200 OK` and the stream
//!   after it (`postContainersAttach`, `postContainerExecStart`). hyper hands a connection over only
//!   after a 101, so here the stream is the response's body instead (chunked, as HTTP/1.1 has it
//!   when there is no length: the same bytes to any HTTP client, curl among them), and the
//!   process's input is the request's body, if the client sends one;
//! - a websocket (`/attach/ws`, after the RFC 6455 handshake): each piece of output one frame,
//!   binary from API 1.28 on and text before (dockerd's `wsContainersAttach`), the client's frames
//!   the input.

use std::io;
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::router::ApiVersion;
use crate::websocket::{self, Decoder, HandshakeError, Opcode};

/// An upgraded connection.
pub type Conn = TokioIo<hyper::upgrade::Upgraded>;

const CHUNK: usize = 32 * 1024;
const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// The client, once the response to its request has gone (see [`take`]).
pub enum Pending {
    Upgrade(OnUpgrade),
    Body { input: Body, output: mpsc::Sender<Bytes> },
    WebSocket { upgrade: OnUpgrade, opcode: Opcode },
}

/// The answer to a request for a process's streams (attach, exec start), and how the session
/// reaches the client after it. `tty` picks the stream format the 101 announces (clients of API
/// 1.42 and later read it from the content type); the 200 says raw-stream whatever follows, as
/// dockerd's does.
pub fn take(req: &mut Request, version: ApiVersion, tty: bool) -> (Pending, Response) {
    if !req.headers().contains_key(header::UPGRADE) {
        let (output, response) = crate::reply::channel_body(RAW_STREAM, 16);
        let input = std::mem::take(req.body_mut());
        return (Pending::Body { input, output }, response);
    }
    let multiplexed = !tty && version >= ApiVersion { major: 1, minor: 42 };
    let content_type = match multiplexed {
        true => MULTIPLEXED_STREAM,
        false => RAW_STREAM,
    };
    let response = (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, "Upgrade"),
            (header::UPGRADE, "tcp"),
            (header::CONTENT_TYPE, content_type),
        ],
    )
        .into_response();
    (Pending::Upgrade(hyper::upgrade::on(req)), response)
}

/// The answer to a websocket handshake, and how the session reaches the client after it.
pub fn take_websocket(req: &mut Request, version: ApiVersion) -> Result<(Pending, Response), HandshakeError> {
    let key = websocket::accept_key(websocket::handshake_key(req.headers())?);
    // dockerd changed to binary frames in API 1.28 (moby#28176): output need not be UTF-8.
    let opcode = match version >= (ApiVersion { major: 1, minor: 28 }) {
        true => Opcode::Binary,
        false => Opcode::Text,
    };
    let response = (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, "Upgrade".to_string()),
            (header::UPGRADE, "websocket".to_string()),
            (header::SEC_WEBSOCKET_ACCEPT, key),
        ],
    )
        .into_response();
    let upgrade = hyper::upgrade::on(req);
    Ok((Pending::WebSocket { upgrade, opcode }, response))
}

/// A request that is no handshake this server speaks: 400, naming the version it speaks, as RFC
/// 6455 section 4.2.2 asks.
impl IntoResponse for HandshakeError {
    fn into_response(self) -> Response {
        let mut refusal = crate::error::ApiError::bad_request(self.to_string()).into_response();
        refusal.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static(websocket::VERSION),
        );
        refusal
    }
}

impl Pending {
    /// The client's input and output, once the connection is handed over.
    pub async fn connect(self) -> Result<(Input, Output), hyper::Error> {
        Ok(match self {
            Pending::Upgrade(upgrade) => {
                let (read, write) = tokio::io::split(TokioIo::new(upgrade.await?));
                (Input::Raw(read), Output::Raw(write))
            }
            Pending::Body { input, output } => (Input::Body(input.into_data_stream()), Output::Body(Some(output))),
            Pending::WebSocket { upgrade, opcode } => {
                let (read, write) = tokio::io::split(TokioIo::new(upgrade.await?));
                let (frames, to_write) = mpsc::channel(16);
                let writer = tokio::spawn(write_frames(write, to_write));
                let (received, input) = mpsc::channel(4);
                tokio::spawn(read_frames(read, frames.clone(), received));
                let output = Output::WebSocket {
                    frames: Some(frames),
                    opcode,
                    writer,
                };
                (Input::WebSocket(input), output)
            }
        })
    }
}

/// What the client sent.
pub enum Received {
    Data(Vec<u8>),
    /// It will send no more, but may still read (a half-closed connection, the end of a body).
    End,
    /// It closed the session (a websocket's close frame, or input the server refused).
    Gone,
}

/// Where the client's input comes from.
pub enum Input {
    Raw(ReadHalf<Conn>),
    Body(BodyDataStream),
    /// From the task reading the client's frames.
    WebSocket(mpsc::Receiver<Received>),
}

impl Input {
    pub async fn recv(&mut self) -> Received {
        match self {
            Input::Raw(read) => {
                let mut buf = vec![0u8; CHUNK];
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => Received::End,
                    Ok(n) => {
                        buf.truncate(n);
                        Received::Data(buf)
                    }
                }
            }
            Input::Body(stream) => match stream.next().await {
                Some(Ok(bytes)) => Received::Data(bytes.to_vec()),
                Some(Err(_)) | None => Received::End,
            },
            Input::WebSocket(received) => received.recv().await.unwrap_or(Received::Gone),
        }
    }
}

/// Reads the client's frames: data to the session, pongs and closes to the writer. It ends when
/// the client closes or leaves, or breaks the protocol; once the server has closed (the writer is
/// done), the client has a moment to send its close, which must find the connection open (the
/// connection closes when this task and the writer have both let go of it).
async fn read_frames(mut read: ReadHalf<Conn>, replies: mpsc::Sender<Vec<u8>>, received: mpsc::Sender<Received>) {
    // Bytes read and not yet decoded: at most one frame under websocket::MAX_FRAME and one read
    // more, as the decoder refuses a larger frame from its header.
    let mut buf = Vec::new();
    let mut decoder = Decoder::default();
    let mut more = vec![0u8; CHUNK];
    let server_closed = async {
        replies.closed().await;
        tokio::time::sleep(CLOSE_GRACE).await;
    };
    tokio::pin!(server_closed);
    loop {
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                let n = tokio::select! {
                    n = read.read(&mut more) => n,
                    _ = &mut server_closed => break,
                };
                match n {
                    // Gone without a close frame: there is nobody to tell.
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&more[..n]),
                }
                continue;
            }
            Err(violation) => {
                tracing::debug!(%violation, "websocket: refusing the client's input");
                let close = websocket::encode_close(violation.close_code(), &violation.to_string());
                let _ = replies.send(close).await;
                break;
            }
        };
        match frame.opcode {
            // Text or binary alike: it is the process's input, bytes (as dockerd takes it).
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                // Once the session is over, what else comes is dropped.
                if !frame.payload.is_empty() {
                    let _ = received.send(Received::Data(frame.payload)).await;
                }
            }
            Opcode::Ping => {
                let _ = replies.send(websocket::encode(Opcode::Pong, &frame.payload)).await;
            }
            Opcode::Pong => {}
            Opcode::Close => {
                // Echoing its code, as section 5.5.1 suggests.
                let code = websocket::close_code(&frame.payload).unwrap_or(websocket::NORMAL);
                let _ = replies.send(websocket::encode_close(code, "")).await;
                break;
            }
        }
    }
    let _ = received.send(Received::Gone).await;
}

/// Where output for the client goes.
pub enum Output {
    Raw(WriteHalf<Conn>),
    /// None once the body has been ended.
    Body(Option<mpsc::Sender<Bytes>>),
    /// Frames go through a task of their own that owns the connection's write half, so that pongs
    /// from the input side never wait on (or for) the output side.
    WebSocket {
        frames: Option<mpsc::Sender<Vec<u8>>>,
        opcode: Opcode,
        writer: JoinHandle<()>,
    },
}

/// How long the end of a session waits for a websocket's last frames to be written.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

impl Output {
    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let gone = || io::Error::from(io::ErrorKind::BrokenPipe);
        match self {
            Output::Raw(write) => write.write_all(data).await,
            Output::Body(Some(tx)) => tx.send(Bytes::copy_from_slice(data)).await.map_err(|_| gone()),
            Output::Body(None) => Err(gone()),
            // The writer drops its end when it fails or has sent a close: the send fails then.
            Output::WebSocket {
                frames: Some(tx),
                opcode,
                ..
            } => tx.send(websocket::encode(*opcode, data)).await.map_err(|_| gone()),
            Output::WebSocket { frames: None, .. } => Err(gone()),
        }
    }

    /// Ends the output: the connection shut down, the body ended, a websocket closed normally
    /// (unless a close was sent already) once what was queued has been written.
    pub async fn end(&mut self) {
        match self {
            Output::Raw(write) => {
                let _ = write.flush().await;
                let _ = write.shutdown().await;
            }
            Output::Body(tx) => drop(tx.take()),
            Output::WebSocket { frames, writer, .. } => {
                if let Some(tx) = frames.take() {
                    let _ = tx.send(websocket::encode_close(websocket::NORMAL, "")).await;
                    if tokio::time::timeout(CLOSE_GRACE, &mut *writer).await.is_err() {
                        writer.abort();
                    }
                }
            }
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // A client that stopped reading must not keep the writer (and its socket) forever.
        if let Output::WebSocket { writer, .. } = self {
            writer.abort();
        }
    }
}

/// Writes the frames it is sent until the first close frame (nothing may follow one), then shuts
/// the connection's write side.
async fn write_frames(mut write: WriteHalf<Conn>, mut frames: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = frames.recv().await {
        if write.write_all(&frame).await.is_err() {
            return;
        }
        if frame.first() == Some(&0x88) {
            break;
        }
    }
    let _ = write.flush().await;
    let _ = write.shutdown().await;
}
