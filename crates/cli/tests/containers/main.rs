//! End-to-end: running containers through the real binary, with a busybox
//! image, real namespaces and cgroups.

#[path = "../common/mod.rs"]
mod common;

mod attach;
mod confinement;
mod exec;
mod lifecycle;
mod logs;
mod restarts;
mod run;

use std::path::Path;

use common::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Nothing of the container may remain: mounts, cgroups, files.
fn assert_gone(berth: &Berth, id: &str) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(id), "a mount of {id} remains");
    for controller in [
        "memory", "pids", "cpu", "freezer", "devices", "blkio", "cpuset", "unified",
    ] {
        let cg = Path::new("/sys/fs/cgroup").join(controller).join("berth").join(id);
        assert!(!cg.exists(), "cgroup {} remains", cg.display());
    }
    assert!(
        !berth.root().join("containers").join(id).exists(),
        "the container's files remain"
    );
    let console = std::fs::read_dir(berth.dir.path().join("run/console"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(
        !console.iter().any(|f| f.starts_with(&id[..12])),
        "console files remain: {console:?}"
    );
    assert!(
        !berth.dir.path().join("run/runtime").join(id).exists(),
        "the runtime's state remains"
    );
}
