//! Containers: the resolved configuration, the state machine kept in the
//! store, lookup by name, ID or prefix, and removal. Starting a container
//! spawns its monitor (monitor.rs), a `berth` process that outlives the CLI.

mod cp;
mod cp_walk;
mod data;
pub mod exec;
pub mod health;
mod inspect;
mod lifecycle;
pub mod list;
pub mod logs;
pub mod monitor;
mod ops;
pub mod prune;
mod validate;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use berth_reference::Reference;
use berth_store::containers::{self as rows, ContainerRow};
use serde::{Deserialize, Serialize};

pub use berth_relay::Caller;
pub use cp::PathKind;
pub use data::CommitOptions;
pub use exec::{ExecOptions, ExecProcess, ExecStdio};
pub use lifecycle::{Ended, StartMode, Started};
pub(crate) use monitor::point_resolver_at;
pub use ops::{Stats, UpdateOptions};

use crate::events::EventType;
use crate::{time, Engine, Error, Result};

/// Everything `create` resolved for a container, stored as JSON in its row.
/// Field names follow Docker's Config/HostConfig where they exist.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// The image as the user named it.
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub group_add: Vec<String>,
    pub hostname: String,
    pub domainname: String,
    /// `--mac-address`, normalised; empty for the MAC derived from the address.
    pub mac_address: String,
    /// Docker's `Healthcheck` object: the image's, with the `--health-*` flags laid over it.
    pub healthcheck: Option<serde_json::Value>,
    pub tty: bool,
    pub open_stdin: bool,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
    /// `--detach-keys` in docker's format; empty for ctrl-p,ctrl-q.
    pub detach_keys: String,
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    pub volumes: BTreeMap<String, serde_json::Value>,
    /// Bind mounts, volumes and tmpfs mounts, resolved at create time.
    pub mounts: Vec<crate::volumes::MountSpec>,
    /// The process a container exists for (a build's RUN step): once it is gone, so is the container,
    /// removed by the next command that notices.
    pub owner: Option<monitor::Owner>,
    pub host: HostConfig,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostConfig {
    /// "bridge" (the default), a network's name, "host", "none" or "container:NAME".
    pub network_mode: String,
    /// `-p`, plus every exposed port for `-P` (resolved at create time).
    pub port_bindings: Vec<crate::networks::PortBinding>,
    /// `--network-alias`: more names this container answers to on its network.
    pub network_aliases: Vec<String>,
    /// `--ip`: the address wanted on its network.
    pub ipv4_address: String,
    /// `--dns`, `--dns-search`, `--dns-option`.
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub auto_remove: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub pids_limit: i64,
    pub oom_kill_disable: bool,
    /// "name=soft[:hard]" as given to --ulimit.
    pub ulimits: Vec<String>,
    pub shm_size: i64,
    /// PATH[:options] as given to --tmpfs.
    pub tmpfs: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub devices: Vec<String>,
    pub log_type: String,
    pub log_opts: BTreeMap<String, String>,
    /// "no", "always", "unless-stopped", "on-failure[:N]".
    pub restart_policy: String,
    pub init: bool,
    /// An external OCI runtime binary (--runtime); empty for the built-in one.
    pub runtime: String,
}

/// A container as the engine sees it: its row and its parsed config.
#[derive(Clone, Debug)]
pub struct Container {
    pub row: ContainerRow,
    pub config: ContainerConfig,
}

impl Container {
    /// The byte sequence that detaches from this container.
    pub fn detach_keys(&self) -> Vec<u8> {
        berth_relay::parse_detach_keys(&self.config.detach_keys)
            .ok()
            .filter(|k| !self.config.detach_keys.is_empty() && !k.is_empty())
            .unwrap_or_else(|| berth_relay::DEFAULT_DETACH_KEYS.to_vec())
    }

    pub fn id(&self) -> &str {
        &self.row.id
    }

    pub fn short_id(&self) -> &str {
        &self.row.id[..12]
    }

    pub fn is_running(&self) -> bool {
        matches!(self.row.state.as_str(), "running" | "paused" | "restarting")
    }

    /// The command line Docker shows: entrypoint then cmd.
    pub fn args(&self) -> Vec<String> {
        let mut args = self.config.entrypoint.clone().unwrap_or_default();
        args.extend(self.config.cmd.clone().unwrap_or_default());
        args
    }
}

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
    /// `--mount` specs.
    pub mounts: Vec<String>,
    /// `--volumes-from CONTAINER[:ro|rw]`.
    pub volumes_from: Vec<String>,
    /// `-P`: publish every exposed port on a free host port.
    pub publish_all: bool,
    pub config: ContainerConfig,
}

