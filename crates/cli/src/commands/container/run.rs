//! `run` and `create`, and waiting on an attached container.

use super::*;
use berth_engine::containers::options::parse_tmpfs;
use berth_engine::containers::HealthConfig;

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
    /// Command to run to check health
    #[arg(long)]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 30s)
    #[arg(long)]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 30s)
    #[arg(long)]
    health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)
    #[arg(long)]
    health_start_period: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long)]
    health_retries: Option<u32>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    no_healthcheck: bool,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long)]
    mac_address: Option<String>,
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
    /// Suppress the pull output
    #[arg(short, long)]
    quiet: bool,
    /// Connect a container to a network
    #[arg(long, alias = "net", default_value = "default")]
    network: String,
    /// Add network-scoped alias for the container
    #[arg(long, alias = "net-alias")]
    network_alias: Vec<String>,
    /// Add link to another container
    #[arg(long)]
    link: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    ip: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long)]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long)]
    dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long, alias = "dns-opt")]
    dns_option: Vec<String>,
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
    /// Logging driver for the container (default: berth's config file's, or json-file)
    #[arg(long)]
    log_driver: Option<String>,
    /// Log driver options
    #[arg(long)]
    log_opt: Vec<String>,
    /// Runtime to use for this container
    #[arg(long)]
    runtime: Option<String>,
    /// User namespace to use: host (container root is host root), or auto[:size=N] (a range of
    /// unprivileged host ids of its own); default: berth's config file's, or host
    #[arg(long)]
    userns: Option<String>,
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
pub(super) fn read_kv_file(path: &str, take_env: bool) -> anyhow::Result<Vec<String>> {
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

pub(super) fn size_flag(name: &str, value: &Option<String>) -> anyhow::Result<i64> {
    match value {
        None => Ok(0),
        Some(v) if v == "-1" => Ok(-1),
        Some(v) => berth_engine::units::parse_memory(v)
            .map_err(|e| anyhow::anyhow!("invalid argument {v:?} for \"{name}\" flag: {e}")),
    }
}

/// Turns `run`/`create` flags into the engine's create options.
pub(super) fn create_options(args: &RunArgs) -> anyhow::Result<CreateOptions> {
    let runtime = match args.runtime.as_deref() {
        None | Some("berth") | Some("") => String::new(),
        Some(name) => name.to_string(),
    };
    let env = env_from_flags(&args.env_file, &args.env)?;
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
        log_opts.insert(k.to_string(), v.to_string());
    }
    let nano_cpus = match &args.cpus {
        Some(c) => berth_engine::units::parse_cpus(c)
            .map_err(|e| anyhow::anyhow!("invalid argument {c:?} for \"--cpus\" flag: {e}"))?,
        None => 0,
    };
    let mut port_bindings = Vec::new();
    for p in &args.publish {
        port_bindings.extend(berth_engine::networks::parse_publish(p)?);
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
        mounts: args
            .mount
            .iter()
            .map(|m| berth_engine::mounts::parse_mount_flag(m))
            .collect::<Result<_, _>>()?,
        volumes_from: args.volumes_from.clone(),
        publish_all: args.publish_all,
        config: ContainerConfig {
            image: args.image.clone(),
            env,
            working_dir: args.workdir.clone().unwrap_or_default(),
            user: args.user.clone().unwrap_or_default(),
            group_add: args.group_add.clone(),
            hostname: args.hostname.clone().unwrap_or_default(),
            mac_address: args.mac_address.clone().unwrap_or_default(),
            healthcheck: health_flags(args)?,
            tty: args.tty,
            open_stdin: args.interactive,
            labels,
            stop_signal: args.stop_signal.clone().unwrap_or_default(),
            stop_timeout: args.stop_timeout,
            detach_keys: args.detach_keys.clone().unwrap_or_default(),
            exposed_ports: berth_engine::ports::parse_expose(&args.expose)?,
            host: HostConfig {
                network_mode: args.network.clone(),
                port_bindings,
                network_aliases: args.network_alias.clone(),
                links: parse_each(&args.link)?,
                ipv4_address: args.ip.clone().unwrap_or_default(),
                dns: args.dns.clone(),
                dns_search: args.dns_search.clone(),
                dns_options: args.dns_option.clone(),
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
                ulimits: parse_each(&args.ulimit)?,
                shm_size: size_flag("--shm-size", &args.shm_size)?,
                tmpfs: args.tmpfs.iter().map(|t| parse_tmpfs(t)).collect::<Result<_, _>>()?,
                extra_hosts: args.add_host.clone(),
                devices: parse_each(&args.device)?,
                log_type: args.log_driver.clone().unwrap_or_default(),
                log_opts,
                restart_policy: args.restart.parse()?,
                init: args.init,
                runtime,
                userns_mode: args.userns.clone().unwrap_or_default(),
                id_range: None,
            },
            ..ContainerConfig::default()
        },
    })
}

