//! How the CLI's exit status is chosen, in one place, as Docker's client chooses it: 1 when the
//! engine refuses or fails a request, whatever its kind; 125 when a command that runs a container
//! (`run`, `create`, `start -a`) fails in the engine; 126 or 127 when the container's command
//! cannot be invoked or found; otherwise the container's or process's own status. A command whose
//! stdout reader went away ends with 141, as one killed by SIGPIPE would (`out.rs`, and `main`).

use berth_engine::{Error, ErrorKind};

/// An error that carries its own exit status (docker's StatusError).
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

impl Exit {
    /// `run`, `create` and `start -a` when the engine fails (Docker's 125).
    pub const ENGINE: Exit = Exit(125);

    /// A container's or process's exit status as a shell sees it (128+N for signal N).
    pub fn status(code: i64) -> Exit {
        Exit(code.clamp(0, 255) as u8)
    }

    /// An engine error answering a request. Docker's client exits 1 for every kind of error the
    /// daemon answers with, so the kind only decides the HTTP status, in the server.
    pub fn for_error(err: &Error) -> Exit {
        if let Error::StartFailed { code, .. } = err {
            return Exit::status(*code as i64);
        }
        match err.kind() {
            ErrorKind::NotFound
            | ErrorKind::InvalidArgument
            | ErrorKind::Conflict
            | ErrorKind::Unauthorized
            | ErrorKind::Unavailable
            | ErrorKind::Internal => Exit(1),
        }
    }

    /// An engine error of a command that runs a container: the start failure's own 126/127, else 125.
    pub fn for_run(err: &Error) -> Exit {
        match err {
            Error::StartFailed { code, .. } => Exit::status(*code as i64),
            _ => Exit::ENGINE,
        }
    }
}
