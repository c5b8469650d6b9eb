//! `berth`: a daemonless container engine with Docker's command line.

mod commands;
mod exit;
mod format;
mod lazy;
mod out;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};

use commands::{build, container, events, image, network, registry, serve, system, volume};
use lazy::Lazy;

pub use exit::Exit;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    disable_version_flag = true,
    about = "A daemonless container engine that speaks Docker",
    after_help = "Run 'berth COMMAND --help' for more information on a command."
)]
struct Cli {
    /// Root directory of persistent berth state (default: /var/lib/berth; without root,
    /// $XDG_DATA_HOME/berth)
    #[arg(long, env = "BERTH_ROOT", global = true)]
    root: Option<PathBuf>,
    /// Root directory for runtime state (sockets, locks) (default: /run/berth; without root,
    /// $XDG_RUNTIME_DIR/berth)
    #[arg(long, env = "BERTH_RUNROOT", global = true)]
    runroot: Option<PathBuf>,
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
    Run(Lazy<container::RunArgs>),
    /// Create a new container
    Create(Lazy<container::RunArgs>),
    /// Start one or more stopped containers
    Start(Lazy<container::StartArgs>),
    /// Stop one or more running containers
    Stop(Lazy<container::StopArgs>),
    /// Restart one or more containers
    Restart(Lazy<container::StopArgs>),
    /// Kill one or more running containers
    Kill(Lazy<container::KillArgs>),
    /// Remove one or more containers
    Rm(Lazy<container::RmArgs>),
    /// List containers
    Ps(Lazy<container::PsArgs>),
    /// Fetch the logs of a container
    Logs(Lazy<container::LogsArgs>),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Lazy<container::WaitArgs>),
    /// Pause all processes within one or more containers
    Pause(Lazy<container::NamesArgs>),
    /// Unpause all processes within one or more containers
    Unpause(Lazy<container::NamesArgs>),
    /// Rename a container
    Rename(Lazy<container::RenameArgs>),
    /// Update configuration of one or more containers
    Update(Lazy<container::UpdateArgs>),
    /// Display the running processes of a container
    Top(Lazy<container::TopArgs>),
    /// List port mappings or a specific mapping for the container
    Port(Lazy<container::PortArgs>),
    /// Display a live stream of container(s) resource usage statistics
    Stats(Lazy<container::StatsArgs>),
    /// Execute a command in a running container
    Exec(Lazy<container::ExecArgs>),
    /// Attach local standard input, output, and error streams to a running container
    Attach(Lazy<container::AttachArgs>),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(Lazy<container::DiffArgs>),
    /// Create a new image from a container's changes
    Commit(Lazy<container::CommitArgs>),
    /// Export a container's filesystem as a tar archive
    Export(Lazy<container::ExportArgs>),
    /// Copy files/folders between a container and the local filesystem
    Cp(Lazy<container::CpArgs>),
    /// Manage containers
    Container {
        #[command(subcommand)]
        command: Lazy<container::ContainerCommand>,
    },
    /// The per-container monitor (started by berth itself)
    #[command(hide = true, name = "container-monitor")]
    ContainerMonitor(Lazy<container::MonitorArgs>),
    /// Runs one exec'd process (started by berth itself)
    #[command(hide = true, name = "container-exec")]
    ContainerExec(Lazy<container::ExecHelperArgs>),
    /// Forks monitors and exec helpers for `berth serve` (started by berth itself)
    #[command(hide = true, name = "container-spawner")]
    ContainerSpawner {
        #[arg(long)]
        socket_fd: i32,
    },
    /// A user-defined network's DNS server (started by berth itself)
    #[command(hide = true, name = "network-dns")]
    NetworkDns { network_id: String },
    /// A container's health checker (started by berth itself)
    #[command(hide = true, name = "container-health")]
    ContainerHealth { id: String },
    /// List images
    Images(Lazy<image::LsArgs>),
    /// Manage images
    Image {
        #[command(subcommand)]
        command: Lazy<image::ImageCommand>,
    },
    /// Import the contents from a tarball to create a filesystem image
    Import(Lazy<image::ImportArgs>),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(Lazy<image::TagArgs>),
    /// Remove one or more images
    Rmi(Lazy<image::RmArgs>),
    /// Show the history of an image
    History(Lazy<image::HistoryArgs>),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(Lazy<image::SaveArgs>),
    /// Load an image from a tar archive or STDIN
    Load(Lazy<image::LoadArgs>),
    /// Build an image from a Dockerfile
    Build(Lazy<build::BuildArgs>),
    /// Manage builds
    Builder {
        #[command(subcommand)]
        command: Lazy<build::BuilderCommand>,
    },
    /// Download an image from a registry
    Pull(Lazy<registry::PullArgs>),
    /// Upload an image to a registry
    Push(Lazy<registry::PushArgs>),
    /// Log in to a registry
    Login(Lazy<registry::LoginArgs>),
    /// Log out from a registry
    Logout(Lazy<registry::LogoutArgs>),
    /// Search Docker Hub (or REGISTRY/TERM) for images
    Search(Lazy<registry::SearchArgs>),
    /// Run a registry (the OCI distribution API) that docker, skopeo and berth can push to and pull from
    Registry {
        #[command(subcommand)]
        command: Lazy<registry::RegistryCommand>,
    },
    /// Return low-level information on berth objects
    Inspect(Lazy<image::InspectArgs>),
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        command: Lazy<volume::VolumeCommand>,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        command: Lazy<network::NetworkCommand>,
    },
    /// Serve the Docker Engine API on a unix socket (for docker, compose and the SDKs)
    Serve(Lazy<serve::ServeArgs>),
    /// Manage berth
    System {
        #[command(subcommand)]
        command: Lazy<system::SystemCommand>,
    },
    /// Display system-wide information
    Info(Lazy<system::InfoArgs>),
    /// Get real time events from berth
    Events(Lazy<events::EventsArgs>),
    /// Show the berth version information
    Version(Lazy<system::VersionArgs>),
}

