//! Hijacked connections, as dockerd makes them for attach and exec: the connection carries a
//! process's streams both ways once the response's head has gone (see [`client`] for the ways a
//! client is reached: upgraded, a plain 200, a websocket). Output goes to the client in Docker's
//! stream format: frames of `[stream, 0, 0, 0, len (u32 BE)]` + data without a TTY (stream 1
//! stdout, 2 stderr), raw bytes with one, and raw bytes on a websocket, whose frames keep pieces
//! apart already. Input from the client goes to the process, scanned for the detach keys.
//!
//! A [`Session`] ends when every output source has ended (the process's streams closed), when the
//! client types the detach keys, or when the client goes; its readers are tasks that end with it,
//! so nothing outlives a client that left.

pub mod client;

use std::io;
use std::os::fd::OwnedFd;

use axum::body::Bytes;
use berth_engine::relay::DetachScanner;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub use client::{take, take_websocket, Pending};
use client::{Input, Output, Received};

/// `data` as one frame of stream `stream` (1 stdout, 2 stderr).
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// A pipe end or terminal master, read and written without blocking a worker thread.
pub struct Fd(AsyncFd<OwnedFd>);

impl Fd {
    pub fn new(fd: OwnedFd) -> io::Result<Fd> {
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)?;
        // SAFETY: the OwnedFd is owned by the AsyncFd from here on: it stays open, and its
        // as_raw_fd is the same fd, until the AsyncFd is dropped.
        #[allow(unsafe_code)]
        let registered = unsafe { AsyncFd::register(fd) };
        Ok(Fd(registered.map_err(io::Error::from)?))
    }

    /// Reads what there is; 0 at the end (a terminal whose other side closed reads as the end).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.0.readable().await?;
            match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut *buf).map_err(io::Error::from)) {
                Ok(Err(e)) if e.raw_os_error() == Some(libc_eio()) => return Ok(0),
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.0.writable().await?;
            match guard.try_io(|fd| rustix::io::write(fd.get_ref(), data).map_err(io::Error::from)) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}

fn libc_eio() -> i32 {
    rustix::io::Errno::IO.raw_os_error()
}

/// How a pipe's or terminal's output reaches the client.
#[derive(Clone, Copy, Debug)]
pub enum Out {
    /// As it is (a terminal's).
    Raw,
    /// In frames of this stream (1 stdout, 2 stderr).
    Frame(u8),
    /// Not at all: read and dropped, so the process never blocks on it.
    Drop,
}

/// Where output comes from.
pub enum Source {
    /// A pipe or terminal.
    Fd { fd: Fd, out: Out },
    /// A container monitor's attach socket, which speaks Docker's format already. A terminal's
    /// output is passed through as it is; otherwise only the frames of the streams wanted
    /// (`[stdout, stderr]`) are kept, whole when `multiplexed`, else their data alone.
    Monitor {
        socket: OwnedReadHalf,
        tty: bool,
        wanted: [bool; 2],
        multiplexed: bool,
    },
}

/// Where input goes.
pub enum Sink {
    Fd(Fd),
    /// The monitor's attach socket: never shut down (the monitor would drop the client, and its
    /// output with it); input simply stops.
    Monitor(OwnedWriteHalf),
}

impl Sink {
    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Sink::Fd(fd) => fd.write_all(data).await,
            Sink::Monitor(socket) => socket.write_all(data).await,
        }
    }
}

/// The detach keys the client may type, and what the process side is sent when it does (the
/// monitor's own keys, so it lets go of its side too; nothing for an exec).
pub struct Detach {
    pub scanner: DetachScanner,
    pub tell: Vec<u8>,
}

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every output source ended: the process closed its streams.
    Output,
    /// The client typed the detach keys.
    Detached,
    /// The client went away (writing to it failed) or closed the session (a websocket's close).
    ClientGone,
}

/// One hijacked session: output sources to the client, the client's input to a sink.
pub struct Session {
    /// Bytes sent before any output (a replayed log).
    pub prelude: Vec<u8>,
    pub sources: Vec<Source>,
    pub input: Option<Sink>,
    pub detach: Option<Detach>,
}

const CHUNK: usize = 32 * 1024;
/// How long a prelude waits after the 101 (see [`Session::run_then`]).
const PRELUDE_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// How the client's input ended.
enum InputEnded {
    /// It sends no more, and may still read.
    Eof,
    Detached,
    Gone,
}

impl Session {
    /// Relays until the session ends; the client's connection is closed when this returns.
    pub async fn run(self, client: (Input, Output)) -> Ended {
        self.run_then(client, async {}).await
    }

