//! Container commands: run, create, start, stop, kill, rm, ps, logs, wait,
//! and the hidden `container-monitor` the engine starts for each container.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use berth_engine::containers::{Container, ContainerConfig, CreateOptions, Ended, HostConfig, StartMode, Started};
use berth_engine::{Engine, Error, Options};
use berth_runtime::spec;
use clap::{ArgAction, Args, Subcommand};
use serde_json::{json, Value};

use super::engine;
use crate::format::{ellipsis, go_time, human_duration, parse_time, Listing};
use crate::Exit;

/// docker's exit status for a failure of the engine itself.
const ENGINE_ERROR: u8 = 125;

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
        ContainerCommand::Stats(a) => stats(options, a),
        ContainerCommand::Exec(a) => exec(options, a),
        ContainerCommand::Attach(a) => attach(options, a),
        ContainerCommand::Diff(a) => diff(options, a),
        ContainerCommand::Commit(a) => commit(options, a),
        ContainerCommand::Export(a) => export(options, a),
        ContainerCommand::Cp(a) => cp(options, a),
    }
}

#[derive(Args, Clone)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Add additional groups to join
    #[arg(long)]
    group_add: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    read_only: bool,
    /// Mount a tmpfs directory
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Bind mount a volume ([SOURCE:]TARGET[:OPTIONS])
    #[arg(short, long)]
    volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=,target=,...)
    #[arg(long)]
    mount: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long)]
    volumes_from: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Add Linux capabilities
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Add a host device to the container
    #[arg(long)]
    device: Vec<String>,
    /// Ulimit options
    #[arg(long)]
    ulimit: Vec<String>,
    /// Size of /dev/shm
    #[arg(long)]
    shm_size: Option<String>,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long)]
    label_file: Vec<String>,
    /// Signal to stop the container
    #[arg(long)]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    stop_timeout: Option<i64>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    add_host: Vec<String>,
    /// Proxy received signals to the process
    #[arg(long, default_value = "true", action = ArgAction::Set)]
    sig_proxy: bool,
    /// Write the container ID to the file
    #[arg(long)]
    cidfile: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pull: String,
    /// Connect a container to a network ("none" or "host" for now)
    #[arg(long, alias = "net", default_value = "none")]
    network: String,
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long)]
    memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long)]
    pids_limit: Option<i64>,
    /// Disable OOM Killer
    #[arg(long)]
    oom_kill_disable: bool,
    /// Security Options
    #[arg(long)]
    security_opt: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    restart: String,
    /// Logging driver for the container
    #[arg(long, default_value = "json-file")]
    log_driver: String,
    /// Log driver options
    #[arg(long)]
    log_opt: Vec<String>,
    /// Runtime to use for this container
    #[arg(long)]
    runtime: Option<String>,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// The image to run
    image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// `KEY=VALUE` lines of an env or label file; `KEY` alone takes our value.
fn read_kv_file(path: &str, take_env: bool) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {path}"))?;
    Ok(text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            if l.contains('=') || !take_env {
                Some(l.to_string())
            } else {
                std::env::var(l).ok().map(|v| format!("{l}={v}"))
            }
        })
        .collect())
}

fn size_flag(name: &str, value: &Option<String>) -> anyhow::Result<i64> {
    match value {
        None => Ok(0),
        Some(v) if v == "-1" => Ok(-1),
        Some(v) => {
            spec::parse_memory(v).map_err(|e| anyhow::anyhow!("invalid argument {v:?} for \"{name}\" flag: {e}"))
        }
    }
}

