//! The OCI runtime spec (config.json) for one container: what dockerd would
//! generate from the image config and the `run` flags, with Docker's
//! defaults for mounts, capabilities, device rules, masked paths and seccomp.
//!
//! Deliberate differences from Docker:
//! - `CAP_NET_RAW` is not in the default capability set (raw sockets are
//!   denied, as Podman does); `ping` keeps working through
//!   `net.ipv4.ping_group_range`, which is set whenever the container has its
//!   own network namespace, as Docker also does.
//! - RLIMIT_NOFILE defaults to min(1048576, this process's hard limit) so a
//!   container never asks for more than the host allows, and an explicit
//!   `--ulimit` above the host's hard limit is refused with a clear error
//!   instead of failing inside the runtime.
//! - For `--privileged` and `--cap-add ALL`, "all capabilities" means all
//!   capabilities berth itself holds in its bounding set.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capabilities, Capability, Linux, LinuxCapabilities, LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType,
    LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources, Mount, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, Process, Root, Spec, User,
};
use rustix::process::Resource;

use crate::{seccomp, user, Error};

/// Docker's PATH for containers whose image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The OCI runtime spec version written into config.json (the one dockerd 20.10 writes).
pub const OCI_VERSION: &str = "1.0.2-dev";
/// RLIMIT_NOFILE when no --ulimit nofile is given, lowered to the host's hard limit.
pub const DEFAULT_NOFILE: u64 = 1_048_576;
/// /dev/shm's size when --shm-size is not given (64 MiB).
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;
/// dockerd refuses memory limits and reservations below 6 MiB.
const MIN_MEMORY: i64 = 6 << 20;
/// The CFS period --cpus is expressed in.
const CPU_PERIOD: u64 = 100_000;
/// The longest hostname sethostname(2) accepts.
const MAX_HOSTNAME: usize = 64;

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
    fn own_namespace(&self) -> bool {
        !matches!(self, NetworkMode::Host)
    }
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
    pub sysctls: BTreeMap<String, String>,
    pub oom_score_adj: Option<i32>,
}

/// Every capability the kernel defines, in kernel order (the index is the capability's number).
const ALL_CAPS: [(&str, Capability); 41] = [
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
const CAP_SYS_RESOURCE: usize = 24;

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

/// Docker's --ulimit names.
const ULIMITS: [(&str, PosixRlimitType, Resource); 15] = [
    ("core", PosixRlimitType::RlimitCore, Resource::Core),
    ("cpu", PosixRlimitType::RlimitCpu, Resource::Cpu),
    ("data", PosixRlimitType::RlimitData, Resource::Data),
    ("fsize", PosixRlimitType::RlimitFsize, Resource::Fsize),
    ("locks", PosixRlimitType::RlimitLocks, Resource::Locks),
    ("memlock", PosixRlimitType::RlimitMemlock, Resource::Memlock),
    ("msgqueue", PosixRlimitType::RlimitMsgqueue, Resource::Msgqueue),
    ("nice", PosixRlimitType::RlimitNice, Resource::Nice),
    ("nofile", PosixRlimitType::RlimitNofile, Resource::Nofile),
    ("nproc", PosixRlimitType::RlimitNproc, Resource::Nproc),
    ("rss", PosixRlimitType::RlimitRss, Resource::Rss),
    ("rtprio", PosixRlimitType::RlimitRtprio, Resource::Rtprio),
    ("rttime", PosixRlimitType::RlimitRttime, Resource::Rttime),
    ("sigpending", PosixRlimitType::RlimitSigpending, Resource::Sigpending),
    ("stack", PosixRlimitType::RlimitStack, Resource::Stack),
];

/// The hard limit of this process for a Docker ulimit name (getrlimit); `None` for an unknown name or
/// no limit (RLIM_INFINITY).
pub fn host_hard_limit(resource: &str) -> Option<u64> {
    let (_, _, res) = ULIMITS.iter().find(|(name, _, _)| *name == resource)?;
    rustix::process::getrlimit(*res).maximum
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

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
        }
    }
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

/// The OCI runtime spec for `run`, as dockerd would write it (see the module docs for the differences).
pub fn build(run: &RunSpec) -> Result<Spec, Error> {
    build_with(run, &Host::probe())
}

