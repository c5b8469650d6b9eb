//! `inspect` of a container: Docker's `ContainerInspectResponse` (types.rs). The engine gathers what it
//! observes of a container beside its row and config (paths, the ports its monitor bound, its health,
//! its network endpoints) and `assemble` makes the response from them in pure code, so unit tests can
//! check Docker's JSON shape on a container made by hand.

pub mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_store::networks::{EndpointRow, NetworkRow};

pub use types::ContainerInspectResponse;
use types::{
    Empty, EndpointSettings, GraphDriverData, InspectConfig, InspectHostConfig, InspectState, LogConfig, MountPoint,
    NetworkSettings, PortBinding, PortMap,
};

use super::{image_display, monitor, Container};
use crate::mounts::MountKind;
use crate::ports::BoundPort;
use crate::ContainerState;
use crate::{Engine, Result};

/// What `inspect CONTAINER` asks for beside the container (`GET /containers/{id}/json?size=`).
#[derive(Clone, Copy, Debug, Default)]
pub struct InspectRequest {
    /// Count the container's writable layer: `SizeRw`, and `SizeRootFs` with its image (`--size`).
    /// Without it both are left out, as Docker does: counting walks the whole layer.
    pub size: bool,
}

impl Engine {
    /// `inspect CONTAINER` (`GET /containers/{id}/json`).
    pub fn inspect_container(&self, name: &str, request: InspectRequest) -> Result<ContainerInspectResponse> {
        let c = self.container(name)?;
        let id = c.id();
        let observed = Observed {
            sizes: request.size.then(|| self.container_sizes(&c)),
            dir: self.container_dir(id),
            log_path: monitor::log_path(self, id),
            netns: self.netns_path(id),
            volumes: c
                .config
                .mounts
                .iter()
                .filter(|m| m.kind == MountKind::Volume)
                .map(|m| (m.source.clone(), self.volume_data(&m.source)))
                .collect(),
            health: self.container_health(id),
            ports: self.container_ports(id),
            endpoints: self.container_endpoints(id)?,
        };
        Ok(assemble(&c, &observed))
    }
}

/// What inspect shows beside the container's row and config.
struct Observed {
    /// The container's directory (its /etc files, upper/, work/, merged/).
    dir: PathBuf,
    log_path: PathBuf,
    /// Where its network namespace is mounted while it runs.
    netns: PathBuf,
    /// Each named volume it mounts: the volume's data directory.
    volumes: BTreeMap<String, PathBuf>,
    /// What the health checker last recorded.
    health: Option<super::health::Health>,
    /// The ports its monitor bound (none unless it runs).
    ports: Vec<BoundPort>,
    /// Its endpoints in network-name order.
    endpoints: Vec<(NetworkRow, EndpointRow)>,
    /// `SizeRw` and `SizeRootFs`, when asked for.
    sizes: Option<(i64, i64)>,
}

/// A path as the JSON string Docker writes. Lossy for a non-UTF-8 data root, where serializing the
/// `PathBuf` itself would fail the whole inspect.
fn text(path: &Path) -> String {
    path.display().to_string()
}