/// Turns `run`/`create` flags into the engine's create options.
fn create_options(args: &RunArgs) -> anyhow::Result<CreateOptions> {
    let runtime = match args.runtime.as_deref() {
        None | Some("berth") | Some("") => String::new(),
        Some(name) => {
            berth_runtime::external::External::resolve(name)?;
            name.to_string()
        }
    };
    if args.pull != "missing" && args.pull != "never" {
        bail!(
            "--pull {}: pulling comes with the registry; only images already here can run (--pull never)",
            args.pull
        );
    }
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(read_kv_file(file, true)?);
    }
    for e in &args.env {
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    let mut labels = BTreeMap::new();
    let mut label_lines = Vec::new();
    for file in &args.label_file {
        label_lines.extend(read_kv_file(file, false)?);
    }
    label_lines.extend(args.label.iter().cloned());
    for l in label_lines {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut log_opts = BTreeMap::new();
    for o in &args.log_opt {
        let (k, v) = o
            .split_once('=')
            .with_context(|| format!("invalid log opt {o:?}: use key=value"))?;
        if !matches!(k, "max-size" | "max-file" | "compress" | "labels" | "env" | "tag") {
            bail!("unknown log opt '{k}' for json-file log driver");
        }
        log_opts.insert(k.to_string(), v.to_string());
    }
    let nano_cpus = match &args.cpus {
        Some(c) => {
            spec::parse_cpus(c).map_err(|e| anyhow::anyhow!("invalid argument {c:?} for \"--cpus\" flag: {e}"))?
        }
        None => 0,
    };
    for u in &args.ulimit {
        spec::parse_ulimit(u)?;
    }
    for h in &args.add_host {
        if !h.contains(':') {
            bail!("invalid argument {h:?} for \"--add-host\" flag: bad format for add-host: {h:?}");
        }
    }
    let entrypoint = args
        .entrypoint
        .as_ref()
        .map(|e| if e.is_empty() { Vec::new() } else { vec![e.clone()] });
    Ok(CreateOptions {
        name: args.name.clone(),
        entrypoint,
        cmd: args.command.clone(),
        volumes: args.volume.clone(),
        mounts: args.mount.clone(),
        volumes_from: args.volumes_from.clone(),
        config: ContainerConfig {
            image: args.image.clone(),
            env,
            working_dir: args.workdir.clone().unwrap_or_default(),
            user: args.user.clone().unwrap_or_default(),
            group_add: args.group_add.clone(),
            hostname: args.hostname.clone().unwrap_or_default(),
            tty: args.tty,
            open_stdin: args.interactive,
            labels,
            stop_signal: args.stop_signal.clone().unwrap_or_default(),
            stop_timeout: args.stop_timeout,
            detach_keys: args.detach_keys.clone().unwrap_or_default(),
            host: HostConfig {
                network_mode: args.network.clone(),
                auto_remove: args.rm,
                read_only: args.read_only,
                privileged: args.privileged,
                cap_add: args.cap_add.clone(),
                cap_drop: args.cap_drop.clone(),
                security_opt: args.security_opt.clone(),
                memory: size_flag("--memory", &args.memory)?,
                memory_swap: size_flag("--memory-swap", &args.memory_swap)?,
                memory_reservation: size_flag("--memory-reservation", &args.memory_reservation)?,
                nano_cpus,
                cpu_shares: args.cpu_shares.unwrap_or(0),
                cpuset_cpus: args.cpuset_cpus.clone().unwrap_or_default(),
                pids_limit: args.pids_limit.unwrap_or(0),
                oom_kill_disable: args.oom_kill_disable,
                ulimits: args.ulimit.clone(),
                shm_size: size_flag("--shm-size", &args.shm_size)?,
                tmpfs: args.tmpfs.clone(),
                extra_hosts: args.add_host.clone(),
                devices: args.device.clone(),
                log_type: args.log_driver.clone(),
                log_opts,
                restart_policy: args.restart.clone(),
                init: args.init,
                runtime,
            },
            ..ContainerConfig::default()
        },
    })
}

/// Runs `f`, turning any failure into docker's 125 with the message.
fn engine_step<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    f().map_err(|e| {
        if e.downcast_ref::<Exit>().is_some() {
            return e;
        }
        eprintln!("berth: {e:#}");
        eprintln!("See 'berth run --help'.");
        Exit(ENGINE_ERROR).into()
    })
}

fn create_container(engine: &Engine, args: &RunArgs) -> anyhow::Result<Container> {
    let options = create_options(args)?;
    let container = engine.create_container(options)?;
    if let Some(path) = &args.cidfile {
        if std::path::Path::new(path).exists() {
            let _ = engine.discard_container(container.id());
            bail!("container ID file found, make sure the other container isn't running or delete {path}");
        }
        std::fs::write(path, container.id()).with_context(|| format!("writing {path}"))?;
    }
    Ok(container)
}

pub fn create(options: &Options, args: RunArgs) -> anyhow::Result<()> {
    let container = engine_step(|| {
        let engine = engine(options)?;
        create_container(&engine, &args)
    })?;
    println!("{}", container.id());
    Ok(())
}

pub fn run(options: &Options, args: RunArgs) -> anyhow::Result<()> {
    let (engine, container) = engine_step(|| {
        let engine = engine(options)?;
        let container = create_container(&engine, &args)?;
        Ok((engine, container))
    })?;
    let mode = if args.detach {
        StartMode::Detached
    } else {
        StartMode::Attached
    };
    let started = match engine.start_container(container.id(), mode) {
        Ok(s) => s,
        Err(Error::StartFailed { code, message }) => {
            eprintln!("berth: error starting container {}: {message}", container.short_id());
            if container.config.host.auto_remove {
                let _ = engine.remove_container(container.id(), true, true);
            }
            return Err(Exit(code.clamp(0, 255) as u8).into());
        }
        Err(e) => {
            eprintln!("berth: {e}");
            return Err(Exit(ENGINE_ERROR).into());
        }
    };
    if args.detach {
        println!("{}", container.id());
        return Ok(());
    }
    finish_attached(started, args.tty, args.interactive, args.sig_proxy)
}

/// Puts a terminal into raw mode for as long as it lives.
struct RawMode {
    saved: Option<rustix::termios::Termios>,
}