impl Engine {
    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.root().join("containers").join(id)
    }

    pub(crate) fn container_run_dir(&self, id: &str) -> PathBuf {
        self.runroot().join("containers").join(id)
    }

    fn load_container(&self, row: ContainerRow) -> Result<Container> {
        let config = serde_json::from_str(&row.config)
            .map_err(|e| Error::Internal(format!("container {} has a damaged config: {e}", row.id)))?;
        Ok(Container { row, config })
    }

    /// Finds a container by name, full ID or unique ID prefix, and brings
    /// its state up to date if its monitor died.
    pub fn container(&self, name_or_id: &str) -> Result<Container> {
        let name = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        let row = {
            let conn = self.store().db()?;
            if let Some(row) = rows::by_name(&conn, name)? {
                row
            } else if !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                let mut found = rows::with_prefix(&conn, &name.to_ascii_lowercase())?;
                match found.len() {
                    1 => found.remove(0),
                    0 => return Err(Error::NoSuchContainer(name_or_id.to_string())),
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "multiple IDs found with provided prefix: {name_or_id}"
                        )))
                    }
                }
            } else {
                return Err(Error::NoSuchContainer(name_or_id.to_string()));
            }
        };
        let container = self.load_container(row)?;
        self.reconcile_or_remove(container)?
            .ok_or_else(|| Error::NoSuchContainer(name_or_id.to_string()))
    }

    /// Every container, newest first, reconciled.
    pub fn containers(&self) -> Result<Vec<Container>> {
        let rows = rows::list(&*self.store().db()?)?;
        let mut containers = Vec::new();
        for row in rows {
            containers.extend(self.reconcile_or_remove(self.load_container(row)?)?);
        }
        Ok(containers)
    }

    /// `reconcile`, and then a container nobody will remove is removed, as its monitor or its owner would
    /// have: a `--rm` one that exited with no monitor left (killed with it), or one whose owner (a
    /// killed build) is gone, which is killed first if it still runs. `None` when it was removed.
    fn reconcile_or_remove(&self, container: Container) -> Result<Option<Container>> {
        let container = self.reconcile(container)?;
        let owner_gone = container.config.owner.as_ref().is_some_and(|o| !o.alive());
        if owner_gone && container.is_running() {
            // Its monitor records the exit; the next command that notices removes it.
            let _ = monitor::write_stop_marker(self, container.id());
            let _ = monitor::signal_pid(container.row.pid as i32, 9);
            return Ok(Some(container));
        }
        if !left_for_removal(&container.row, &container.config) {
            return Ok(Some(container));
        }
        // Not while a start (its monitor may be setting it up for a killed build) or a removal is in progress.
        let Some(_start) = self.try_start_lock(container.id())? else {
            return Ok(Some(container));
        };
        self.discard_locked(container.id())?;
        self.remove_anonymous_volumes(&container.config);
        Ok(None)
    }

    /// Container `id` when its record says nobody will remove it (see [`left_for_removal`]), unless a start or
    /// a removal of it is at work; for `system check`, which must not remove it by looking.
    pub(crate) fn left_for_removal(&self, row: &ContainerRow) -> Result<bool> {
        let config: ContainerConfig = serde_json::from_str(&row.config)
            .map_err(|e| Error::Internal(format!("container {} has a damaged config: {e}", row.id)))?;
        let busy = || self.start_lock_held(&row.id);
        Ok(left_for_removal(row, &config) && !busy())
    }

    /// A container whose monitor is gone cannot be running: record it as
    /// exited with an error instead of showing it running forever.
    fn reconcile(&self, mut container: Container) -> Result<Container> {
        if !container.is_running() || monitor::monitor_alive(&container.row) {
            return Ok(container);
        }
        let id = container.row.id.clone();
        let error = match monitor::last_words(self, &id) {
            Some(words) => {
                format!("the container's monitor process died (its log ends: {words}); its state was recovered")
            }
            None => "the container's monitor process died; its state was recovered".to_string(),
        };
        let updated = self.store().write(|tx| {
            let Some(mut row) = rows::get(tx, &id)? else {
                return Ok::<_, Error>(None);
            };
            if matches!(row.state.as_str(), "running" | "paused" | "restarting") && !monitor::monitor_alive(&row) {
                row.state = "exited".into();
                row.exit_code = if row.exit_code == 0 { 137 } else { row.exit_code };
                row.finished_at = time::now();
                row.error = error;
                row.pid = 0;
                rows::update(tx, &row)?;
            }
            Ok(Some(row))
        })?;
        if let Some(row) = updated {
            // Best effort: the dead monitor could not clean up after itself.
            let _ = monitor::cleanup_runtime(self, &row.id);
            container.row = row;
        }
        Ok(container)
    }

    /// `create`: resolves the image and the configuration, records the
    /// container as created and prepares its directories.
    pub fn create_container(&self, options: CreateOptions) -> Result<Container> {
        validate::validate(&options.config)?;
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
        config.healthcheck = match (image_config.healthcheck.clone(), config.healthcheck.take()) {
            (Some(mut image), Some(serde_json::Value::Object(flags))) => {
                for (k, v) in flags {
                    image[k] = v;
                }
                Some(image)
            }
            (image, None) => image,
            (_, flags) => flags,
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
        if config.host.restart_policy.is_empty() {
            config.host.restart_policy = "no".into();
        }
        lifecycle::RestartPolicy::parse(&config.host.restart_policy)?;
        if config.host.auto_remove && config.host.restart_policy != "no" {
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
            None => generated_name(&id),
        };
        let row = ContainerRow {
            id: id.clone(),
            name: name.clone(),
            image_id: image.id().to_string(),
            created: time::now(),
            config: serde_json::to_string(&config).map_err(|e| Error::InvalidArgument(e.to_string()))?,
            state: "created".into(),
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
        let volumes_lock = match mounts.iter().any(|m| m.kind == "volume") {
            true => Some(self.lock_volumes()?),
            false => None,
        };
        let mut made = Vec::new();
        let made_ok = (|| -> Result<()> {
            for m in mounts.iter_mut().filter(|m| m.kind == "volume") {
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
            Ok(())
        });
        if let Err(e) = inserted {
            undo_volumes(&made);
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
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
    ) -> Result<Vec<crate::volumes::MountSpec>> {
        use crate::volumes::{parse_mount_flag, parse_volume_flag};
        let mut mounts = Vec::new();
        for from in &options.volumes_from {
            let (name, mode) = from.split_once(':').unwrap_or((from.as_str(), ""));
            let other = self.container(name)?;
            for m in other.config.mounts.iter().filter(|m| m.kind != "tmpfs") {
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
            if m.kind == "bind" && !std::path::Path::new(&m.source).exists() {
                fs::create_dir_all(&m.source).map_err(|e| Error::Io {
                    path: PathBuf::from(&m.source),
                    source: e,
                })?;
            }
            mounts.retain(|x: &crate::volumes::MountSpec| x.target != m.target);
            mounts.push(m);
        }
        for spec in &options.mounts {
            let m = parse_mount_flag(spec)?;
            if mounts.iter().any(|x| x.target == m.target) {
                return Err(Error::InvalidArgument(format!("Duplicate mount point: {}", m.target)));
            }
            mounts.push(m);
        }
        for t in &config.host.tmpfs {
            let target = t.split_once(':').map_or(t.as_str(), |(p, _)| p);
            if mounts.iter().any(|x| x.target == target) {
                return Err(Error::InvalidArgument(format!("Duplicate mount point: {target}")));
            }
        }
        for target in config.volumes.keys() {
            if !mounts.iter().any(|m| &m.target == target) {
                mounts.push(crate::volumes::MountSpec {
                    kind: "volume".into(),
                    target: target.clone(),
                    ..Default::default()
                });
            }
        }
        Ok(mounts)
    }

    /// Removes the anonymous volumes a container had (`rm -v`, `--rm`);
    /// ones another container uses too stay.
    pub fn remove_anonymous_volumes(&self, config: &ContainerConfig) {
        for m in config.mounts.iter().filter(|m| m.kind == "volume") {
            if self.volume(&m.source).is_ok_and(|v| v.anonymous) {
                let _ = self.remove_volume(&m.source, false);
            }
        }
    }

    /// `rm`: removes a stopped container (or, with `force`, kills it first).
    pub fn remove_container(&self, name: &str, force: bool, volumes: bool) -> Result<String> {
        let first = self.container(name)?;
        let id = first.id().to_string();
        let mut stopped = false;
        loop {
            // A start in progress holds the start lock until the container runs or fails (its monitor does,
            // when the command that started it was killed): removing the container under it would leave one
            // running with no record. A start waiting for the lock finds the container gone.
            let start = self.start_lock(&id)?;
            let container = match self.container(&id) {
                // Its `--rm` monitor removed it once it stopped.
                Err(Error::NoSuchContainer(_)) if stopped => break,
                other => other?,
            };
            if !container.is_running() {
                self.discard_locked(&id)?;
                break;
            }
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is {}: stop the container before removing or force remove",
                    container.row.name, container.row.state
                )));
            }
            // Not held while it stops: the monitor of a `--rm` container takes it to remove the container.
            drop(start);
            // kill marks it first, so no restart policy brings it back while it goes. It may have stopped
            // by itself in the meantime.
            if let Err(e) = self.kill_container(&id, "KILL") {
                if self.container(&id)?.is_running() {
                    return Err(e);
                }
            }
            match self.wait_stopped(&id, None) {
                // Its `--rm` monitor removed it.
                Err(Error::NoSuchContainer(_)) => break,
                other => other?,
            };
            stopped = true;
        }
        if volumes {
            self.remove_anonymous_volumes(&first.config);
        }
        Ok(first.row.name)
    }

    /// Tears down everything a stopped container owns; every step is
    /// attempted and a missing piece is not an error.
    pub fn discard_container(&self, id: &str) -> Result<()> {
        let _start = match self.start_lock(id) {
            Err(Error::NoSuchContainer(_)) => return Ok(()),
            lock => lock?,
        };
        self.discard_locked(id)
    }

    /// `discard_container` for a caller holding the container's start lock, as every removal does: a
    /// container recorded as being removed whose lock is free was left by a killed removal.
    pub(crate) fn discard_locked(&self, id: &str) -> Result<()> {
        let marked = self.store().write(|tx| {
            let Some(mut row) = rows::get(tx, id)? else {
                return Ok::<_, Error>(None);
            };
            row.state = "removing".into();
            rows::update(tx, &row)?;
            Ok(Some(row))
        })?;
        let Some(row) = marked else {
            // Only the lock file the caller made, if anything.
            let _ = fs::remove_dir_all(self.container_run_dir(id));
            return Ok(());
        };
        let remove_dir = |dir: PathBuf| -> Option<String> {
            match fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Some(format!("{}: {e}", dir.display())),
                _ => None,
            }
        };
        // The container's files on disk go as soon as its root is unmounted, while the runtime removes its
        // cgroups; never through a root that is still mounted. The run dir (the bundle) goes after the runtime.
        let mut errors = Vec::new();
        if let Err(e) = monitor::cleanup_runtime_then(self, id, |unmounted| {
            if unmounted {
                remove_dir(self.container_dir(id)).into_iter().collect()
            } else {
                vec![format!(
                    "{} is still mounted: left in place",
                    self.container_dir(id).display()
                )]
            }
        }) {
            errors.push(e.to_string());
        }
        errors.extend(remove_dir(self.container_run_dir(id)));
        if !errors.is_empty() {
            return Err(Error::Internal(format!(
                "removing container {id}: {}",
                errors.join("; ")
            )));
        }
        self.store().write(|tx| {
            rows::delete(tx, id)?;
            Ok::<_, Error>(())
        })?;
        if let Ok(c) = self.load_container(row) {
            self.emit(
                EventType::Container,
                "destroy",
                id,
                crate::events::container_attributes(&c),
            );
        }
        Ok(())
    }

    /// A container's json-file log, entry by entry as it is parsed, oldest first: all of it, or its
    /// last `tail` lines; `follow` keeps reading what the container writes next.
    pub fn container_logs(&self, name: &str, tail: Option<usize>, follow: bool) -> Result<logs::Reader> {
        let c = self.container(name)?;
        let max_files = c
            .config
            .host
            .log_opts
            .get("max-file")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        logs::Reader::open(&monitor::log_path(self, c.id()), max_files, tail, follow)
    }

    /// How many containers use an image (rmi refuses to delete those).
    pub fn containers_using(&self, image_id: &str) -> Result<i64> {
        Ok(rows::count_by_image(&*self.store().db()?, image_id)?)
    }
}

