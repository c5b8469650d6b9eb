//! A request body (a tar to load, import or build from) as the blocking `Read` the engine takes: a
//! task moves the body's chunks into a small channel as the engine reads, so an archive of any
//! size goes through without being held in memory, and a client that stops sending ends the read
//! with an error rather than a short archive.

use std::io::{self, Read};

use axum::body::{Body, Bytes};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

/// Chunks read ahead of the engine.
const AHEAD: usize = 8;

/// The body as a blocking reader. Read it only off the async threads (in an engine call).
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl BodyReader {
    /// Starts moving `body` into the reader (on the current tokio runtime).
    pub fn new(body: Body) -> BodyReader {
        let (tx, rx) = mpsc::channel(AHEAD);
        tokio::spawn(async move {
            let mut chunks = body.into_data_stream();
            while let Some(chunk) = chunks.next().await {
                let failed = chunk.is_err();
                let item = chunk.map_err(|e| {
                    io::Error::new(io::ErrorKind::UnexpectedEof, format!("reading the request body: {e}"))
                });
                // The engine stopped reading (it failed, or had all it needed): stop too.
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        BodyReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_body_reads_whole_in_order() {
        let chunks: Vec<Result<Bytes, io::Error>> = (0..50u8).map(|i| Ok(Bytes::from(vec![i; 1000]))).collect();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let mut reader = BodyReader::new(body);
        let read = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).map(|_| all)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(read.len(), 50_000);
        assert!(read
            .chunks(1000)
            .enumerate()
            .all(|(i, c)| c.iter().all(|b| *b == i as u8)));
    }

    #[tokio::test]
    async fn a_body_that_breaks_is_an_error_not_an_end() {
        let chunks: Vec<Result<Bytes, io::Error>> = vec![
            Ok(Bytes::from_static(b"abc")),
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone")),
        ];
        let mut reader = BodyReader::new(Body::from_stream(futures_util::stream::iter(chunks)));
        let result = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all)
        })
        .await
        .unwrap();
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
