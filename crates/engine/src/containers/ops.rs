//! Operations on existing containers: pause, rename, update, top,
//! stats, and `system boot`.

use std::fs;
use std::path::PathBuf;

use berth_runtime::external::Runtime;
use berth_store::containers as rows;

use super::{monitor, Container, RestartPolicy, RestartPolicyName, StartMode};
use crate::ContainerState;
use crate::{Engine, Error, Result};

/// Resource changes for `update`; None leaves a value as it is.
#[derive(Clone, Debug, Default)]
pub struct UpdateOptions {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub pids_limit: Option<i64>,
    pub restart_policy: Option<RestartPolicy>,
}

impl Engine {
    pub(super) fn runtime(&self, c: &Container) -> Result<Runtime> {
        Ok(Runtime::for_name(&c.config.host.runtime, self.runroot())?)
    }

    pub(super) fn running(&self, name: &str) -> Result<Container> {
        let c = self.container(name)?;
        if !c.row.state.is_live() {
            return Err(Error::Conflict(format!("container {} is not running", c.short_id())));
        }
        Ok(c)
    }

    fn set_state(&self, id: &str, state: ContainerState) -> Result<()> {
        self.store().write(|tx| {
            if let Some(mut row) = rows::get(tx, id)? {
                row.state = state;
                rows::update(tx, &row)?;
            }
            Ok::<_, Error>(())
        })
    }

    /// `pause`: freezes every process of the container.
    pub fn pause_container(&self, name: &str) -> Result<()> {
        let c = self.running(name)?;
        if !c.row.state.can_pause() {
            return Err(Error::Conflict(format!("container {} is already paused", c.short_id())));
        }
        self.runtime(&c)?.pause(c.id())?;
        self.set_state(c.id(), ContainerState::Paused)?;
        self.emit_container(&c, "pause", &[]);
        Ok(())
    }

    pub fn unpause_container(&self, name: &str) -> Result<()> {
        let c = self.running(name)?;
        if !c.row.state.can_unpause() {
            return Err(Error::Conflict(format!("container {} is not paused", c.short_id())));
        }
        self.runtime(&c)?.resume(c.id())?;
        self.set_state(c.id(), ContainerState::Running)?;
        self.emit_container(&c, "unpause", &[]);
        Ok(())
    }

