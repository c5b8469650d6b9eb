//! `volume create|ls|inspect|rm|prune`.

use anyhow::bail;
use berth_engine::filters::Filters;
use berth_engine::volumes::Volume;
use berth_engine::Options;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::{engine, key_values};
use crate::format::{human_size, Listing};
use crate::out::{out, outln};
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
    outln!("{}", v.name)?;
    Ok(())
}

/// Docker's volume object, for `inspect` of any kind.
pub fn volume_json(v: &Volume) -> Value {
    json(&berth_engine::views::Volume::from(v))
}

fn json(v: &berth_engine::views::Volume) -> Value {
    // A struct of strings and string maps: serializing it cannot fail.
    serde_json::to_value(v).unwrap_or_default()
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
    let volumes = engine(options)?.list_volumes(&Filters::from_args(&args.filter)?)?;
    if args.quiet {
        for v in &volumes {
            outln!("{}", v.name)?;
        }
        return Ok(());
    }
    let rows: Vec<Value> = volumes
        .iter()
        .map(|v| {
            let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            serde_json::json!({
                "Driver": v.driver,
                "Name": v.name,
                "Mountpoint": v.mountpoint,
                "Labels": labels.join(","),
                "Scope": v.scope,
                "Size": "N/A",
                "Links": "N/A",
            })
        })
        .collect();
    let listing = Listing::new(args.format.as_deref(), "{{.Driver}}\t{{.Name}}")?;
    out!(
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
    )?;
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
        match engine.inspect_volume(name) {
            Ok(v) => values.push(json(&v)),
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
    /// Provide filter values (e.g. "label=<key>=<value>", "label!=<key>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(options: &Options, args: PruneArgs) -> anyhow::Result<()> {
    let mut filters = args.filter.clone();
    if args.all {
        filters.push("all=true".into());
    }
    let filters = Filters::from_args(&filters)?;
    if !args.force
        && !super::confirm("WARNING! This will remove anonymous local volumes not used by at least one container.")?
    {
        return Ok(());
    }
    let report = engine(options)?.prune_volumes(&filters)?;
    if !report.volumes_deleted.is_empty() {
        outln!("Deleted Volumes:")?;
        for name in &report.volumes_deleted {
            outln!("{name}")?;
        }
        outln!()?;
    }
    outln!("Total reclaimed space: {}", human_size(report.space_reclaimed, 4))?;
    Ok(())
}