impl RawMode {
    fn enter(wanted: bool) -> RawMode {
        let stdin = io::stdin();
        if !wanted || !std::io::IsTerminal::is_terminal(&stdin) {
            return RawMode { saved: None };
        }
        let Ok(saved) = rustix::termios::tcgetattr(&stdin) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(io::stdin(), rustix::termios::OptionalActions::Now, saved);
        }
    }
}

/// Waits for an attached container: the terminal in raw mode for `-it`,
/// window size changes passed to the monitor, other signals proxied to the
/// container; exits with the container's code.
fn finish_attached(started: Started, tty: bool, interactive: bool, sig_proxy: bool) -> anyhow::Result<()> {
    use signal_hook::consts::*;
    let raw = RawMode::enter(tty && interactive);
    let (pid, monitor) = (started.pid, started.monitor_pid);
    let mut signals =
        signal_hook::iterator::Signals::new([SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2])?;
    let handle = signals.handle();
    let forwarder = std::thread::spawn(move || {
        for signal in signals.forever() {
            let target = if signal == SIGWINCH {
                monitor
            } else if sig_proxy {
                pid
            } else {
                0
            };
            if let (Some(p), Some(s)) = (
                rustix::process::Pid::from_raw(target),
                rustix::process::Signal::from_named_raw(signal),
            ) {
                let _ = rustix::process::kill_process(p, s);
            }
        }
    });
    let ended = started.wait_exit();
    handle.close();
    let _ = forwarder.join();
    drop(raw);
    match ended {
        Ok(Ended::Exited(0)) | Ok(Ended::Detached) => Ok(()),
        Ok(Ended::Exited(code)) => Err(Exit(code.clamp(0, 255) as u8).into()),
        Err(e) => {
            eprintln!("berth: {e}");
            Err(Exit(ENGINE_ERROR).into())
        }
    }
}

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn start(options: &Options, args: StartArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut failed = false;
    for name in &args.containers {
        let mode = if args.attach {
            StartMode::Attached
        } else {
            StartMode::Detached
        };
        match engine.start_container(name, mode) {
            Ok(started) if args.attach => {
                let tty = engine.container(name).map(|c| c.config.tty).unwrap_or(false);
                return finish_attached(started, tty, args.interactive, true);
            }
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        eprintln!("Error: failed to start containers: {}", args.containers.join(", "));
        return Err(Exit(1).into());
    }
    Ok(())
}

#[derive(Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short, long)]
    time: Option<i64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

fn each(names: &[String], mut f: impl FnMut(&str) -> berth_engine::Result<()>) -> anyhow::Result<()> {
    let mut failed = false;
    for name in names {
        match f(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

pub fn stop(options: &Options, args: StopArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| {
        engine.stop_container(n, args.time, args.signal.as_deref())
    })
}

pub fn restart(options: &Options, args: StopArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| {
        engine.stop_container(n, args.time, args.signal.as_deref())?;
        engine.start_container(n, StartMode::Detached).map(|_| ())
    })
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn kill(options: &Options, args: KillArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| engine.kill_container(n, &args.signal))
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// Remove the specified link
    #[arg(short, long)]
    link: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn rm(options: &Options, args: RmArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| {
        engine.remove_container(n, args.force, args.volumes).map(|_| ())
    })
}

#[derive(Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(options: &Options, args: PruneArgs) -> anyhow::Result<()> {
    if !args.force {
        print!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
        io::stdout().flush()?;
        let mut answer = String::new();
        io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let engine = engine(options)?;
    let mut removed = Vec::new();
    for c in engine.containers()? {
        if !c.is_running() && engine.remove_container(c.id(), false, false).is_ok() {
            removed.push(c.row.id.clone());
        }
    }
    if !removed.is_empty() {
        println!("Deleted Containers:");
        for id in &removed {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: 0B");
    Ok(())
}

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

/// docker ps SIZE: the writable layer, and with the image "(virtual ...)".
fn size_text(engine: &Engine, c: &Container) -> String {
    let rw = berth_engine::volumes::dir_size(&engine.root().join("containers").join(c.id()).join("upper"));
    let image = engine.image(&c.row.image_id).map(|i| i.record.size).unwrap_or(0);
    format!(
        "{} (virtual {})",
        crate::format::human_size(rw, 3),
        crate::format::human_size(rw + image, 3)
    )
}

/// docker ps STATUS: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created".
pub fn status_text(c: &Container) -> String {
    let now = chrono::Utc::now();
    let ago = |t: &str| {
        parse_time(t)
            .map(|t| human_duration((now - t).num_seconds()))
            .unwrap_or_default()
    };
    match c.row.state.as_str() {
        "running" => format!("Up {}", ago(&c.row.started_at)),
        "paused" => format!("Up {} (Paused)", ago(&c.row.started_at)),
        "restarting" => format!("Restarting ({}) {} ago", c.row.exit_code, ago(&c.row.finished_at)),
        "exited" => format!("Exited ({}) {} ago", c.row.exit_code, ago(&c.row.finished_at)),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        _ => "Created".into(),
    }
}

fn matches_filters(c: &Container, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "status" => c.row.state == *v,
        "name" => c.row.name.contains(v.as_str()),
        "id" => c.row.id.starts_with(v.as_str()),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => c.config.labels.get(lk).map(String::as_str) == Some(lv),
            None => c.config.labels.contains_key(v.as_str()),
        },
        "ancestor" => {
            c.config.image == *v
                || c.row
                    .image_id
                    .trim_start_matches("sha256:")
                    .starts_with(v.trim_start_matches("sha256:"))
        }
        "exited" => c.row.state == "exited" && c.row.exit_code.to_string() == *v,
        _ => false,
    })
}

pub fn ps(options: &Options, args: PsArgs) -> anyhow::Result<()> {
    let mut filters = Vec::new();
    for f in &args.filter {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
        if !matches!(k, "status" | "name" | "id" | "label" | "ancestor" | "exited") {
            bail!("invalid filter '{k}'");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let engine = engine(options)?;
    let mut list = engine.containers()?;
    let all = args.all || args.last.is_some() || args.latest || !filters.is_empty();
    list.retain(|c| (all || c.is_running()) && matches_filters(c, &filters));
    if args.latest {
        list.truncate(1);
    }
    if let Some(n) = args.last {
        list.truncate(n);
    }
    if args.quiet {
        for c in &list {
            println!("{}", if args.no_trunc { c.id() } else { c.short_id() });
        }
        return Ok(());
    }
    let rows: Vec<Value> = list
        .iter()
        .map(|c| {
            let command = c.args().join(" ");
            let command = if args.no_trunc { command } else { ellipsis(&command, 20) };
            json!({
                "ID": if args.no_trunc { c.id() } else { c.short_id() },
                "Image": c.config.image,
                "Command": format!("\"{command}\""),
                "CreatedAt": go_time(Some(&c.row.created)),
                "RunningFor": crate::format::since(Some(&c.row.created)),
                "Status": status_text(c),
                "State": c.row.state,
                "Ports": "",
                "Names": c.row.name,
                "Labels": c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Mounts": c.config.mounts.iter().map(|m| if m.kind == "volume" { m.source.clone() } else { m.target.clone() }).collect::<Vec<_>>().join(","),
                "Networks": c.config.host.network_mode,
                "Size": if args.size { size_text(&engine, c) } else { String::new() },
            })
        })
        .collect();
    let table = if args.size {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let listing = Listing::new(args.format.as_deref(), table)?;
    print!(
        "{}",
        listing.render(
            &rows,
            &super::image::headers(&[
                ("ID", "CONTAINER ID"),
                ("Image", "IMAGE"),
                ("Command", "COMMAND"),
                ("CreatedAt", "CREATED AT"),
                ("RunningFor", "CREATED"),
                ("Status", "STATUS"),
                ("State", "STATE"),
                ("Ports", "PORTS"),
                ("Names", "NAMES"),
                ("Labels", "LABELS"),
                ("Mounts", "MOUNTS"),
                ("Networks", "NETWORKS"),
                ("Size", "SIZE"),
            ])
        )?
    );
    Ok(())
}

#[derive(Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs before a timestamp
    #[arg(long)]
    until: Option<String>,
    container: String,
}

/// "42m", "10s", "2h", RFC 3339, or Unix seconds -> a UTC time.
fn parse_when(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Some(t) = parse_time(text) {
        return Ok(t);
    }
    if let Ok(secs) = text.parse::<f64>() {
        return chrono::DateTime::from_timestamp(secs as i64, 0).context("timestamp out of range");
    }
    let (num, unit) = text.split_at(text.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let n: f64 = num.parse().with_context(|| format!("invalid time {text:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("invalid time {text:?}: use a timestamp or a duration like 10m"),
    };
    Ok(chrono::Utc::now() - chrono::Duration::milliseconds((secs * 1000.0) as i64))
}

pub fn logs(options: &Options, args: LogsArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let container = engine.container(&args.container)?;
    if container.config.host.log_type == "none" {
        bail!("configured logging driver does not support reading");
    }
    let since = args.since.as_deref().map(parse_when).transpose()?;
    let until = args.until.as_deref().map(parse_when).transpose()?;
    let tail: Option<usize> = if args.tail == "all" {
        None
    } else {
        Some(
            args.tail
                .parse()
                .with_context(|| format!("invalid --tail value {:?}", args.tail))?,
        )
    };
    let mut printed = 0usize;
    let mut first = true;
    let stdout = io::stdout();
    let stderr = io::stderr();
    loop {
        let entries = engine.container_logs(container.id())?;
        let mut fresh: Vec<_> = entries.into_iter().skip(printed).collect();
        let total = printed + fresh.len();
        if first {
            if let Some(n) = tail {
                let skip = fresh.len().saturating_sub(n);
                fresh.drain(..skip);
            }
            first = false;
        }
        for e in &fresh {
            let t = parse_time(&e.time);
            if since.is_some_and(|s| t.is_some_and(|t| t < s)) || until.is_some_and(|u| t.is_some_and(|t| t > u)) {
                continue;
            }
            let text = if args.timestamps {
                format!("{} {}", e.time, e.log)
            } else {
                e.log.clone()
            };
            if e.stream == "stderr" {
                stderr.lock().write_all(text.as_bytes())?;
            } else {
                stdout.lock().write_all(text.as_bytes())?;
            }
        }
        printed = total;
        if !args.follow {
            break;
        }
        let current = engine.container(container.id())?;
        if !current.is_running() {
            // One last read for what arrived while it stopped.
            let rest: Vec<_> = engine
                .container_logs(container.id())?
                .into_iter()
                .skip(printed)
                .collect();
            for e in rest {
                if e.stream == "stderr" {
                    stderr.lock().write_all(e.log.as_bytes())?;
                } else {
                    stdout.lock().write_all(e.log.as_bytes())?;
                }
            }
            break;
        }
        stdout.lock().flush()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = args.details;
    Ok(())
}

#[derive(Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn wait(options: &Options, args: WaitArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut failed = false;
    for name in &args.containers {
        match engine.wait_container(name) {
            Ok(code) => println!("{code}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn inspect(options: &Options, args: InspectArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut values = Vec::new();
    let mut failed = false;
    for name in &args.containers {
        match engine.inspect_container(name) {
            Ok(v) => values.push(v),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    super::image::print_inspect(&values, args.format.as_deref())?;
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

/// The hidden `container-monitor ID` command the engine starts per container.
#[derive(Args)]
pub struct MonitorArgs {
    #[arg(long, default_value_t = -1)]
    status_fd: i32,
    #[arg(long)]
    attach: bool,
    /// Set by berth-shim: the exit status of the run it watched.
    #[arg(long)]
    resume_status: Option<i32>,
    #[arg(long, default_value_t = 0)]
    restarts: u32,
    #[arg(long, default_value_t = 100)]
    backoff_ms: u64,
    #[arg(long, default_value_t = 0)]
    started_ms: i64,
    id: String,
}

impl MonitorArgs {
    pub fn id(&self) -> &str {
        &self.id
    }
}

pub fn monitor(options: &Options, args: MonitorArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let resume = berth_engine::containers::monitor::Resume {
        status: args.resume_status,
        restarts: args.restarts,
        backoff_ms: args.backoff_ms,
        started_ms: args.started_ms,
    };
    let code = berth_engine::containers::monitor::run(&engine, &args.id, args.status_fd, args.attach, resume);
    if code != 0 {
        return Err(Exit(code.clamp(0, 255) as u8).into());
    }
    Ok(())
}

#[derive(Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn pause(options: &Options, args: NamesArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| engine.pause_container(n))
}

pub fn unpause(options: &Options, args: NamesArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| engine.unpause_container(n))
}

#[derive(Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

pub fn rename(options: &Options, args: RenameArgs) -> anyhow::Result<()> {
    engine(options)?.rename_container(&args.container, &args.new_name)?;
    Ok(())
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long)]
    memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn update(options: &Options, args: UpdateArgs) -> anyhow::Result<()> {
    let parse = |name: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_ref().map(|_| size_flag(name, v)).transpose()
    };
    let update = berth_engine::containers::UpdateOptions {
        memory: parse("--memory", &args.memory)?,
        memory_swap: parse("--memory-swap", &args.memory_swap)?,
        nano_cpus: args
            .cpus
            .as_ref()
            .map(|c| {
                spec::parse_cpus(c).map_err(|e| anyhow::anyhow!("invalid argument {c:?} for \"--cpus\" flag: {e}"))
            })
            .transpose()?,
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit,
        restart_policy: args.restart.clone(),
    };
    let engine = engine(options)?;
    each(&args.containers, |n| engine.update_container(n, &update))
}

#[derive(Args)]
pub struct TopArgs {
    container: String,
    /// ps options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

/// `top`: the host's `ps`, keeping only the container's processes.
pub fn top(options: &Options, args: TopArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let pids = engine.container_pids(&args.container)?;
    let ps_args = if args.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        args.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&ps_args)
        .output()
        .context("running ps (install procps)")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("couldn't find PID field in ps output")?;
    let mut table = format!("{}\n", header.split_whitespace().collect::<Vec<_>>().join("\t"));
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pids.contains(&pid) {
            // The last column (the command) may contain spaces.
            let ncols = header.split_whitespace().count();
            let (head, tail) = fields.split_at(ncols.saturating_sub(1).min(fields.len()));
            table.push_str(&format!("{}\t{}\n", head.join("\t"), tail.join(" ")));
        }
    }
    print!("{}", berth_gotmpl::align_columns(&table));
    Ok(())
}

#[derive(Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    containers: Vec<String>,
}

pub fn stats(options: &Options, args: StatsArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let targets: Vec<Container> = if args.containers.is_empty() {
        engine
            .containers()?
            .into_iter()
            .filter(|c| c.row.state == "running")
            .collect()
    } else {
        args.containers
            .iter()
            .map(|n| engine.container(n))
            .collect::<Result<_, _>>()?
    };
    let listing = Listing::new(
        args.format.as_deref(),
        "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
    )?;
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    loop {
        let first: Vec<_> = targets.iter().map(|c| engine.container_stats(c.id()).ok()).collect();
        let t0 = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(500));
        let elapsed = t0.elapsed().as_nanos() as f64;
        let mut rows = Vec::new();
        for (c, before) in targets.iter().zip(first) {
            let now = engine.container_stats(c.id()).ok();
            let (cpu, mem, lim, pids, br, bw) = match (&before, &now) {
                (Some(b), Some(n)) => (
                    (n.cpu_usage_ns.saturating_sub(b.cpu_usage_ns)) as f64 / elapsed * 100.0,
                    n.memory_usage,
                    n.memory_limit,
                    n.pids,
                    n.block_read,
                    n.block_write,
                ),
                _ => (0.0, 0, 0, 0, 0, 0),
            };
            let _ = ncpu;
            let iec = |b: u64| crate::format::bytes_size(b);
            rows.push(json!({
                "Container": if args.no_trunc { c.id() } else { c.short_id() },
                "ID": if args.no_trunc { c.id() } else { c.short_id() },
                "Name": c.row.name,
                "CPUPerc": format!("{cpu:.2}%"),
                "MemUsage": format!("{} / {}", iec(mem), iec(lim)),
                "MemPerc": format!("{:.2}%", if lim > 0 { mem as f64 * 100.0 / lim as f64 } else { 0.0 }),
                "NetIO": "0B / 0B",
                "BlockIO": format!("{} / {}", crate::format::human_size(br, 3), crate::format::human_size(bw, 3)),
                "PIDs": pids.to_string(),
            }));
        }
        let text = listing.render(
            &rows,
            &super::image::headers(&[
                ("Container", "CONTAINER"),
                ("ID", "CONTAINER ID"),
                ("Name", "NAME"),
                ("CPUPerc", "CPU %"),
                ("MemUsage", "MEM USAGE / LIMIT"),
                ("MemPerc", "MEM %"),
                ("NetIO", "NET I/O"),
                ("BlockIO", "BLOCK I/O"),
                ("PIDs", "PIDS"),
            ]),
        )?;
        if args.no_stream {
            print!("{text}");
            return Ok(());
        }
        // Redraw in place, as docker does on a terminal.
        print!("\x1b[2J\x1b[H{text}");
        io::stdout().flush()?;
        let _ = args.all;
    }
}

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn exec(options: &Options, args: ExecArgs) -> anyhow::Result<()> {
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(read_kv_file(file, true)?);
    }
    for e in &args.env {
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    let exec = berth_engine::containers::ExecOptions {
        args: args.command.clone(),
        env,
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        privileged: args.privileged,
    };
    let engine = engine(options)?;
    let result = if args.detach {
        engine.exec_detached(&args.container, &exec).map(|_| 0)
    } else {
        let _raw = RawMode::enter(args.tty && args.interactive);
        let keys = match &args.detach_keys {
            Some(k) => berth_relay::parse_detach_keys(k).map_err(anyhow::Error::msg)?,
            None => engine.container(&args.container)?.detach_keys(),
        };
        engine.exec_attached(&args.container, &exec, args.interactive, args.tty, keys)
    };
    match result {
        Ok(0) => Ok(()),
        Ok(code) => Err(Exit(code.clamp(0, 255) as u8).into()),
        Err(Error::StartFailed { code, message }) => {
            eprintln!("OCI runtime exec failed: {message}");
            Err(Exit(code.clamp(0, 255) as u8).into())
        }
        Err(e) => {
            eprintln!("Error response from daemon: {e}");
            Err(Exit(1).into())
        }
    }
}

#[derive(Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value = "true", action = ArgAction::Set)]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    container: String,
}

/// `attach`: streams the container's output here and our input there until
/// it exits (its code is ours) or the detach keys are typed.
pub fn attach(options: &Options, args: AttachArgs) -> anyhow::Result<()> {
    use std::io::Read;
    let engine = engine(options)?;
    let (container, stream) = engine.attach_container(&args.container)?;
    let tty = container.config.tty;
    let raw = RawMode::enter(tty && !args.no_stdin && container.config.open_stdin);
    let pid = container.row.pid as i32;
    let sig_proxy = args.sig_proxy && !tty;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGWINCH,
    ])?;
    let handle = signals.handle();
    let resize = |engine: &Engine, id: &str| {
        if let Ok(size) = rustix::termios::tcgetwinsize(io::stdout()) {
            let _ = engine.resize_container_tty(id, size.ws_row, size.ws_col);
        }
    };
    if tty {
        resize(&engine, container.id());
    }
    let options_for_thread = options.clone();
    let id_for_thread = container.id().to_string();
    std::thread::spawn(move || {
        let engine = super::engine(&options_for_thread).ok();
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGWINCH {
                if let (true, Some(engine)) = (tty, engine.as_ref()) {
                    resize(engine, &id_for_thread);
                }
                continue;
            }
            if sig_proxy {
                if let (Some(p), Some(s)) = (
                    rustix::process::Pid::from_raw(pid),
                    rustix::process::Signal::from_named_raw(signal),
                ) {
                    let _ = rustix::process::kill_process(p, s);
                }
            }
        }
    });
    if !args.no_stdin && container.config.open_stdin {
        let mut to_container = stream.try_clone()?;
        // The monitor watches for the container's own detach keys; other
        // keys given here are caught on this side.
        let keys = match &args.detach_keys {
            Some(k) => berth_relay::parse_detach_keys(k).map_err(anyhow::Error::msg)?,
            None => Vec::new(),
        };
        std::thread::spawn(move || {
            let mut scanner = berth_relay::DetachScanner::new(&keys);
            let mut buf = [0u8; 4096];
            let mut stdin = io::stdin().lock();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let (data, detached) = scanner.feed(&buf[..n]);
                if to_container.write_all(&data).is_err() {
                    break;
                }
                if detached {
                    let _ = to_container.shutdown(std::net::Shutdown::Both);
                    break;
                }
            }
        });
    }
    let mut from = stream;
    let mut out = io::stdout().lock();
    let mut err = io::stderr();
    if tty {
        let _ = io::copy(&mut from, &mut out);
    } else {
        let mut header = [0u8; 8];
        while from.read_exact(&mut header).is_ok() {
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let mut data = vec![0u8; len];
            if from.read_exact(&mut data).is_err() {
                break;
            }
            let target: &mut dyn Write = if header[0] == 2 { &mut err } else { &mut out };
            target.write_all(&data)?;
            target.flush()?;
        }
    }
    handle.close();
    drop(raw);
    let _ = args.detach_keys;
    // The stream ended: the container exited (its code is ours; the monitor
    // records it a moment after the stream closes) or we detached.
    let code = match engine.wait_stopped(container.id(), Some(Duration::from_secs(2))) {
        Ok(code) => code,
        Err(_) => return Ok(()),
    };
    if code != 0 {
        return Err(Exit(code.clamp(0, 255) as u8).into());
    }
    Ok(())
}