/// Where the global `--root` came from, looked up in the subcommand's matches too (it is global).
/// The run root as the command line (`--runroot DIR` or `--runroot=DIR`), the environment or the default
/// gives it, read before clap parses: a rootless berth needs it to join its namespaces first.
fn runroot_before_parsing(args: &[std::ffi::OsString]) -> PathBuf {
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        let word = word.to_string_lossy();
        if word == "--" {
            break;
        }
        if word == "--runroot" {
            if let Some(dir) = words.next() {
                return PathBuf::from(dir);
            }
        } else if let Some(dir) = word.strip_prefix("--runroot=") {
            return PathBuf::from(dir);
        }
    }
    std::env::var_os("BERTH_RUNROOT")
        .map(PathBuf::from)
        .unwrap_or_else(berth_engine::rootless::default_runroot)
}

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

/// The command words of a berth command line (`container run` gives ["container", "run"]), skipping
/// the global options and their values: enough to tell, before clap builds anything, whether the
/// process must run sealed.
fn command_words(args: &[std::ffi::OsString]) -> Vec<&str> {
    let mut words = Vec::new();
    let mut args = args.iter().skip(1).map(|a| a.to_str().unwrap_or(""));
    while let Some(arg) = args.next() {
        match arg {
            "--root" | "--runroot" | "-l" | "--log-level" => {
                args.next();
            }
            _ if arg.starts_with('-') => {}
            _ => {
                words.push(arg);
                if words.len() == 2 || !matches!(arg, "container" | "system") {
                    break;
                }
            }
        }
    }
    words
}

