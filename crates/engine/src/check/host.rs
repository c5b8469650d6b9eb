//! The host's side of `system check`: what this root's containers and networks hold outside the data
//! root (mounts, network namespaces, cgroups, runtime state, monitors, bridges, veths, port rules),
//! against the records. Something held by a container that is not running, with no monitor and no
//! start or removal in progress, is a leftover of a killed command; repair tears it down as `rm` does.
//!
//! Cgroups are found by the ids this root knows (its containers, its runtime state, its mounts): the
//! cgroup tree (`berth/<id>`) is shared by every data root on the host, so an id none of ours names is
//! left alone. Bridges, veths and port rules carry the root's identity (see `owned.rs`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_store::containers::{self as rows, ContainerRow};

use super::mountinfo::mounts_under;
use super::{found, CheckOptions, Finding, FindingKind, Repair};
use crate::containers::monitor;
use crate::owned::Leak;
use crate::ContainerState;
use crate::{Engine, Result};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

pub(super) fn check(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    containers(engine, options, findings)?;
    networks(engine, options, findings)
}

/// A mount point under the data root or the run root, and the container it belongs to, if any.
type OurMount = (Option<String>, PathBuf);

fn containers(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    let mounts = our_mounts(engine);
    let mut ids: BTreeSet<String> = rows::list(&*engine.store().db()?)?.into_iter().map(|r| r.id).collect();
    ids.extend(mounts.iter().filter_map(|(id, _)| id.clone()));
    ids.extend(dir_names(&engine.layout().runtime_state()));
    for id in &ids {
        container(engine, options, id, &mounts, findings)?;
    }
    for (_, path) in mounts.iter().filter(|(id, _)| id.is_none()) {
        found(
            findings,
            options,
            FindingKind::Mount,
            path.display().to_string(),
            "mounted under the data root or run root, and no container accounts for it",
            || {
                berth_image::snapshot::unmount(path)?;
                Ok(Repair::Done("unmounted".into()))
            },
        );
    }
    Ok(())
}

/// The host-side state of one container id.
fn container(
    engine: &Engine,
    options: &CheckOptions,
    id: &str,
    mounts: &[OurMount],
    findings: &mut Vec<Finding>,
) -> Result<()> {
    // A start or a removal at work holds the start lock; the data-root half reports killed removals.
    if engine.start_lock_held(id) {
        return Ok(());
    }
    let row = rows::get(&*engine.store().db()?, id)?;
    if let Some(row) = &row {
        if row.state == ContainerState::Removing || monitor::monitor_alive(row) {
            return Ok(());
        }
        if row.state.is_running() {
            dead_monitor(engine, options, row, findings);
            return Ok(());
        }
        if engine.left_for_removal(row)? {
            orphaned(engine, options, row, findings);
            return Ok(());
        }
    }
    let whose = match &row {
        Some(row) => format!("by container {id}, which is {} and has no monitor", row.state),
        None => format!("by container {id}, which has no record"),
    };
    let mut held: Vec<(FindingKind, String, String)> = Vec::new();
    for (_, path) in mounts.iter().filter(|(of, _)| of.as_deref() == Some(id)) {
        let kind = match path.starts_with(engine.layout().netns_dir()) {
            true => FindingKind::Netns,
            false => FindingKind::Mount,
        };
        held.push((kind, path.display().to_string(), format!("mounted, held {whose}")));
    }
    let cgroups = cgroups_of(id);
    if !cgroups.is_empty() {
        let problem = format!("a cgroup (in {} hierarchies) held {whose}", cgroups.len());
        held.push((FindingKind::Cgroup, format!("berth/{id}"), problem));
    }
    let state = engine.layout().runtime_state().join(id);
    if state.exists() {
        let problem = format!("runtime state (and the cgroups it names) held {whose}");
        held.push((FindingKind::Cgroup, state.display().to_string(), problem));
    }
    if held.is_empty() {
        return Ok(());
    }
    // One teardown answers for everything the container held.
    let repair = options.repair.then(|| tear_down(engine, id, row.is_none()));
    for (kind, object, problem) in held {
        found(findings, options, kind, object, problem, || {
            Ok(repair.clone().unwrap_or_else(done))
        });
    }
    Ok(())
}

fn done() -> Repair {
    Repair::Done("torn down".into())
}

/// A container recorded as running whose monitor is gone (killed with it): repair records it as
/// exited and tears its run down, as the next command to look at it would.
fn dead_monitor(engine: &Engine, options: &CheckOptions, row: &ContainerRow, findings: &mut Vec<Finding>) {
    found(
        findings,
        options,
        FindingKind::Monitor,
        &row.name,
        format!(
            "recorded {} but its monitor (pid {}) is gone",
            row.state, row.monitor_pid
        ),
        || {
            // Looking it up reconciles it.
            let state = match engine.container(&row.id) {
                Ok(c) => c.row.state.to_string(),
                Err(crate::Error::NoSuchContainer(_)) => "removed".into(),
                Err(e) => return Err(e),
            };
            Ok(Repair::Done(format!("recorded as {state}, its run torn down")))
        },
    );
}