    /// [`Session::run`], but when the output ends, `before_close` is awaited before the client
    /// sees the end (an exec's exit code is recorded by then, for the client to read next).
    pub async fn run_then(
        self,
        (mut from_client, mut to_client): (Input, Output),
        before_close: impl std::future::Future<Output = ()>,
    ) -> Ended {
        if !self.prelude.is_empty() {
            // A client that reads the 101's headers through a buffered reader and then reads the
            // socket itself (the Python SDK) loses what arrived with them: a replayed log, ready at
            // once, waits a moment, as dockerd's comes a moment later too.
            tokio::time::sleep(PRELUDE_DELAY).await;
            if to_client.send(&self.prelude).await.is_err() {
                return Ended::ClientGone;
            }
        }
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        // Dropped on return, which ends every reader still waiting.
        let mut readers = JoinSet::new();
        for source in self.sources {
            readers.spawn(pump(source, tx.clone()));
        }
        drop(tx);
        let input = pump_input(&mut from_client, self.input, self.detach);
        tokio::pin!(input);
        let mut input_done = false;
        loop {
            tokio::select! {
                chunk = rx.recv() => match chunk {
                    Some(bytes) => {
                        if to_client.send(&bytes).await.is_err() {
                            return Ended::ClientGone;
                        }
                    }
                    None => {
                        before_close.await;
                        to_client.end().await;
                        return Ended::Output;
                    }
                },
                ended = &mut input, if !input_done => match ended {
                    InputEnded::Eof => input_done = true,
                    InputEnded::Detached => {
                        to_client.end().await;
                        return Ended::Detached;
                    }
                    InputEnded::Gone => {
                        to_client.end().await;
                        return Ended::ClientGone;
                    }
                }
            }
        }
    }
}

/// Copies the client's input to `sink` until the client stops sending or types the detach keys.
/// Without a sink the input is read and dropped (so a closed client is noticed).
async fn pump_input(from_client: &mut Input, mut sink: Option<Sink>, mut detach: Option<Detach>) -> InputEnded {
    loop {
        let received = match from_client.recv().await {
            Received::Data(data) => data,
            Received::End => {
                release(sink);
                return InputEnded::Eof;
            }
            Received::Gone => {
                release(sink);
                return InputEnded::Gone;
            }
        };
        let (data, detached) = match &mut detach {
            Some(d) => d.scanner.feed(&received),
            None => (received, false),
        };
        if let Some(s) = &mut sink {
            let mut failed = s.write_all(&data).await.is_err();
            if detached {
                if let Some(d) = &detach {
                    failed |= s.write_all(&d.tell).await.is_err();
                }
            }
            if failed {
                // The process closed its input; whatever the client types now goes nowhere.
                release(sink.take());
            }
        }
        if detached {
            return InputEnded::Detached;
        }
    }
}

/// Lets go of a sink whose input ended. A pipe is closed, so the process reads the end of its
/// input; a monitor's socket is not shut down, or the monitor would stop sending output too.
fn release(sink: Option<Sink>) {
    if let Some(Sink::Monitor(socket)) = sink {
        socket.forget();
    }
}

/// Sends `source`'s output, as the client is to read it, until it ends or nobody listens.
async fn pump(source: Source, tx: mpsc::Sender<Bytes>) {
    match source {
        Source::Fd { fd, out } => {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match fd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let bytes = match out {
                    Out::Frame(s) => frame(s, &buf[..n]),
                    Out::Raw => buf[..n].to_vec(),
                    Out::Drop => continue,
                };
                if tx.send(Bytes::from(bytes)).await.is_err() {
                    return;
                }
            }
        }
        Source::Monitor {
            mut socket, tty: true, ..
        } => {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
        }
        Source::Monitor {
            mut socket,
            wanted,
            multiplexed,
            ..
        } => loop {
            let mut header = [0u8; 8];
            if socket.read_exact(&mut header).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let mut data = vec![0u8; len];
            if socket.read_exact(&mut data).await.is_err() {
                return;
            }
            let keep = match header[0] {
                1 => wanted[0],
                2 => wanted[1],
                _ => false,
            };
            if !keep || data.is_empty() {
                continue;
            }
            let bytes = match multiplexed {
                true => frame(header[0], &data),
                false => data,
            };
            if tx.send(Bytes::from(bytes)).await.is_err() {
                return;
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_stream_and_a_big_endian_length() {
        assert_eq!(frame(1, b"hi"), [1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(frame(2, &[0; 300])[4..8], [0, 0, 1, 44]);
    }
}
