//! The monitor's view of its container, and what it records of each run in the store: running, failed to
//! start, exited (and whether the kernel OOM-killed it).

use std::fs;
use std::os::fd::OwnedFd;

use berth_store::containers::{self as rows, ContainerRow};

use super::cleanup::runtime_of;
use super::paths::cgroups_path;
use super::process::{boot_id, process_start};
use super::run::Status;
use crate::containers::Container;
use crate::events::EventType;
use crate::ContainerState;
use crate::{time, Engine, Error};

pub(super) struct Monitor<'e> {
    pub(super) engine: &'e Engine,
    pub(super) container: Container,
    pub(super) attach: bool,
    pub(super) status_fd: i32,
    pub(super) restarts: u32,
    /// Host ports reserved for `-p` while the container runs.
    pub(super) held_ports: Vec<OwnedFd>,
}

impl Monitor<'_> {
    pub(super) fn id(&self) -> String {
        self.container.row.id.clone()
    }

    fn update(&mut self, f: impl FnOnce(&mut ContainerRow)) {
        let id = self.id();
        let result = self.engine.store().write(|tx| {
            let Some(mut row) = rows::get(tx, &id)? else {
                return Ok::<_, Error>(None);
            };
            f(&mut row);
            rows::update(tx, &row)?;
            Ok(Some(row))
        });
        if let Ok(Some(row)) = result {
            self.container.row = row;
        }
    }

    pub(super) fn set_state(&mut self, state: ContainerState) {
        self.update(|row| row.state = state);
    }

    pub(super) fn record_failure(&mut self, code: i32, message: &str) {
        let message = message.to_string();
        self.update(|row| {
            row.state = if row.started_at.starts_with("0001") {
                ContainerState::Created
            } else {
                ContainerState::Exited
            };
            row.exit_code = code as i64;
            row.error = message;
            row.pid = 0;
            row.monitor_pid = 0;
        });
    }

    /// Records how a run ended and removes the runtime's state for it.
    pub(super) fn finish_run(&mut self, exit_status: i32) -> i32 {
        let mut attributes = crate::events::container_attributes(&self.container);
        attributes.insert("exitCode".into(), exit_status.to_string());
        self.engine
            .emit(EventType::Container, "die", &self.container.row.id, attributes);
        if self.container.config.host.auto_remove {
            // Discarded next (`--rm` never restarts): recording the exit and deleting the runtime here would
            // only be done again by the discard.
            return exit_status;
        }
        self.record_exit(exit_status);
        let id = self.id();
        let _ = runtime_of(self.engine, &id).delete(&id);
        exit_status
    }

    fn record_exit(&mut self, exit_status: i32) {
        let oom = oom_killed(&self.id());
        self.update(|row| {
            row.state = ContainerState::Exited;
            row.exit_code = exit_status as i64;
            row.finished_at = time::now();
            row.oom_killed = oom;
            row.pid = 0;
        });
    }

    pub(super) fn mark_running(&mut self, pid: i32, status: &mut Status, first: bool) {
        let monitor_pid = std::process::id() as i64;
        let monitor_start = process_start(monitor_pid).unwrap_or(0);
        let restarts = self.restarts as i64;
        self.update(|row| {
            row.state = ContainerState::Running;
            row.pid = pid as i64;
            row.monitor_pid = monitor_pid;
            row.monitor_start = monitor_start;
            row.monitor_boot = boot_id().to_string();
            row.started_at = time::now();
            row.error = String::new();
            row.oom_killed = false;
            row.restart_count = restarts;
        });
        if first {
            status.say(&format!("started {pid} {monitor_pid}"));
        }
        let attributes = crate::events::container_attributes(&self.container);
        self.engine
            .emit(EventType::Container, "start", &self.container.row.id, attributes);
    }
}

/// Whether the kernel OOM-killed something in the container's cgroup.
fn oom_killed(id: &str) -> bool {
    let cg = cgroups_path(id);
    for file in [
        format!("/sys/fs/cgroup/memory{cg}/memory.oom_control"),
        format!("/sys/fs/cgroup{cg}/memory.events"),
    ] {
        if let Ok(text) = fs::read_to_string(&file) {
            return text.lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            });
        }
    }
    false
}
