//! What build() needs to know about the host, and probing it for real.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::seccomp;

use super::rlimits::ULIMITS;
use super::security::CAP_SYS_RESOURCE;

/// What build() needs to know about the host; probed once per build, faked in tests.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// Finite hard limits of this process, by Docker ulimit name.
    pub hard_limits: BTreeMap<&'static str, u64>,
    /// CAP_SYS_RESOURCE is effective: rlimits may be raised above the hard limits.
    pub can_raise_limits: bool,
    /// This process's capability bounding set (bit n = capability n), when known.
    pub bounding: Option<u64>,
    /// /sys/fs/cgroup is cgroup v2 only (then containers get a cgroup namespace, as with Docker).
    pub cgroup2_only: bool,
    /// Names of the cgroup v1 hierarchies mounted under /sys/fs/cgroup (`memory`, `cpu,cpuacct`, `systemd`):
    /// the runtime mounts each into the container.
    pub cgroup_v1_hierarchies: Vec<String>,
    /// Swap can be limited (v1: memory.memsw files; v2: the memory controller).
    pub swap_limit: bool,
    pub cpus: u32,
    pub arch: String,
    pub kernel: (u32, u32, u32),
    /// Where host devices are enumerated for --privileged.
    pub dev_dir: PathBuf,
    /// The highest group id this process's user namespace maps (rootless berth maps only its range).
    pub top_gid: u32,
    /// This process is in a user namespace other than the host's (rootless berth).
    pub in_user_namespace: bool,
}

impl Host {
    pub fn probe() -> Host {
        let hard_limits = ULIMITS
            .iter()
            .filter_map(|(name, _, res)| rustix::process::getrlimit(*res).maximum.map(|max| (*name, max)))
            .collect();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cap_field = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        };
        let effective = cap_field("CapEff:").unwrap_or(0);
        let cgroup2_only = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let swap_limit = if cgroup2_only {
            std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
                .map(|c| c.split_whitespace().any(|c| c == "memory"))
                .unwrap_or(false)
        } else {
            Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        };
        let cpus = rustix::thread::sched_getaffinity(None)
            .map(|set| set.count())
            .ok()
            .filter(|&n| n > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get() as u32))
            .unwrap_or(1);
        Host {
            hard_limits,
            can_raise_limits: effective & (1 << CAP_SYS_RESOURCE) != 0,
            bounding: cap_field("CapBnd:"),
            cgroup2_only,
            cgroup_v1_hierarchies: if cgroup2_only {
                Vec::new()
            } else {
                cgroup_v1_hierarchies()
            },
            swap_limit,
            cpus,
            arch: std::env::consts::ARCH.to_string(),
            kernel: seccomp::running_kernel(),
            dev_dir: PathBuf::from("/dev"),
            top_gid: top_mapped_id(&std::fs::read_to_string("/proc/self/gid_map").unwrap_or_default()),
            in_user_namespace: std::fs::read_to_string("/proc/self/uid_map")
                .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]),
        }
    }
}

/// The highest id an id map (`/proc/PID/gid_map` text: "inside outside count" lines) maps.
pub(super) fn top_mapped_id(map: &str) -> u32 {
    map.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().ok());
            let (inside, _, count) = (fields.next()??, fields.next()??, fields.next()??);
            (count > 0).then(|| (inside + count - 1).min(u64::from(u32::MAX)) as u32)
        })
        .max()
        .unwrap_or(u32::MAX - 1)
}

/// The directories under /sys/fs/cgroup that hold a cgroup v1 file system (not the comount symlinks, not
/// cgroup2's `unified`).
fn cgroup_v1_hierarchies() -> Vec<String> {
    const CGROUP_SUPER_MAGIC: u64 = 0x0027_e0eb;
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| rustix::fs::statfs(e.path()).is_ok_and(|st| st.f_type as u64 == CGROUP_SUPER_MAGIC))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}
