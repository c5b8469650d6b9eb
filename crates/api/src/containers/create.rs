//! `POST /containers/create`: Docker's `ContainerCreateRequest` (Config, HostConfig and
//! NetworkingConfig in one object) read with Docker's field names and turned into the engine's
//! `CreateOptions`.
//!
//! Every field is optional and may be `null`, as Go clients send empty slices and maps and the
//! Python SDK sends `None` for what it was not given; unknown fields are ignored. Fields berth does
//! not implement are accepted when they hold their zero value (clients always send them), and
//! refused with a 400 naming them otherwise: a request for a host PID namespace or a cgroup rule
//! must not quietly run without it.

use std::collections::BTreeMap;

use berth_engine::containers::{
    ContainerConfig, CreateOptions, DeviceMapping, HealthConfig, HostConfig, Link, RestartPolicy, Ulimit,
};
use berth_engine::mounts::Mount;
use berth_engine::networks::PortBinding;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Docker's `Cmd` and `Entrypoint`: a list, or one string (a shell line split by the client).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StrSlice {
    List(Vec<String>),
    One(String),
}

impl StrSlice {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StrSlice::List(v) => v,
            StrSlice::One(s) => vec![s],
        }
    }
}

/// The request body: Docker's `ContainerConfig` with `HostConfig` and `NetworkingConfig` beside it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub user: Option<String>,
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    pub tty: Option<bool>,
    pub open_stdin: Option<bool>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<StrSlice>,
    pub healthcheck: Option<HealthConfig>,
    pub image: Option<String>,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: Option<String>,
    pub entrypoint: Option<StrSlice>,
    pub network_disabled: Option<bool>,
    pub mac_address: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub host_config: Option<HostConfigRequest>,
    pub networking_config: Option<NetworkingConfig>,
    // Accepted and not used: attach flags are the attach request's business, StdinOnce is what
    // berth does for an attached stdin anyway, ArgsEscaped is for Windows, OnBuild and Shell are
    // for builds.
}

/// Docker's `HostConfig`, with its `Resources` inlined as Docker's JSON has them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfigRequest {
    pub binds: Option<Vec<String>>,
    pub log_config: Option<LogConfig>,
    pub network_mode: Option<String>,
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBindingRequest>>>>,
    pub restart_policy: Option<RestartPolicy>,
    pub auto_remove: Option<bool>,
    pub volume_driver: Option<String>,
    pub volumes_from: Option<Vec<String>>,
    pub mounts: Option<Vec<Mount>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: Option<String>,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: Option<String>,
    pub cgroup: Option<String>,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: Option<i64>,
    pub pid_mode: Option<String>,
    pub privileged: Option<bool>,
    pub publish_all_ports: Option<bool>,
    pub readonly_rootfs: Option<bool>,
    pub security_opt: Option<Vec<String>>,
    pub storage_opt: Option<BTreeMap<String, String>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: Option<String>,
    pub userns_mode: Option<String>,
    pub shm_size: Option<i64>,
    pub sysctls: Option<BTreeMap<String, String>>,
    pub runtime: Option<String>,
    pub isolation: Option<String>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    pub init: Option<bool>,
    pub annotations: Option<BTreeMap<String, String>>,
    // Resources.
    pub cpu_shares: Option<i64>,
    pub memory: Option<i64>,
    pub cgroup_parent: Option<String>,
    pub blkio_weight: Option<i64>,
    pub blkio_weight_device: Option<Vec<Value>>,
    pub blkio_device_read_bps: Option<Vec<Value>>,
    pub blkio_device_write_bps: Option<Vec<Value>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<Value>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<Value>>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_realtime_period: Option<i64>,
    pub cpu_realtime_runtime: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub device_requests: Option<Vec<Value>>,
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_swappiness: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub cpu_count: Option<i64>,
    pub cpu_percent: Option<i64>,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: Option<i64>,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub config: Option<BTreeMap<String, String>>,
}

/// One host side of a published port: `{"HostIp": "", "HostPort": "8080"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBindingRequest {
    pub host_ip: Option<String>,
    pub host_port: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, Option<EndpointSettings>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpam>,
    pub links: Option<Vec<String>>,
    pub aliases: Option<Vec<String>>,
    pub mac_address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: Option<String>,
}

