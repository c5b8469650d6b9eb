//! `volume create|ls|inspect|rm|prune`.

use anyhow::{bail, Context};
use berth_engine::volumes::Volume;
use berth_engine::Options;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{engine, key_values};
use crate::format::{human_size, Listing};
use crate::Exit;

#[derive(Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list", name = "ls")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove", name = "rm")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

pub fn run(options: &Options, command: VolumeCommand) -> anyhow::Result<()> {
    match command {
        VolumeCommand::Create(a) => create(options, a),
        VolumeCommand::Ls(a) => ls(options, a),
        VolumeCommand::Inspect(a) => inspect(options, a),
        VolumeCommand::Rm(a) => rm(options, a),
        VolumeCommand::Prune(a) => prune(options, a),
    }
}

#[derive(Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options (type=tmpfs|none, device=, o=)
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    name: Option<String>,
}

pub fn create(options: &Options, args: CreateArgs) -> anyhow::Result<()> {
    if args.driver != "local" {
        bail!(
            "plugin \"{}\" not found: berth has the local volume driver only",
            args.driver
        );
    }
    let v = engine(options)?.create_volume(
        args.name.as_deref(),
        key_values(&args.label, "label")?,
        key_values(&args.opt, "option")?,
        false,
    )?;
    println!("{}", v.name);
    Ok(())
}

pub fn volume_json(v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created,
        "Driver": "local",
        "Labels": v.labels,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": v.options,
        "Scope": "local",
    })
}

#[derive(Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true", "name=x", "label=k[=v]")
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
}

pub fn ls(options: &Options, args: LsArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut volumes = engine.volumes()?;
    for f in &args.filter {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
        match k {
            "dangling" => {
                let want = matches!(v, "true" | "1");
                let mut kept = Vec::new();
                for vol in volumes {
                    if engine.volume_users(&vol.name)?.is_empty() == want {
                        kept.push(vol);
                    }
                }
                volumes = kept;
            }
            "name" => volumes.retain(|vol| vol.name.contains(v)),
            "label" => volumes.retain(|vol| match v.split_once('=') {
                Some((lk, lv)) => vol.labels.get(lk).map(String::as_str) == Some(lv),
                None => vol.labels.contains_key(v),
            }),
            "driver" => volumes.retain(|_| v == "local"),
            _ => bail!("invalid filter '{k}'"),
        }
    }
    if args.quiet {
        for v in &volumes {
            println!("{}", v.name);
        }
        return Ok(());
    }
    let rows: Vec<Value> = volumes
        .iter()
        .map(|v| {
            json!({
                "Driver": "local",
                "Name": v.name,
                "Mountpoint": v.mountpoint,
                "Labels": v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Scope": "local",
                "Size": "N/A",
                "Links": "N/A",
            })
        })
        .collect();
    let listing = Listing::new(args.format.as_deref(), "{{.Driver}}\t{{.Name}}")?;
    print!(
        "{}",
        listing.render(
            &rows,
            &super::image::headers(&[
                ("Driver", "DRIVER"),
                ("Name", "VOLUME NAME"),
                ("Mountpoint", "MOUNTPOINT"),
                ("Labels", "LABELS"),
                ("Scope", "SCOPE"),
                ("Size", "SIZE"),
                ("Links", "LINKS"),
            ])
        )?
    );
    Ok(())
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    volumes: Vec<String>,
}

pub fn inspect(options: &Options, args: InspectArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut values = Vec::new();
    let mut failed = false;
    for name in &args.volumes {
        match engine.volume(name) {
            Ok(v) => values.push(volume_json(&v)),
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

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    volumes: Vec<String>,
}

pub fn rm(options: &Options, args: RmArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    super::each(&args.volumes, |name| engine.remove_volume(name, args.force))
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(options: &Options, args: PruneArgs) -> anyhow::Result<()> {
    if !args.force
        && !super::confirm("WARNING! This will remove anonymous local volumes not used by at least one container.")?
    {
        return Ok(());
    }
    if !args.filter.is_empty() {
        bail!("volume prune filters are not supported yet");
    }
    let (removed, bytes) = engine(options)?.prune_volumes(args.all)?;
    if !removed.is_empty() {
        println!("Deleted Volumes:");
        for name in &removed {
            println!("{name}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(bytes, 4));
    Ok(())
}