#[derive(Args)]
pub struct DiffArgs {
    container: String,
}

/// `diff`: A, C and D lines, as docker prints them.
pub fn diff(options: &Options, args: DiffArgs) -> anyhow::Result<()> {
    for (kind, path) in engine(options)?.diff_container(&args.container)? {
        println!("{kind} {path}");
    }
    Ok(())
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value = "true", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pause: bool,
    container: String,
    /// [REPOSITORY[:TAG]]
    reference: Option<String>,
}

pub fn commit(options: &Options, args: CommitArgs) -> anyhow::Result<()> {
    let id = engine(options)?.commit_container(
        &args.container,
        &berth_engine::containers::CommitOptions {
            reference: args.reference,
            author: args.author,
            message: args.message,
            changes: args.change,
            pause: args.pause,
        },
    )?;
    println!("{id}");
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    container: String,
}

pub fn export(options: &Options, args: ExportArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    match &args.output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path.file_name().context("-o needs a file name")?.to_string_lossy();
            let temp = dir.join(format!(".{name}.berth-{}", std::process::id()));
            let file = std::fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
            match engine.export_container(&args.container, io::BufWriter::new(file)) {
                Ok(()) => std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?,
                Err(e) => {
                    let _ = std::fs::remove_file(&temp);
                    return Err(e.into());
                }
            }
        }
        None => {
            if std::io::IsTerminal::is_terminal(&io::stdout()) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            engine.export_container(&args.container, io::BufWriter::new(io::stdout().lock()))?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH|-
    src: String,
    /// DEST_PATH|- or CONTAINER:DEST_PATH
    dest: String,
}

