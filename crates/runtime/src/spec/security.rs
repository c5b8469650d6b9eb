//! Capabilities (Docker's defaults, --cap-add/--cap-drop, --privileged) and the masked and read-only paths.

use std::collections::BTreeSet;

use oci_spec::runtime::Capability;

use crate::Error;

use super::mounts::clean_destination;
use super::{invalid, Host, RunSpec};

/// Every capability the kernel defines, in kernel order (the index is the capability's number).
pub(super) const ALL_CAPS: [(&str, Capability); 41] = [
    ("CAP_CHOWN", Capability::Chown),
    ("CAP_DAC_OVERRIDE", Capability::DacOverride),
    ("CAP_DAC_READ_SEARCH", Capability::DacReadSearch),
    ("CAP_FOWNER", Capability::Fowner),
    ("CAP_FSETID", Capability::Fsetid),
    ("CAP_KILL", Capability::Kill),
    ("CAP_SETGID", Capability::Setgid),
    ("CAP_SETUID", Capability::Setuid),
    ("CAP_SETPCAP", Capability::Setpcap),
    ("CAP_LINUX_IMMUTABLE", Capability::LinuxImmutable),
    ("CAP_NET_BIND_SERVICE", Capability::NetBindService),
    ("CAP_NET_BROADCAST", Capability::NetBroadcast),
    ("CAP_NET_ADMIN", Capability::NetAdmin),
    ("CAP_NET_RAW", Capability::NetRaw),
    ("CAP_IPC_LOCK", Capability::IpcLock),
    ("CAP_IPC_OWNER", Capability::IpcOwner),
    ("CAP_SYS_MODULE", Capability::SysModule),
    ("CAP_SYS_RAWIO", Capability::SysRawio),
    ("CAP_SYS_CHROOT", Capability::SysChroot),
    ("CAP_SYS_PTRACE", Capability::SysPtrace),
    ("CAP_SYS_PACCT", Capability::SysPacct),
    ("CAP_SYS_ADMIN", Capability::SysAdmin),
    ("CAP_SYS_BOOT", Capability::SysBoot),
    ("CAP_SYS_NICE", Capability::SysNice),
    ("CAP_SYS_RESOURCE", Capability::SysResource),
    ("CAP_SYS_TIME", Capability::SysTime),
    ("CAP_SYS_TTY_CONFIG", Capability::SysTtyConfig),
    ("CAP_MKNOD", Capability::Mknod),
    ("CAP_LEASE", Capability::Lease),
    ("CAP_AUDIT_WRITE", Capability::AuditWrite),
    ("CAP_AUDIT_CONTROL", Capability::AuditControl),
    ("CAP_SETFCAP", Capability::Setfcap),
    ("CAP_MAC_OVERRIDE", Capability::MacOverride),
    ("CAP_MAC_ADMIN", Capability::MacAdmin),
    ("CAP_SYSLOG", Capability::Syslog),
    ("CAP_WAKE_ALARM", Capability::WakeAlarm),
    ("CAP_BLOCK_SUSPEND", Capability::BlockSuspend),
    ("CAP_AUDIT_READ", Capability::AuditRead),
    ("CAP_PERFMON", Capability::Perfmon),
    ("CAP_BPF", Capability::Bpf),
    ("CAP_CHECKPOINT_RESTORE", Capability::CheckpointRestore),
];
pub(super) const CAP_SYS_RESOURCE: usize = 24;

/// Docker's default capabilities minus CAP_NET_RAW, in Docker's order.
const DEFAULT_CAPS: [&str; 13] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The capabilities a container gets without --cap-add/--cap-drop: Docker's set without CAP_NET_RAW.
pub fn default_capabilities() -> Vec<&'static str> {
    DEFAULT_CAPS.to_vec()
}

/// Docker's masked paths: bind-mounted over with /dev/null or an empty read-only tmpfs.
pub(super) const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
/// Docker's read-only paths.
const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Docker's read-only paths, then the cgroup mounts. The spec asks for /sys/fs/cgroup read-only, but
/// libcontainer mounts the v1 tmpfs and binds every hierarchy read-write (a container could raise its own
/// limits and write the host's hierarchy roots); a read-only path is bound over itself and remounted
/// read-only after every mount is made, in the container's mount namespace, before the workload runs. The
/// tmpfs comes first, so each hierarchy is remounted on the copy that stays visible. Left alone when the user
/// mounts something of their own at /sys or /sys/fs/cgroup.
pub(super) fn readonly_paths(run: &RunSpec, host: &Host) -> Result<Vec<String>, Error> {
    let mut paths: Vec<String> = READONLY_PATHS.iter().map(|p| p.to_string()).collect();
    let user_mounts =
        (run.binds.iter().map(|b| b.destination.as_str())).chain(run.tmpfs.iter().map(|(d, _)| d.as_str()));
    for dest in user_mounts {
        if matches!(clean_destination(dest)?.as_str(), "/sys" | "/sys/fs/cgroup") {
            return Ok(paths);
        }
    }
    paths.push("/sys/fs/cgroup".to_string());
    paths.extend(host.cgroup_v1_hierarchies.iter().map(|h| format!("/sys/fs/cgroup/{h}")));
    Ok(paths)
}

/// "net_admin", "CAP_NET_ADMIN" -> index in ALL_CAPS; None for "ALL".
fn parse_cap(name: &str) -> Result<Option<usize>, Error> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    ALL_CAPS
        .iter()
        .position(|(n, _)| *n == full)
        .map(Some)
        .ok_or_else(|| invalid(format!("unknown capability: {full:?}")))
}

/// Docker's TweakCapabilities, then limited to what berth itself can grant.
pub(super) fn capabilities(run: &RunSpec, host: &Host) -> Result<BTreeSet<usize>, Error> {
    let held = |i: usize| host.bounding.is_none_or(|b| b & (1u64 << i) != 0);
    let all = || (0..ALL_CAPS.len()).filter(|&i| held(i)).collect::<BTreeSet<usize>>();
    if run.privileged {
        return Ok(all());
    }
    let mut add_all = false;
    let mut adds = Vec::new();
    for c in &run.cap_add {
        match parse_cap(c)? {
            None => add_all = true,
            Some(i) => adds.push(i),
        }
    }
    let mut drop_all = false;
    let mut drops = BTreeSet::new();
    for c in &run.cap_drop {
        match parse_cap(c)? {
            None => drop_all = true,
            Some(i) => {
                drops.insert(i);
            }
        }
    }
    if add_all {
        return Ok(all().into_iter().filter(|i| !drops.contains(i)).collect());
    }
    if let Some(&missing) = adds.iter().find(|&&i| !held(i)) {
        return Err(invalid(format!(
            "cannot add capability {}: berth itself does not hold it (it is not in berth's bounding set)",
            ALL_CAPS[missing].0
        )));
    }
    let mut caps: BTreeSet<usize> = if drop_all {
        BTreeSet::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .filter_map(|name| ALL_CAPS.iter().position(|(n, _)| n == name))
            .filter(|i| !drops.contains(i) && held(*i))
            .collect()
    };
    caps.extend(adds);
    Ok(caps)
}