pub(crate) fn build_with(run: &RunSpec, host: &Host) -> Result<Spec, Error> {
    check_process(run)?;
    let resolved = user::resolve(&run.rootfs, &run.user, &run.group_add)?;
    let env = build_env(run, &resolved.home);
    let caps = capabilities(run, host)?;
    let cap_names: Vec<String> = caps.iter().map(|&i| ALL_CAPS[i].0.to_string()).collect();
    let cap_set: Capabilities = caps.iter().map(|&i| ALL_CAPS[i].1).collect();

    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(cap_set.clone()));
    capabilities.set_effective(Some(cap_set.clone()));
    capabilities.set_permitted(Some(cap_set));
    capabilities.set_inheritable(Some(Capabilities::new()));
    capabilities.set_ambient(Some(Capabilities::new()));

    let mut user = User::default();
    user.set_uid(resolved.uid);
    user.set_gid(resolved.gid);
    user.set_additional_gids((!resolved.additional_gids.is_empty()).then(|| resolved.additional_gids.clone()));

    if let Some(adj) = run.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(invalid(format!(
                "invalid value {adj}, range for oom score adj is [-1000, 1000]"
            )));
        }
    }

    let mut process = Process::default();
    process.set_terminal(Some(run.tty));
    process.set_console_size(None);
    process.set_user(user);
    process.set_args(Some(run.args.clone()));
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(if run.cwd.is_empty() { "/" } else { run.cwd.as_str() }));
    process.set_capabilities(Some(capabilities));
    process.set_rlimits(Some(rlimits(&run.ulimits, host)?));
    // Only `Some(true)`: libcontainer 0.7 reads any present value (even
    // false) as "no_new_privs is set" and then loads seccomp after dropping
    // CAP_SYS_ADMIN, which the kernel refuses.
    process.set_no_new_privileges(run.no_new_privileges.then_some(true));
    process.set_apparmor_profile(None);
    process.set_selinux_label(None);
    process.set_oom_score_adj(run.oom_score_adj);

    let mut root = Root::default();
    root.set_path(run.rootfs.clone());
    root.set_readonly(Some(run.read_only));

    let (devices, device_rules) = devices(run, host)?;
    let seccomp = match (&run.seccomp, run.privileged) {
        (_, true) | (SeccompMode::Unconfined, _) => None,
        (SeccompMode::Default, false) => Some(seccomp::default_profile_for(&cap_names, &host.arch, host.kernel)?),
        (SeccompMode::Profile(path), false) => Some(seccomp::profile_from_file(path, &cap_names, &host.arch)?),
    };

    let mut linux = Linux::default();
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_sysctl(Some(sysctls(run)?).filter(|s| !s.is_empty()));
    linux.set_resources(Some(resources(run, host, device_rules)?));
    linux.set_cgroups_path((!run.cgroups_path.is_empty()).then(|| PathBuf::from(&run.cgroups_path)));
    linux.set_namespaces(Some(namespaces(run, host)?));
    linux.set_devices((!devices.is_empty()).then_some(devices));
    linux.set_seccomp(seccomp);
    linux.set_rootfs_propagation(None);
    if run.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        linux.set_masked_paths(Some(MASKED_PATHS.iter().map(|p| p.to_string()).collect()));
        linux.set_readonly_paths(Some(readonly_paths(run, host)?));
    }

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mounts(run)?));
    spec.set_process(Some(process));
    spec.set_hostname((!run.hostname.is_empty()).then(|| run.hostname.clone()));
    spec.set_domainname(None);
    spec.set_hooks(None);
    spec.set_annotations(None);
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// Docker's masked paths: bind-mounted over with /dev/null or an empty read-only tmpfs.
const MASKED_PATHS: [&str; 12] = [
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
fn readonly_paths(run: &RunSpec, host: &Host) -> Result<Vec<String>, Error> {
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

fn check_process(run: &RunSpec) -> Result<(), Error> {
    if !run.rootfs.is_absolute() {
        return Err(invalid(format!(
            "container root {} must be an absolute path",
            run.rootfs.display()
        )));
    }
    if run.args.first().is_none_or(|a| a.is_empty()) {
        return Err(invalid("no command specified"));
    }
    if run.args.iter().chain(&run.env).any(|s| s.contains('\0')) {
        return Err(invalid("command and environment cannot contain NUL bytes"));
    }
    if !run.cwd.is_empty() && !run.cwd.starts_with('/') {
        return Err(invalid(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            run.cwd
        )));
    }
    if run.cwd.contains('\0') {
        return Err(invalid("the working directory cannot contain NUL bytes"));
    }
    if run.hostname.len() > MAX_HOSTNAME || run.hostname.contains('\0') {
        return Err(invalid(format!(
            "invalid hostname {:?}: at most {MAX_HOSTNAME} bytes",
            run.hostname
        )));
    }
    Ok(())
}

/// PATH, HOSTNAME and TERM (tty), overridden or extended by `run.env` as Docker's
/// ReplaceOrAppendEnvValues does, then HOME from the passwd entry if still unset.
fn build_env(run: &RunSpec, home: &str) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    if !run.hostname.is_empty() {
        env.push(format!("HOSTNAME={}", run.hostname));
    }
    if run.tty {
        env.push("TERM=xterm".to_string());
    }
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let mut entries: Vec<Option<String>> = env.into_iter().map(Some).collect();
    for value in &run.env {
        let k = key(value);
        let existing = entries.iter().position(|e| e.as_deref().is_some_and(|e| key(e) == k));
        match (value.contains('='), existing) {
            (true, Some(i)) => entries[i] = Some(value.clone()),
            (true, None) => entries.push(Some(value.clone())),
            // "KEY" alone unsets KEY.
            (false, Some(i)) => entries[i] = None,
            (false, None) => {}
        }
    }
    let mut env: Vec<String> = entries.into_iter().flatten().collect();
    if let Some(home) = user::home_env(&env, home) {
        env.push(home);
    }
    env
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
fn capabilities(run: &RunSpec, host: &Host) -> Result<BTreeSet<usize>, Error> {
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

fn ulimit_entry(name: &str) -> Option<&'static (&'static str, PosixRlimitType, Resource)> {
    ULIMITS.iter().find(|(n, _, _)| *n == name)
}

fn show_limit(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".to_string()
    } else {
        v.to_string()
    }
}

/// RLIMIT_NOFILE clamped to the host, then the --ulimit values (the last one per name wins).
fn rlimits(ulimits: &[Ulimit], host: &Host) -> Result<Vec<PosixRlimit>, Error> {
    let nofile = host
        .hard_limits
        .get("nofile")
        .copied()
        .unwrap_or(DEFAULT_NOFILE)
        .min(DEFAULT_NOFILE);
    let mut limits: Vec<(&'static str, PosixRlimitType, u64, u64)> =
        vec![("nofile", PosixRlimitType::RlimitNofile, nofile, nofile)];
    for u in ulimits {
        let (name, typ, _) =
            ulimit_entry(&u.name).ok_or_else(|| invalid(format!("invalid ulimit type: {}", u.name)))?;
        if u.soft > u.hard {
            return Err(invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                show_limit(u.soft),
                show_limit(u.hard)
            )));
        }
        if let Some(&max) = host.hard_limits.get(name) {
            if u.hard > max && !host.can_raise_limits {
                return Err(invalid(format!(
                    "ulimit {name}: hard limit {} is above this host's maximum of {max} for {name}, which berth \
                     cannot raise (it lacks CAP_SYS_RESOURCE); use --ulimit {name}={}:{max} or lower",
                    show_limit(u.hard),
                    u.soft.min(max)
                )));
            }
        }
        limits.retain(|(n, ..)| n != name);
        limits.push((name, *typ, u.soft, u.hard));
    }
    limits
        .into_iter()
        .map(|(_, typ, soft, hard)| {
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(soft)
                .hard(hard)
                .build()
                .map_err(|e| Error::Runtime(format!("building the OCI spec: {e}")))
        })
        .collect()
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

/// "/a//b/./c/" -> "/a/b/c"; ".." is resolved lexically (the runtime resolves the rest inside the root).
fn clean_destination(dest: &str) -> Result<String, Error> {
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
fn mounts(run: &RunSpec) -> Result<Vec<Mount>, Error> {
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
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
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

fn namespace(typ: LinuxNamespaceType, path: Option<PathBuf>) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ);
    ns.set_path(path);
    ns
}

/// Docker's: mount, network, uts, pid, ipc, and cgroup on cgroup v2 hosts.
fn namespaces(run: &RunSpec, host: &Host) -> Result<Vec<LinuxNamespace>, Error> {
    let mut list = vec![namespace(LinuxNamespaceType::Mount, None)];
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
fn sysctls(run: &RunSpec) -> Result<HashMap<String, String>, Error> {
    let own_net = run.network.own_namespace();
    let mut out = HashMap::new();
    if own_net {
        // ICMP echo sockets for every group: ping works without CAP_NET_RAW.
        out.insert("net.ipv4.ping_group_range".to_string(), "0 2147483647".to_string());
        out.insert("net.ipv4.ip_unprivileged_port_start".to_string(), "0".to_string());
    }
    for (key, value) in &run.sysctls {
        check_sysctl(key, own_net)?;
        out.insert(key.clone(), value.clone());
    }
    Ok(out)
}

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
fn devices(run: &RunSpec, host: &Host) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), Error> {
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

/// "0-2,4" as the kernel's cpuset list format.
fn check_cpuset(list: &str) -> Result<(), Error> {
    let bad = || invalid(format!("invalid value {list} for cpuset cpus"));
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: u32 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u32 = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
    }
    Ok(())
}

fn positive(value: Option<i64>, what: &str) -> Result<Option<i64>, Error> {
    match value {
        None | Some(0) => Ok(None),
        Some(v) if v < 0 => Err(invalid(format!("invalid {what}: {v} (it must be positive)"))),
        Some(v) => Ok(Some(v)),
    }
}

