//! Image commands: images/ls, import, tag, rmi, prune, inspect, history, save, load.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_engine::containers::inspect::InspectRequest;
use berth_engine::filters::Filters;
use berth_engine::images::{
    ImageListOptions, ImagePruneOptions, ImageSummary, ImportOptions, ImportSource, Removed, MISSING,
};
use berth_engine::Options;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::engine;
use crate::format::{ellipsis, go_time_unix, human_size, inspect_json, render_one, rfc3339_unix, since_unix, Listing};
use crate::out::{out, outln};
use crate::Exit;

#[derive(Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list", name = "ls")]
    Ls(LsArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove", name = "rm")]
    Rm(RmArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(super::registry::PullArgs),
    /// Upload an image to a registry
    Push(super::registry::PushArgs),
}

pub fn run(options: &Options, command: ImageCommand) -> anyhow::Result<()> {
    match command {
        ImageCommand::Ls(a) => ls(options, a),
        ImageCommand::Rm(a) => rm(options, a),
        ImageCommand::Tag(a) => tag(options, a),
        ImageCommand::Prune(a) => prune(options, a),
        ImageCommand::Inspect(mut a) => {
            a.kind = Some("image".into());
            inspect(options, a)
        }
        ImageCommand::History(a) => history(options, a),
        ImageCommand::Save(a) => save(options, a),
        ImageCommand::Load(a) => load(options, a),
        ImageCommand::Import(a) => import(options, a),
        ImageCommand::Pull(a) => super::registry::pull(options, a),
        ImageCommand::Push(a) => super::registry::push(options, a),
    }
}

#[derive(Args)]
pub struct LsArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided (dangling=, reference=, label=, before=, since=)
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// [REPOSITORY[:TAG]]
    reference: Option<String>,
}

pub fn ls(options: &Options, args: LsArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut filters = Filters::from_args(&args.filter)?;
    if let Some(r) = &args.reference {
        filters = filters.with("reference", r);
    }
    let images = engine.list_images(&ImageListOptions { all: args.all, filters })?;
    if args.quiet {
        let mut seen = HashSet::new();
        for image in &images {
            let id = short_id(&image.id, args.no_trunc);
            if seen.insert(id.clone()) {
                outln!("{id}")?;
            }
        }
        return Ok(());
    }
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|image| summary_rows(image, args.no_trunc))
        .collect();
    let table = if args.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let listing = Listing::new(args.format.as_deref(), table)?;
    out!(
        "{}",
        listing.render(
            &rows,
            &headers(&[
                ("Containers", "CONTAINERS"),
                ("CreatedAt", "CREATED AT"),
                ("CreatedSince", "CREATED"),
                ("Digest", "DIGEST"),
                ("ID", "IMAGE ID"),
                ("Repository", "REPOSITORY"),
                ("SharedSize", "SHARED SIZE"),
                ("Size", "SIZE"),
                ("Tag", "TAG"),
                ("UniqueSize", "UNIQUE SIZE"),
                ("VirtualSize", "VIRTUAL SIZE"),
            ])
        )?
    )?;
    Ok(())
}

/// An image ID as Docker's client shows it: 12 hex digits unless `--no-trunc`.
fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        return id.to_string();
    }
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

/// A familiar tag (`localhost:5000/app:1`) split into repository and tag.
fn split_tag(tag: &str) -> (String, String) {
    match tag.rsplit_once(':') {
        Some((repo, t)) if !t.contains('/') => (repo.to_string(), t.to_string()),
        _ => (tag.to_string(), "<none>".to_string()),
    }
}

/// The rows `images` shows for one image: one per tag, or per repository it was pulled from by digest
/// only (with no tag), or one `<none>` row.
fn summary_rows(image: &ImageSummary, no_trunc: bool) -> Vec<Value> {
    let entries: Vec<(String, String)> = if image.repo_tags.is_empty() {
        let mut repos: Vec<(String, String)> = image
            .repo_digests
            .iter()
            .filter_map(|d| {
                d.split_once('@')
                    .map(|(repo, _)| (repo.to_string(), "<none>".to_string()))
            })
            .collect();
        repos.dedup();
        if repos.is_empty() {
            repos.push(("<none>".into(), "<none>".into()));
        }
        repos
    } else {
        image.repo_tags.iter().map(|t| split_tag(t)).collect()
    };
    let id = short_id(&image.id, no_trunc);
    let size = human_size(u64::try_from(image.size).unwrap_or(0), 3);
    entries
        .into_iter()
        .map(|(repository, tag)| {
            let digest = image
                .repo_digests
                .iter()
                .find_map(|d| d.strip_prefix(&format!("{repository}@")).map(String::from))
                .unwrap_or_else(|| "<none>".into());
            json!({
                "Containers": "N/A",
                "CreatedAt": go_time_unix(image.created),
                "CreatedSince": since_unix(image.created),
                "Digest": digest,
                "ID": id,
                "Repository": repository,
                "SharedSize": "N/A",
                "Size": size,
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": size,
            })
        })
        .collect()
}

