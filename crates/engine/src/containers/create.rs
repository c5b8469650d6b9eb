//! `create`: a container's configuration resolved from the image and the flags (its mounts too), its
//! record, address and directories made.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use berth_store::containers::{self as rows, ContainerRow};

use super::{Container, ContainerConfig, HealthConfig};
use crate::events::EventType;
use crate::ids::{random_id, valid_name};
use crate::mounts::{parse_volume_flag, MountKind, MountSpec};
use crate::ContainerState;
use crate::{time, Engine, Error, Result};

/// What `create` is asked for; `None` fields fall back to the image's config.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    /// `--entrypoint`: Some(empty) resets the image's entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Arguments after the image; empty means the image's Cmd.
    pub cmd: Vec<String>,
    /// `-v` specs.
    pub volumes: Vec<String>,
    /// `--mount`s (the API's `HostConfig.Mounts`).
    pub mounts: Vec<crate::mounts::Mount>,
    /// `--volumes-from CONTAINER[:ro|rw]`.
    pub volumes_from: Vec<String>,
    /// `-P`: publish every exposed port on a free host port.
    pub publish_all: bool,
    pub config: ContainerConfig,
}

impl Engine {
    /// `create`: resolves the image and the configuration, records the
    /// container as created and prepares its directories.
    pub fn create_container(&self, options: CreateOptions) -> Result<Container> {
        super::validate::check_config(&options.config)?;
        // A start usually follows (`run`, `docker run`): its cgroup attach's wait starts now.
        crate::cgroup_warmup::warm_up();
        let image = self.image(&options.config.image)?;
        let image_config = image.config.config.clone().unwrap_or_default();
        let mut config = options.config.clone();

        let entrypoint = match options.entrypoint.clone() {
            Some(e) if e.is_empty() => None,
            Some(e) => Some(e),
            None => image_config.entrypoint.clone(),
        };
        let cmd = if !options.cmd.is_empty() {
            Some(options.cmd.clone())
        } else if options.entrypoint.is_some() {
            // Docker: a new entrypoint drops the image's Cmd.
            None
        } else {
            image_config.cmd.clone()
        };
        if entrypoint.as_ref().is_none_or(|e| e.is_empty()) && cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(Error::InvalidArgument("no command specified".into()));
        }
        config.entrypoint = entrypoint;
        config.cmd = cmd;
        let mut env = image_config.env.clone().unwrap_or_default();
        for e in &options.config.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        config.env = env;
        if config.working_dir.is_empty() {
            config.working_dir = image_config.working_dir.clone();
        }
        if config.user.is_empty() {
            config.user = image_config.user.clone();
        }
        if config.stop_signal.is_empty() {
            config.stop_signal = image_config.stop_signal.clone();
        }
        if let Some(labels) = &image_config.labels {
            for (k, v) in labels {
                config.labels.entry(k.clone()).or_insert(v.clone());
            }
        }
        // The image's exposed ports and the ones `--expose` adds.
        let mut exposed = image_config.exposed_ports.clone().unwrap_or_default();
        exposed.append(&mut config.exposed_ports);
        config.exposed_ports = exposed;
        // --health-* flags change only what they name; the rest comes from the image.
        let image_check = image_config.healthcheck.as_ref().and_then(HealthConfig::from_image);
        config.healthcheck = match config.healthcheck.take() {
            Some(flags) => Some(flags.over(image_check)),
            None => image_check,
        };
        config.volumes = image_config.volumes.clone().unwrap_or_default();
        let mut mounts = self.resolve_mounts(&options, &config)?;
        if config.host.network_mode.is_empty() || config.host.network_mode == "default" {
            config.host.network_mode = crate::networks::DEFAULT_NETWORK.into();
        }
        if let Some(other) = config.host.network_mode.strip_prefix("container:") {
            let other = self.container(other)?;
            config.host.network_mode = format!("container:{}", other.id());
        }
        // The network (the default one is made on first use) before anything else is created.
        let network = self.network_for_mode(&config.host.network_mode)?;
        self.register_links(&mut config)?;
        if options.publish_all {
            for port in config.exposed_ports.keys() {
                let (number, proto) = port.split_once('/').unwrap_or((port.as_str(), "tcp"));
                if let Ok(number) = number.parse::<u16>() {
                    config.host.port_bindings.push(crate::networks::PortBinding {
                        host_ip: String::new(),
                        host_port: 0,
                        container_port: number,
                        proto: proto.to_string(),
                    });
                }
            }
        }
        if !config.host.port_bindings.is_empty() {
            match config.host.network_mode.as_str() {
                // Docker ignores them there, with a warning.
                "host" => config.host.port_bindings.clear(),
                mode if network.is_none() => {
                    return Err(Error::InvalidArgument(format!(
                        "conflicting options: port publishing and the container type network mode ({mode})"
                    )))
                }
                _ => {}
            }
        }
        let userns = crate::userns::UsernsMode::parse(&config.host.userns_mode)?;
        if config.host.userns_mode.trim() != "host" {
            config.host.userns_mode = userns.as_config();
        }
        // Only the allocation below gives one.
        config.host.id_range = None;
        if let crate::userns::UsernsMode::Auto { .. } = userns {
            check_userns_conflicts(&config)?;
        }
        let wanted_ip = match config.host.ipv4_address.as_str() {
            "" => None,
            text => Some(
                text.parse::<std::net::Ipv4Addr>()
                    .map_err(|_| Error::InvalidArgument(format!("invalid IPv4 address: {text}")))?,
            ),
        };
        if (wanted_ip.is_some() || !config.host.network_aliases.is_empty())
            && network
                .as_ref()
                .is_none_or(|n| n.name == crate::networks::DEFAULT_NETWORK)
        {
            return Err(Error::InvalidArgument(
                "user specified IP address and network aliases are supported only for user-defined networks".into(),
            ));
        }
        if !config.mac_address.is_empty() {
            if network.is_none() {
                return Err(Error::InvalidArgument(format!(
                    "conflicting options: mac-address and the network mode ({})",
                    config.host.network_mode
                )));
            }
            let mac = crate::networks::parse_mac(&config.mac_address)
                .ok_or_else(|| Error::InvalidArgument(format!("{} is not a valid mac address", config.mac_address)))?;
            config.mac_address = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        }
        if !config.detach_keys.is_empty() {
            berth_relay::parse_detach_keys(&config.detach_keys).map_err(Error::InvalidArgument)?;
        }
        // berth's config file gives the defaults, as Docker's daemon.json does: its driver when the
        // container names none, and its options, key by key, when the container uses that driver.
        // They are recorded here, so `inspect` shows them and a later change of the file leaves this
        // container as it was.
        let defaults = crate::config::load();
        let default_driver = defaults.log_driver.unwrap_or_else(|| "json-file".into());
        if config.host.log_type.is_empty() {
            config.host.log_type = default_driver.clone();
        }
        if config.host.log_type == default_driver {
            for (key, value) in defaults.log_opts {
                config.host.log_opts.entry(key).or_insert(value);
            }
        }
        if !matches!(config.host.log_type.as_str(), "json-file" | "none") {
            return Err(Error::InvalidArgument(format!(
                "logging driver {:?} is not supported: use json-file or none",
                config.host.log_type
            )));
        }
        if config.host.auto_remove && !config.host.restart_policy.is_none() {
            return Err(Error::InvalidArgument(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }

        let id = random_id();
        if config.hostname.is_empty() {
            config.hostname = if config.host.network_mode == "host" {
                rustix::system::uname().nodename().to_string_lossy().into_owned()
            } else {
                id[..12].to_string()
            };
        }
        let name = match &options.name {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !valid_name(n) {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n.to_string()
            }
            None => crate::ids::generated_name(&id),
        };
        let row = ContainerRow {
            id: id.clone(),
            name: name.clone(),
            image_id: image.id().to_string(),
            created: time::now(),
            config: serde_json::to_string(&config).map_err(|e| Error::InvalidArgument(e.to_string()))?,
            state: ContainerState::Created,
            pid: 0,
            monitor_pid: 0,
            monitor_start: 0,
            monitor_boot: String::new(),
            exit_code: 0,
            started_at: "0001-01-01T00:00:00Z".into(),
            finished_at: "0001-01-01T00:00:00Z".into(),
            error: String::new(),
            oom_killed: false,
            restart_count: 0,
        };
        let dir = self.container_dir(&id);
        for sub in ["upper", "work", "merged"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| Error::Io {
                path: dir.join(sub),
                source: e,
            })?;
        }
        // Named volumes are made on first use; anonymous ones now. The volumes lock is held until the
        // container's row is in, so a `volume rm` cannot take a volume between its check and the insert.
        let volumes_lock = match mounts.iter().any(|m| m.kind == MountKind::Volume) {
            true => Some(self.lock_volumes()?),
            false => None,
        };
        let mut made = Vec::new();
        let made_ok = (|| -> Result<()> {
            for m in mounts.iter_mut().filter(|m| m.kind == MountKind::Volume) {
                if m.source.is_empty() {
                    let v = self.create_volume_locked(None, BTreeMap::new(), BTreeMap::new(), true)?;
                    m.source = v.name.clone();
                    made.push(v.name);
                } else if self.volume(&m.source).is_err() {
                    self.create_volume_locked(Some(&m.source), BTreeMap::new(), BTreeMap::new(), false)?;
                }
            }
            Ok(())
        })();
        let undo_volumes = |made: &[String]| {
            for v in made {
                let _ = self.remove_volume_locked(v, true);
            }
        };
        if let Err(e) = made_ok {
            undo_volumes(&made);
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        let mut row = row;
        let mut config = config;
        config.mounts = mounts;
        row.config = serde_json::to_string(&config).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let inserted = self.store().write(|tx| {
            if rows::by_name(tx, &name)?.is_some() {
                return Err(Error::Conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by another container. \
                     You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            rows::insert(tx, &row)?;
            if let Some(network) = &network {
                let mac = (!config.mac_address.is_empty()).then_some(config.mac_address.as_str());
                self.allocate_endpoint(tx, network, &row.id, wanted_ip, &config.host.network_aliases, mac)?;
            }
            let mut row = row.clone();
            if let crate::userns::UsernsMode::Auto { size } = userns {
                let mut config = config.clone();
                config.host.id_range = Some(crate::userns::allocate(tx, &row.id, size)?);
                row.config = serde_json::to_string(&config).map_err(|e| Error::InvalidArgument(e.to_string()))?;
                rows::update(tx, &row)?;
            }
            Ok(row)
        });
        let row = match inserted {
            Ok(row) => row,
            Err(e) => {
                undo_volumes(&made);
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        drop(volumes_lock);
        let container = self.load_container(row)?;
        let attributes = crate::events::container_attributes(&container);
        self.emit(EventType::Container, "create", container.id(), attributes);
        Ok(container)
    }

    /// Turns `-v`, `--mount` and `--volumes-from` into mounts, adds an
    /// anonymous volume for each of the image's VOLUMEs left uncovered, and
    /// creates missing host directories for `-v` binds (as docker does).
    fn resolve_mounts(
        &self,
        options: &CreateOptions,
        config: &ContainerConfig,
    ) -> Result<Vec<crate::mounts::MountSpec>> {
        let mut mounts = Vec::new();
        for from in &options.volumes_from {
            let (name, mode) = from.split_once(':').unwrap_or((from.as_str(), ""));
            let other = self.container(name)?;
            for m in other.config.mounts.iter().filter(|m| m.kind != MountKind::Tmpfs) {
                let mut m = m.clone();
                match mode {
                    "ro" => m.read_only = true,
                    "rw" => m.read_only = false,
                    "" => {}
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "invalid --volumes-from mode {mode:?}: use ro or rw"
                        )))
                    }
                }
                mounts.push(m);
            }
        }
        for v in &options.volumes {
            let m = parse_volume_flag(v)?;
            if m.kind == MountKind::Bind && !std::path::Path::new(&m.source).exists() {
                fs::create_dir_all(&m.source).map_err(|e| Error::Io {
                    path: PathBuf::from(&m.source),
                    source: e,
                })?;
            }
            mounts.retain(|x: &MountSpec| x.target != m.target);
            mounts.push(m);
        }
        for mount in &options.mounts {
            let m = MountSpec::from_mount(mount)?;
            if mounts.iter().any(|x| x.target == m.target) {
                return Err(Error::InvalidArgument(format!("Duplicate mount point: {}", m.target)));
            }
            mounts.push(m);
        }
        for target in config.host.tmpfs.keys() {
            if mounts.iter().any(|x| &x.target == target) {
                return Err(Error::InvalidArgument(format!("Duplicate mount point: {target}")));
            }
        }
        for target in config.volumes.keys() {
            if !mounts.iter().any(|m| &m.target == target) {
                mounts.push(crate::mounts::MountSpec {
                    kind: MountKind::Volume,
                    target: target.clone(),
                    ..Default::default()
                });
            }
        }
        Ok(mounts)
    }
}

/// What a container in a user namespace of its own cannot share with the host (as Docker refuses it with
/// user namespaces on): the kernel would not let its root into what the host's root owns.
fn check_userns_conflicts(config: &ContainerConfig) -> Result<()> {
    if crate::rootless::is_rootless() {
        return Err(Error::InvalidArgument(
            "--userns=auto needs root: without root, every container already runs in your own user namespace \
             (its root is you, its other ids your subordinate range)"
                .into(),
        ));
    }
    if config.host.privileged {
        return Err(Error::InvalidArgument(
            "privileged mode is incompatible with user namespaces. You must run the container in the host \
             namespace when running privileged mode: add --userns=host"
                .into(),
        ));
    }
    match config.host.network_mode.as_str() {
        "host" => Err(Error::InvalidArgument(
            "Cannot share the host's network namespace when user namespaces are enabled: add --userns=host".into(),
        )),
        mode if mode.starts_with("container:") => Err(Error::InvalidArgument(
            "cannot join another container's network namespace with --userns=auto: it belongs to another user \
             namespace; use a network both containers are on"
                .into(),
        )),
        _ => Ok(()),
    }
}
