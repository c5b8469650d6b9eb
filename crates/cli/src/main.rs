//! `berth`: a daemonless container engine with Docker's command line.

mod commands;
mod format;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};

use commands::{container, image, network, registry, system, volume};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    disable_version_flag = true,
    about = "A daemonless container engine that speaks Docker",
    after_help = "Run 'berth COMMAND --help' for more information on a command."
)]
struct Cli {
    /// Root directory of persistent berth state
    #[arg(long, env = "BERTH_ROOT", default_value = "/var/lib/berth", global = true)]
    root: PathBuf,
    /// Root directory for runtime state (sockets, locks)
    #[arg(long, env = "BERTH_RUNROOT", default_value = "/run/berth", global = true)]
    runroot: PathBuf,
    /// Set the logging level ("debug", "info", "warn", "error")
    #[arg(short = 'l', long, default_value = "warn")]
    log_level: String,
    /// Print version information and quit
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    version: (),
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and run a new container from an image
    Run(container::RunArgs),
    /// Create a new container
    Create(container::RunArgs),
    /// Start one or more stopped containers
    Start(container::StartArgs),
    /// Stop one or more running containers
    Stop(container::StopArgs),
    /// Restart one or more containers
    Restart(container::StopArgs),
    /// Kill one or more running containers
    Kill(container::KillArgs),
    /// Remove one or more containers
    Rm(container::RmArgs),
    /// List containers
    Ps(container::PsArgs),
    /// Fetch the logs of a container
    Logs(container::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container::WaitArgs),
    /// Pause all processes within one or more containers
    Pause(container::NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(container::NamesArgs),
    /// Rename a container
    Rename(container::RenameArgs),
    /// Update configuration of one or more containers
    Update(container::UpdateArgs),
    /// Display the running processes of a container
    Top(container::TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::PortArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(container::StatsArgs),
    /// Execute a command in a running container
    Exec(container::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(container::AttachArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(container::DiffArgs),
    /// Create a new image from a container's changes
    Commit(container::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(container::ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(container::CpArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        command: container::ContainerCommand,
    },
    /// The per-container monitor (started by berth itself)
    #[command(hide = true, name = "container-monitor")]
    ContainerMonitor(container::MonitorArgs),
    /// A user-defined network's DNS server (started by berth itself)
    #[command(hide = true, name = "network-dns")]
    NetworkDns { network_id: String },
    /// List images
    Images(image::LsArgs),
    /// Manage images
    Image {
        #[command(subcommand)]
        command: image::ImageCommand,
    },
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Remove one or more images
    Rmi(image::RmArgs),
    /// Show the history of an image
    History(image::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::LoadArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Search Docker Hub (or REGISTRY/TERM) for images
    Search(registry::SearchArgs),
    /// Run a registry (the OCI distribution API) that docker, skopeo and berth can push to and pull from
    Registry {
        #[command(subcommand)]
        command: registry::RegistryCommand,
    },
    /// Return low-level information on berth objects
    Inspect(image::InspectArgs),
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        command: volume::VolumeCommand,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        command: network::NetworkCommand,
    },
    /// Manage berth
    System {
        #[command(subcommand)]
        command: system::SystemCommand,
    },
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Show the berth version information
    Version(system::VersionArgs),
}

/// Where the global `--root` came from, looked up in the subcommand's matches too (it is global).
fn root_source(matches: &clap::ArgMatches) -> Option<clap::parser::ValueSource> {
    let mut m = matches;
    let mut source = m.value_source("root");
    while let Some((_, sub)) = m.subcommand() {
        if let Some(s) = sub.value_source("root") {
            source = Some(s);
        }
        m = sub;
    }
    source
}

/// An error that carries its own exit status (docker's StatusError).
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, root_given) = match parsed {
        // `registry serve --root DIR` names the registry's own directory.
        Ok((cli, matches)) => {
            let given = matches!(root_source(&matches), Some(clap::parser::ValueSource::CommandLine));
            (cli, given)
        }
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                // docker exits 125 on usage errors
                _ => ExitCode::from(125),
            };
        }
    };
    // libcgroups warns about every v1 controller this kernel lacks: keep that quiet.
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{},libcgroups=error,libcontainer=off", cli.log_level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libcgroups=error,libcontainer=off"));
    // The monitor's stderr may be the user's terminal (attached runs): it
    // logs to a file beside the container's runtime state instead.
    if let Command::ContainerMonitor(args) = &cli.command {
        let dir = cli.runroot.join("containers").join(args.id());
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("monitor.log"))
        {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("warn,libcgroups=error"))
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let options = berth_engine::Options {
        root: cli.root,
        runroot: cli.runroot,
    };
    let result = match cli.command {
        Command::Run(args) => container::run(&options, args),
        Command::Create(args) => container::create(&options, args),
        Command::Start(args) => container::start(&options, args),
        Command::Stop(args) => container::stop(&options, args),
        Command::Restart(args) => container::restart(&options, args),
        Command::Kill(args) => container::kill(&options, args),
        Command::Rm(args) => container::rm(&options, args),
        Command::Ps(args) => container::ps(&options, args),
        Command::Logs(args) => container::logs(&options, args),
        Command::Wait(args) => container::wait(&options, args),
        Command::Pause(args) => container::pause(&options, args),
        Command::Unpause(args) => container::unpause(&options, args),
        Command::Rename(args) => container::rename(&options, args),
        Command::Update(args) => container::update(&options, args),
        Command::Top(args) => container::top(&options, args),
        Command::Port(args) => container::port(&options, args),
        Command::Stats(args) => container::stats(&options, args),
        Command::Exec(args) => container::exec(&options, args),
        Command::Attach(args) => container::attach(&options, args),
        Command::Diff(args) => container::diff(&options, args),
        Command::Commit(args) => container::commit(&options, args),
        Command::Export(args) => container::export(&options, args),
        Command::Cp(args) => container::cp(&options, args),
        Command::Container { command } => container::run_command(&options, command),
        Command::ContainerMonitor(args) => container::monitor(&options, args),
        Command::NetworkDns { network_id } => {
            commands::engine(&options).and_then(|engine| Ok(berth_engine::dns::serve(&engine, &network_id)?))
        }
        Command::Images(args) => image::ls(&options, args),
        Command::Image { command } => image::run(&options, command),
        Command::Import(args) => image::import(&options, args),
        Command::Tag(args) => image::tag(&options, args),
        Command::Rmi(args) => image::rm(&options, args),
        Command::History(args) => image::history(&options, args),
        Command::Save(args) => image::save(&options, args),
        Command::Load(args) => image::load(&options, args),
        Command::Pull(args) => registry::pull(&options, args),
        Command::Push(args) => registry::push(&options, args),
        Command::Login(args) => registry::login(&options, args),
        Command::Logout(args) => registry::logout(&options, args),
        Command::Search(args) => registry::search(&options, args),
        Command::Registry { command } => registry::run(&options, root_given, command),
        Command::Inspect(args) => image::inspect(&options, args),
        Command::Volume { command } => volume::run(&options, command),
        Command::Network { command } => network::run(&options, command),
        Command::System { command } => system::run(&options, command),
        Command::Info(args) => system::info(&options, args),
        Command::Version(args) => system::version(&options, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(Exit(code)) = e.downcast_ref::<Exit>() {
                return ExitCode::from(*code);
            }
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}
