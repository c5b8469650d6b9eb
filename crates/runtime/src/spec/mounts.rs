//! Mounts: Docker's defaults (/proc, /dev, /sys, cgroups, /dev/shm...), --tmpfs and bind mounts.

use std::collections::BTreeSet;
use std::path::PathBuf;

use oci_spec::runtime::Mount;

use crate::Error;

use super::{invalid, BindMount, Host, NetworkMode, RunSpec};

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

/// "/a//b/./c/" -> "/a/b/c"; ".." is resolved lexically (the runtime resolves the rest inside the root).
pub(super) fn clean_destination(dest: &str) -> Result<String, Error> {
    if !dest.starts_with('/') || dest.contains('\0') {
        return Err(invalid(format!(
            "invalid mount destination {dest:?}: it must be an absolute path"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in dest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(invalid(format!(
            "invalid mount destination {dest:?}: the container root cannot be a mount point"
        )));
    }
    Ok(format!("/{}", parts.join("/")))
}

const PROPAGATION: [&str; 8] = [
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];

/// Flags that come in set/clear pairs: a later one replaces an earlier one of the same family.
fn flag_family(option: &str) -> Option<&'static str> {
    Some(match option {
        "rw" | "ro" => "ro",
        "exec" | "noexec" => "exec",
        "suid" | "nosuid" => "suid",
        "dev" | "nodev" => "dev",
        "sync" | "async" => "sync",
        "atime" | "noatime" => "atime",
        "diratime" | "nodiratime" => "diratime",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        "mand" | "nomand" => "mand",
        "dirsync" => "dirsync",
        p if PROPAGATION.contains(&p) => "propagation",
        _ => return None,
    })
}

/// Docker's tmpfs defaults merged with the user's options (later options win).
fn tmpfs_options(options: &str) -> Result<Vec<String>, Error> {
    const DATA: [&str; 7] = ["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"];
    let mut out: Vec<(String, String)> = [("ro", "rw"), ("exec", "noexec"), ("suid", "nosuid"), ("dev", "nodev")]
        .iter()
        .map(|(family, o)| (family.to_string(), o.to_string()))
        .collect();
    for opt in options
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty() && *o != "defaults")
    {
        let family = match flag_family(opt) {
            Some(f) => f.to_string(),
            None => match opt.split_once('=') {
                Some((k, v)) if DATA.contains(&k) && !v.is_empty() => format!("={k}"),
                _ => return Err(invalid(format!("invalid tmpfs option {opt:?}"))),
            },
        };
        match out.iter_mut().find(|(f, _)| *f == family) {
            Some(slot) => slot.1 = opt.to_string(),
            None => out.push((family, opt.to_string())),
        }
    }
    Ok(out.into_iter().map(|(_, o)| o).collect())
}

fn bind_options(b: &BindMount) -> Vec<String> {
    let mut kind = "rbind";
    let mut read_only = b.read_only;
    let mut propagation = None;
    let mut extra = Vec::new();
    for o in b.options.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        match o {
            "bind" | "rbind" => kind = if o == "bind" { "bind" } else { "rbind" },
            "ro" => read_only = true,
            "rw" => {}
            p if PROPAGATION.contains(&p) => propagation = Some(p),
            other => {
                if !extra.iter().any(|e| e == other) {
                    extra.push(other.to_string());
                }
            }
        }
    }
    let mut options = vec![kind.to_string(), if read_only { "ro" } else { "rw" }.to_string()];
    options.extend(extra);
    options.push(propagation.unwrap_or("rprivate").to_string());
    options
}

/// Docker's default mounts, replaced where the user mounts something at the same place, then the user's
/// tmpfs and bind mounts (parents before children).
pub(super) fn mounts(run: &RunSpec, host: &Host) -> Result<Vec<Mount>, Error> {
    let shm = match run.shm_size {
        None | Some(0) => "size=65536k".to_string(),
        Some(bytes) => format!("size={bytes}"),
    };
    let defaults = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        // sysfs can only be mounted by a user namespace that owns the network namespace: rootless berth
        // with the host's network binds the host's /sys instead, as rootless Docker and Podman do.
        match (&run.network, host.in_user_namespace) {
            (NetworkMode::Host, true) => mount("/sys", "bind", "/sys", &["rbind", "nosuid", "noexec", "nodev", "ro"]),
            _ => mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
        },
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", shm.as_str()],
        ),
    ];

    let mut user: Vec<(String, Mount)> = Vec::new();
    for (dest, options) in &run.tmpfs {
        let dest = clean_destination(dest)?;
        let mut m = mount(&dest, "tmpfs", "tmpfs", &[]);
        m.set_options(Some(tmpfs_options(options)?));
        user.push((dest, m));
    }
    for b in &run.binds {
        let dest = clean_destination(&b.destination)?;
        if !b.source.is_absolute() {
            return Err(invalid(format!(
                "invalid bind mount source {}: it must be an absolute path",
                b.source.display()
            )));
        }
        let mut m = mount(&dest, "bind", "", &[]);
        m.set_source(Some(b.source.clone()));
        m.set_options(Some(bind_options(b)));
        user.push((dest, m));
    }
    let mut seen = BTreeSet::new();
    for (dest, _) in &user {
        if !seen.insert(dest.clone()) {
            return Err(invalid(format!("duplicate mount point: {dest}")));
        }
    }
    // Parents before children, otherwise in the given order.
    user.sort_by_key(|(dest, _)| dest.matches('/').count());

    let user_dev = seen.contains("/dev");
    let mut out: Vec<Mount> = defaults
        .into_iter()
        .filter(|m| {
            let dest = m.destination().to_string_lossy();
            !(seen.contains(dest.as_ref() as &str) || user_dev && dest.starts_with("/dev/"))
        })
        .collect();
    for m in &mut out {
        let dest = m.destination().to_string_lossy().into_owned();
        let is_cgroup = m.typ().as_deref() == Some("cgroup");
        let options = m.options_mut().get_or_insert_with(Vec::new);
        let stays_writable = matches!(
            dest.as_str(),
            "/proc" | "/dev" | "/dev/pts" | "/dev/shm" | "/dev/mqueue"
        );
        if run.read_only && !stays_writable && !options.iter().any(|o| o == "ro") {
            options.push("ro".to_string());
        }
        if run.privileged && (dest == "/sys" || is_cgroup) {
            options.retain(|o| o != "ro");
        }
    }
    out.extend(user.into_iter().map(|(_, m)| m));
    Ok(out)
}