/// A `--rm` container whose monitor died, or a build's step container whose build is gone: nobody will
/// remove it but the next command that lists it, which repair stands in for.
fn orphaned(engine: &Engine, options: &CheckOptions, row: &ContainerRow, findings: &mut Vec<Finding>) {
    found(
        findings,
        options,
        FindingKind::Container,
        &row.name,
        "left for removal: its monitor (--rm) or the build that made it is gone",
        || {
            // Looking it up removes it.
            let _ = engine.container(&row.id);
            let gone = rows::get(&*engine.store().db()?, &row.id)?.is_none();
            Ok(super::done_if(gone, "removed", "it is still there"))
        },
    );
}

/// Tears down what a container that is not running still holds, as `rm` does; one with no record
/// loses its directories too.
fn tear_down(engine: &Engine, id: &str, no_record: bool) -> Repair {
    let _start = match engine.try_start_lock(id) {
        Ok(Some(lock)) => lock,
        Ok(None) => return Repair::NotPossible("a start or removal of it began meanwhile: check again".into()),
        Err(e) => return Repair::Failed(e.to_string()),
    };
    if let Err(e) = monitor::cleanup_runtime(engine, id) {
        return Repair::Failed(e.to_string());
    }
    // Cgroups the runtime did not know about (its state was gone), once their processes are dead.
    for cgroup in cgroups_of(id) {
        kill_cgroup(&cgroup);
        if let Err(e) = fs::remove_dir(&cgroup) {
            return Repair::Failed(format!("{}: {e}", cgroup.display()));
        }
    }
    if no_record {
        let _ = fs::remove_dir_all(engine.container_dir(id));
        let _ = fs::remove_dir_all(engine.container_run_dir(id));
    }
    done()
}

/// Kills every process in a cgroup and waits a moment for it to empty.
fn kill_cgroup(cgroup: &Path) {
    for _ in 0..100 {
        let procs = fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
        let pids: Vec<i32> = procs.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = monitor::signal_pid(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Container `id`'s cgroups: `berth/<id>` in the unified tree or in each v1 hierarchy.
fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    let candidates: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
        vec![root.join("berth").join(id)]
    } else {
        dir_names(root)
            .into_iter()
            .map(|h| root.join(h).join("berth").join(id))
            .collect()
    };
    candidates.into_iter().filter(|p| p.is_dir()).collect()
}

/// Mount points under this root's data root or run root, with the container each belongs to
/// (`containers/<id>/...` of the data root, `netns/<id>` and `containers/<id>/...` (a userns container's
/// idmapped volume clones) of the run root).
fn our_mounts(engine: &Engine) -> Vec<OurMount> {
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let containers = canonical(&engine.layout().containers());
    let netns = canonical(&engine.layout().netns_dir());
    let run_containers = canonical(&engine.layout().run_containers());
    let mut points = mounts_under(engine.root());
    if !engine.runroot().starts_with(engine.root()) {
        points.extend(mounts_under(engine.runroot()));
    }
    points
        .into_iter()
        .map(|p| {
            let id = [&containers, &netns, &run_containers]
                .iter()
                .find_map(|base| p.strip_prefix(base).ok()?.components().next())
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            (id, p)
        })
        .collect()
}

/// Names of the directories in `dir`, dot-directories (caches) left out.
fn dir_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Bridges, veths and port rules of this root that no record accounts for.
fn networks(engine: &Engine, options: &CheckOptions, findings: &mut Vec<Finding>) -> Result<()> {
    let mut leaks = engine.leaked_host_resources()?;
    if leaks.iter().any(|l| matches!(l, Leak::Veth { .. })) {
        // The kernel deletes a namespace's veths in the background after it goes: only what stays leaked.
        std::thread::sleep(Duration::from_millis(500));
        let again = engine.leaked_host_resources()?;
        leaks.retain(|l| again.contains(l));
    }
    if leaks.is_empty() {
        return Ok(());
    }
    let _lock = match options.repair {
        true => Some(engine.host_lock()?),
        false => None,
    };
    for leak in leaks {
        let (kind, object) = match &leak {
            Leak::Bridge { name, .. } => (FindingKind::Bridge, name.clone()),
            Leak::Veth { name, .. } => (FindingKind::Veth, name.clone()),
            Leak::Ports { owner, .. } => (FindingKind::FirewallRule, format!("chain ctr-{owner}")),
        };
        found(findings, options, kind, object, leak.describe(), || {
            engine.remove_leak(&leak)?;
            Ok(Repair::Done("removed".into()))
        });
    }
    Ok(())
}
