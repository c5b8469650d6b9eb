//! The leaf of berth's crates: content digests, a container's state, its user namespace's id range,
//! and the kind of an error that decides its exit code and HTTP status. Crates that need only these
//! need not depend on the store (and its bundled SQLite).

mod digest;
mod id_range;
mod state;

pub use digest::{Digest, DigestError, Hasher, HashingReader, HashingWriter};
pub use id_range::{IdRange, OVERFLOW_ID};
pub use state::{ContainerState, UnknownState};

/// What kind of failure an error is, for exit codes and HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    Conflict,
    Unauthorized,
    Unavailable,
    Internal,
}
