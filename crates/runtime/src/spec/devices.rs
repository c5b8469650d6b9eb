//! Devices: the device cgroup rules, --device mappings, and every host device for --privileged.

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use crate::Error;

use super::{invalid, Host, RunSpec};

fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(allow);
    rule.set_typ(typ);
    rule.set_major(major);
    rule.set_minor(minor);
    rule.set_access(Some(access.to_string()));
    rule
}

/// Deny everything, then allow mknod of any node and the standard devices (runc's and Docker's list).
fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    let mut rules = vec![
        device_rule(false, None, None, None, "rwm"),
        device_rule(true, Some(C), None, None, "m"),
        device_rule(true, Some(B), None, None, "m"),
    ];
    for (major, minor) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2)] {
        rules.push(device_rule(true, Some(C), Some(major), Some(minor), "rwm"));
    }
    // /dev/pts/*
    rules.push(device_rule(true, Some(C), Some(136), None, "rwm"));
    rules
}

/// The device node at `host` (symlinks followed) as `container`; None if it is not a device.
fn device_from_path(host: &Path, container: &str, follow: bool) -> std::io::Result<Option<LinuxDevice>> {
    let meta = if follow {
        std::fs::metadata(host)?
    } else {
        std::fs::symlink_metadata(host)?
    };
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Ok(None);
    };
    let mut dev = LinuxDevice::default();
    dev.set_path(PathBuf::from(container));
    dev.set_typ(typ);
    dev.set_major(i64::from(rustix::fs::major(meta.rdev())));
    dev.set_minor(i64::from(rustix::fs::minor(meta.rdev())));
    dev.set_file_mode(Some(meta.mode() & 0o7777));
    dev.set_uid(Some(meta.uid()));
    dev.set_gid(Some(meta.gid()));
    Ok(Some(dev))
}

/// Device nodes under `dir`, as `prefix/<relative path>`; like runc, skips /dev/pts, shm, mqueue, fd and
/// the console, symlinks, and whatever cannot be read.
fn devices_under(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<LinuxDevice>) {
    const SKIP_DIRS: [&str; 7] = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(ft) = entry.file_type() else { continue };
        let container = format!("{}/{name}", prefix.trim_end_matches('/'));
        if ft.is_dir() {
            if depth < 8 && !SKIP_DIRS.contains(&name) {
                devices_under(&entry.path(), &container, depth + 1, out);
            }
        } else if name != "console" {
            if let Ok(Some(dev)) = device_from_path(&entry.path(), &container, false) {
                out.push(dev);
            }
        }
    }
}

/// --device mappings (and every host device with --privileged): the nodes to create and the cgroup rules.
pub(super) fn devices(run: &RunSpec, host: &Host) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), Error> {
    let mut nodes: Vec<LinuxDevice> = Vec::new();
    let mut rules = if run.privileged {
        devices_under(&host.dev_dir, "/dev", 0, &mut nodes);
        vec![device_rule(true, None, None, None, "rwm")]
    } else {
        default_device_rules()
    };
    for d in &run.devices {
        let permissions = if d.permissions.is_empty() {
            "rwm"
        } else {
            d.permissions.as_str()
        };
        let valid_mode = permissions.len() <= 3
            && permissions.chars().all(|c| "rwm".contains(c))
            && permissions.chars().collect::<BTreeSet<_>>().len() == permissions.len();
        if !valid_mode {
            return Err(invalid(format!("invalid device mode: {permissions}")));
        }
        let container = if d.container.is_empty() {
            d.host.to_string_lossy().into_owned()
        } else {
            d.container.clone()
        };
        if !d.host.is_absolute() || !container.starts_with('/') || container.contains('\0') {
            return Err(invalid(format!(
                "bad format for device path: {}:{container}",
                d.host.display()
            )));
        }
        if run.privileged && d.host == Path::new(&container) {
            continue; // already there with all of /dev
        }
        let gather_err = |e: std::io::Error| {
            invalid(format!(
                "error gathering device information while adding custom device {:?}: {e}",
                d.host
            ))
        };
        let mut found = Vec::new();
        match device_from_path(&d.host, &container, true).map_err(gather_err)? {
            Some(dev) => found.push(dev),
            None if d.host.is_dir() => devices_under(&d.host, &container, 0, &mut found),
            None => return Err(gather_err(std::io::Error::other("not a device node"))),
        }
        for dev in found {
            if !run.privileged {
                rules.push(device_rule(
                    true,
                    Some(dev.typ()),
                    Some(dev.major()),
                    Some(dev.minor()),
                    permissions,
                ));
            }
            nodes.retain(|n| n.path() != dev.path());
            nodes.push(dev);
        }
    }
    Ok((nodes, rules))
}
