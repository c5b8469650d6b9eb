//! Moves bytes between a container's stdio, its log, the process that
//! started it (attached runs inherit the CLI's stdio) and `attach` clients
//! on a unix socket. Attach clients get Docker's stream format: raw bytes
//! for a tty; otherwise frames of `[stream, 0, 0, 0, len (u32 BE)]` + data,
//! stream 1 for stdout and 2 for stderr.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags};

use crate::log::Writer;

/// Docker's default detach sequence: ctrl-p, ctrl-q.
const DETACH: [u8; 2] = [0x10, 0x11];

/// Scans input for the detach sequence; ctrl-p alone is passed on late.
#[derive(Default)]
struct DetachScanner {
    pending: bool,
}

impl DetachScanner {
    /// Returns the bytes to forward and whether the sequence was typed.
    fn feed(&mut self, bytes: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(bytes.len() + 1);
        for &b in bytes {
            if self.pending {
                self.pending = false;
                if b == DETACH[1] {
                    return (out, true);
                }
                out.push(DETACH[0]);
            }
            if b == DETACH[0] {
                self.pending = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

struct Client {
    stream: UnixStream,
    scanner: DetachScanner,
}

/// What to connect for one run of a container.
pub struct Relay<'a> {
    /// Output fds with their stream: 0 stdout, 1 stderr (a tty has one).
    pub outputs: Vec<(OwnedFd, usize)>,
    /// Where input goes: the stdin pipe, or the pty master.
    pub input: Option<OwnedFd>,
    pub tty: bool,
    pub log: &'a mut Writer,
    /// Copy output to our own stdout/stderr.
    pub own_output: bool,
    /// Read our own stdin into the container.
    pub own_input: bool,
    pub listener: Option<UnixListener>,
}

impl Relay<'_> {
    /// Runs until every output closes. `on_detach` is called when our own
    /// stdin types the detach sequence.
    pub fn run(mut self, on_detach: &mut dyn FnMut()) {
        // SAFETY: fds 0, 1 and 2 are this process's stdio, open for its lifetime.
        #[allow(unsafe_code)]
        let (our_in, our_out, our_err) = unsafe {
            (
                BorrowedFd::borrow_raw(0),
                BorrowedFd::borrow_raw(1),
                BorrowedFd::borrow_raw(2),
            )
        };
        let winch = if self.tty && self.own_output {
            Winch::new()
        } else {
            None
        };
        if let Some(l) = &self.listener {
            let _ = l.set_nonblocking(true);
        }
        let mut outputs: Vec<Option<(OwnedFd, usize)>> = self.outputs.drain(..).map(Some).collect();
        let mut clients: Vec<Client> = Vec::new();
        let mut own_scanner = DetachScanner::default();
        let mut buf = vec![0u8; 64 * 1024];
        while outputs.iter().any(Option::is_some) {
            // Poll order: outputs, own stdin, winch, listener, clients.
            let mut fds: Vec<PollFd> = Vec::new();
            let mut kinds: Vec<(u8, usize)> = Vec::new();
            for (i, o) in outputs.iter().enumerate() {
                if let Some((fd, _)) = o {
                    fds.push(PollFd::new(fd, PollFlags::IN));
                    kinds.push((0, i));
                }
            }
            if self.own_input {
                fds.push(PollFd::new(&our_in, PollFlags::IN));
                kinds.push((1, 0));
            }
            if let Some(w) = &winch {
                fds.push(PollFd::new(&w.rx, PollFlags::IN));
                kinds.push((2, 0));
            }
            if let Some(l) = &self.listener {
                fds.push(PollFd::new(l, PollFlags::IN));
                kinds.push((3, 0));
            }
            for (i, c) in clients.iter().enumerate() {
                fds.push(PollFd::new(&c.stream, PollFlags::IN));
                kinds.push((4, i));
            }
            if poll(&mut fds, None).is_err() {
                continue;
            }
            let ready: Vec<(u8, usize)> = fds
                .iter()
                .zip(&kinds)
                .filter(|(f, _)| !f.revents().is_empty())
                .map(|(_, k)| *k)
                .collect();
            drop(fds);
            let mut dead_clients = Vec::new();
            for (kind, i) in ready {
                match kind {
                    0 => {
                        let Some((fd, stream)) = outputs[i].as_ref() else {
                            continue;
                        };
                        let stream = *stream;
                        match rustix::io::read(fd, &mut buf) {
                            Ok(0) | Err(_) => {
                                let _ = self.log.flush_stream(stream);
                                outputs[i] = None;
                            }
                            Ok(n) => {
                                let data = &buf[..n];
                                let _ = self.log.write(stream, data);
                                if self.own_output {
                                    let target = if stream == 0 { our_out } else { our_err };
                                    if write_all(target, data).is_err() {
                                        self.own_output = false;
                                    }
                                }
                                for (ci, c) in clients.iter_mut().enumerate() {
                                    let ok = if self.tty {
                                        c.stream.write_all(data)
                                    } else {
                                        let mut frame = vec![stream as u8 + 1, 0, 0, 0];
                                        frame.extend_from_slice(&(n as u32).to_be_bytes());
                                        frame.extend_from_slice(data);
                                        c.stream.write_all(&frame)
                                    };
                                    if ok.is_err() {
                                        dead_clients.push(ci);
                                    }
                                }
                            }
                        }
                    }
                    1 => {
                        let n = rustix::io::read(our_in, &mut buf).unwrap_or(0);
                        if n == 0 {
                            self.own_input = false;
                            if !self.tty {
                                // docker run -i: the container sees the end of its input.
                                self.input = None;
                            }
                            continue;
                        }
                        let (data, detached) = own_scanner.feed(&buf[..n]);
                        self.send_input(&data);
                        if detached {
                            self.own_input = false;
                            self.own_output = false;
                            on_detach();
                        }
                    }
                    2 => {
                        if let Some(w) = &winch {
                            w.drain();
                            if let Some(master) = &self.input {
                                copy_window_size(our_out, master);
                            }
                        }
                    }
                    3 => {
                        if let Some(Ok((stream, _))) = self.listener.as_ref().map(UnixListener::accept) {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
                            clients.push(Client {
                                stream,
                                scanner: DetachScanner::default(),
                            });
                        }
                    }
                    _ => {
                        let Some(c) = clients.get_mut(i) else { continue };
                        let n = c.stream.read(&mut buf).unwrap_or(0);
                        if n == 0 {
                            dead_clients.push(i);
                            continue;
                        }
                        let (data, detached) = c.scanner.feed(&buf[..n]);
                        if detached {
                            dead_clients.push(i);
                        }
                        self.send_input(&data);
                    }
                }
            }
            dead_clients.sort_unstable();
            dead_clients.dedup();
            for i in dead_clients.into_iter().rev() {
                clients.remove(i);
            }
        }
    }

    fn send_input(&mut self, data: &[u8]) {
        if let Some(fd) = &self.input {
            if write_all(fd.as_fd(), data).is_err() && !self.tty {
                self.input = None;
            }
        }
    }
}

/// The attached terminal's size onto the container's pty.
pub fn copy_window_size(from: BorrowedFd<'_>, master: &OwnedFd) {
    if let Ok(size) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(master, size);
    }
}

/// SIGWINCH delivered as a readable socket (the CLI forwards it to us).
struct Winch {
    rx: UnixStream,
    id: signal_hook::SigId,
}

impl Winch {
    fn new() -> Option<Winch> {
        let (rx, tx) = UnixStream::pair().ok()?;
        rx.set_nonblocking(true).ok()?;
        let id = signal_hook::low_level::pipe::register(signal_hook::consts::SIGWINCH, tx).ok()?;
        Some(Winch { rx, id })
    }

    fn drain(&self) {
        let mut sink = [0u8; 64];
        while (&self.rx).read(&mut sink).is_ok_and(|n| n > 0) {}
    }
}

impl Drop for Winch {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
    }
}

pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = rustix::io::write(fd, bytes)?;
        bytes = &bytes[n..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequence_is_caught_across_reads() {
        let mut s = DetachScanner::default();
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"\x11rest"), (Vec::new(), true));
        let mut s = DetachScanner::default();
        assert_eq!(s.feed(b"\x10x"), (b"\x10x".to_vec(), false));
    }
}
