//! Docker's `ContainerInspectResponse` and the objects inside it, typed: what `inspect` prints and what
//! `GET /containers/{id}/json` will answer. Fields are in the order of moby's Go structs (Docker 28, API
//! 1.50, the `docker` CLI's version), which is the order dockerd writes them; maps are `BTreeMap`s
//! because Go writes map keys sorted. Fields berth has no notion of are the ones dockerd always writes,
//! with their zero value.
//!
//! dockerd leaves `omitempty` fields out when they are empty. So does berth where it used to write
//! `null` there, but a few it writes empty (`""`, `{}`, `false`): `--format` templates run on this
//! JSON, where a missing field prints `<no value>`, and docker's run on Go structs, where it prints
//! its zero value, so writing it keeps `{{.Config.StopSignal}}` printing what docker prints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ContainerState;

/// `GET /containers/{id}/json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspectResponse {
    #[serde(rename = "Id")]
    pub id: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// The first word of the command (entrypoint, then cmd).
    pub path: String,
    /// The rest of the command.
    pub args: Vec<String>,
    pub state: InspectState,
    /// The image's ID (`sha256:...`).
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    /// Empty when the log driver keeps no file.
    pub log_path: String,
    /// With Docker's leading slash.
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: InspectHostConfig,
    pub graph_driver: GraphDriverData,
    /// Only with `--size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub mounts: Vec<MountPoint>,
    pub config: InspectConfig,
    pub network_settings: NetworkSettings,
}

/// Docker's `ContainerState` object (Go's `container.State`): the state enum with its flags and times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectState {
    pub status: ContainerState,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    /// RFC 3339; Go's zero time before the first start.
    pub started_at: String,
    pub finished_at: String,
    /// Only for a container with a health check that has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// The health check's state: what the checker records, as it records it.
pub use crate::containers::health::{CheckResult as HealthcheckResult, Health};

/// Docker's `HostConfig`: the fields berth has, in Go's order (its own fields, then the embedded
/// `Resources`, then `Init`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectHostConfig {
    /// `null`: berth keeps bind mounts and volumes in `Mounts` only.
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: PortMap,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    #[serde(rename = "Dns")]
    pub dns: Vec<String>,
    #[serde(rename = "DnsOptions")]
    pub dns_options: Vec<String>,
    #[serde(rename = "DnsSearch")]
    pub dns_search: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub group_add: Vec<String>,
    /// The links registered on the default network, `/TARGET:/NAME/ALIAS`; `null` when none (links
    /// on a user-defined network show in its endpoint's `Links`).
    pub links: Option<Vec<String>>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Vec<String>,
    /// Mount point to tmpfs options (`--tmpfs`). `omitempty` in dockerd, written for templates.
    #[serde(default)]
    pub tmpfs: BTreeMap<String, String>,
    /// "" (the host's), "host" or "auto[:size=N]".
    pub userns_mode: String,
    pub shm_size: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    // Resources.
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cpuset_cpus: String,
    pub devices: Vec<DeviceMapping>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub oom_kill_disable: bool,
    /// `null` when unlimited.
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<Ulimit>,
    /// `--init`. dockerd's is `null` (left out) when not asked for; berth has no "not asked".
    #[serde(default)]
    pub init: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

/// Ports by `PORT/PROTO` (`80/tcp`): their host bindings; `null` for a port exposed but not published
/// (`NetworkSettings.Ports` only).
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// Empty for every address.
    #[serde(rename = "HostIp")]
    pub host_ip: String,
    /// Empty for a port the kernel picks (HostConfig), the bound port (NetworkSettings).
    #[serde(rename = "HostPort")]
    pub host_port: String,
}

/// The restart policy, devices and limits: the types the container's config keeps.
pub use crate::containers::options::{DeviceMapping, RestartPolicy, Ulimit};

/// The storage driver and the container's directories under it: the same type as an image's.
pub use crate::images::GraphDriver as GraphDriverData;

/// A mount as the container has it (bind, volume or tmpfs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: crate::mounts::MountKind,
    /// The volume's name (volumes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    /// `local` (volumes only). `omitempty` in dockerd, written for templates.
    #[serde(default)]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// `{}`: the value of Go's `map[string]struct{}` sets (exposed ports, volumes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Docker's `ContainerConfig` as inspect shows it: the container's own, not the image's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    /// The image's check with the `--health-*` flags laid over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::containers::HealthConfig>,
    /// The image as the user named it.
    pub image: String,
    /// `null` when there are none.
    pub volumes: Option<BTreeMap<String, Empty>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    /// `--mac-address` (API < 1.44 places it here). `omitempty` in dockerd, written for templates.
    #[serde(default)]
    pub mac_address: String,
    pub on_build: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    /// `omitempty` in dockerd, written for templates.
    #[serde(default)]
    pub stop_signal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// Docker's `NetworkSettings` (API 1.50): the container's sandbox, its ports, the first network's
/// address in the deprecated top-level fields, and each network's endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// The network namespace while the container runs with its own.
    pub sandbox_key: String,
    pub ports: PortMap,
    // Deprecated fields dockerd 28 still writes, never set.
    pub hairpin_mode: bool,
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: u32,
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<Value>>,
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<Value>>,
    // The first network's endpoint (DefaultNetworkSettings).
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u32,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u32,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    pub mac_address: String,
    /// By network name.
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// The container's endpoint on one network. Addresses are empty while the container is not running.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    pub links: Option<Vec<String>>,
    /// `--network-alias`; `null` when there are none.
    pub aliases: Option<Vec<String>>,
    pub mac_address: String,
    pub driver_opts: Option<BTreeMap<String, String>>,
    pub gw_priority: i64,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u32,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u32,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// Addresses asked for on a network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", default, skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", default, skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
}
