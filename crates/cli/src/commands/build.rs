//! `build` and `builder prune`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_engine::build::{BuildOptions, BuildOutput};
use berth_engine::build_context::{BuildContext, BuildRequest, Dockerfile};
use berth_engine::Options;
use clap::{Args, Subcommand};

use super::engine;
use crate::out::outln;

#[derive(Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short, long = "tag")]
    tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from stdin)
    #[arg(short, long)]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Set metadata for an image
    #[arg(long)]
    label: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long)]
    network: Option<String>,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long)]
    add_host: Vec<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=x,env=VAR")
    #[arg(long)]
    secret: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Remove intermediate containers after a successful build (always)
    #[arg(long, default_value = "true", action = clap::ArgAction::Set)]
    rm: bool,
    /// Always remove intermediate containers (always)
    #[arg(long)]
    force_rm: bool,
    /// PATH | - (a Dockerfile on stdin, with no context)
    context: String,
}

/// Docker's classic builder lines, on stdout (nothing with -q).
struct Lines {
    quiet: bool,
}

impl BuildOutput for Lines {
    fn line(&self, text: &str) {
        if !self.quiet {
            // A closed stdout is noted (`main` ends with its status); the build goes on.
            let _ = outln!("{text}");
        }
    }
}

pub fn build(options: &Options, args: BuildArgs) -> anyhow::Result<()> {
    let mut build_args = BTreeMap::new();
    for a in &args.build_arg {
        match a.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            // `--build-arg NAME` takes the value from the environment, as Docker does.
            None => match std::env::var(a) {
                Ok(v) => build_args.insert(a.clone(), v),
                Err(_) => continue,
            },
        };
    }
    let labels = super::key_values(&args.label, "label")?;
    for h in &args.add_host {
        if !h.contains(':') {
            bail!("invalid argument {h:?} for \"--add-host\" flag: bad format for add-host: {h:?}");
        }
    }
    let context = if args.context == "-" {
        if args.file.as_deref() == Some("-") {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        BuildContext::Stream(Box::new(std::io::stdin()))
    } else {
        BuildContext::from_arg(&args.context)
    };
    let dockerfile = match args.file.as_deref() {
        None => Dockerfile::Default,
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the Dockerfile from stdin")?;
            Dockerfile::Text(text)
        }
        // With a directory context, -f names a file here; with any other, a file inside the context.
        Some(f) if matches!(context, BuildContext::Dir(_)) => Dockerfile::Host(PathBuf::from(f)),
        Some(f) => Dockerfile::InContext(f.to_string()),
    };
    let request = BuildRequest {
        context,
        dockerfile,
        platform: args.platform.clone(),
        options: BuildOptions {
            tags: args.tag.clone(),
            build_args,
            target: args.target.clone(),
            no_cache: args.no_cache,
            pull: args.pull,
            labels,
            network: args.network.clone(),
            quiet: args.quiet,
            add_hosts: args.add_host.clone(),
            secrets: read_secrets(&args.secret)?,
            ..BuildOptions::default()
        },
    };
    let engine = engine(options)?;
    let id = engine.build_from(request, &Lines { quiet: args.quiet })?;
    if args.quiet {
        outln!("{id}")?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, id.to_string()).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `--secret id=ID[,src=FILE|,env=VAR]` (with neither: the variable named ID), read now.
fn read_secrets(specs: &[String]) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut secrets = BTreeMap::new();
    for spec in specs {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => bail!("invalid --secret {spec:?}: use id=NAME,src=FILE or id=NAME,env=VAR"),
            }
        }
        let Some(id) = id else {
            bail!("invalid --secret {spec:?}: it needs an id");
        };
        let value = match (src, env) {
            (Some(path), _) => std::fs::read(&path).with_context(|| format!("reading secret {id} from {path}"))?,
            (None, var) => {
                let var = var.unwrap_or_else(|| id.clone());
                std::env::var(&var)
                    .with_context(|| format!("secret {id}: the variable {var} is not set"))?
                    .into_bytes()
            }
        };
        secrets.insert(id, value);
    }
    Ok(secrets)
}

#[derive(Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn builder(options: &Options, command: BuilderCommand) -> anyhow::Result<()> {
    let BuilderCommand::Prune(args) = command;
    if !args.force && !super::confirm("WARNING! This will remove all dangling build cache.")? {
        return Ok(());
    }
    let bytes = engine(options)?.prune_build_cache()?.space_reclaimed;
    outln!("Total reclaimed space: {}", crate::format::human_size(bytes, 4))?;
    Ok(())
}
