//! Cleaning up after a run: the runtime's state and cgroups, the network namespace, the attach files and
//! the root mount.

use std::fs;

use berth_runtime::external::Runtime;
use berth_runtime::launch;
use berth_store::containers as rows;

use super::paths::{attach_socket_path, size_file_path};
use crate::{Engine, Error, Result};

/// The OCI runtime a container was created with (`--runtime`); the
/// built-in one when the container or its record is gone.
pub(crate) fn runtime_of(engine: &Engine, id: &str) -> Runtime {
    let name = engine
        .store()
        .db()
        .ok()
        .and_then(|db| rows::get(&db, id).ok().flatten())
        .and_then(|row| serde_json::from_str::<crate::containers::ContainerConfig>(&row.config).ok())
        .map(|c| c.host.runtime)
        .unwrap_or_default();
    Runtime::for_name(&name, engine.runroot())
        .unwrap_or_else(|_| Runtime::Builtin(launch::Launcher::new(&engine.layout().runtime_state())))
}

/// Removes the runtime's state, cgroups and the root mount of a container
/// that is not running. Tolerant: what is already gone is fine.
pub(crate) fn cleanup_runtime(engine: &Engine, id: &str) -> Result<()> {
    cleanup_runtime_then(engine, id, |_| Vec::new())
}

/// [`cleanup_runtime`], running `after_unmount` once the mounts are gone (or failed to go: its argument says
/// whether they all went) while the runtime's part may still be under way; its errors join the others.
pub(crate) fn cleanup_runtime_then(
    engine: &Engine,
    id: &str,
    after_unmount: impl FnOnce(bool) -> Vec<String>,
) -> Result<()> {
    // The runtime's part (cgroups) runs beside the mounts and the network.
    std::thread::scope(|scope| {
        let runtime = scope.spawn(|| runtime_of(engine, id).delete(id).map_err(|e| e.to_string()));
        let mut errors = cleanup_mounts(engine, id);
        let unmounted = errors.is_empty();
        errors.extend(after_unmount(unmounted));
        match runtime.join() {
            Ok(Err(e)) => errors.insert(0, e),
            Err(_) => errors.insert(0, "removing the runtime state panicked".into()),
            Ok(Ok(())) => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(errors.join("; ")))
        }
    })
}

/// The network namespace, the attach files and the root mount of a stopped container; returns what failed.
fn cleanup_mounts(engine: &Engine, id: &str) -> Vec<String> {
    let mut errors = Vec::new();
    engine.disconnect_namespace(id);
    for path in [attach_socket_path(engine, id), size_file_path(engine, id)] {
        let _ = fs::remove_file(path);
    }
    super::idmapped::detach_all(engine, id);
    let merged = engine.container_dir(id).join("merged");
    for target in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        let _ = berth_image::snapshot::unmount(&merged.join(target));
    }
    if let Err(e) = berth_image::snapshot::unmount(&merged) {
        errors.push(e.to_string());
    }
    errors
}
