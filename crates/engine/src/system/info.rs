//! `info` (the API's SystemInfo): counts from the data root and facts about the host.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Host;
use crate::{Engine, Result};

/// Docker's SystemInfo, the fields berth knows, in dockerd's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SystemInfo {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Containers")]
    pub containers: usize,
    #[serde(rename = "ContainersRunning")]
    pub containers_running: usize,
    #[serde(rename = "ContainersPaused")]
    pub containers_paused: usize,
    #[serde(rename = "ContainersStopped")]
    pub containers_stopped: usize,
    #[serde(rename = "Images")]
    pub images: usize,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "DriverStatus")]
    pub driver_status: Vec<[String; 2]>,
    /// The volume, network and log drivers there are (berth's are built in).
    #[serde(rename = "Plugins")]
    pub plugins: PluginsInfo,
    #[serde(rename = "Debug")]
    pub debug: bool,
    #[serde(rename = "LoggingDriver")]
    pub logging_driver: String,
    #[serde(rename = "CgroupDriver")]
    pub cgroup_driver: String,
    #[serde(rename = "CgroupVersion")]
    pub cgroup_version: String,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    #[serde(rename = "Architecture")]
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    #[serde(rename = "MemTotal")]
    pub mem_total: u64,
    #[serde(rename = "DockerRootDir")]
    pub docker_root_dir: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "ExperimentalBuild")]
    pub experimental_build: bool,
    #[serde(rename = "ServerVersion")]
    pub server_version: String,
    #[serde(rename = "Runtimes")]
    pub runtimes: BTreeMap<String, RuntimeInfo>,
    /// The built-in libcontainer launcher, as `inspect` names it.
    #[serde(rename = "DefaultRuntime")]
    pub default_runtime: String,
    /// Always inactive: berth has no swarm mode.
    #[serde(rename = "Swarm")]
    pub swarm: SwarmInfo,
    #[serde(rename = "LiveRestoreEnabled")]
    pub live_restore_enabled: bool,
    #[serde(rename = "InitBinary")]
    pub init_binary: String,
    #[serde(rename = "SecurityOptions")]
    pub security_options: Vec<String>,
    /// `null` when there is nothing to warn of, as dockerd writes it.
    #[serde(rename = "Warnings")]
    pub warnings: Option<Vec<String>>,
    /// berth's own from here (Docker's clients ignore fields they do not know): whether this berth runs
    /// without root.
    #[serde(rename = "Rootless")]
    pub rootless: bool,
    /// This berth's own id map (/proc/self/uid_map, lines joined with "; "): a rootless berth's root is
    /// the user, its other ids the user's subordinate range.
    #[serde(rename = "IdMap")]
    pub id_map: String,
    #[serde(rename = "UserNamespaces")]
    pub user_namespaces: UserNamespacesInfo,
    /// How containers reach networks: "bridge" (veths on berth's bridges, nftables NAT).
    #[serde(rename = "NetworkBackend")]
    pub network_backend: String,
    /// Whether cgroup limits (--memory, --cpus, --pids-limit) hold, and why not when they do not.
    #[serde(rename = "CgroupLimits")]
    pub cgroup_limits: String,
}

/// `--userns`: the default mode and the pool `auto` ranges come from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UserNamespacesInfo {
    /// "host" or "auto[:size=N]": what a container created without `--userns` gets.
    #[serde(rename = "Default")]
    pub default: String,
    /// "BASE:SIZE" host ids.
    #[serde(rename = "Pool")]
    pub pool: String,
    /// Ranges held by this root's containers.
    #[serde(rename = "RangesInUse")]
    pub ranges_in_use: usize,
    /// Whether the kernel mounts image layers idmapped (no chowned copies).
    #[serde(rename = "IdmappedMounts")]
    pub idmapped_mounts: bool,
}

/// Docker's PluginsInfo: the drivers of each kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PluginsInfo {
    #[serde(rename = "Volume")]
    pub volume: Vec<String>,
    #[serde(rename = "Network")]
    pub network: Vec<String>,
    #[serde(rename = "Authorization")]
    pub authorization: Option<Vec<String>>,
    #[serde(rename = "Log")]
    pub log: Vec<String>,
}

/// Docker's swarm Info, as a node outside any swarm reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "NodeAddr")]
    pub node_addr: String,
    #[serde(rename = "LocalNodeState")]
    pub local_node_state: String,
    #[serde(rename = "ControlAvailable")]
    pub control_available: bool,
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "RemoteManagers")]
    pub remote_managers: Option<Vec<String>>,
}

/// An OCI runtime the engine can use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuntimeInfo {
    pub path: String,
}

/// How many containers are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    total: usize,
    /// Running or restarting.
    running: usize,
    paused: usize,
}

