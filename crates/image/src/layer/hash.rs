//! A hashing reader that hashes on a helper thread, so that hashing the layer stream
//! overlaps decompressing and unpacking it.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use berth_store::{Digest, Hasher};

/// Bytes handed to the helper thread at a time.
const CHUNK: usize = 1 << 20;
/// Chunks in flight before the reader waits for the hasher.
const IN_FLIGHT: usize = 4;

pub(crate) struct BackgroundHashingReader<R> {
    inner: R,
    state: State,
}

enum State {
    /// The helper thread could not be started: hash here.
    Inline(Hasher),
    Threaded {
        chunk: Vec<u8>,
        tx: SyncSender<Vec<u8>>,
        recycled: Receiver<Vec<u8>>,
        worker: JoinHandle<Hasher>,
    },
}

impl<R: Read> BackgroundHashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (back_tx, recycled) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let spawned = std::thread::Builder::new().name("layer-hash".into()).spawn(move || {
            let mut hasher = Hasher::new();
            for mut chunk in rx {
                hasher.update(&chunk);
                chunk.clear();
                // The reader may have stopped taking buffers back; that is fine.
                let _ = back_tx.try_send(chunk);
            }
            hasher
        });
        let state = match spawned {
            Ok(worker) => State::Threaded {
                chunk: Vec::with_capacity(CHUNK),
                tx,
                recycled,
                worker,
            },
            Err(e) => {
                tracing::debug!(error = %e, "hashing layer inline");
                State::Inline(Hasher::new())
            }
        };
        BackgroundHashingReader { inner, state }
    }

    /// The digest and length of everything read.
    pub(crate) fn finish(self) -> io::Result<(Digest, u64)> {
        let hasher = match self.state {
            State::Inline(h) => h,
            State::Threaded {
                chunk,
                tx,
                recycled,
                worker,
            } => {
                if !chunk.is_empty() {
                    tx.send(chunk)
                        .map_err(|_| io::Error::other("layer hashing thread stopped"))?;
                }
                drop(tx);
                drop(recycled);
                worker
                    .join()
                    .map_err(|_| io::Error::other("layer hashing thread panicked"))?
            }
        };
        let len = hasher.len();
        Ok((hasher.finish(), len))
    }
}

impl<R: Read> Read for BackgroundHashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        match &mut self.state {
            State::Inline(h) => h.update(data),
            State::Threaded {
                chunk, tx, recycled, ..
            } => {
                chunk.extend_from_slice(data);
                if chunk.len() >= CHUNK {
                    let next = recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                    let full = std::mem::replace(chunk, next);
                    tx.send(full)
                        .map_err(|_| io::Error::other("layer hashing thread stopped"))?;
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_plain_hash() {
        let data: Vec<u8> = (0..5 * CHUNK + 123).map(|i| (i % 251) as u8).collect();
        let mut r = BackgroundHashingReader::new(&data[..]);
        let mut buf = vec![0u8; 70_000];
        while r.read(&mut buf).unwrap() > 0 {}
        let (digest, len) = r.finish().unwrap();
        assert_eq!(digest, Digest::of(&data));
        assert_eq!(len, data.len() as u64);

        let r = BackgroundHashingReader::new(&b""[..]);
        assert_eq!(r.finish().unwrap().0, Digest::of(b""));
    }
}