/// A value berth does not implement, refused unless it is what clients send when not asked.
fn refuse(field: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("berth does not support {field}: {why}"))
}

/// Refuses a field that is set: Some and not its zero value.
fn zero<T: Default + PartialEq>(field: &str, value: &Option<T>) -> ApiResult<()> {
    match value {
        Some(v) if *v != T::default() => Err(refuse(field, "leave it unset")),
        _ => Ok(()),
    }
}

/// Refuses a namespace mode other than the ones that mean what berth does (its own namespace).
fn own_namespace(field: &str, value: &Option<String>, allowed: &[&str]) -> ApiResult<()> {
    match value.as_deref() {
        None | Some("") => Ok(()),
        Some(v) if allowed.contains(&v) => Ok(()),
        Some(v) => Err(refuse(&format!("{field} {v:?}"), "containers get their own namespace")),
    }
}

/// Docker's port key `80/tcp` (or `80`) as a number and a protocol.
fn port_key(key: &str) -> ApiResult<(u16, String)> {
    let (number, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let bad = || ApiError::bad_request(format!("invalid port {key:?}: use PORT/tcp or PORT/udp"));
    if proto != "tcp" && proto != "udp" {
        return Err(bad());
    }
    let number: u16 = number.parse().map_err(|_| bad())?;
    if number == 0 {
        return Err(bad());
    }
    Ok((number, proto.to_string()))
}

fn port_bindings(map: BTreeMap<String, Option<Vec<PortBindingRequest>>>) -> ApiResult<Vec<PortBinding>> {
    let mut bindings = Vec::new();
    for (key, hosts) in map {
        let (container_port, proto) = port_key(&key)?;
        for host in hosts.unwrap_or_default() {
            let host_ip = host.host_ip.unwrap_or_default();
            if !host_ip.is_empty() && host_ip.parse::<std::net::Ipv4Addr>().is_err() {
                return Err(ApiError::bad_request(format!(
                    "invalid HostIp {host_ip:?} for port {key}: berth publishes on IPv4 addresses"
                )));
            }
            let host_port = match host.host_port.as_deref().unwrap_or("") {
                "" => 0,
                text => text.parse::<u16>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "invalid HostPort {text:?} for port {key}: give one port number, or none for any free port"
                    ))
                })?,
            };
            bindings.push(PortBinding {
                host_ip,
                host_port,
                container_port,
                proto: proto.clone(),
            });
        }
    }
    Ok(bindings)
}