/// cgroup limits with dockerd's checks and defaults.
fn resources(run: &RunSpec, host: &Host, devices: Vec<LinuxDeviceCgroup>) -> Result<LinuxResources, Error> {
    let r = &run.resources;
    let limit = positive(r.memory, "memory limit")?;
    let reservation = positive(r.memory_reservation, "memory reservation")?;
    let swap = match r.memory_swap {
        None | Some(0) => None,
        Some(-1) => Some(-1),
        Some(v) if v < 0 => {
            return Err(invalid(format!(
                "invalid memory swap limit: {v} (use -1 for unlimited)"
            )))
        }
        Some(v) => Some(v),
    };
    if limit.is_some_and(|m| m < MIN_MEMORY) {
        return Err(invalid("minimum memory limit allowed is 6MB"));
    }
    if let Some(s) = swap.filter(|&s| s > 0) {
        match limit {
            None => {
                return Err(invalid(
                    "you should always set the memory limit when using memoryswap limit, see usage",
                ))
            }
            Some(m) if s < m => {
                return Err(invalid(
                    "minimum memoryswap limit should be larger than memory limit, see usage",
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(res) = reservation {
        if res < MIN_MEMORY {
            return Err(invalid("minimum memory reservation allowed is 6MB"));
        }
        if limit.is_some_and(|m| m < res) {
            return Err(invalid(
                "minimum memory limit can not be less than memory reservation limit, see usage",
            ));
        }
    }
    let swap = if host.swap_limit {
        // Docker: by default a container may use as much swap as memory.
        swap.or_else(|| limit.map(|m| m.saturating_mul(2)))
    } else {
        if swap.is_some() {
            tracing::warn!("this kernel cannot limit swap: the container is limited without swap");
        }
        None
    };
    let oom_kill_disable = if r.oom_kill_disable && host.cgroup2_only {
        tracing::warn!("cgroup v2 cannot disable the OOM killer: --oom-kill-disable ignored");
        false
    } else {
        r.oom_kill_disable
    };

    let mut out = LinuxResources::default();
    out.set_devices(Some(devices));
    if limit.is_some() || reservation.is_some() || swap.is_some() || oom_kill_disable {
        let mut memory = LinuxMemory::default();
        memory.set_limit(limit);
        memory.set_reservation(reservation);
        memory.set_swap(swap);
        memory.set_disable_oom_killer(oom_kill_disable.then_some(true));
        out.set_memory(Some(memory));
    }

    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    if let Some(nano) = r.nano_cpus.filter(|&n| n != 0) {
        let max = i64::from(host.cpus) * 1_000_000_000;
        if !(10_000_000..=max).contains(&nano) {
            return Err(invalid(format!(
                "range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available",
                n = host.cpus
            )));
        }
        let quota = i128::from(nano) * i128::from(CPU_PERIOD) / 1_000_000_000;
        cpu.set_quota(Some(quota as i64));
        cpu.set_period(Some(CPU_PERIOD));
        any_cpu = true;
    }
    if let Some(shares) = r.cpu_shares.filter(|&s| s > 0) {
        cpu.set_shares(Some(shares));
        any_cpu = true;
    }
    if let Some(list) = r.cpuset_cpus.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        check_cpuset(list)?;
        cpu.set_cpus(Some(list.to_string()));
        any_cpu = true;
    }
    if any_cpu {
        out.set_cpu(Some(cpu));
    }
    if let Some(pids) = r.pids_limit.filter(|&p| p > 0) {
        let mut p = LinuxPids::default();
        p.set_limit(pids);
        out.set_pids(Some(p));
    }
    Ok(out)
}

/// Docker's RAMInBytes: "32m", "1g", "1.5GiB", "512k", "1024b", "1024" -> bytes (binary units).
pub fn parse_memory(s: &str) -> Result<i64, Error> {
    let bad = || invalid(format!("invalid size: '{s}'"));
    let sep = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(bad)?;
    let (num, suffix) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        s.split_at(sep + 1)
    };
    if num.is_empty()
        || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || !num.bytes().any(|b| b.is_ascii_digit())
        || num.matches('.').count() > 1
    {
        return Err(bad());
    }
    let size: f64 = num.parse().map_err(|_| bad())?;
    let lower = suffix.to_ascii_lowercase();
    let multiplier: f64 = match lower.as_str() {
        "" | "b" => 1.0,
        _ => {
            let mut chars = lower.chars();
            let unit = match chars.next() {
                Some('k') => 1u64 << 10,
                Some('m') => 1 << 20,
                Some('g') => 1 << 30,
                Some('t') => 1 << 40,
                Some('p') => 1 << 50,
                _ => return Err(invalid(format!("invalid suffix: '{lower}'"))),
            };
            match chars.as_str() {
                "" | "b" | "ib" => unit as f64,
                _ => return Err(invalid(format!("invalid suffix: '{lower}'"))),
            }
        }
    };
    let bytes = size * multiplier;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// --memory-swap: like parse_memory, and "-1" for unlimited swap.
pub fn parse_memory_swap(s: &str) -> Result<i64, Error> {
    if s.trim() == "-1" {
        Ok(-1)
    } else {
        parse_memory(s)
    }
}

/// Docker's --cpus: a decimal ("1.5") or a fraction ("3/2") of CPUs -> nano CPUs.
pub fn parse_cpus(s: &str) -> Result<i64, Error> {
    let not_rational = || invalid(format!("failed to parse {s} as a rational number"));
    let decimal = |t: &str| -> Result<(bool, i128, i128), Error> {
        // (negative, numerator, denominator) of a plain decimal
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || int.len() + frac.len() > 30
        {
            return Err(not_rational());
        }
        let frac = frac.trim_end_matches('0');
        let digits = format!("{int}{frac}");
        let num: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| not_rational())?
        };
        let den = 10i128.checked_pow(frac.len() as u32).ok_or_else(not_rational)?;
        Ok((neg, num, den))
    };
    let s_trim = s.trim();
    let (neg, num, den) = match s_trim.split_once('/') {
        Some((n, d)) => {
            let (neg_n, n, dn) = decimal(n)?;
            let d: i128 = d.parse().map_err(|_| not_rational())?;
            if dn != 1 || d == 0 {
                return Err(not_rational());
            }
            (neg_n != (d < 0), n, d.abs())
        }
        None => decimal(s_trim)?,
    };
    let scaled = num
        .checked_mul(1_000_000_000)
        .ok_or_else(|| invalid(format!("value {s} is too large")))?;
    if scaled % den != 0 {
        return Err(invalid("value is too precise"));
    }
    let nano = scaled / den;
    if neg && nano != 0 {
        return Err(invalid(format!(
            "invalid value {s} for cpus: the number of CPUs cannot be negative"
        )));
    }
    i64::try_from(nano).map_err(|_| invalid(format!("value {s} is too large")))
}

/// Docker's --ulimit: "nofile=1024:2048", "nproc=512", "core=-1" (unlimited).
pub fn parse_ulimit(s: &str) -> Result<Ulimit, Error> {
    let (name, values) = s
        .split_once('=')
        .ok_or_else(|| invalid(format!("invalid ulimit argument: {s}")))?;
    if ulimit_entry(name).is_none() {
        return Err(invalid(format!("invalid ulimit type: {name}")));
    }
    let parts: Vec<&str> = values.split(':').collect();
    if parts.len() > 2 {
        return Err(invalid(format!(
            "too many limit value arguments - {values}, can only have up to two, `soft[:hard]`"
        )));
    }
    let value = |v: &str| -> Result<u64, Error> {
        match v.trim() {
            "-1" => Ok(u64::MAX),
            t => t.parse::<u64>().map_err(|_| {
                invalid(format!(
                    "invalid ulimit value {v:?} in {s}: use a number, or -1 for unlimited"
                ))
            }),
        }
    };
    let soft = value(parts[0])?;
    let hard = match parts.get(1) {
        Some(h) => value(h)?,
        None => soft,
    };
    if soft > hard {
        return Err(invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {} > {}",
            show_limit(soft),
            show_limit(hard)
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompAction, PosixRlimitType};
    use std::fs;

    fn fake_host() -> Host {
        Host {
            hard_limits: [("nofile", 20_000u64)].into_iter().collect(),
            can_raise_limits: false,
            bounding: Some((1u64 << 41) - 1),
            cgroup2_only: false,
            cgroup_v1_hierarchies: vec!["cpu,cpuacct".into(), "memory".into(), "systemd".into()],
            swap_limit: true,
            cpus: 2,
            arch: "x86_64".to_string(),
            kernel: (6, 18, 0),
            dev_dir: PathBuf::from("/dev"),
        }
    }

    fn busybox_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n\
             www-data:x:33:33:www-data:/var/www:/bin/false\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:root\nnogroup:x:65534:\nwww-data:x:33:\n",
        )
        .unwrap();
        dir
    }

    fn busybox_run(root: &Path) -> RunSpec {
        RunSpec {
            rootfs: root.to_path_buf(),
            args: vec!["sh".into(), "-c".into(), "echo hi".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            hostname: "0123456789ab".into(),
            cgroups_path: "/berth/0123456789ab".into(),
            ..Default::default()
        }
    }

    fn caps_of(spec: &Spec) -> BTreeSet<String> {
        let caps = spec.process().as_ref().unwrap().capabilities().as_ref().unwrap();
        let names = |set: &Option<Capabilities>| -> BTreeSet<String> {
            set.iter()
                .flatten()
                .map(|c| serde_json::to_value(c).unwrap().as_str().unwrap().to_string())
                .collect()
        };
        let bounding = names(caps.bounding());
        assert_eq!(bounding, names(caps.effective()));
        assert_eq!(bounding, names(caps.permitted()));
        assert!(names(caps.inheritable()).is_empty());
        assert!(names(caps.ambient()).is_empty());
        bounding
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn mount_of<'a>(spec: &'a Spec, dest: &str) -> Option<&'a Mount> {
        spec.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new(dest))
    }

    fn options_of(spec: &Spec, dest: &str) -> Vec<String> {
        mount_of(spec, dest).unwrap().options().clone().unwrap_or_default()
    }

    fn rlimit_of(spec: &Spec, typ: PosixRlimitType) -> Option<(u64, u64)> {
        let process = spec.process().as_ref().unwrap();
        process
            .rlimits()
            .iter()
            .flatten()
            .find(|r| r.typ() == typ)
            .map(|r| (r.soft(), r.hard()))
    }

    #[test]
    fn typical_busybox_run() {
        let root = busybox_root();
        let spec = build_with(&busybox_run(root.path()), &fake_host()).unwrap();
        assert_eq!(spec.version(), OCI_VERSION);
        assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
        let rootspec = spec.root().as_ref().unwrap();
        assert_eq!(rootspec.path(), root.path());
        assert_eq!(rootspec.readonly(), Some(false));

        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.args().as_deref().unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(
            process.env().as_deref().unwrap(),
            [
                format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=0123456789ab".to_string(),
                "HOME=/root".to_string()
            ]
        );
        assert_eq!(process.cwd(), Path::new("/"));
        assert_eq!(process.terminal(), Some(false));
        assert_eq!(process.no_new_privileges(), None);
        assert_eq!((process.user().uid(), process.user().gid()), (0, 0));
        assert_eq!(process.user().additional_gids().as_deref(), Some(&[10][..]));

        let mut expected = set(&default_capabilities());
        assert_eq!(caps_of(&spec), expected);
        assert!(!expected.contains("CAP_NET_RAW"));
        assert_eq!(expected.len(), 13);
        expected.insert("CAP_NET_RAW".into());
        assert_eq!(
            expected,
            set(&[
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FSETID",
                "CAP_FOWNER",
                "CAP_MKNOD",
                "CAP_NET_RAW",
                "CAP_SETGID",
                "CAP_SETUID",
                "CAP_SETFCAP",
                "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT",
                "CAP_KILL",
                "CAP_AUDIT_WRITE"
            ]),
            "Docker's default set"
        );

        // Docker's mounts, in Docker's order.
        let mounts = spec.mounts().as_ref().unwrap();
        let summary: Vec<(String, String, String)> = mounts
            .iter()
            .map(|m| {
                (
                    m.destination().display().to_string(),
                    m.typ().clone().unwrap(),
                    m.options().as_ref().unwrap().join(","),
                )
            })
            .collect();
        let expect = |d: &str, t: &str, o: &str| (d.to_string(), t.to_string(), o.to_string());
        assert_eq!(
            summary,
            vec![
                expect("/proc", "proc", "nosuid,noexec,nodev"),
                expect("/dev", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"),
                expect(
                    "/dev/pts",
                    "devpts",
                    "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"
                ),
                expect("/sys", "sysfs", "nosuid,noexec,nodev,ro"),
                expect("/sys/fs/cgroup", "cgroup", "ro,nosuid,noexec,nodev"),
                expect("/dev/mqueue", "mqueue", "nosuid,noexec,nodev"),
                expect("/dev/shm", "tmpfs", "nosuid,noexec,nodev,mode=1777,size=65536k"),
            ]
        );
        assert_eq!(
            mount_of(&spec, "/dev/shm").unwrap().source().as_deref(),
            Some(Path::new("shm"))
        );

        let linux = spec.linux().as_ref().unwrap();
        let ns: Vec<(LinuxNamespaceType, Option<PathBuf>)> = linux
            .namespaces()
            .iter()
            .flatten()
            .map(|n| (n.typ(), n.path().clone()))
            .collect();
        use LinuxNamespaceType::*;
        assert_eq!(
            ns,
            vec![(Mount, None), (Network, None), (Uts, None), (Pid, None), (Ipc, None)]
        );
        assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new("/berth/0123456789ab")));
        assert_eq!(linux.masked_paths().as_deref().unwrap(), MASKED_PATHS);
        assert!(linux
            .masked_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/kcore".to_string()));
        assert_eq!(
            linux.readonly_paths().as_deref().unwrap(),
            [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
                "/sys/fs/cgroup",
                "/sys/fs/cgroup/cpu,cpuacct",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/systemd",
            ]
        );
        let sysctl = linux.sysctl().as_ref().unwrap();
        assert_eq!(
            sysctl.get("net.ipv4.ping_group_range").map(String::as_str),
            Some("0 2147483647")
        );
        assert_eq!(
            sysctl.get("net.ipv4.ip_unprivileged_port_start").map(String::as_str),
            Some("0")
        );
        assert!(linux.devices().is_none());

        // Device cgroup: deny all first, then the standard devices.
        let rules = linux.resources().as_ref().unwrap().devices().as_ref().unwrap();
        let text: Vec<String> = rules
            .iter()
            .map(|r| format!("{} {r}", if r.allow() { "allow" } else { "deny" }))
            .collect();
        assert_eq!(text[0], "deny a *:* rwm");
        for want in [
            "allow c *:* m",
            "allow b *:* m",
            "allow c 1:3 rwm",
            "allow c 1:5 rwm",
            "allow c 1:7 rwm",
            "allow c 1:8 rwm",
            "allow c 1:9 rwm",
            "allow c 5:0 rwm",
            "allow c 5:1 rwm",
            "allow c 5:2 rwm",
            "allow c 136:* rwm",
        ] {
            assert!(text.contains(&want.to_string()), "{want} in {text:?}");
        }
        assert!(linux.resources().as_ref().unwrap().memory().is_none());

        // nofile: Docker's 1048576 would be above this host's hard limit of 20000.
        assert_eq!(rlimit_of(&spec, PosixRlimitType::RlimitNofile), Some((20_000, 20_000)));
        let mut big = fake_host();
        big.hard_limits.insert("nofile", 4_000_000);
        let spec_big = build_with(&busybox_run(root.path()), &big).unwrap();
        assert_eq!(
            rlimit_of(&spec_big, PosixRlimitType::RlimitNofile),
            Some((1_048_576, 1_048_576))
        );

        // Seccomp: Docker's default profile, for these capabilities.
        let seccomp = linux.seccomp().as_ref().unwrap();
        assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
        let allowed = |name: &str| {
            seccomp
                .syscalls()
                .iter()
                .flatten()
                .any(|r| r.action() == LinuxSeccompAction::ScmpActAllow && r.names().iter().any(|n| n == name))
        };
        assert!(allowed("read"));
        assert!(!allowed("mount"));
    }

    #[test]
    fn oci_json() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.tty = true;
        run.resources.memory = Some(64 << 20);
        let spec = build_with(&run, &fake_host()).unwrap();
        let text = serde_json::to_string(&spec).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["ociVersion"], OCI_VERSION);
        assert_eq!(json["root"]["path"], root.path().to_str().unwrap());
        assert_eq!(json["process"]["terminal"], true);
        assert_eq!(json["process"]["user"]["uid"], 0);
        assert_eq!(json["process"]["cwd"], "/");
        assert_eq!(json["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
        assert_eq!(json["process"]["rlimits"][0]["hard"], 20000);
        assert!(json["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .contains(&"CAP_CHOWN".into()));
        assert_eq!(json["process"]["capabilities"]["inheritable"], serde_json::json!([]));
        assert_eq!(json["mounts"][0]["destination"], "/proc");
        assert_eq!(json["mounts"][0]["type"], "proc");
        assert_eq!(json["linux"]["namespaces"][0]["type"], "mount");
        assert_eq!(json["linux"]["namespaces"][1]["type"], "network");
        assert_eq!(json["linux"]["cgroupsPath"], "/berth/0123456789ab");
        assert_eq!(json["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], false);
        assert_eq!(json["linux"]["resources"]["devices"][0]["access"], "rwm");
        assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["linux"]["maskedPaths"][0], "/proc/asound");
        assert!(json["linux"]["readonlyPaths"].is_array());
        assert!(json.get("annotations").is_none());
        let env = json["process"]["env"].as_array().unwrap();
        assert!(env.contains(&"TERM=xterm".into()));
        // And it reads back as the same spec.
        let back: Spec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn env_rules() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.tty = true;
        run.user = "www-data".into();
        run.env = vec![
            "FOO=bar".into(),
            "HOSTNAME=custom".into(),
            "TERM".into(),
            "NOPE".into(),
            "FOO=baz".into(),
        ];
        let spec = build_with(&run, &fake_host()).unwrap();
        let env = spec.process().as_ref().unwrap().env().clone().unwrap();
        assert_eq!(
            env,
            [
                format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=custom".into(),
                "FOO=baz".into(),
                "HOME=/var/www".into()
            ]
        );
        let user = spec.process().as_ref().unwrap().user();
        assert_eq!((user.uid(), user.gid()), (33, 33));

        run.env.push("HOME=/elsewhere".into());
        let spec = build_with(&run, &fake_host()).unwrap();
        let env = spec.process().as_ref().unwrap().env().clone().unwrap();
        assert!(env.contains(&"HOME=/elsewhere".to_string()) && !env.contains(&"HOME=/var/www".to_string()));

        run.user = "nosuchuser".into();
        assert!(matches!(build_with(&run, &fake_host()), Err(Error::UnknownUser(_))));
    }

    #[test]
    fn process_checks() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.cwd = "relative".into();
        assert!(build_with(&run, &fake_host())
            .unwrap_err()
            .to_string()
            .contains("absolute path"));
        run.cwd = "/work".into();
        let spec = build_with(&run, &fake_host()).unwrap();
        assert_eq!(spec.process().as_ref().unwrap().cwd(), Path::new("/work"));
        run.args.clear();
        assert!(matches!(build_with(&run, &fake_host()), Err(Error::InvalidArgument(_))));
        let mut run = busybox_run(root.path());
        run.oom_score_adj = Some(500);
        let spec = build_with(&run, &fake_host()).unwrap();
        assert_eq!(spec.process().as_ref().unwrap().oom_score_adj(), Some(500));
        run.oom_score_adj = Some(1001);
        assert!(build_with(&run, &fake_host()).is_err());
        let mut run = busybox_run(root.path());
        run.no_new_privileges = true;
        let spec = build_with(&run, &fake_host()).unwrap();
        assert_eq!(spec.process().as_ref().unwrap().no_new_privileges(), Some(true));
    }

    #[test]
    fn cap_add_and_drop() {
        let root = busybox_root();
        let host = fake_host();
        let mut run = busybox_run(root.path());
        run.cap_add = vec!["net_admin".into(), "CAP_SYS_PTRACE".into()];
        run.cap_drop = vec!["MKNOD".into(), "cap_chown".into()];
        let caps = caps_of(&build_with(&run, &host).unwrap());
        let mut expected = set(&default_capabilities());
        expected.remove("CAP_MKNOD");
        expected.remove("CAP_CHOWN");
        expected.insert("CAP_NET_ADMIN".into());
        expected.insert("CAP_SYS_PTRACE".into());
        assert_eq!(caps, expected);

        // --cap-add NET_RAW brings raw sockets back.
        run.cap_add = vec!["NET_RAW".into()];
        run.cap_drop.clear();
        assert!(caps_of(&build_with(&run, &host).unwrap()).contains("CAP_NET_RAW"));

        // ALL, minus what is dropped.
        run.cap_add = vec!["all".into()];
        run.cap_drop = vec!["SYS_ADMIN".into()];
        let caps = caps_of(&build_with(&run, &host).unwrap());
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains("CAP_SYS_ADMIN") && caps.contains("CAP_NET_RAW") && caps.contains("CAP_BPF"));
        // With CAP_SYS_ADMIN (from ALL), seccomp allows mount.
        run.cap_drop.clear();
        let spec = build_with(&run, &host).unwrap();
        let seccomp = spec.linux().as_ref().unwrap().seccomp().clone().unwrap();
        assert!(seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.names().iter().any(|n| n == "mount")));

        // Drop ALL, keep only what is added.
        run.cap_add = vec!["KILL".into()];
        run.cap_drop = vec!["ALL".into()];
        assert_eq!(caps_of(&build_with(&run, &host).unwrap()), set(&["CAP_KILL"]));
        run.cap_add.clear();
        assert!(caps_of(&build_with(&run, &host).unwrap()).is_empty());

        // Unknown names are refused.
        run.cap_add = vec!["NET_MAGIC".into()];
        let err = build_with(&run, &host).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)) && err.to_string().contains("CAP_NET_MAGIC"),
            "{err}"
        );
        run.cap_add.clear();
        run.cap_drop = vec!["bogus".into()];
        assert!(matches!(build_with(&run, &host), Err(Error::InvalidArgument(_))));

        // A capability berth does not hold: ALL leaves it out, asking for it is an error.
        let mut limited = fake_host();
        limited.bounding = Some(((1u64 << 41) - 1) & !(1 << CAP_SYS_RESOURCE));
        run.cap_drop.clear();
        run.cap_add = vec!["ALL".into()];
        assert!(!caps_of(&build_with(&run, &limited).unwrap()).contains("CAP_SYS_RESOURCE"));
        run.cap_add = vec!["SYS_RESOURCE".into()];
        assert!(build_with(&run, &limited)
            .unwrap_err()
            .to_string()
            .contains("CAP_SYS_RESOURCE"));
    }

    #[test]
    fn cgroup_mounts_are_read_only_unless_the_user_mounts_there() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        let readonly = |run: &RunSpec| {
            let spec = build_with(run, &fake_host()).unwrap();
            spec.linux().as_ref().unwrap().readonly_paths().clone().unwrap()
        };
        assert!(readonly(&run).contains(&"/sys/fs/cgroup/systemd".to_string()));
        run.tmpfs = vec![("/sys/fs/cgroup/".into(), String::new())];
        let paths = readonly(&run);
        assert!(!paths.iter().any(|p| p.starts_with("/sys")), "{paths:?}");
    }

    #[test]
    fn privileged() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.privileged = true;
        run.cap_drop = vec!["ALL".into()]; // ignored, as by Docker
        let mut host = fake_host();
        host.bounding = Some(((1u64 << 41) - 1) & !(1 << CAP_SYS_RESOURCE));
        let spec = build_with(&run, &host).unwrap();
        let caps = caps_of(&spec);
        assert_eq!(caps.len(), 40);
        assert!(caps.contains("CAP_SYS_ADMIN") && !caps.contains("CAP_SYS_RESOURCE"));
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.seccomp().is_none());
        assert!(linux.masked_paths().is_none());
        assert!(linux.readonly_paths().is_none());
        assert_eq!(options_of(&spec, "/sys"), ["nosuid", "noexec", "nodev"]);
        assert_eq!(options_of(&spec, "/sys/fs/cgroup"), ["nosuid", "noexec", "nodev"]);
        let rules = linux.resources().as_ref().unwrap().devices().clone().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].to_string(), "a *:* rwm");
        assert!(rules[0].allow());
        // Host devices: /dev/null is there as c 1:3; no pts, no console.
        let devices = linux.devices().clone().unwrap_or_default();
        let null = devices.iter().find(|d| d.path() == Path::new("/dev/null"));
        if Path::new("/dev/null").exists() {
            let null = null.expect("/dev/null among the host devices");
            assert_eq!((null.typ(), null.major(), null.minor()), (LinuxDeviceType::C, 1, 3));
        }
        assert!(!devices
            .iter()
            .any(|d| d.path().starts_with("/dev/pts") || d.path() == Path::new("/dev/console")));
    }

    #[test]
    fn read_only_root() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.read_only = true;
        run.binds.push(BindMount {
            source: "/tmp".into(),
            destination: "/data".into(),
            read_only: false,
            options: vec![],
        });
        let spec = build_with(&run, &fake_host()).unwrap();
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        // /proc, /dev and friends stay writable, the user's volume too.
        assert!(!options_of(&spec, "/proc").contains(&"ro".to_string()));
        assert!(!options_of(&spec, "/dev/shm").contains(&"ro".to_string()));
        assert!(options_of(&spec, "/sys").contains(&"ro".to_string()));
        assert_eq!(options_of(&spec, "/data"), ["rbind", "rw", "rprivate"]);
    }

    #[test]
    fn user_mounts() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.shm_size = Some(128 << 20);
        run.tmpfs = vec![
            ("/run".into(), String::new()),
            ("/tmp/".into(), "size=64m,mode=1777,exec,size=32m".into()),
            ("/dev/mqueue".into(), "ro".into()),
        ];
        run.binds = vec![
            BindMount {
                source: "/srv/data/sub".into(),
                destination: "/data/sub".into(),
                read_only: true,
                options: vec![],
            },
            BindMount {
                source: "/srv/data".into(),
                destination: "/data".into(),
                read_only: false,
                options: vec!["rslave".into(), "nosuid".into()],
            },
            BindMount {
                source: "/var/lib/berth/containers/x/hosts".into(),
                destination: "/etc/hosts".into(),
                read_only: false,
                options: vec![],
            },
        ];
        let spec = build_with(&run, &fake_host()).unwrap();
        assert_eq!(
            options_of(&spec, "/dev/shm").last().unwrap(),
            &format!("size={}", 128u64 << 20)
        );
        assert_eq!(options_of(&spec, "/run"), ["rw", "noexec", "nosuid", "nodev"]);
        assert_eq!(
            options_of(&spec, "/tmp"),
            ["rw", "exec", "nosuid", "nodev", "size=32m", "mode=1777"]
        );
        // A user mount replaces the default one at the same place.
        let mqueue: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|m| m.destination() == Path::new("/dev/mqueue"))
            .collect();
        assert_eq!(mqueue.len(), 1);
        assert_eq!(mqueue[0].typ().as_deref(), Some("tmpfs"));
        assert_eq!(options_of(&spec, "/dev/mqueue"), ["ro", "noexec", "nosuid", "nodev"]);
        let data = mount_of(&spec, "/data").unwrap();
        assert_eq!(data.typ().as_deref(), Some("bind"));
        assert_eq!(data.source().as_deref(), Some(Path::new("/srv/data")));
        assert_eq!(options_of(&spec, "/data"), ["rbind", "rw", "nosuid", "rslave"]);
        assert_eq!(options_of(&spec, "/data/sub"), ["rbind", "ro", "rprivate"]);
        // Parents before children.
        let order: Vec<String> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        let pos = |d: &str| order.iter().position(|o| o == d).unwrap();
        assert!(pos("/data") < pos("/data/sub"));
        assert!(pos("/proc") < pos("/run"));

        // A user /dev replaces every default mount below /dev.
        let mut run2 = busybox_run(root.path());
        run2.tmpfs = vec![("/dev".into(), String::new())];
        let spec = build_with(&run2, &fake_host()).unwrap();
        assert!(mount_of(&spec, "/dev/pts").is_none() && mount_of(&spec, "/dev/shm").is_none());

        for (dest, opts) in [("relative", ""), ("/", ""), ("/x", "size=1m,bogus"), ("/x", "uid")] {
            let mut bad = busybox_run(root.path());
            bad.tmpfs = vec![(dest.into(), opts.into())];
            assert!(
                matches!(build_with(&bad, &fake_host()), Err(Error::InvalidArgument(_))),
                "{dest} {opts}"
            );
        }
        let mut dup = busybox_run(root.path());
        dup.tmpfs = vec![("/x".into(), String::new()), ("/x/".into(), String::new())];
        assert!(build_with(&dup, &fake_host())
            .unwrap_err()
            .to_string()
            .contains("duplicate mount point"));
    }

    #[test]
    fn resources_mapping() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.resources = Resources {
            memory: Some(parse_memory("32m").unwrap()),
            memory_reservation: Some(parse_memory("16m").unwrap()),
            nano_cpus: Some(parse_cpus("1.5").unwrap()),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0-1".into()),
            pids_limit: Some(100),
            ..Default::default()
        };
        let spec = build_with(&run, &fake_host()).unwrap();
        let res = spec.linux().as_ref().unwrap().resources().clone().unwrap();
        let mem = res.memory().unwrap();
        assert_eq!(mem.limit(), Some(32 << 20));
        assert_eq!(mem.swap(), Some(64 << 20), "docker's default: as much swap as memory");
        assert_eq!(mem.reservation(), Some(16 << 20));
        assert_eq!(mem.disable_oom_killer(), None);
        let cpu = res.cpu().clone().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
        assert_eq!(cpu.shares(), Some(512));
        assert_eq!(cpu.cpus().as_deref(), Some("0-1"));
        assert_eq!(res.pids().unwrap().limit(), 100);

        run.resources = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            oom_kill_disable: true,
            pids_limit: Some(-1),
            ..Default::default()
        };
        let spec = build_with(&run, &fake_host()).unwrap();
        let res = spec.linux().as_ref().unwrap().resources().clone().unwrap();
        assert_eq!(res.memory().unwrap().swap(), Some(-1));
        assert_eq!(res.memory().unwrap().disable_oom_killer(), Some(true));
        assert!(res.pids().is_none() && res.cpu().is_none());

        // Without swap accounting, no swap limit is written.
        let mut no_swap = fake_host();
        no_swap.swap_limit = false;
        run.resources = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            ..Default::default()
        };
        let spec = build_with(&run, &no_swap).unwrap();
        assert_eq!(
            spec.linux()
                .as_ref()
                .unwrap()
                .resources()
                .as_ref()
                .unwrap()
                .memory()
                .unwrap()
                .swap(),
            None
        );

        let bad = |r: Resources, needle: &str| {
            let mut run = busybox_run(root.path());
            run.resources = r;
            let err = build_with(&run, &fake_host()).unwrap_err();
            assert!(
                matches!(err, Error::InvalidArgument(_)) && err.to_string().contains(needle),
                "{err}"
            );
        };
        bad(
            Resources {
                memory: Some(1 << 20),
                ..Default::default()
            },
            "6MB",
        );
        bad(
            Resources {
                memory: Some(64 << 20),
                memory_swap: Some(32 << 20),
                ..Default::default()
            },
            "memoryswap",
        );
        bad(
            Resources {
                memory_swap: Some(64 << 20),
                ..Default::default()
            },
            "memory limit",
        );
        bad(
            Resources {
                memory: Some(16 << 20),
                memory_reservation: Some(32 << 20),
                ..Default::default()
            },
            "reservation",
        );
        bad(
            Resources {
                nano_cpus: Some(3_000_000_000),
                ..Default::default()
            },
            "only 2 CPUs",
        );
        bad(
            Resources {
                nano_cpus: Some(1_000_000),
                ..Default::default()
            },
            "0.01",
        );
        bad(
            Resources {
                cpuset_cpus: Some("1-0".into()),
                ..Default::default()
            },
            "cpuset",
        );
        bad(
            Resources {
                cpuset_cpus: Some("a".into()),
                ..Default::default()
            },
            "cpuset",
        );
    }

    #[test]
    fn ulimits() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.ulimits = vec![
            parse_ulimit("nofile=1024:2048").unwrap(),
            parse_ulimit("nproc=512").unwrap(),
        ];
        let spec = build_with(&run, &fake_host()).unwrap();
        assert_eq!(rlimit_of(&spec, PosixRlimitType::RlimitNofile), Some((1024, 2048)));
        assert_eq!(rlimit_of(&spec, PosixRlimitType::RlimitNproc), Some((512, 512)));
        assert_eq!(spec.process().as_ref().unwrap().rlimits().as_ref().unwrap().len(), 2);

        // Above the host's hard limit: a clear error, not a runtime failure.
        run.ulimits = vec![parse_ulimit("nofile=30000:30000").unwrap()];
        let err = build_with(&run, &fake_host()).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        let msg = err.to_string();
        assert!(
            msg.contains("nofile") && msg.contains("30000") && msg.contains("20000"),
            "{msg}"
        );
        // With CAP_SYS_RESOURCE berth could raise it.
        let mut strong = fake_host();
        strong.can_raise_limits = true;
        assert!(build_with(&run, &strong).is_ok());
        // Exactly the host limit is fine.
        run.ulimits = vec![parse_ulimit("nofile=20000").unwrap()];
        let spec = build_with(&run, &fake_host()).unwrap();
        assert_eq!(rlimit_of(&spec, PosixRlimitType::RlimitNofile), Some((20_000, 20_000)));
        // Soft above hard, built by hand.
        run.ulimits = vec![Ulimit {
            name: "core".into(),
            soft: 10,
            hard: 5,
        }];
        assert!(build_with(&run, &fake_host()).is_err());
    }

    #[test]
    fn host_limits_of_this_process() {
        // The real probe: whatever this machine's nofile hard limit is, the default never exceeds it.
        let root = busybox_root();
        let spec = build(&busybox_run(root.path())).unwrap();
        let (soft, hard) = rlimit_of(&spec, PosixRlimitType::RlimitNofile).unwrap();
        assert_eq!(soft, hard);
        assert!(hard <= DEFAULT_NOFILE);
        if let Some(host) = host_hard_limit("nofile") {
            assert!(hard <= host);
            let host_caps = Host::probe();
            if !host_caps.can_raise_limits {
                let mut run = busybox_run(root.path());
                run.ulimits = vec![Ulimit {
                    name: "nofile".into(),
                    soft: host + 1,
                    hard: host + 1,
                }];
                let err = build(&run).unwrap_err().to_string();
                assert!(err.contains("nofile") && err.contains(&host.to_string()), "{err}");
            } else {
                eprintln!("SKIP part of host_limits_of_this_process: berth holds CAP_SYS_RESOURCE here");
            }
        }
        assert_eq!(host_hard_limit("bogus"), None);
    }

    #[test]
    fn network_modes_and_sysctls() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.network = NetworkMode::Host;
        let spec = build_with(&run, &fake_host()).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert!(!linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::Network));
        assert!(linux.sysctl().is_none());
        run.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        assert!(build_with(&run, &fake_host())
            .unwrap_err()
            .to_string()
            .contains("host network namespace"));

        run.network = NetworkMode::Path("/run/berth/netns/abc".into());
        run.sysctls.insert("kernel.shmmax".into(), "100000".into());
        run.sysctls.insert("net.ipv4.ping_group_range".into(), "1 1".into());
        let mut host = fake_host();
        host.cgroup2_only = true;
        let spec = build_with(&run, &host).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let net = linux
            .namespaces()
            .iter()
            .flatten()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .unwrap();
        assert_eq!(net.path().as_deref(), Some(Path::new("/run/berth/netns/abc")));
        assert!(linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::Cgroup));
        let sysctl = linux.sysctl().as_ref().unwrap();
        assert_eq!(sysctl["net.ipv4.ping_group_range"], "1 1", "the user's value wins");
        assert_eq!(sysctl["net.ipv4.ip_forward"], "1");
        assert_eq!(sysctl["kernel.shmmax"], "100000");

        run.sysctls.insert("kernel.panic".into(), "1".into());
        assert!(build_with(&run, &fake_host())
            .unwrap_err()
            .to_string()
            .contains("kernel.panic"));
    }

    #[test]
    fn seccomp_modes() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        run.seccomp = SeccompMode::Unconfined;
        assert!(build_with(&run, &fake_host())
            .unwrap()
            .linux()
            .as_ref()
            .unwrap()
            .seccomp()
            .is_none());
        let profile = root.path().join("profile.json");
        fs::write(
            &profile,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        run.seccomp = SeccompMode::Profile(profile.clone());
        let spec = build_with(&run, &fake_host()).unwrap();
        let s = spec.linux().as_ref().unwrap().seccomp().clone().unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        fs::write(&profile, "{").unwrap();
        assert!(matches!(build_with(&run, &fake_host()), Err(Error::Seccomp { .. })));
    }

    #[test]
    fn devices_mapping() {
        let root = busybox_root();
        let mut run = busybox_run(root.path());
        if !Path::new("/dev/null").exists() {
            eprintln!("SKIP devices_mapping: no /dev/null on this machine");
            return;
        }
        run.devices = vec![Device {
            host: "/dev/null".into(),
            container: "/dev/mynull".into(),
            permissions: "rw".into(),
        }];
        let spec = build_with(&run, &fake_host()).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let devices = linux.devices().clone().unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].path(), Path::new("/dev/mynull"));
        assert_eq!(
            (devices[0].typ(), devices[0].major(), devices[0].minor()),
            (LinuxDeviceType::C, 1, 3)
        );
        let rules = linux.resources().as_ref().unwrap().devices().clone().unwrap();
        assert_eq!(rules.last().unwrap().to_string(), "c 1:3 rw");
        assert!(rules.last().unwrap().allow());

        for (host, perms) in [
            ("/nonexistent-device", "rwm"),
            ("/dev/null", "rwx"),
            ("/dev/null", "rrw"),
            ("relative", "r"),
        ] {
            run.devices = vec![Device {
                host: host.into(),
                container: "/dev/x".into(),
                permissions: perms.into(),
            }];
            assert!(
                matches!(build_with(&run, &fake_host()), Err(Error::InvalidArgument(_))),
                "{host} {perms}"
            );
        }
        let file = root.path().join("etc/passwd");
        run.devices = vec![Device {
            host: file,
            container: "/dev/x".into(),
            permissions: String::new(),
        }];
        assert!(build_with(&run, &fake_host())
            .unwrap_err()
            .to_string()
            .contains("not a device"));
    }

    #[test]
    fn memory_values() {
        assert_eq!(parse_memory("32m").unwrap(), 32 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory("512k").unwrap(), 512 << 10);
        assert_eq!(parse_memory("1024b").unwrap(), 1024);
        assert_eq!(parse_memory("1024").unwrap(), 1024);
        assert_eq!(parse_memory("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_memory("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_memory("64mb").unwrap(), 64 << 20);
        assert_eq!(parse_memory("10 KB").unwrap(), 10 << 10);
        assert_eq!(parse_memory("2t").unwrap(), 2 << 40);
        assert_eq!(parse_memory_swap("-1").unwrap(), -1);
        assert_eq!(parse_memory_swap("1g").unwrap(), 1 << 30);
        for bad in ["abc", "", "-1", "1x", "1kk", "1mbb", "m", "1.2.3m", "99999999p"] {
            let err = parse_memory(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{bad}");
        }
        assert_eq!(parse_memory("abc").unwrap_err().to_string(), "invalid size: 'abc'");
        assert_eq!(parse_memory("1x").unwrap_err().to_string(), "invalid suffix: 'x'");
    }

    #[test]
    fn cpu_values() {
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("2").unwrap(), 2_000_000_000);
        assert_eq!(parse_cpus("0.01").unwrap(), 10_000_000);
        assert_eq!(parse_cpus(".5").unwrap(), 500_000_000);
        assert_eq!(parse_cpus("3/2").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("0").unwrap(), 0);
        assert_eq!(parse_cpus("0.1234567890").unwrap(), 123_456_789);
        for bad in ["-1", "-0.5", "NaN", "nan", "inf", "abc", "", "1.5.2", "1/0", "1e3"] {
            assert!(matches!(parse_cpus(bad), Err(Error::InvalidArgument(_))), "{bad}");
        }
        assert_eq!(
            parse_cpus("0.0000000001").unwrap_err().to_string(),
            "value is too precise"
        );
        assert!(parse_cpus("99999999999999999999").is_err());
    }

    #[test]
    fn ulimit_values() {
        assert_eq!(
            parse_ulimit("nofile=1024:2048").unwrap(),
            Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            }
        );
        assert_eq!(
            parse_ulimit("nproc=512").unwrap(),
            Ulimit {
                name: "nproc".into(),
                soft: 512,
                hard: 512
            }
        );
        assert_eq!(
            parse_ulimit("core=-1").unwrap(),
            Ulimit {
                name: "core".into(),
                soft: u64::MAX,
                hard: u64::MAX
            }
        );
        assert_eq!(parse_ulimit("core=0:-1").unwrap().hard, u64::MAX);
        for (bad, needle) in [
            ("nofile", "invalid ulimit argument"),
            ("bogus=1", "invalid ulimit type: bogus"),
            ("as=1", "invalid ulimit type"),
            ("nofile=1:2:3", "too many limit value arguments"),
            (
                "nofile=2048:1024",
                "soft limit must be less than or equal to hard limit: 2048 > 1024",
            ),
            ("nofile=abc", "invalid ulimit value"),
            ("nofile=-5", "invalid ulimit value"),
            ("nofile=", "invalid ulimit value"),
            ("nofile=-1:100", "unlimited > 100"),
        ] {
            let err = parse_ulimit(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)));
            assert!(err.to_string().contains(needle), "{bad}: {err}");
        }
    }
}
