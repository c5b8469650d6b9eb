//! Everything the CLI writes on stdout goes through here, so that a reader that goes away early
//! (`berth images | head -1`) ends the command quietly instead of a panic ("failed printing to
//! stdout") or an error message.
//!
//! Why not SIGPIPE's default action, as C programs and docker's client have it: this process also
//! writes to sockets (registries, helpers, the monitor) whose peers may hang up mid-request, and
//! there the write must fail with EPIPE, not kill the command. So stdout's EPIPE is handled where
//! stdout is written: every writer here notes it, including the sinks handed to the engine (logs,
//! save, export, cp) whose errors come back wrapped in the engine's own, and `main` then ends the
//! command with [`CLOSED_STATUS`] and says nothing. Noting it once for the process (stdout is one
//! per process) spares every caller from telling a closed stdout from a closed socket by the error
//! alone.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of a command whose stdout reader went away: 128 + SIGPIPE, what a shell shows
/// for a program that dies of the signal, as docker's client does.
pub const CLOSED_STATUS: u8 = 141;

/// Set by the first write to stdout that failed because its reader is gone.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write to stdout found its reader gone.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Notes a closed stdout in `err`, and hands it back.
fn note(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::BrokenPipe {
        CLOSED.store(true, Ordering::Relaxed);
    }
    err
}

/// This process's stdout (locked), noting a reader that went away.
pub struct Stdout(io::StdoutLock<'static>);

/// Stdout for a writer of many writes (tables, a tar stream, logs).
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(note)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).map_err(note)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(note)
    }
}

/// For a command whose output another process writes to our stdout (the relay of an attached
/// container or exec, which stops writing to a reader that went away, and goes on): ends this
/// process with [`CLOSED_STATUS`] when stdout's reader goes away, as a write here would have,
/// leaving the container running as docker's client does. Only a pipe tells, with POLLERR.
pub fn end_when_reader_leaves() {
    use rustix::event::{poll, PollFd, PollFlags};
    std::thread::spawn(|| {
        let stdout = io::stdout();
        loop {
            let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
            match poll(&mut fds, None) {
                Ok(_) if fds[0].revents().contains(PollFlags::ERR) => {
                    CLOSED.store(true, Ordering::Relaxed);
                    std::process::exit(CLOSED_STATUS.into());
                }
                Err(rustix::io::Errno::INTR) => continue,
                // A hung-up terminal or socket, a closed fd: nothing a pipe's reader did.
                _ => return,
            }
        }
    });
}

/// What [`out!`] and [`outln!`] do: `text` on stdout, flushed, and the write's error if it failed.
pub fn print(text: fmt::Arguments<'_>) -> io::Result<()> {
    let mut out = stdout();
    out.write_fmt(text)?;
    out.flush()
}

/// `print!` that returns the write's `io::Result` instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::print(format_args!($($arg)*))
    };
}

/// `println!` that returns the write's `io::Result` instead of panicking.
macro_rules! outln {
    () => {
        $crate::out::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_is_noted() {
        let _ = note(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(!closed());
        let err = note(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(closed());
    }
}