pub fn headers(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect()
}

#[derive(Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// file|URL|- : the tarball to import
    source: String,
    /// [REPOSITORY[:TAG]]
    reference: Option<String>,
}

pub fn import(options: &Options, args: ImportArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let import = ImportOptions {
        reference: args.reference,
        changes: args.change,
        message: args.message,
        source: args.source.clone(),
        platform: args.platform,
    };
    let id = if args.source == "-" {
        engine.import_from(ImportSource::Stream(&mut io::stdin().lock()), &import)?
    } else if ImportSource::is_url(&args.source) {
        engine.import_from(ImportSource::Url(args.source.clone()), &import)?
    } else {
        let mut file = File::open(&args.source).with_context(|| format!("open {}", args.source))?;
        engine.import_from(ImportSource::Stream(&mut file), &import)?
    };
    outln!("{id}")?;
    Ok(())
}

#[derive(Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

pub fn tag(options: &Options, args: TagArgs) -> anyhow::Result<()> {
    engine(options)?.tag(&args.source, &args.target)?;
    Ok(())
}

#[derive(Args)]
pub struct RmArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    /// IMAGE [IMAGE...]
    #[arg(required = true)]
    images: Vec<String>,
}

fn print_removed(removed: &[Removed], lower: bool) -> std::io::Result<()> {
    for r in removed {
        match (r, lower) {
            (Removed::Untagged(n), false) => outln!("Untagged: {n}"),
            (Removed::Deleted(d), false) => outln!("Deleted: {d}"),
            (Removed::Untagged(n), true) => outln!("untagged: {n}"),
            (Removed::Deleted(d), true) => outln!("deleted: {d}"),
        }?;
    }
    Ok(())
}

