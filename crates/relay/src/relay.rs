//! Moves bytes between a container's stdio, its log, the caller attached
//! to it (whose streams are handed in as fds) and `attach` clients on a
//! unix socket. Attach clients get Docker's stream format: raw bytes
//! for a tty; otherwise frames of `[stream, 0, 0, 0, len (u32 BE)]` + data,
//! stream 1 for stdout and 2 for stderr.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

pub use crate::caller::Caller;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};

use crate::log::Writer;

/// Docker's default detach sequence: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// Parses docker's `--detach-keys` format: comma-separated keys, each a
/// single character or `ctrl-X` (X in a-z, @, [, \\, ], ^, _).
pub fn parse_detach_keys(text: &str) -> Result<Vec<u8>, String> {
    let mut keys = Vec::new();
    for key in text.split(',') {
        let bytes = key.as_bytes();
        if let Some(c) = key.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b @ (b'[' | b'\\' | b']' | b'^' | b'_')] => b - b'@',
                _ => {
                    return Err(format!(
                        "invalid detach key {key:?}: use ctrl-<a-z, @, [, \\, ], ^ or _>"
                    ))
                }
            };
            keys.push(b);
        } else if bytes.len() == 1 {
            keys.push(bytes[0]);
        } else {
            return Err(format!("invalid detach key {key:?}: use a character or ctrl-<key>"));
        }
    }
    Ok(keys)
}

/// Scans input for the detach sequence; a partial match is held back and
/// passed on once it turns out not to be the sequence.
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    pub fn new(keys: &[u8]) -> DetachScanner {
        DetachScanner {
            keys: keys.to_vec(),
            matched: 0,
        }
    }

    /// Returns the bytes to forward and whether the sequence was typed.
    pub fn feed(&mut self, bytes: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(bytes.len() + self.keys.len());
        if self.keys.is_empty() {
            out.extend_from_slice(bytes);
            return (out, false);
        }
        for &b in bytes {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // Not the sequence after all: the held bytes go through, and
            // this byte may start the sequence afresh.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return (out, true);
                }
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
    /// The attached caller, if any.
    pub caller: Caller,
    pub listener: Option<UnixListener>,
    /// The detach sequence (empty: none), e.g. `DEFAULT_DETACH_KEYS`.
    pub detach_keys: Vec<u8>,
    /// Where an attach client leaves "ROWS COLS" before sending SIGWINCH.
    pub size_file: Option<std::path::PathBuf>,
}

impl Relay<'_> {
    /// Runs until every output closes. `on_detach` is called when the
    /// caller's stdin types the detach sequence.
    pub fn run(mut self, on_detach: &mut dyn FnMut()) {
        self.run_until(None, on_detach);
    }

    /// Like [`Relay::run`], but returns at `deadline` if outputs are still
    /// open: `false`, with those outputs back in `self.outputs` (nothing
    /// read is lost: partial log lines are written out) so another process
    /// can carry on. Attach clients accepted meanwhile are dropped, so leave
    /// `listener` out when a deadline may hand over.
    pub fn run_until(&mut self, deadline: Option<Instant>, on_detach: &mut dyn FnMut()) -> bool {
        let winch = if self.tty { Winch::new() } else { None };
        if let Some(l) = &self.listener {
            let _ = l.set_nonblocking(true);
        }
        let mut outputs: Vec<Option<(OwnedFd, usize)>> = self.outputs.drain(..).map(Some).collect();
        let mut clients: Vec<Client> = Vec::new();
        let mut own_scanner = DetachScanner::new(&self.detach_keys);
        if let (Some(_), Some(master)) = (&winch, &self.input) {
            // A size asked for before this relay listened for the signal.
            self.apply_window_size(master);
        }
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
            if let Some(stdin) = &self.caller.stdin {
                fds.push(PollFd::new(stdin, PollFlags::IN));
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
            let timeout = match deadline {
                None => None,
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(rustix::time::Timespec::try_from(left).unwrap_or(
                        rustix::time::Timespec {
                            tv_sec: 0,
                            tv_nsec: 1_000_000,
                        },
                    )),
                    _ => {
                        drop(fds);
                        for (_, stream) in outputs.iter().flatten() {
                            let _ = self.log.flush_stream(*stream);
                        }
                        self.outputs = outputs.into_iter().flatten().collect();
                        return false;
                    }
                },
            };
            if poll(&mut fds, timeout.as_ref()).is_err() {
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
                                let target = match stream {
                                    0 => self.caller.stdout.as_ref(),
                                    _ => self.caller.stderr.as_ref(),
                                };
                                if let Some(target) = target {
                                    if write_all(target.as_fd(), data).is_err() {
                                        self.caller.stdout = None;
                                        self.caller.stderr = None;
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
                        let Some(stdin) = &self.caller.stdin else { continue };
                        let n = rustix::io::read(stdin, &mut buf).unwrap_or(0);
                        if n == 0 {
                            self.caller.stdin = None;
                            if !self.tty {
                                // docker run -i: the container sees the end of its input.
                                self.input = None;
                            }
                            continue;
                        }
                        let (data, detached) = own_scanner.feed(&buf[..n]);
                        self.send_input(&data);
                        if detached {
                            self.caller = Caller::default();
                            on_detach();
                        }
                    }
                    2 => {
                        if let (Some(w), Some(master)) = (&winch, &self.input) {
                            w.drain();
                            self.apply_window_size(master);
                        }
                    }
                    3 => {
                        if let Some(Ok((stream, _))) = self.listener.as_ref().map(UnixListener::accept) {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
                            clients.push(Client {
                                stream,
                                scanner: DetachScanner::new(&self.detach_keys),
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
        true
    }

    /// The attached caller's terminal size onto the container's; a caller without a terminal (a
    /// server's pipes) or an attach client leaves its size in the size file.
    fn apply_window_size(&self, master: &OwnedFd) {
        let from_caller = self
            .caller
            .stdout
            .as_ref()
            .and_then(|out| rustix::termios::tcgetwinsize(out).ok());
        if let Some(size) = from_caller.or_else(|| self.size_file.as_deref().and_then(read_size)) {
            let _ = rustix::termios::tcsetwinsize(master, size);
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

/// "ROWS COLS" from a size file.
fn read_size(path: &std::path::Path) -> Option<rustix::termios::Winsize> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace().map(|n| n.parse::<u16>().ok());
    let (rows, cols) = (it.next()??, it.next()??);
    Some(rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    })
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
        let mut s = DetachScanner::new(&DEFAULT_DETACH_KEYS);
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"\x11rest"), (Vec::new(), true));
        let mut s = DetachScanner::new(&DEFAULT_DETACH_KEYS);
        assert_eq!(s.feed(b"\x10x"), (b"\x10x".to_vec(), false));
        let mut s = DetachScanner::new(&DEFAULT_DETACH_KEYS);
        assert_eq!(s.feed(b"\x10\x10\x11"), (b"\x10".to_vec(), true));
    }

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            DEFAULT_DETACH_KEYS.to_vec()
        );
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-_").unwrap(), vec![0, 31]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("abc").is_err());
        let mut s = DetachScanner::new(&parse_detach_keys("ctrl-a,x").unwrap());
        assert_eq!(s.feed(b"a\x01y\x01x"), (b"a\x01y".to_vec(), true));
    }
}
