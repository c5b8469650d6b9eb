//! Image formats and filesystems: manifests and configs, layer apply and diff,
//! the snapshotter, save/load archives.

pub mod error;
pub mod idmap;
pub mod layer;
pub mod snapshot;
pub mod spec;

pub use error::Error;