fn assemble(c: &Container, o: &Observed) -> ContainerInspectResponse {
    let r = &c.row;
    let args = c.args();
    let (path, rest) = args
        .split_first()
        .map_or((String::new(), Vec::new()), |(p, a)| (p.clone(), a.to_vec()));
    ContainerInspectResponse {
        id: r.id.clone(),
        created: r.created.clone(),
        path,
        args: rest,
        state: InspectState {
            status: r.state,
            running: r.state.is_live(),
            paused: r.state == ContainerState::Paused,
            restarting: r.state == ContainerState::Restarting,
            oom_killed: r.oom_killed,
            dead: r.state == ContainerState::Dead,
            pid: r.pid,
            exit_code: r.exit_code,
            error: r.error.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            health: o.health.clone(),
        },
        image: r.image_id.clone(),
        resolv_conf_path: text(&o.dir.join("resolv.conf")),
        hostname_path: text(&o.dir.join("hostname")),
        hosts_path: text(&o.dir.join("hosts")),
        // Only the json-file driver keeps a file (`none` keeps nothing).
        log_path: match c.config.host.log_type.as_str() {
            "json-file" => text(&o.log_path),
            _ => String::new(),
        },
        name: format!("/{}", r.name),
        restart_count: r.restart_count,
        driver: "overlay2".into(),
        platform: "linux".into(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: None,
        host_config: host_config(c),
        graph_driver: GraphDriverData {
            data: ["MergedDir", "UpperDir", "WorkDir"]
                .into_iter()
                .zip(["merged", "upper", "work"])
                .map(|(key, dir)| (key.to_string(), text(&o.dir.join(dir))))
                .collect(),
            name: "overlay2".into(),
        },
        size_rw: o.sizes.map(|(rw, _)| rw),
        size_root_fs: o.sizes.map(|(_, root_fs)| root_fs),
        mounts: mounts(c, o),
        config: config(c),
        network_settings: network_settings(c, o),
    }
}

fn host_config(c: &Container) -> InspectHostConfig {
    let h = &c.config.host;
    InspectHostConfig {
        binds: None,
        container_id_file: String::new(),
        log_config: LogConfig {
            kind: h.log_type.clone(),
            config: h.log_opts.clone(),
        },
        network_mode: h.network_mode.clone(),
        port_bindings: port_bindings(&h.port_bindings),
        restart_policy: h.restart_policy,
        auto_remove: h.auto_remove,
        cap_add: h.cap_add.clone(),
        cap_drop: h.cap_drop.clone(),
        dns: h.dns.clone(),
        dns_options: h.dns_options.clone(),
        dns_search: h.dns_search.clone(),
        extra_hosts: h.extra_hosts.clone(),
        group_add: c.config.group_add.clone(),
        links: (!h.links.is_empty() && super::links::registered(&h.network_mode))
            .then(|| h.links.iter().map(|l| l.docker_form(c.name())).collect()),
        privileged: h.privileged,
        readonly_rootfs: h.read_only,
        security_opt: h.security_opt.clone(),
        tmpfs: h.tmpfs.clone(),
        userns_mode: h.userns_mode.clone(),
        // Docker's default /dev/shm: 64 MiB.
        shm_size: if h.shm_size > 0 { h.shm_size } else { 64 * 1024 * 1024 },
        runtime: if h.runtime.is_empty() {
            "berth".into()
        } else {
            h.runtime.clone()
        },
        cpu_shares: h.cpu_shares,
        memory: h.memory,
        nano_cpus: h.nano_cpus,
        cpuset_cpus: h.cpuset_cpus.clone(),
        devices: h.devices.clone(),
        memory_reservation: h.memory_reservation,
        memory_swap: h.memory_swap,
        oom_kill_disable: h.oom_kill_disable,
        pids_limit: (h.pids_limit != 0).then_some(h.pids_limit),
        ulimits: h.ulimits.clone(),
        init: h.init,
    }
}

/// HostConfig.PortBindings: what was asked for, `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`;
/// an empty HostPort lets the kernel pick.
fn port_bindings(bindings: &[crate::ports::PortBinding]) -> PortMap {
    let mut map = PortMap::new();
    for b in bindings {
        let port = if b.host_port == 0 {
            String::new()
        } else {
            b.host_port.to_string()
        };
        map.entry(format!("{}/{}", b.container_port, b.proto))
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: b.host_ip.clone(),
                host_port: port,
            });
    }
    map
}

/// `--device HOST[:CONTAINER[:PERMISSIONS]]` as stored, read as the monitor reads it when it starts
/// the container.
fn mounts(c: &Container, o: &Observed) -> Vec<MountPoint> {
    c.config
        .mounts
        .iter()
        .map(|m| {
            let volume = m.kind == MountKind::Volume;
            MountPoint {
                kind: m.kind,
                name: if volume { m.source.clone() } else { String::new() },
                source: match o.volumes.get(&m.source) {
                    Some(data) if volume => text(data),
                    _ => m.source.clone(),
                },
                destination: m.target.clone(),
                driver: if volume { "local".into() } else { String::new() },
                mode: if m.read_only { "ro".into() } else { String::new() },
                rw: !m.read_only,
                // Binds default to rprivate, as the kernel mounts them.
                propagation: if m.kind == MountKind::Bind && m.propagation.is_empty() {
                    "rprivate".into()
                } else {
                    m.propagation.clone()
                },
            }
        })
        .collect()
}

