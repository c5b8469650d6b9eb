//! berth's data root: content-addressed blobs, ingest sessions, the metadata
//! database and the store lock. See docs/ARCHITECTURE.md for the layout.

mod error;

pub use berth_types::{ContainerState, Digest, DigestError, Hasher, HashingReader, HashingWriter, IdRange};
pub use error::{Error, ErrorKind, IoContext};
pub mod check;
pub mod containers;
mod db;
pub mod id_ranges;
mod lock;
pub mod meta;
pub mod networks;
mod store;
pub mod volumes;

pub use lock::FileLock;
pub use rusqlite;
pub use store::{write_file_atomic, Collected, Db, Ingest, Store, TempBlob};
