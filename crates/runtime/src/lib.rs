//! Containers at the OCI runtime level: the runtime spec berth generates from
//! an image config and `run` flags, and running it.

#[cfg(feature = "libcontainer")]
pub mod cgroupfs;
pub mod error;
pub mod external;
#[cfg(feature = "libcontainer")]
pub mod filter;
#[cfg(feature = "libcontainer")]
pub mod launch;
pub mod sealed;
pub mod seccomp;
pub mod spec;
pub mod user;
pub mod userns;

pub use error::Error;
