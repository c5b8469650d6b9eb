//! Namespaces (with --network's modes) and the namespaced sysctls.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::Error;

use super::{invalid, Host, NetworkMode, RunSpec};

fn namespace(typ: LinuxNamespaceType, path: Option<PathBuf>) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ);
    ns.set_path(path);
    ns
}

/// Docker's: mount, network, uts, pid, ipc, and cgroup on cgroup v2 hosts; and the container's own user
/// namespace, when it has one.
pub(super) fn namespaces(run: &RunSpec, host: &Host) -> Result<Vec<LinuxNamespace>, Error> {
    let mut list = Vec::new();
    if let Some(user) = &run.user_namespace {
        // First: the namespaces made after it (mount, uts, pid, ipc) belong to it.
        list.push(namespace(LinuxNamespaceType::User, Some(user.path.clone())));
    }
    list.push(namespace(LinuxNamespaceType::Mount, None));
    match &run.network {
        NetworkMode::None => list.push(namespace(LinuxNamespaceType::Network, None)),
        NetworkMode::Host => {}
        NetworkMode::Path(path) => {
            if !path.is_absolute() {
                return Err(invalid(format!(
                    "network namespace path {} must be absolute",
                    path.display()
                )));
            }
            list.push(namespace(LinuxNamespaceType::Network, Some(path.clone())));
        }
    }
    list.push(namespace(LinuxNamespaceType::Uts, None));
    list.push(namespace(LinuxNamespaceType::Pid, None));
    list.push(namespace(LinuxNamespaceType::Ipc, None));
    if host.cgroup2_only {
        list.push(namespace(LinuxNamespaceType::Cgroup, None));
    }
    Ok(list)
}

/// Only sysctls the container's own namespaces isolate (runc refuses the others).
fn check_sysctl(key: &str, own_net: bool) -> Result<(), Error> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let key = key.replace('/', ".");
    if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") || key == "kernel.domainname" {
        return Ok(());
    }
    if key.starts_with("net.") {
        if own_net {
            return Ok(());
        }
        return Err(invalid(format!(
            "sysctl {key:?} is not allowed in the host network namespace"
        )));
    }
    Err(invalid(format!(
        "sysctl {key:?} is not allowed: it is not namespaced, so it would change the host"
    )))
}

/// Docker's defaults for a container with its own network namespace, then the user's.
pub(super) fn sysctls(run: &RunSpec, host: &Host) -> Result<HashMap<String, String>, Error> {
    let own_net = run.network.own_namespace();
    let mut out = HashMap::new();
    if own_net {
        // ICMP echo sockets for every group: ping works without CAP_NET_RAW.
        // In a user namespace (the container's own, or rootless berth's) only its mapped groups may be named.
        let last = run
            .user_namespace
            .as_ref()
            .map_or(host.top_gid, |ns| ns.range.size.saturating_sub(1))
            .min(2147483647);
        out.insert("net.ipv4.ping_group_range".to_string(), format!("0 {last}"));
        out.insert("net.ipv4.ip_unprivileged_port_start".to_string(), "0".to_string());
    }
    for (key, value) in &run.sysctls {
        check_sysctl(key, own_net)?;
        out.insert(key.clone(), value.clone());
    }
    Ok(out)
}