/// `CONTAINER:PATH` as docker reads it: a colon before any slash, and the
/// argument not starting with `/` or `.`.
fn container_side(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (name, path) = arg.split_once(':')?;
    (!name.contains('/') && !name.is_empty()).then_some((name, path))
}

/// Renames the top of every entry of a tar (`from` -> `to`), or drops the
/// top level (`to` empty), writing a new tar.
fn retarget(input: &Path, output: &Path, to: Option<&str>) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(std::fs::File::open(input)?);
    let mut out = tar::Builder::new(std::fs::File::create(output)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut parts = path.components();
        parts.next();
        let rest: PathBuf = parts.collect();
        let new_path = match to {
            Some(name) if rest.as_os_str().is_empty() => PathBuf::from(name),
            Some(name) => Path::new(name).join(&rest),
            None if rest.as_os_str().is_empty() => continue,
            None => rest,
        };
        let mut header = entry.header().clone();
        if header.entry_type().is_symlink() || header.entry_type().is_hard_link() {
            let target = entry.link_name()?.map(|t| t.into_owned()).unwrap_or_default();
            out.append_link(&mut header, &new_path, &target)?;
        } else {
            out.append_data(&mut header, &new_path, &mut entry)?;
        }
    }
    out.finish()?;
    Ok(())
}

