//! A container's stdio on the host side: the json-file log writer and the
//! relay between the container, an attached terminal and attach clients.
//! Kept free of heavy dependencies: the per-container shim is built on it.

mod caller;
pub mod log;
mod relay;

pub use caller::cloexec_pipe;
pub use relay::{copy_window_size, parse_detach_keys, write_all, Caller, DetachScanner, Relay, DEFAULT_DETACH_KEYS};