/// Each flag value in its typed form.
fn parse_each<T: std::str::FromStr<Err = Error>>(values: &[String]) -> Result<Vec<T>, Error> {
    values.iter().map(|v| v.parse()).collect()
}

/// Runs `f`, turning any failure into docker's 125 with the message.
pub(super) fn engine_step<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    f().map_err(|e| {
        if e.downcast_ref::<Exit>().is_some() {
            return e;
        }
        eprintln!("berth: {e:#}");
        eprintln!("See 'berth run --help'.");
        Exit::ENGINE.into()
    })
}

pub(super) fn create_container(engine: &Engine, args: &RunArgs) -> anyhow::Result<Container> {
    let options = create_options(args)?;
    let pull = |engine: &Engine| {
        crate::commands::registry::pull_for_run(engine, &args.image, args.platform.clone(), args.quiet)
    };
    match args.pull.as_str() {
        "always" => pull(engine)?,
        "missing" => {
            if let Err(e) = engine.image(&args.image) {
                if e.kind() != berth_engine::ErrorKind::NotFound {
                    return Err(e.into());
                }
                let shown = berth_engine::images::familiar_name(&args.image);
                eprintln!("Unable to find image '{shown}' locally");
                pull(engine)?;
            }
        }
        "never" => {}
        other => bail!("invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""),
    }
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
    outln!("{}", container.id())?;
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
        StartMode::Attached(berth_engine::containers::Caller::own_stdio(args.interactive)?)
    };
    let started = match engine.start_container(container.id(), mode) {
        Ok(s) => s,
        Err(Error::StartFailed { code, message }) => {
            eprintln!("berth: error starting container {}: {message}", container.short_id());
            if container.config.host.auto_remove {
                let _ = engine.remove_container(container.id(), true, true);
            }
            return Err(Exit::status(code as i64).into());
        }
        Err(e) => {
            eprintln!("berth: {e}");
            return Err(Exit::ENGINE.into());
        }
    };
    if args.detach {
        outln!("{}", container.id())?;
        return Ok(());
    }
    finish_attached(started, args.tty, args.interactive, args.sig_proxy)
}

/// Puts a terminal into raw mode for as long as it lives.
pub(super) struct RawMode {
    saved: Option<rustix::termios::Termios>,
}

impl RawMode {
    pub(super) fn enter(wanted: bool) -> RawMode {
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
pub(super) fn finish_attached(started: Started, tty: bool, interactive: bool, sig_proxy: bool) -> anyhow::Result<()> {
    use signal_hook::consts::*;
    let raw = RawMode::enter(tty && interactive);
    crate::out::end_when_reader_leaves();
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
        Ok(Ended::Exited(code)) => Err(Exit::status(code as i64).into()),
        Err(e) => {
            eprintln!("berth: {e}");
            Err(Exit::ENGINE.into())
        }
    }
}

/// The `--health-*` flags as Docker's `HealthConfig` (only what they name), or `NONE`.
fn health_flags(args: &RunArgs) -> anyhow::Result<Option<HealthConfig>> {
    if args.no_healthcheck {
        return Ok(Some(HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        }));
    }
    let duration = |name: &str, value: &Option<String>| -> anyhow::Result<i64> {
        let Some(text) = value else { return Ok(0) };
        let d = berth_engine::when::parse_duration(text)
            .map_err(|_| anyhow::anyhow!("invalid duration {text:?} for --health-{name}: use e.g. 30s or 1m"))?;
        Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    };
    let check = HealthConfig {
        test: args
            .health_cmd
            .as_ref()
            .map(|cmd| vec!["CMD-SHELL".into(), cmd.clone()])
            .unwrap_or_default(),
        interval: duration("interval", &args.health_interval)?,
        timeout: duration("timeout", &args.health_timeout)?,
        start_period: duration("start-period", &args.health_start_period)?,
        start_interval: 0,
        retries: args.health_retries.map_or(0, i64::from),
    };
    Ok((check != HealthConfig::default()).then_some(check))
}