pub fn rm(options: &Options, args: RmArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut failed = false;
    for name in &args.images {
        match engine.remove_image(name, args.force) {
            Ok(removed) => print_removed(&removed, false)?,
            Err(e) => {
                eprintln!("Error: {e}");
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
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(options: &Options, args: PruneArgs) -> anyhow::Result<()> {
    let filters = Filters::from_args(&args.filter)?;
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !super::confirm(warning)? {
            return Ok(());
        }
    }
    let pruned = engine(options)?.prune_images_filtered(&ImagePruneOptions { all: args.all, filters })?;
    if !pruned.removed.is_empty() {
        outln!("Deleted Images:")?;
        print_removed(&pruned.removed, true)?;
        outln!()?;
    }
    outln!("Total reclaimed space: {}", human_size(pruned.space_reclaimed, 4))?;
    Ok(())
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    format: Option<String>,
    /// Return JSON for specified type (image)
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    /// NAME|ID [NAME|ID...]
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn inspect(options: &Options, args: InspectArgs) -> anyhow::Result<()> {
    let kind = args.kind.as_deref().unwrap_or("");
    if !matches!(kind, "" | "image" | "container" | "volume") {
        bail!("\"{kind}\" is not a valid value for --type: use image, container or volume");
    }
    let engine = engine(options)?;
    // --size counts containers' writable layers (images have their size anyway).
    let request = InspectRequest { size: args.size };
    let mut values = Vec::new();
    let mut failed = false;
    for name in &args.names {
        // Like docker: containers first, then images, unless --type says which.
        let found = match kind {
            "image" => engine.inspect_image(name).and_then(to_json),
            "container" => engine.inspect_container(name, request).and_then(to_json),
            "volume" => engine.volume(name).map(|v| super::volume::volume_json(&v)),
            _ => engine
                .inspect_container(name, request)
                .and_then(to_json)
                .or_else(|_| engine.inspect_image(name).and_then(to_json))
                .or_else(|e| {
                    engine
                        .volume(name)
                        .map(|v| super::volume::volume_json(&v))
                        .map_err(|_| e)
                })
                .map_err(|e| match e {
                    berth_engine::Error::NoSuchImage(_) => {
                        berth_engine::Error::InvalidArgument(format!("No such object: {name}"))
                    }
                    other => other,
                }),
        };
        match found {
            Ok(v) => values.push(v),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    print_inspect(&values, args.format.as_deref())?;
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

/// A typed engine result as the JSON the templates and `inspect` print.
pub(crate) fn to_json(value: impl serde::Serialize) -> berth_engine::Result<Value> {
    serde_json::to_value(value).map_err(|e| berth_engine::Error::Internal(format!("encoding the result: {e}")))
}

/// Prints inspect results: a JSON array, or one template line per object.
pub fn print_inspect(values: &[Value], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        Some(format) => {
            for v in values {
                outln!("{}", render_one(format, v)?)?;
            }
        }
        None => outln!("{}", inspect_json(&Value::Array(values.to_vec())))?,
    }
    Ok(())
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value = "true", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show history for the given platform
    #[arg(long)]
    platform: Option<String>,
    /// IMAGE
    image: String,
}

pub fn history(options: &Options, args: HistoryArgs) -> anyhow::Result<()> {
    if let Some(platform) = &args.platform {
        // Refused rather than ignored: berth keeps one platform of each image.
        bail!("history --platform {platform} is not supported yet: berth keeps one platform of each image");
    }
    let engine = engine(options)?;
    let rows = engine.history(&args.image)?;
    let id_text = |id: &str| {
        if id == MISSING {
            id.to_string()
        } else {
            short_id(id, args.no_trunc)
        }
    };
    if args.quiet {
        for row in &rows {
            outln!("{}", id_text(&row.id))?;
        }
        return Ok(());
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|row| {
            let created_by = row.created_by.replace('\t', " ");
            let created_by = if args.no_trunc {
                created_by
            } else {
                ellipsis(&created_by, 45)
            };
            let size = u64::try_from(row.size).unwrap_or(0);
            json!({
                "ID": id_text(&row.id),
                "CreatedSince": if args.human { since_unix(row.created) } else { rfc3339_unix(row.created) },
                "CreatedAt": rfc3339_unix(row.created),
                "CreatedBy": created_by,
                "Size": if args.human { human_size(size, 3) } else { row.size.to_string() },
                "Comment": row.comment,
                "Tags": row.tags.join(", "),
            })
        })
        .collect();
    let listing = Listing::new(
        args.format.as_deref(),
        "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    )?;
    out!(
        "{}",
        listing.render(
            &values,
            &headers(&[
                ("ID", "IMAGE"),
                ("CreatedSince", "CREATED"),
                ("CreatedAt", "CREATED AT"),
                ("CreatedBy", "CREATED BY"),
                ("Size", "SIZE"),
                ("Comment", "COMMENT"),
                ("Tags", "TAGS"),
            ])
        )?
    )?;
    Ok(())
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Save only the given platform variant
    #[arg(long)]
    platform: Option<String>,
    /// IMAGE [IMAGE...]
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn save(options: &Options, args: SaveArgs) -> anyhow::Result<()> {
    if let Some(platform) = &args.platform {
        // Refused rather than ignored: berth keeps one platform of each image, and saves that.
        bail!("save --platform {platform} is not supported yet: berth keeps one platform of each image");
    }
    let engine = engine(options)?;
    match &args.output {
        Some(path) => {
            if path.file_name().is_none() {
                bail!("-o needs a file name");
            }
            engine
                .save_to_path(&args.images, path)
                .with_context(|| format!("failed to save image to {}", path.display()))?;
        }
        None => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            engine.save(&args.images, crate::out::stdout())?.flush()?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
    /// Load only the given platform variant
    #[arg(long)]
    platform: Option<String>,
}

pub fn load(options: &Options, args: LoadArgs) -> anyhow::Result<()> {
    let input: Box<dyn Read> = match &args.input {
        Some(path) => Box::new(File::open(path).with_context(|| format!("open {}", path.display()))?),
        None => {
            if io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            Box::new(io::stdin())
        }
    };
    if let Some(platform) = &args.platform {
        // Refused rather than ignored: the archive's every image would be loaded.
        bail!("load --platform {platform} is not supported yet: load the whole archive, or save only the variant you need");
    }
    let engine = engine(options)?;
    let loaded = engine.load(input)?;
    for line in loaded.iter().flat_map(|image| image.lines()) {
        outln!("{line}")?;
    }
    // -q hides progress, as Docker's does: berth's load prints none, only the lines above (which -q keeps).
    let _ = args.quiet;
    Ok(())
}