    /// `rename OLD NEW`.
    pub fn rename_container(&self, name: &str, new_name: &str) -> Result<()> {
        let c = self.container(name)?;
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name).to_string();
        if !crate::ids::valid_name(&new_name) {
            return Err(Error::InvalidArgument(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let id = c.row.id.clone();
        self.store().write(|tx| {
            if let Some(other) = rows::by_name(tx, &new_name)? {
                if other.id != id {
                    return Err(Error::Conflict(format!(
                        "Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". \
                         You have to remove (or rename) that container to be able to reuse that name.",
                        other.id
                    )));
                }
            }
            let mut row = rows::get(tx, &id)?.ok_or_else(|| Error::NoSuchContainer(id.clone()))?;
            row.name = new_name.clone();
            rows::update(tx, &row)?;
            Ok(())
        })?;
        let mut renamed = c.clone();
        renamed.row.name = new_name;
        self.emit_container(&renamed, "rename", &[("oldName", format!("/{}", c.row.name))]);
        Ok(())
    }

    /// `update`: changes the recorded limits and restart policy, and
    /// applies limits to a running container's cgroup at once.
    pub fn update_container(&self, name: &str, update: &UpdateOptions) -> Result<()> {
        let c = self.container(name)?;
        if let Some(policy) = &update.restart_policy {
            policy.check()?;
            if c.config.host.auto_remove && !policy.is_none() {
                return Err(Error::InvalidArgument(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
        }
        let mut config = c.config.clone();
        let h = &mut config.host;
        if let Some(v) = update.memory {
            h.memory = v;
        }
        if let Some(v) = update.memory_swap {
            h.memory_swap = v;
        }
        if let Some(v) = update.nano_cpus {
            h.nano_cpus = v;
        }
        if let Some(v) = update.cpu_shares {
            h.cpu_shares = v;
        }
        if let Some(v) = update.pids_limit {
            h.pids_limit = v;
        }
        if let Some(p) = &update.restart_policy {
            h.restart_policy = *p;
        }
        if c.is_running() {
            apply_limits(c.id(), update)?;
        }
        let json = serde_json::to_string(&config).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let id = c.row.id.clone();
        self.store().write(|tx| {
            let mut row = rows::get(tx, &id)?.ok_or_else(|| Error::NoSuchContainer(id.clone()))?;
            row.config = json;
            rows::update(tx, &row)?;
            Ok::<_, Error>(())
        })?;
        self.emit_container(&c, "update", &[]);
        Ok(())
    }

    /// `attach`: a connection to the container's monitor, which streams
    /// its output (raw for a tty, framed otherwise) and takes its input.
    pub fn attach_container(&self, name: &str) -> Result<(Container, std::os::unix::net::UnixStream)> {
        let c = self.running(name)?;
        let path = monitor::attach_socket_path(self, c.id());
        let stream = std::os::unix::net::UnixStream::connect(&path).map_err(|e| Error::Io { path, source: e })?;
        self.emit_container(&c, "attach", &[]);
        Ok((c, stream))
    }

    /// Resizes an attached container's terminal: the size goes to a file
    /// its monitor reads when signalled.
    pub fn resize_container_tty(&self, name: &str, rows: u16, cols: u16) -> Result<()> {
        let c = self.running(name)?;
        let path = monitor::size_file_path(self, c.id());
        fs::write(&path, format!("{rows} {cols}\n")).map_err(|e| Error::Io { path, source: e })?;
        monitor::signal_pid(c.row.monitor_pid as i32, 28)
    }

    /// Container counts and the bytes their writable layers hold, for
    /// `system df` and `info`: (total, running, paused, size, size of stopped ones).
    pub fn container_usage(&self) -> Result<(usize, usize, usize, u64, u64)> {
        let containers = self.containers()?;
        let mut usage = (containers.len(), 0, 0, 0, 0);
        for c in &containers {
            match c.row.state {
                ContainerState::Running | ContainerState::Restarting => usage.1 += 1,
                ContainerState::Paused => usage.2 += 1,
                _ => {}
            }
            let size = crate::disk::dir_size(&self.container_dir(c.id()).join("upper"));
            usage.3 += size;
            if !c.is_running() {
                usage.4 += size;
            }
        }
        Ok(usage)
    }

    /// `system boot`: starts the containers whose restart policy says they
    /// should be running (always; unless-stopped and not stopped by the user).
    pub fn boot(&self) -> Result<Vec<String>> {
        let mut started = Vec::new();
        for c in self.containers()? {
            if c.is_running() {
                continue;
            }
            let stopped_by_user = self.container_run_dir(c.id()).join("stopped-by-user").exists();
            let wanted = match c.config.host.restart_policy.name {
                RestartPolicyName::Always => true,
                RestartPolicyName::UnlessStopped => !stopped_by_user,
                _ => false,
            };
            if wanted && c.row.state != ContainerState::Created {
                self.start_container(c.id(), StartMode::Detached)?;
                started.push(c.row.name.clone());
            }
        }
        Ok(started)
    }
}

/// Writes new limits into a running container's cgroup (v1 and v2 files).
fn apply_limits(id: &str, update: &UpdateOptions) -> Result<()> {
    let cg = monitor::cgroups_path(id);
    let write = |path: String, value: String| -> Result<()> {
        let p = PathBuf::from(&path);
        if p.exists() {
            fs::write(&p, value).map_err(|e| Error::Io { path: p, source: e })?;
        }
        Ok(())
    };
    if let Some(m) = update.memory {
        let v = if m <= 0 { "-1".to_string() } else { m.to_string() };
        // v1 needs memsw raised first when growing; try both orders.
        let _ = write(
            format!("/sys/fs/cgroup/memory{cg}/memory.memsw.limit_in_bytes"),
            v.clone(),
        );
        write(format!("/sys/fs/cgroup/memory{cg}/memory.limit_in_bytes"), v.clone())?;
        if let Some(s) = update.memory_swap {
            let sv = if s <= 0 { "-1".to_string() } else { s.to_string() };
            let _ = write(format!("/sys/fs/cgroup/memory{cg}/memory.memsw.limit_in_bytes"), sv);
        }
        write(
            format!("/sys/fs/cgroup{cg}/memory.max"),
            if m <= 0 { "max".into() } else { m.to_string() },
        )?;
    }
    if let Some(n) = update.nano_cpus {
        let quota = if n <= 0 { -1 } else { n / 10_000 };
        write(format!("/sys/fs/cgroup/cpu{cg}/cpu.cfs_period_us"), "100000".into())?;
        write(format!("/sys/fs/cgroup/cpu{cg}/cpu.cfs_quota_us"), quota.to_string())?;
        write(
            format!("/sys/fs/cgroup{cg}/cpu.max"),
            if n <= 0 {
                "max 100000".into()
            } else {
                format!("{quota} 100000")
            },
        )?;
    }
    if let Some(s) = update.cpu_shares {
        write(format!("/sys/fs/cgroup/cpu{cg}/cpu.shares"), s.to_string())?;
    }
    if let Some(p) = update.pids_limit {
        let v = if p <= 0 { "max".to_string() } else { p.to_string() };
        write(format!("/sys/fs/cgroup/pids{cg}/pids.max"), v.clone())?;
        write(format!("/sys/fs/cgroup{cg}/pids.max"), v)?;
    }
    Ok(())
}
