//! Containers: the resolved configuration, the state machine kept in the
//! store, lookup by name, ID or prefix, and removal. Starting a container
//! spawns its monitor (monitor/), a `berth` process that outlives the CLI.

mod cp;
mod cp_in;
mod cp_walk;
mod create;
mod data;
pub mod exec;
pub mod health;
pub mod inspect;
mod lifecycle;
pub mod links;
pub mod list;
pub mod logs;
pub mod monitor;
mod ops;
pub mod options;
pub mod prune;
mod remove;
pub mod stats;
pub mod top;
mod validate;
mod view;
mod wait;

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_reference::Reference;
use berth_store::containers::{self as rows, ContainerRow};
use serde::{Deserialize, Serialize};

pub use berth_relay::Caller;
pub use cp::{CopyInOptions, PathKind, PathStat};
pub use create::CreateOptions;
pub use data::{ChangeKind, CommitConfig, CommitOptions, FilesystemChange};
pub use exec::{ExecOptions, ExecProcess, ExecStdio, ExecTerminal};
pub use health::HealthConfig;
pub use lifecycle::{Ended, StartMode, Started};
pub use links::Link;
pub(crate) use monitor::point_resolver_at;
pub use ops::UpdateOptions;
pub use options::{DeviceMapping, RestartPolicy, RestartPolicyName, Ulimit};
pub use validate::check_config;
pub use wait::{WaitCondition, WaitOutcome, Waiter};

use crate::ContainerState;
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
    /// The image's check, with the `--health-*` flags laid over it.
    #[serde(deserialize_with = "HealthConfig::stored")]
    pub healthcheck: Option<HealthConfig>,
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
    pub mounts: Vec<crate::mounts::MountSpec>,
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
    /// `--link NAME[:ALIAS]` (see links.rs); on the default network the target's name as create
    /// found it.
    pub links: Vec<Link>,
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
    #[serde(deserialize_with = "options::list_typed_or_text")]
    pub ulimits: Vec<Ulimit>,
    pub shm_size: i64,
    /// Mount point to tmpfs options.
    #[serde(deserialize_with = "options::tmpfs_map")]
    pub tmpfs: BTreeMap<String, String>,
    pub extra_hosts: Vec<String>,
    #[serde(deserialize_with = "options::list_typed_or_text")]
    pub devices: Vec<DeviceMapping>,
    pub log_type: String,
    pub log_opts: BTreeMap<String, String>,
    #[serde(deserialize_with = "options::typed_or_text")]
    pub restart_policy: RestartPolicy,
    pub init: bool,
    /// An external OCI runtime binary (--runtime); empty for the built-in one.
    pub runtime: String,
    /// `--userns`: "" (the host's user namespace) or "auto[:size=N]" (see userns.rs).
    pub userns_mode: String,
    /// The host ids an "auto" container's ids 0..size map to, allocated at create for its life (also
    /// in the id_ranges table, which keeps ranges apart).
    pub id_range: Option<berth_store::IdRange>,
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

    /// The name, without Docker's leading slash.
    pub fn name(&self) -> &str {
        &self.row.name
    }

    pub fn state(&self) -> ContainerState {
        self.row.state
    }

    /// The container's init process on the host (0 when not running).
    pub fn pid(&self) -> i32 {
        i32::try_from(self.row.pid).unwrap_or(0)
    }

    pub fn short_id(&self) -> &str {
        &self.row.id[..12]
    }

    pub fn is_running(&self) -> bool {
        self.row.state.is_running()
    }

    /// The command line Docker shows: entrypoint then cmd.
    pub fn args(&self) -> Vec<String> {
        let mut args = self.config.entrypoint.clone().unwrap_or_default();
        args.extend(self.config.cmd.clone().unwrap_or_default());
        args
    }
}

impl Engine {
    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.layout().container(id)
    }

    pub(crate) fn container_run_dir(&self, id: &str) -> PathBuf {
        self.layout().run_container(id)
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
            if row.state.is_running() && !monitor::monitor_alive(&row) {
                row.state = ContainerState::Exited;
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
    match row.state {
        ContainerState::Exited => (config.host.auto_remove || owner_gone()) && !monitor::monitor_alive(row),
        ContainerState::Created => owner_gone(),
        ContainerState::Removing => true,
        _ => false,
    }
}