/// Docker's container name rule.
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 32];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Docker-style "adjective_surname" names, picked from the ID.
fn generated_name(id: &str) -> String {
    const LEFT: &[&str] = &[
        "brave", "calm", "eager", "fervent", "gallant", "happy", "jolly", "keen", "lucid", "merry", "nifty", "quirky",
        "serene", "tender", "vibrant", "wizardly",
    ];
    const RIGHT: &[&str] = &[
        "babbage", "curie", "dijkstra", "euler", "fermat", "gauss", "hopper", "kepler", "lovelace", "noether",
        "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
    ];
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    format!(
        "{}_{}_{}",
        LEFT[(n % 16) as usize],
        RIGHT[((n / 16) % 16) as usize],
        &id[..4]
    )
}

/// The familiar name of the image reference a container was created from.
pub(crate) fn image_display(name: &str) -> String {
    Reference::parse(name)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| name.to_string())
}

/// Whether a container that is not running is one nobody will remove but the next command that notices:
/// a `--rm` one that exited with no monitor left (killed with it), one whose owner (a killed build) is
/// gone, or one a killed removal left `removing` (the caller holds or tried the start lock, which every
/// removal holds). The monitor is looked up only for the few containers it matters for: `ps` looks at all.
fn left_for_removal(row: &ContainerRow, config: &ContainerConfig) -> bool {
    let owner_gone = || config.owner.as_ref().is_some_and(|o| !o.alive());
    match row.state.as_str() {
        "exited" => (config.host.auto_remove || owner_gone()) && !monitor::monitor_alive(row),
        "created" => owner_gone(),
        "removing" => true,
        _ => false,
    }
}