impl SystemInfo {
    fn new(containers: Counts, images: usize, root: &std::path::Path, host: Host) -> SystemInfo {
        SystemInfo {
            id: String::new(),
            containers: containers.total,
            containers_running: containers.running,
            containers_paused: containers.paused,
            containers_stopped: containers.total.saturating_sub(containers.running + containers.paused),
            images,
            driver: if host.overlay { "overlay" } else { "vfs" }.into(),
            driver_status: vec![
                ["Backing Filesystem".into(), "extfs".into()],
                ["Supports d_type".into(), "true".into()],
            ],
            plugins: PluginsInfo {
                volume: vec!["local".into()],
                network: vec!["bridge".into(), "host".into(), "null".into()],
                authorization: None,
                log: vec!["json-file".into()],
            },
            debug: false,
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: host.cgroup_version,
            kernel_version: host.kernel_version,
            operating_system: host.operating_system,
            os_type: "linux".into(),
            architecture: host.machine,
            ncpu: host.ncpu,
            mem_total: host.mem_total,
            docker_root_dir: root.to_string_lossy().into_owned(),
            name: host.name,
            experimental_build: false,
            server_version: env!("CARGO_PKG_VERSION").into(),
            runtimes: BTreeMap::new(),
            default_runtime: "berth".into(),
            swarm: SwarmInfo {
                node_id: String::new(),
                node_addr: String::new(),
                local_node_state: "inactive".into(),
                control_available: false,
                error: String::new(),
                remote_managers: None,
            },
            live_restore_enabled: false,
            init_binary: "docker-init".into(),
            security_options: vec!["name=seccomp,profile=builtin".into()],
            warnings: None,
            rootless: false,
            id_map: String::new(),
            user_namespaces: UserNamespacesInfo::default(),
            network_backend: "bridge".into(),
            cgroup_limits: "enforced".into(),
        }
    }
}

impl Engine {
    /// `info` (SystemInfo).
    pub fn info(&self) -> Result<SystemInfo> {
        let images = self.images()?.len();
        let (total, running, paused, _, _) = self.container_usage()?;
        let counts = Counts { total, running, paused };
        let mut info = SystemInfo::new(counts, images, self.root(), Host::probe());
        info.rootless = crate::rootless::is_rootless();
        info.id_map = std::fs::read_to_string("/proc/self/uid_map")
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("; ");
        if info.rootless {
            info.security_options.push("name=rootless".into());
            info.network_backend = "bridge, in the user's network namespace, out through slirp4netns".into();
        }
        if let Err(why) = crate::rootless::cgroup_limits() {
            info.cgroup_limits = format!("not enforced: {why}");
        }
        let default = crate::userns::UsernsMode::parse("")?;
        if default != crate::userns::UsernsMode::Host {
            info.security_options.push("name=userns".into());
        }
        let pool = crate::userns::pool()?;
        info.user_namespaces = UserNamespacesInfo {
            default: match default.as_config() {
                mode if mode.is_empty() => "host".into(),
                mode => mode,
            },
            pool: format!("{}:{}", pool.base, pool.size),
            ranges_in_use: berth_store::id_ranges::taken(&*self.store().db()?)?.len(),
            idmapped_mounts: berth_image::idmap::supported(),
        };
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host {
            kernel_version: "6.18.0".into(),
            operating_system: "Debian GNU/Linux 13 (trixie)".into(),
            machine: "x86_64".into(),
            name: "box".into(),
            ncpu: 2,
            mem_total: 1 << 30,
            cgroup_version: "1".into(),
            overlay: false,
        }
    }

    #[test]
    fn counts_and_host_facts_in_dockers_fields() {
        let counts = Counts {
            total: 5,
            running: 2,
            paused: 1,
        };
        let info = SystemInfo::new(counts, 3, std::path::Path::new("/var/lib/berth"), host());
        assert_eq!(info.containers_stopped, 2);
        assert_eq!(info.driver, "vfs");
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["ContainersRunning"], 2);
        assert_eq!(json["Images"], 3);
        assert_eq!(json["DockerRootDir"], "/var/lib/berth");
        assert_eq!(json["Architecture"], "x86_64");
        assert_eq!(json["DriverStatus"][1][0], "Supports d_type");
        assert_eq!(json["Warnings"], serde_json::Value::Null);
        assert_eq!(json["Runtimes"], serde_json::json!({}));
        assert_eq!(json["Swarm"]["LocalNodeState"], "inactive");
        assert_eq!(json["Plugins"]["Volume"], serde_json::json!(["local"]));
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(&keys[..3], ["ID", "Containers", "ContainersRunning"]);
    }
}