fn config(c: &Container) -> InspectConfig {
    let cfg = &c.config;
    let set = |keys: &BTreeMap<String, serde_json::Value>| -> BTreeMap<String, Empty> {
        keys.keys().map(|k| (k.clone(), Empty {})).collect()
    };
    InspectConfig {
        hostname: cfg.hostname.clone(),
        domainname: cfg.domainname.clone(),
        user: cfg.user.clone(),
        attach_stdin: false,
        attach_stdout: false,
        attach_stderr: false,
        exposed_ports: set(&cfg.exposed_ports),
        tty: cfg.tty,
        open_stdin: cfg.open_stdin,
        stdin_once: false,
        env: cfg.env.clone(),
        cmd: cfg.cmd.clone(),
        healthcheck: cfg.healthcheck.clone(),
        image: image_display(&cfg.image),
        volumes: (!cfg.volumes.is_empty()).then(|| set(&cfg.volumes)),
        working_dir: cfg.working_dir.clone(),
        entrypoint: cfg.entrypoint.clone(),
        mac_address: cfg.mac_address.clone(),
        on_build: None,
        labels: cfg.labels.clone(),
        stop_signal: cfg.stop_signal.clone(),
        stop_timeout: cfg.stop_timeout,
    }
}

/// NetworkSettings as Docker shows it: the ports bound while running, each network's endpoint, and the
/// first network's address in the top-level fields.
fn network_settings(c: &Container, o: &Observed) -> NetworkSettings {
    let mut ports: PortMap = c.config.exposed_ports.keys().map(|p| (p.clone(), None)).collect();
    for p in &o.ports {
        ports
            .entry(format!("{}/{}", p.container_port, p.proto))
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port.to_string(),
            });
    }
    let running = c.is_running();
    let links = &c.config.host.links;
    // Links on a user-defined network belong to the endpoint on the network the container was made on.
    let mode = &c.config.host.network_mode;
    let links_on = |n: &NetworkRow| {
        let here = !links.is_empty() && !super::links::registered(mode) && (&n.name == mode || &n.id == mode);
        here.then(|| links.iter().map(ToString::to_string).collect())
    };
    let mut networks = BTreeMap::new();
    let mut primary = None;
    for (n, e) in &o.endpoints {
        let aliases: Vec<String> = serde_json::from_str(&e.aliases).unwrap_or_default();
        let mut endpoint = EndpointSettings {
            aliases: (!aliases.is_empty()).then_some(aliases),
            links: links_on(n),
            network_id: n.id.clone(),
            ..EndpointSettings::default()
        };
        // Docker shows the address only while the container runs.
        if running {
            endpoint.mac_address = e.mac.clone();
            endpoint.endpoint_id = e.container_id.clone();
            endpoint.gateway = n.gateway.clone();
            endpoint.ip_address = e.ip.clone();
            endpoint.ip_prefix_len = n.subnet.rsplit_once('/').and_then(|(_, p)| p.parse().ok()).unwrap_or(0);
        }
        if primary.is_none() {
            primary = Some(endpoint.clone());
        }
        networks.insert(n.name.clone(), endpoint);
    }
    if networks.is_empty() {
        // host, none, container:NAME: no endpoint rows, the mode's entry with nothing in it.
        networks.insert(c.config.host.network_mode.clone(), EndpointSettings::default());
    }
    let primary = primary.unwrap_or_default();
    NetworkSettings {
        sandbox_key: if running && !o.endpoints.is_empty() {
            text(&o.netns)
        } else {
            String::new()
        },
        ports,
        endpoint_id: primary.endpoint_id,
        gateway: primary.gateway,
        ip_address: primary.ip_address,
        ip_prefix_len: primary.ip_prefix_len,
        mac_address: primary.mac_address,
        networks,
        ..NetworkSettings::default()
    }
}