/// Whether the command may start or exec into a container: then this process, whose clones become
/// the container's processes, must run from a binary they cannot write (`seal_executable`). The
/// runtime refuses to start a container from an unsealed process, should this list miss one.
fn starts_container_processes(words: &[&str]) -> bool {
    matches!(
        words,
        [
            "run"
                | "start"
                | "restart"
                | "exec"
                | "build"
                | "container-monitor"
                | "container-exec"
                | "container-spawner"
                | "container-health",
            ..
        ] | ["container", "run" | "start" | "restart" | "exec"]
            | ["system", "boot"]
    )
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "rootless-pause") {
        berth_engine::rootless::pause();
    }
    // Without root, every command first joins the user's namespaces (while it has one thread).
    if berth_engine::rootless::is_rootless() {
        if let Err(e) = berth_engine::rootless::enter(&runroot_before_parsing(&args)) {
            eprintln!("berth: {e}");
            return ExitCode::from(125);
        }
    }
    // Sealing executes this binary again: before parsing, so that arguments are parsed once.
    if starts_container_processes(&command_words(&args)) {
        if let Err(e) = berth_engine::seal_executable() {
            eprintln!("berth: {e}");
            return ExitCode::from(125);
        }
    }
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
    let runroot = cli
        .runroot
        .clone()
        .unwrap_or_else(berth_engine::rootless::default_runroot);
    // libcgroups warns about every v1 controller this kernel lacks: keep that quiet.
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{},libcgroups=error,libcontainer=off", cli.log_level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libcgroups=error,libcontainer=off"));
    // The monitor's stderr may be the user's terminal (attached runs): it
    // logs to a file beside the container's runtime state instead.
    if let Command::ContainerMonitor(args) = &cli.command {
        if let Ok(file) = berth_engine::containers::monitor::open_log(&runroot, args.0.id()) {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("warn,libcgroups=error"))
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
    } else if !matches!(cli.command, Command::ContainerExec(_)) {
        // (The exec helper's stderr is the exec'd process's: it logs nothing.)
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let options = berth_engine::Options {
        root: cli.root.clone().unwrap_or_else(berth_engine::rootless::default_root),
        runroot,
    };
    let result = match cli.command {
        Command::Run(args) => container::run(&options, args.0),
        Command::Create(args) => container::create(&options, args.0),
        Command::Start(args) => container::start(&options, args.0),
        Command::Stop(args) => container::stop(&options, args.0),
        Command::Restart(args) => container::restart(&options, args.0),
        Command::Kill(args) => container::kill(&options, args.0),
        Command::Rm(args) => container::rm(&options, args.0),
        Command::Ps(args) => container::ps(&options, args.0),
        Command::Logs(args) => container::logs(&options, args.0),
        Command::Wait(args) => container::wait(&options, args.0),
        Command::Pause(args) => container::pause(&options, args.0),
        Command::Unpause(args) => container::unpause(&options, args.0),
        Command::Rename(args) => container::rename(&options, args.0),
        Command::Update(args) => container::update(&options, args.0),
        Command::Top(args) => container::top(&options, args.0),
        Command::Port(args) => container::port(&options, args.0),
        Command::Stats(args) => container::stats(&options, args.0),
        Command::Exec(args) => container::exec(&options, args.0),
        Command::Attach(args) => container::attach(&options, args.0),
        Command::Diff(args) => container::diff(&options, args.0),
        Command::Commit(args) => container::commit(&options, args.0),
        Command::Export(args) => container::export(&options, args.0),
        Command::Cp(args) => container::cp(&options, args.0),
        Command::Container { command } => container::run_command(&options, command.0),
        Command::ContainerMonitor(args) => container::monitor(&options, args.0),
        Command::ContainerExec(args) => container::exec_helper(&options, args.0),
        Command::ContainerSpawner { socket_fd } => match berth_engine::serve_spawner(options, socket_fd) {
            0 => Ok(()),
            code => Err(Exit::status(code as i64).into()),
        },
        Command::NetworkDns { network_id } => {
            commands::engine(&options).and_then(|engine| Ok(berth_engine::dns::serve(&engine, &network_id)?))
        }
        Command::ContainerHealth { id } => {
            commands::engine(&options).and_then(|engine| Ok(engine.run_health_checks(&id)?))
        }
        Command::Images(args) => image::ls(&options, args.0),
        Command::Image { command } => image::run(&options, command.0),
        Command::Import(args) => image::import(&options, args.0),
        Command::Tag(args) => image::tag(&options, args.0),
        Command::Rmi(args) => image::rm(&options, args.0),
        Command::History(args) => image::history(&options, args.0),
        Command::Save(args) => image::save(&options, args.0),
        Command::Load(args) => image::load(&options, args.0),
        Command::Build(args) => build::build(&options, args.0),
        Command::Builder { command } => build::builder(&options, command.0),
        Command::Pull(args) => registry::pull(&options, args.0),
        Command::Push(args) => registry::push(&options, args.0),
        Command::Login(args) => registry::login(&options, args.0),
        Command::Logout(args) => registry::logout(&options, args.0),
        Command::Search(args) => registry::search(&options, args.0),
        Command::Registry { command } => registry::run(&options, root_given, command.0),
        Command::Inspect(args) => image::inspect(&options, args.0),
        Command::Volume { command } => volume::run(&options, command.0),
        Command::Network { command } => network::run(&options, command.0),
        Command::Serve(args) => serve::serve(&options, args.0),
        Command::System { command } => system::run(&options, command.0),
        Command::Info(args) => system::info(&options, args.0),
        Command::Events(args) => events::events(&options, args.0),
        Command::Version(args) => system::version(&options, args.0),
    };
    // A reader that went away took what was left to print: end as a program killed by SIGPIPE
    // would, quietly, whatever the command made of its failed write (see out.rs).
    if out::closed() {
        return ExitCode::from(out::CLOSED_STATUS);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(Exit(code)) = e.downcast_ref::<Exit>() {
                return ExitCode::from(*code);
            }
            eprintln!("Error: {e:#}");
            let exit = e.downcast_ref::<berth_engine::Error>().map_or(Exit(1), Exit::for_error);
            ExitCode::from(exit.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand's arguments are well formed (clap checks them only when built, and `Lazy`
    /// builds each only when it runs): this builds them all.
    #[test]
    fn command_line_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_words_skip_global_options() {
        let words = |line: &str| {
            let args: Vec<std::ffi::OsString> = line.split(' ').map(Into::into).collect();
            command_words(&args).iter().map(|w| w.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(words("berth --root /r -l debug run -d busybox"), ["run"]);
        assert_eq!(
            words("berth --runroot=/x container exec -it c sh"),
            ["container", "exec"]
        );
        assert_eq!(words("berth system boot"), ["system", "boot"]);
        assert_eq!(words("berth ps -a"), ["ps"]);
        assert!(words("berth --version").is_empty());
        assert!(starts_container_processes(&["container", "exec"]));
        assert!(!starts_container_processes(&["container", "ls"]));
        assert!(!starts_container_processes(&["system", "df"]));
    }
}
