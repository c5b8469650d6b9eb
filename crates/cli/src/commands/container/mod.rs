//! Container commands, a file per group: run/create, lifecycle (start, stop,
//! kill, rm, wait), ps, logs, inspect, exec/attach, ops (pause, rename,
//! update, top, stats), data (diff, commit, export, cp), and the hidden
//! `container-monitor` the engine starts for each container. The imports
//! here serve every submodule (`use super::*`).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use berth_engine::containers::stats::StatsResponse;
use berth_engine::containers::{Container, ContainerConfig, CreateOptions, Ended, HostConfig, StartMode, Started};
use berth_engine::{Engine, Error, Options};
use clap::{ArgAction, Args, Subcommand};
use serde_json::{json, Value};

use super::{each, engine, for_each_name};
use crate::format::{ellipsis, go_time, Listing};
use crate::out::{out, outln};
use crate::Exit;

mod data;
mod exec;
mod inspect;
mod lifecycle;
mod logs;
mod monitor;
mod ops;
mod ps;
mod run;

pub use data::*;
pub use exec::*;
pub use inspect::*;
pub use lifecycle::*;
pub use logs::*;
pub use monitor::*;
pub use ops::*;
pub use ps::*;
pub use run::*;

#[derive(Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove", name = "rm")]
    Rm(RmArgs),
    /// List containers
    #[command(visible_aliases = ["list", "ps"], name = "ls")]
    Ls(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
}

pub fn run_command(options: &Options, command: ContainerCommand) -> anyhow::Result<()> {
    match command {
        ContainerCommand::Run(a) => run(options, a),
        ContainerCommand::Create(a) => create(options, a),
        ContainerCommand::Start(a) => start(options, a),
        ContainerCommand::Stop(a) => stop(options, a),
        ContainerCommand::Restart(a) => restart(options, a),
        ContainerCommand::Kill(a) => kill(options, a),
        ContainerCommand::Rm(a) => rm(options, a),
        ContainerCommand::Ls(a) => ps(options, a),
        ContainerCommand::Logs(a) => logs(options, a),
        ContainerCommand::Wait(a) => wait(options, a),
        ContainerCommand::Inspect(a) => inspect(options, a),
        ContainerCommand::Prune(a) => prune(options, a),
        ContainerCommand::Pause(a) => pause(options, a),
        ContainerCommand::Unpause(a) => unpause(options, a),
        ContainerCommand::Rename(a) => rename(options, a),
        ContainerCommand::Update(a) => update(options, a),
        ContainerCommand::Top(a) => top(options, a),
        ContainerCommand::Port(a) => port(options, a),
        ContainerCommand::Stats(a) => stats(options, a),
        ContainerCommand::Exec(a) => exec(options, a),
        ContainerCommand::Attach(a) => attach(options, a),
        ContainerCommand::Diff(a) => diff(options, a),
        ContainerCommand::Commit(a) => commit(options, a),
        ContainerCommand::Export(a) => export(options, a),
        ContainerCommand::Cp(a) => cp(options, a),
    }
}

/// `--env-file` files, then `-e` values (`-e VAR` takes ours), in order.
pub(super) fn env_from_flags(env_files: &[String], env: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for file in env_files {
        out.extend(read_kv_file(file, true)?);
    }
    for e in env {
        if e.contains('=') {
            out.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            out.push(format!("{e}={v}"));
        }
    }
    Ok(out)
}