/// Checks what berth does not implement and turns the request into the engine's options.
pub fn create_options(name: Option<String>, request: CreateRequest) -> ApiResult<CreateOptions> {
    let image = request.image.unwrap_or_default();
    if image.is_empty() {
        return Err(ApiError::bad_request(
            "Config.Image is required: name the image to create the container from",
        ));
    }
    let host = request.host_config.unwrap_or_default();
    own_namespace("PidMode", &host.pid_mode, &["private"])?;
    own_namespace("IpcMode", &host.ipc_mode, &["private", "shareable"])?;
    own_namespace("UTSMode", &host.uts_mode, &[])?;
    own_namespace("CgroupnsMode", &host.cgroupns_mode, &["private"])?;
    if !matches!(host.isolation.as_deref(), None | Some("") | Some("default")) {
        return Err(refuse("Isolation", "it is a Windows setting"));
    }
    if !matches!(host.volume_driver.as_deref(), None | Some("") | Some("local")) {
        return Err(refuse("VolumeDriver", "volumes use the local driver"));
    }
    if host.memory_swappiness.is_some_and(|s| s != -1) {
        return Err(refuse("MemorySwappiness", "leave it unset"));
    }
    let empty_list = |field: &str, v: &Option<Vec<String>>| match v {
        Some(v) if !v.is_empty() => Err(refuse(field, "leave it empty")),
        _ => Ok(()),
    };
    let empty_values = |field: &str, v: &Option<Vec<Value>>| match v {
        Some(v) if !v.is_empty() => Err(refuse(field, "leave it empty")),
        _ => Ok(()),
    };
    let empty_map = |field: &str, v: &Option<BTreeMap<String, String>>| match v {
        Some(v) if !v.is_empty() => Err(refuse(field, "leave it empty")),
        _ => Ok(()),
    };
    empty_list("MaskedPaths", &host.masked_paths)?;
    empty_list("ReadonlyPaths", &host.readonly_paths)?;
    empty_list("DeviceCgroupRules", &host.device_cgroup_rules)?;
    empty_values("DeviceRequests", &host.device_requests)?;
    empty_values("BlkioWeightDevice", &host.blkio_weight_device)?;
    empty_values("BlkioDeviceReadBps", &host.blkio_device_read_bps)?;
    empty_values("BlkioDeviceWriteBps", &host.blkio_device_write_bps)?;
    empty_values("BlkioDeviceReadIOps", &host.blkio_device_read_iops)?;
    empty_values("BlkioDeviceWriteIOps", &host.blkio_device_write_iops)?;
    empty_map("Sysctls", &host.sysctls)?;
    empty_map("StorageOpt", &host.storage_opt)?;
    empty_map("Annotations", &host.annotations)?;
    zero("Cgroup", &host.cgroup)?;
    zero("CgroupParent", &host.cgroup_parent)?;
    zero("CpusetMems", &host.cpuset_mems)?;
    zero("OomScoreAdj", &host.oom_score_adj)?;
    zero("BlkioWeight", &host.blkio_weight)?;
    zero("CpuPeriod (use NanoCpus)", &host.cpu_period)?;
    zero("CpuQuota (use NanoCpus)", &host.cpu_quota)?;
    zero("CpuRealtimePeriod", &host.cpu_realtime_period)?;
    zero("CpuRealtimeRuntime", &host.cpu_realtime_runtime)?;
    zero("KernelMemoryTCP", &host.kernel_memory_tcp)?;
    zero("CpuCount", &host.cpu_count)?;
    zero("CpuPercent", &host.cpu_percent)?;
    zero("IOMaximumIOps", &host.io_maximum_iops)?;
    zero("IOMaximumBandwidth", &host.io_maximum_bandwidth)?;

    let restart_policy = host.restart_policy.unwrap_or_default();
    let devices = host.devices.unwrap_or_default();
    let tmpfs = host.tmpfs.unwrap_or_default();
    let exposed_ports = request.exposed_ports.unwrap_or_default();
    for key in exposed_ports.keys() {
        port_key(key)?;
    }
    let mut network_mode = host.network_mode.unwrap_or_default();
    if request.network_disabled == Some(true) {
        network_mode = "none".into();
    }
    let endpoints: Vec<(String, EndpointSettings)> = request
        .networking_config
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, settings)| (name, settings.unwrap_or_default()))
        .collect();
    if endpoints.len() > 1 {
        return Err(ApiError::bad_request(
            "berth connects a container to one network at create: connect the others with POST /networks/{id}/connect",
        ));
    }
    let mut mac_address = request.mac_address.unwrap_or_default();
    let (mut aliases, mut ipv4_address) = (Vec::new(), String::new());
    // HostConfig.Links and the endpoint's Links name the same links (compose sends both).
    let mut link_texts = host.links.unwrap_or_default();
    if let Some((name, settings)) = endpoints.into_iter().next() {
        if network_mode.is_empty() || network_mode == "default" {
            network_mode = name;
        }
        link_texts.extend(settings.links.unwrap_or_default());
        aliases = settings.aliases.unwrap_or_default();
        if let Some(ipam) = settings.ipam_config {
            zero("IPv6Address", &ipam.ipv6_address)?;
            ipv4_address = ipam.ipv4_address.unwrap_or_default();
        }
        if let Some(mac) = settings.mac_address.filter(|m| !m.is_empty()) {
            mac_address = mac;
        }
    }
    if network_mode.is_empty() {
        network_mode = "default".into();
    }
    let mut links: Vec<Link> = Vec::new();
    for text in &link_texts {
        let link: Link = text.parse()?;
        if !links.contains(&link) {
            links.push(link);
        }
    }
    let log = host.log_config.unwrap_or_default();
    // Config.Volumes names anonymous volumes (`docker run -v /data`): `-v` text with no source.
    let mut volumes: Vec<String> = request.volumes.unwrap_or_default().into_keys().collect();
    volumes.extend(host.binds.unwrap_or_default());
    let runtime = match host.runtime.as_deref() {
        None | Some("") | Some("berth") => String::new(),
        Some(name) => name.to_string(),
    };
    let options = CreateOptions {
        name: name.filter(|n| !n.is_empty()),
        entrypoint: request.entrypoint.map(StrSlice::into_vec),
        cmd: request.cmd.map(StrSlice::into_vec).unwrap_or_default(),
        volumes,
        mounts: host.mounts.unwrap_or_default(),
        volumes_from: host.volumes_from.unwrap_or_default(),
        publish_all: host.publish_all_ports.unwrap_or(false),
        config: ContainerConfig {
            image,
            env: request.env.unwrap_or_default(),
            working_dir: request.working_dir.unwrap_or_default(),
            user: request.user.unwrap_or_default(),
            group_add: host.group_add.unwrap_or_default(),
            hostname: request.hostname.unwrap_or_default(),
            domainname: request.domainname.unwrap_or_default(),
            mac_address,
            healthcheck: request.healthcheck.filter(|h| *h != HealthConfig::default()),
            tty: request.tty.unwrap_or(false),
            open_stdin: request.open_stdin.unwrap_or(false),
            labels: request.labels.unwrap_or_default(),
            stop_signal: request.stop_signal.unwrap_or_default(),
            stop_timeout: request.stop_timeout,
            exposed_ports,
            host: HostConfig {
                network_mode,
                port_bindings: port_bindings(host.port_bindings.unwrap_or_default())?,
                network_aliases: aliases,
                ipv4_address,
                links,
                dns: host.dns.unwrap_or_default(),
                dns_search: host.dns_search.unwrap_or_default(),
                dns_options: host.dns_options.unwrap_or_default(),
                auto_remove: host.auto_remove.unwrap_or(false),
                read_only: host.readonly_rootfs.unwrap_or(false),
                privileged: host.privileged.unwrap_or(false),
                cap_add: host.cap_add.unwrap_or_default(),
                cap_drop: host.cap_drop.unwrap_or_default(),
                security_opt: host.security_opt.unwrap_or_default(),
                memory: host.memory.unwrap_or(0),
                memory_swap: host.memory_swap.unwrap_or(0),
                memory_reservation: host.memory_reservation.unwrap_or(0),
                nano_cpus: host.nano_cpus.unwrap_or(0),
                cpu_shares: host.cpu_shares.unwrap_or(0),
                cpuset_cpus: host.cpuset_cpus.unwrap_or_default(),
                pids_limit: host.pids_limit.unwrap_or(0),
                oom_kill_disable: host.oom_kill_disable.unwrap_or(false),
                ulimits: host.ulimits.unwrap_or_default(),
                shm_size: host.shm_size.unwrap_or(0),
                tmpfs,
                extra_hosts: host.extra_hosts.unwrap_or_default(),
                devices,
                log_type: log.kind.unwrap_or_default(),
                log_opts: log.config.unwrap_or_default(),
                restart_policy,
                init: host.init.unwrap_or(false),
                runtime,
                // The engine checks it: "", host, auto, auto:size=N.
                userns_mode: host.userns_mode.clone().unwrap_or_default(),
                id_range: None,
            },
            ..ContainerConfig::default()
        },
    };
    // What create would refuse (a retry count without on-failure, a device mode, a relative tmpfs),
    // refused as the request is read, by the engine's own checks.
    berth_engine::containers::check_config(&options.config)?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_json;

    fn options(json: &str) -> ApiResult<CreateOptions> {
        create_options(Some("n".into()), parse_json(json.as_bytes())?)
    }

    #[test]
    fn what_the_docker_cli_sends_reads_into_the_engines_options() {
        let o = options(
            r#"{"Image":"busybox","Cmd":["sh","-c","exit 3"],"Env":["A=1"],"Labels":{"k":"v"},
                "Tty":true,"OpenStdin":true,"AttachStdin":true,"StdinOnce":true,"Entrypoint":null,
                "ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"OnBuild":null,
                "HostConfig":{"Binds":["/tmp:/host:ro"],"NetworkMode":"default","RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2},
                  "Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}],"Tmpfs":{"/run":"size=1m"},
                  "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"LogConfig":{"Type":"","Config":{}},
                  "Mounts":[{"Type":"volume","Source":"v","Target":"/v"}],"PidsLimit":null,"OomKillDisable":null,
                  "MemorySwappiness":null,"CgroupnsMode":"","IpcMode":"","PidMode":"","Links":null,"Isolation":"",
                  "BlkioWeightDevice":[],"CpuPeriod":0,"Privileged":true},
                "NetworkingConfig":{"EndpointsConfig":{"default":{"Aliases":null}}}}"#,
        )
        .unwrap();
        assert_eq!(o.cmd, ["sh", "-c", "exit 3"]);
        assert_eq!(o.entrypoint, None);
        assert_eq!(o.volumes, ["/data", "/tmp:/host:ro"]);
        assert_eq!(o.mounts.len(), 1);
        let c = &o.config;
        assert!(c.tty && c.open_stdin && c.host.privileged);
        assert_eq!(c.host.restart_policy.maximum_retry_count, 2);
        assert_eq!(c.host.ulimits[0].soft, 100);
        assert_eq!(c.host.tmpfs["/run"], "size=1m");
        assert_eq!(c.host.port_bindings[0].host_port, 8080);
        assert_eq!(c.host.port_bindings[0].container_port, 80);
        assert_eq!(c.host.network_mode, "default");
        assert!(c.exposed_ports.contains_key("80/tcp"));
    }

    #[test]
    fn the_python_sdks_nulls_read_as_unset() {
        let o = options(
            r#"{"Image":"busybox","Cmd":"echo hi","Hostname":null,"User":null,"Tty":null,"Env":null,
                "Labels":null,"Healthcheck":null,"StopTimeout":null,"WorkingDir":null,"HostConfig":null}"#,
        )
        .unwrap();
        assert_eq!(o.cmd, ["echo hi"]);
        assert!(!o.config.tty);
    }

    #[test]
    fn compose_one_off_links_read_once_each() {
        let o = options(
            r#"{"Image":"busybox","HostConfig":{"NetworkMode":"proj_default",
                  "Links":["proj_redis_1:redis","proj_redis_1:proj_redis_1","proj_redis_1:redis_1"]},
                "NetworkingConfig":{"EndpointsConfig":{"proj_default":{"Aliases":[],
                  "Links":["proj_redis_1:redis","proj_redis_1:proj_redis_1","proj_redis_1:redis_1"]}}}}"#,
        )
        .unwrap();
        let links: Vec<String> = o.config.host.links.iter().map(ToString::to_string).collect();
        assert_eq!(
            links,
            [
                "proj_redis_1:redis",
                "proj_redis_1:proj_redis_1",
                "proj_redis_1:redis_1"
            ]
        );
        // What inspect shows is read back.
        let o = options(r#"{"Image":"busybox","HostConfig":{"Links":["/db:/web/data"]}}"#).unwrap();
        assert_eq!(o.config.host.links[0].to_string(), "db:data");
        for bad in [
            r#"{"Image":"b","HostConfig":{"Links":["../../etc:x"]}}"#,
            r#"{"Image":"b","HostConfig":{"Links":["db:a\nb"]}}"#,
            r#"{"Image":"b","HostConfig":{"NetworkMode":"host","Links":["db"]}}"#,
        ] {
            let e = options(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}: {}", e.message);
        }
    }

    #[test]
    fn what_berth_cannot_do_is_refused_by_name() {
        for (json, field) in [
            (r#"{"Image":"b","HostConfig":{"PidMode":"host"}}"#, "PidMode"),
            (
                r#"{"Image":"b","HostConfig":{"Sysctls":{"net.ipv4.ip_forward":"1"}}}"#,
                "Sysctls",
            ),
            (r#"{"Image":"b","HostConfig":{"CpuQuota":50000}}"#, "CpuQuota"),
            (
                r#"{"Image":"b","HostConfig":{"DeviceCgroupRules":["c 1:3 mr"]}}"#,
                "DeviceCgroupRules",
            ),
            (
                r#"{"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"80-90"}]}}}"#,
                "HostPort",
            ),
            (
                r#"{"Image":"b","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}"#,
                "retry",
            ),
        ] {
            let e = options(json).unwrap_err();
            assert_eq!(e.status, 400, "{json}");
            assert!(e.message.contains(field), "{json}: {}", e.message);
        }
        let e = options(r#"{"Image":"b","HostConfig":{"Memory":"lots"}}"#).unwrap_err();
        assert!(e.message.contains("HostConfig.Memory"), "{}", e.message);
        let e = options(r#"{"Cmd":["true"]}"#).unwrap_err();
        assert!(e.message.contains("Image"), "{}", e.message);
    }
}