pub fn cp(options: &Options, args: CpArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let scratch = options.runroot.join(format!("cp-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = cp_with(&engine, &args, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn cp_with(engine: &Engine, args: &CpArgs, scratch: &Path) -> anyhow::Result<()> {
    match (container_side(&args.src), container_side(&args.dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((name, src)), None) => {
            if args.dest == "-" {
                engine.copy_from_container(name, src, args.follow_link, io::BufWriter::new(io::stdout().lock()))?;
                return Ok(());
            }
            let tarball = scratch.join("out.tar");
            engine.copy_from_container(name, src, args.follow_link, std::fs::File::create(&tarball)?)?;
            let src_is_dir = engine.container_path_kind(name, src)? == berth_engine::containers::PathKind::Dir;
            let dest = Path::new(&args.dest);
            let contents_only = src.ends_with("/.");
            let (target_dir, rename): (PathBuf, Option<Option<String>>) = if dest.is_dir() {
                (dest.to_path_buf(), None)
            } else if args.dest.ends_with('/') {
                bail!("destination directory {} does not exist", args.dest);
            } else if dest.exists() && src_is_dir {
                bail!("cannot copy a directory to a file: {}", args.dest);
            } else {
                let parent = dest
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                if !parent.is_dir() {
                    bail!("destination directory {} does not exist", parent.display());
                }
                let name = dest
                    .file_name()
                    .context("destination has no name")?
                    .to_string_lossy()
                    .into_owned();
                (parent.to_path_buf(), Some(Some(name)))
            };
            let tarball = match (rename, contents_only) {
                (Some(to), false) => {
                    let renamed = scratch.join("renamed.tar");
                    retarget(&tarball, &renamed, to.as_deref())?;
                    renamed
                }
                (Some(Some(name)), true) => {
                    std::fs::create_dir_all(target_dir.join(&name))?;
                    let mut archive = tar::Archive::new(std::fs::File::open(&tarball)?);
                    archive.set_preserve_ownerships(args.archive);
                    archive.set_preserve_permissions(true);
                    archive.unpack(target_dir.join(&name))?;
                    return Ok(());
                }
                _ => tarball,
            };
            let mut archive = tar::Archive::new(std::fs::File::open(&tarball)?);
            archive.set_preserve_ownerships(args.archive);
            archive.set_preserve_permissions(true);
            archive.set_overwrite(true);
            archive.unpack(&target_dir)?;
            Ok(())
        }
        (None, Some((name, dest))) => {
            if args.src == "-" {
                engine.copy_into_container(name, dest, args.archive, &mut io::stdin().lock())?;
                return Ok(());
            }
            let src = Path::new(&args.src);
            let meta = std::fs::symlink_metadata(src).with_context(|| format!("lstat {}", args.src))?;
            let kind = engine.container_path_kind(name, dest)?;
            let contents_only = args.src.ends_with("/.");
            let base = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Where the tar unpacks in the container, and the name its top entry gets.
            let (into, top) = match kind {
                berth_engine::containers::PathKind::Dir => (dest.to_string(), base.clone()),
                _ if dest.ends_with('/') => bail!("destination directory {dest} does not exist in the container"),
                berth_engine::containers::PathKind::File if meta.is_dir() => {
                    bail!("cannot copy a directory to a file: {dest}")
                }
                _ => {
                    let p = Path::new(dest);
                    let parent = p
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "/".into());
                    let name = p
                        .file_name()
                        .context("destination has no name")?
                        .to_string_lossy()
                        .into_owned();
                    (if parent.is_empty() { "/".into() } else { parent }, name)
                }
            };
            let tarball = scratch.join("in.tar");
            {
                let mut b = tar::Builder::new(std::fs::File::create(&tarball)?);
                b.follow_symlinks(args.follow_link);
                if meta.is_dir() {
                    let name = if contents_only && kind == berth_engine::containers::PathKind::Dir {
                        "."
                    } else {
                        &top
                    };
                    b.append_dir_all(name, src)?;
                } else {
                    b.append_path_with_name(src, &top)?;
                }
                b.finish()?;
            }
            engine.copy_into_container(name, &into, args.archive, &mut std::fs::File::open(&tarball)?)?;
            let _ = args.quiet;
            Ok(())
        }
    }
}
