//! Registry commands: pull, push, login, logout, search, and `registry serve`.

use std::io::{IsTerminal, Read};

use anyhow::{bail, Context};
use berth_engine::filters::Filters;
use berth_engine::images::{PullOptions, PushOptions};
use berth_engine::{Engine, Options};
use clap::{Args, Subcommand};
use serde_json::json;

use super::engine;
use crate::format::{ellipsis, Listing};
use crate::out::{out, outln};
use crate::progress::Printer;

#[derive(Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Skip image verification (accepted; berth does not sign images)
    #[arg(long, default_value = "true", action = clap::ArgAction::Set)]
    disable_content_trust: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM")]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG|@DIGEST]
    name: String,
}

pub fn pull(options: &Options, args: PullArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let printer = Printer::new(std::io::stdout().is_terminal(), false, args.quiet);
    let pulled = engine.pull(
        &args.name,
        &PullOptions {
            platform: args.platform,
            all_tags: args.all_tags,
            auth: None,
        },
        &printer,
    )?;
    // Docker's client ends with the full reference (the repository for --all-tags), even with -q.
    let full = match (args.all_tags, pulled.last()) {
        (true, Some(p)) => p.repository.clone(),
        (false, Some(p)) => p.reference.clone(),
        (_, None) => return Ok(()),
    };
    if args.quiet {
        outln!("{full}")?;
    } else {
        printer.line(&full);
    }
    Ok(())
}

/// The pull `run` and `create` do for a missing image (`--pull missing`) or always (`--pull always`):
/// Docker's lines go to stderr, so the container's own output stays clean.
pub fn pull_for_run(engine: &Engine, image: &str, platform: Option<String>, quiet: bool) -> anyhow::Result<()> {
    let printer = Printer::new(std::io::stderr().is_terminal(), true, quiet);
    engine.pull(
        image,
        &PullOptions {
            platform,
            all_tags: false,
            auth: None,
        },
        &printer,
    )?;
    Ok(())
}

#[derive(Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Skip image signing (accepted; berth does not sign images)
    #[arg(long, default_value = "true", action = clap::ArgAction::Set)]
    disable_content_trust: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG]
    name: String,
}

pub fn push(options: &Options, args: PushArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let printer = Printer::new(std::io::stdout().is_terminal(), false, args.quiet);
    let push = PushOptions {
        all_tags: args.all_tags,
        auth: None,
    };
    let pushed = engine.push(&args.name, &push, &printer)?;
    if args.quiet {
        match (args.all_tags, pushed.last()) {
            (false, Some(p)) => outln!("{}:{}", p.repository, p.tag)?,
            (true, Some(p)) => outln!("{}", p.repository)?,
            (_, None) => {}
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// The registry (Docker Hub if none)
    server: Option<String>,
}

pub fn login(options: &Options, args: LoginArgs) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal();
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        if args.password_stdin {
            bail!("--password and --password-stdin are mutually exclusive");
        }
    }
    let password = if args.password_stdin {
        if args.username.is_none() {
            bail!("Must provide --username with --password-stdin");
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from stdin")?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else {
        args.password.clone().unwrap_or_default()
    };
    let username = match args.username.clone() {
        Some(u) => u,
        None if interactive => prompt("Username: ")?,
        None => bail!("Cannot perform an interactive login from a non TTY device"),
    };
    let password = if password.is_empty() && interactive {
        rpassword_prompt("Password: ")?
    } else {
        password
    };
    if password.is_empty() {
        bail!("Cannot perform an interactive login from a non TTY device");
    }
    engine(options)?.login(args.server.as_deref(), &username, &password)?;
    outln!("Login Succeeded")?;
    Ok(())
}

fn prompt(text: &str) -> anyhow::Result<String> {
    out!("{text}")?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Reads a line from the terminal with echo off.
fn rpassword_prompt(text: &str) -> anyhow::Result<String> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    out!("{text}")?;
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning echo off")?;
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    outln!()?;
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[derive(Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub if none)
    server: Option<String>,
}

pub fn logout(options: &Options, args: LogoutArgs) -> anyhow::Result<()> {
    let (registry, erased) = engine(options)?.logout(args.server.as_deref())?;
    let shown = if registry == berth_engine::registry::DEFAULT_REGISTRY {
        berth_registry_key()
    } else {
        registry
    };
    if erased {
        outln!("Removing login credentials for {shown}")?;
    } else {
        outln!("Not logged in to {shown}")?;
    }
    Ok(())
}

/// Docker Hub's name in config.json and in Docker's messages.
fn berth_registry_key() -> String {
    "https://index.docker.io/v1/".to_string()
}

#[derive(Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (stars=N, is-official=true|false)
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    limit: usize,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    term: String,
}

pub fn search(options: &Options, args: SearchArgs) -> anyhow::Result<()> {
    let filters = Filters::from_args(&args.filter)?;
    let results = engine(options)?.search(&args.term, args.limit, &filters)?;
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let description = if args.no_trunc {
                r.description.clone()
            } else {
                ellipsis(&r.description, 45)
            };
            json!({
                "Name": r.name,
                "Description": description,
                "StarCount": r.star_count.to_string(),
                "IsOfficial": if r.is_official { "[OK]" } else { "" },
            })
        })
        .collect();
    let listing = Listing::new(
        args.format.as_deref(),
        "{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
    )?;
    let headers = super::image::headers(&[
        ("Name", "NAME"),
        ("Description", "DESCRIPTION"),
        ("StarCount", "STARS"),
        ("IsOfficial", "OFFICIAL"),
    ]);
    out!("{}", listing.render(&rows, &headers)?)?;
    Ok(())
}

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Serve the OCI distribution API (a private registry)
    Serve(ServeArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: std::net::SocketAddr,
    /// An htpasswd file (bcrypt entries, as `htpasswd -B` writes): clients must log in
    #[arg(long)]
    htpasswd: Option<std::path::PathBuf>,
    /// TLS certificate (PEM); with --tls-key, the registry speaks HTTPS
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Remove upload sessions idle this long (e.g. 24h, 90m)
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    upload_purge_age: std::time::Duration,
    /// How often to look for idle upload sessions
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    upload_purge_interval: std::time::Duration,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    match berth_engine::when::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "invalid duration {text:?}: use a positive duration such as 30m or 24h"
        )),
    }
}

/// `registry serve`: the registry's content lives in `--root DIR` when given on the command line, else in
/// `registry/` under berth's data root.
pub fn run(options: &Options, root_given: bool, command: RegistryCommand) -> anyhow::Result<()> {
    let RegistryCommand::Serve(args) = command;
    let root = if root_given {
        options.root.clone()
    } else {
        berth_engine::layout::Layout::new(&options.root, &options.runroot).registry()
    };
    let tls = args.tls_cert.zip(args.tls_key);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut config = berth_registry_server::Config::new(root.clone());
    config.addr = args.addr;
    config.htpasswd = args.htpasswd;
    config.tls = tls;
    config.upload_max_age = args.upload_purge_age;
    config.upload_purge_interval = args.upload_purge_interval;
    let server = berth_registry_server::bind(config)?;
    eprintln!(
        "berth registry: serving {scheme}://{} from {}",
        server.local_addr(),
        root.display()
    );
    server.run()?;
    Ok(())
}
