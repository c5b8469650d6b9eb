#![recursion_limit = "256"]
//! The engine both front doors (the CLI and, later, the API server) call.
//! It owns the data root and orchestrates the lower crates; it formats nothing.

pub mod build;
pub mod build_context;
mod cgroup_warmup;
pub mod check;
pub mod config;
pub mod containers;
pub mod disk;
pub mod dns;
mod error;
pub mod events;
pub mod filters;
mod ids;
pub mod images;
mod inherit;
pub mod layout;
pub mod mounts;
pub mod networks;
mod owned;
mod parallel;
pub mod pattern;
pub mod ports;
pub mod prune;
mod reap;
pub mod registry;
pub mod rootless;
mod spawner;
pub mod system;
mod time;
pub mod units;
pub mod userns;
pub mod views;
pub mod volumes;
pub mod when;
mod whole_file;

use std::path::{Path, PathBuf};

/// A container's stdio on the host (the relay and json-file log writer), for the CLI's terminal
/// handling and the per-container shim, which build on it.
pub use berth_relay as relay;
pub use berth_types::{ContainerState, Digest, ErrorKind};
pub use error::{Error, Result};
pub use spawner::{serve_spawner, start_spawner};

use berth_store::Store;

/// Makes this process run from a copy of its binary that container processes cannot write, by
/// executing itself again when it does not (see `berth_runtime::sealed`). A process that will start
/// or exec into containers calls it first thing, before it has threads or state.
pub fn seal_executable() -> Result<()> {
    Ok(berth_runtime::sealed::ensure_sealed()?)
}

/// The berth binary to execute for a helper process (a monitor, an exec, the DNS server, a health
/// checker), and beside which the shim is installed: the installed path even when this process runs
/// sealed, or the one a program embedding the engine named with [`use_helper_executable`].
pub(crate) fn berth_executable() -> std::io::Result<PathBuf> {
    match HELPER_EXECUTABLE.get() {
        Some(path) => Ok(path.clone()),
        None => berth_runtime::sealed::original_exe(),
    }
}

static HELPER_EXECUTABLE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// For a program that embeds the engine but is not the `berth` binary (a test, say): the `berth`
/// binary to run for the engine's helper processes. Set once, before the first engine call.
pub fn use_helper_executable(path: PathBuf) {
    let _ = HELPER_EXECUTABLE.set(path);
}

/// Where the engine keeps its state.
#[derive(Clone, Debug)]
pub struct Options {
    pub root: PathBuf,
    pub runroot: PathBuf,
}

pub struct Engine {
    store: Store,
    options: Options,
    layout: layout::Layout,
}

impl Engine {
    pub fn open(options: Options) -> Result<Engine> {
        let store = Store::open(&options.root)?;
        let layout = layout::Layout::new(&options.root, &options.runroot);
        rootless::place_host_side();
        Ok(Engine { store, options, layout })
    }

    /// Opens the data root as it is: `open` first finishes what a killed command left (pending removals,
    /// a due collection, dead ingest sessions), which `system check` must see and report instead.
    pub fn open_as_is(options: Options) -> Result<Engine> {
        let store = Store::open_as_is(&options.root)?;
        let layout = layout::Layout::new(&options.root, &options.runroot);
        rootless::place_host_side();
        Ok(Engine { store, options, layout })
    }

    pub fn root(&self) -> &Path {
        &self.options.root
    }

    pub fn runroot(&self) -> &Path {
        &self.options.runroot
    }

    /// Where everything the engine keeps is.
    pub fn layout(&self) -> &layout::Layout {
        &self.layout
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
