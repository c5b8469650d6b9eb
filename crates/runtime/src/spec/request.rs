//! The typed request: everything the engine resolved for one container (`RunSpec` and its parts).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The container's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// A new, empty network namespace (only loopback).
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// Join an existing network namespace, e.g. /run/berth/netns/<id>.
    Path(PathBuf),
}

impl NetworkMode {
    pub(super) fn own_namespace(&self) -> bool {
        !matches!(self, NetworkMode::Host)
    }
}

/// The container's own user namespace (`--userns=auto`), made by the caller: the runtime joins it by
/// `path` and records `range` as the spec's one-line uid and gid maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNamespace {
    /// A path that opens the namespace while the runtime starts (a `/proc/PID/fd/N` of the caller's).
    pub path: PathBuf,
    pub range: berth_types::IdRange,
}

/// `--security-opt seccomp=...`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeccompMode {
    /// Docker's default profile.
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// A profile in Docker's JSON format.
    Profile(PathBuf),
}

/// One `--ulimit`; `u64::MAX` is "unlimited" (-1 on the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// Docker's name: core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio,
    /// rttime, sigpending, stack.
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// A file or directory of the host bound into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
    /// More mount options: propagation (rprivate by default, as Docker), "bind" for a non-recursive bind,
    /// nosuid, nodev, noexec...
    pub options: Vec<String>,
}

/// `--device host[:container[:permissions]]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub host: PathBuf,
    pub container: String,
    /// Device cgroup access: some of "rwm"; empty means "rwm".
    pub permissions: String,
}

/// cgroup limits, with Docker's meaning for each value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Bytes; at least 6 MiB.
    pub memory: Option<i64>,
    /// Memory plus swap in bytes, -1 for unlimited swap; defaults to twice `memory`.
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// CPUs in billionths (--cpus 1.5 = 1_500_000_000).
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    /// "0-2,4"
    pub cpuset_cpus: Option<String>,
    /// 0 or negative: unlimited.
    pub pids_limit: Option<i64>,
    pub oom_kill_disable: bool,
}

/// Everything the engine resolved for one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSpec {
    /// The container's root (a mounted overlay), absolute.
    pub rootfs: PathBuf,
    /// Entrypoint + cmd, already combined.
    pub args: Vec<String>,
    /// Image env merged with -e. build() starts from PATH (Docker's default), HOSTNAME and TERM=xterm (with a
    /// tty), lets these entries replace or add to them ("KEY" without "=" removes KEY), then adds HOME.
    pub env: Vec<String>,
    /// "" means "/".
    pub cwd: String,
    /// "", "name", "uid", "name:group", "uid:gid": resolved against the rootfs's /etc/passwd and /etc/group.
    pub user: String,
    /// Names or gids.
    pub group_add: Vec<String>,
    pub hostname: String,
    pub tty: bool,
    /// --read-only
    pub read_only: bool,
    /// All capabilities, no seccomp, no masked or read-only paths, /sys read-write, all host devices.
    pub privileged: bool,
    /// "NET_ADMIN", "CAP_NET_ADMIN" or "ALL", case-insensitive.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub seccomp: SeccompMode,
    pub network: NetworkMode,
    /// `None`: the host's user namespace.
    pub user_namespace: Option<UserNamespace>,
    pub resources: Resources,
    pub ulimits: Vec<Ulimit>,
    /// Bytes; 64 MiB when unset (or 0).
    pub shm_size: Option<u64>,
    /// (container path, comma-separated options like "size=64m,mode=1777"); Docker's defaults
    /// rw,noexec,nosuid,nodev apply unless overridden.
    pub tmpfs: Vec<(String, String)>,
    /// Volumes, -v binds, and /etc/hosts, /etc/hostname, /etc/resolv.conf written by the engine.
    pub binds: Vec<BindMount>,
    pub devices: Vec<Device>,
    /// e.g. "/berth/<id>"
    pub cgroups_path: String,
    /// No cgroup limits or device rules at all: rootless berth on a host that delegates no cgroups.
    pub without_cgroup_limits: bool,
    pub sysctls: BTreeMap<String, String>,
    pub oom_score_adj: Option<i32>,
}
