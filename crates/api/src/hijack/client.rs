//! How a session reaches its client, in the ways dockerd offers:
//!
//! - the connection taken over after a 101 (`Upgrade: tcp`), Docker's stream both ways;
//! - no `Upgrade` header: dockerd takes the connection anyway and writes `200 OK` and the stream
//!   after it (`postContainersAttach`, `postContainerExecStart`). hyper hands a connection over only
//!   after a 101, so here the stream is the response's body instead (chunked, as HTTP/1.1 has it
//!   when there is no length: the same bytes to any HTTP client, curl among them), and the
//!   process's input is the request's body, if the client sends one.

use std::io;

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

use crate::router::ApiVersion;

/// An upgraded connection.
pub type Conn = TokioIo<hyper::upgrade::Upgraded>;

const CHUNK: usize = 32 * 1024;
const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// The client, once the response to its request has gone (see [`take`]).
pub enum Pending {
    Upgrade(OnUpgrade),
    Body { input: Body, output: mpsc::Sender<Bytes> },
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

impl Pending {
    /// The client's input and output, once the connection is handed over.
    pub async fn connect(self) -> Result<(Input, Output), hyper::Error> {
        Ok(match self {
            Pending::Upgrade(upgrade) => {
                let (read, write) = tokio::io::split(TokioIo::new(upgrade.await?));
                (Input::Raw(read), Output::Raw(write))
            }
            Pending::Body { input, output } => (Input::Body(input.into_data_stream()), Output::Body(Some(output))),
        })
    }
}

/// What the client sent.
pub enum Received {
    Data(Vec<u8>),
    /// It will send no more, but may still read (a half-closed connection, the end of a body).
    End,
}

/// Where the client's input comes from.
pub enum Input {
    Raw(ReadHalf<Conn>),
    Body(BodyDataStream),
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
        }
    }
}

/// Where output for the client goes.
pub enum Output {
    Raw(WriteHalf<Conn>),
    /// None once the body has been ended.
    Body(Option<mpsc::Sender<Bytes>>),
}

impl Output {
    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let gone = || io::Error::from(io::ErrorKind::BrokenPipe);
        match self {
            Output::Raw(write) => write.write_all(data).await,
            Output::Body(Some(tx)) => tx.send(Bytes::copy_from_slice(data)).await.map_err(|_| gone()),
            Output::Body(None) => Err(gone()),
        }
    }

    /// Ends the output: the connection shut down, the body ended.
    pub async fn end(&mut self) {
        match self {
            Output::Raw(write) => {
                let _ = write.flush().await;
                let _ = write.shutdown().await;
            }
            Output::Body(tx) => drop(tx.take()),
        }
    }
}
