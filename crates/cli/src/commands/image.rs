//! Image commands: images/ls, import, tag, rmi, prune, inspect, history, save, load.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_engine::images::{Image, ImportOptions, Removed};
use berth_engine::Options;
use berth_reference::Reference;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::engine;
use crate::format::{ellipsis, go_time, human_size, inspect_json, render_one, since, Listing};
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

/// Image list filters, parsed from `--filter key=value`.
#[derive(Default)]
struct Filters {
    dangling: Option<bool>,
    references: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    before: Option<String>,
    since: Option<String>,
}

impl Filters {
    fn parse(filters: &[String]) -> anyhow::Result<Filters> {
        let mut f = Filters::default();
        for filter in filters {
            let (key, value) = filter
                .split_once('=')
                .with_context(|| format!("bad format of filter (expected name=value): {filter}"))?;
            match key {
                "dangling" => {
                    f.dangling = Some(match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => bail!("invalid filter 'dangling={value}': use true or false"),
                    })
                }
                "reference" => f.references.push(value.to_string()),
                "label" => f.labels.push(match value.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (value.to_string(), None),
                }),
                "before" => f.before = Some(value.to_string()),
                "since" => f.since = Some(value.to_string()),
                _ => bail!("invalid filter '{key}'"),
            }
        }
        Ok(f)
    }

    fn labels_match(&self, image: &Image) -> bool {
        let labels = image.labels();
        self.labels.iter().all(|(k, v)| match v {
            Some(v) => labels.get(k) == Some(v),
            None => labels.contains_key(k),
        })
    }
}

/// Go's path.Match for reference filters: `*` does not cross `/`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && text[0] != b'/' && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(c)) if p == c => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

fn reference_matches(pattern: &str, tag: &str) -> bool {
    let Ok(r) = Reference::parse(tag) else { return false };
    let name = r.familiar_name();
    let with_tag = r.familiar_string();
    glob(pattern.as_bytes(), name.as_bytes()) || glob(pattern.as_bytes(), with_tag.as_bytes())
}

pub fn ls(options: &Options, args: LsArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut filters = Filters::parse(&args.filter)?;
    if let Some(r) = &args.reference {
        filters.references.push(r.clone());
    }
    let images = engine.images()?;
    let created_of = |name: &str| -> anyhow::Result<Option<String>> { Ok(engine.image(name)?.config.created) };
    let before = filters.before.as_deref().map(created_of).transpose()?.flatten();
    let after = filters.since.as_deref().map(created_of).transpose()?.flatten();
    let parents: HashSet<String> = images
        .iter()
        .filter_map(|i| i.record.parent.as_ref().map(|p| p.to_string()))
        .collect();
    // Images only the build cache keeps are shown with -a only, as BuildKit keeps its cache apart.
    let cache_only = engine.build_cache_images()?;

    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for image in &images {
        let dangling = image.record.tags.is_empty();
        let intermediate = dangling && parents.contains(&image.id().to_string());
        if (intermediate || cache_only.contains(image.id())) && !args.all {
            continue;
        }
        if filters.dangling.is_some_and(|d| d != dangling) || !filters.labels_match(image) {
            continue;
        }
        let created = image.config.created.clone();
        if before.is_some() && created >= before || after.is_some() && created <= after {
            continue;
        }
        let tags: Vec<String> = image
            .record
            .tags
            .iter()
            .filter(|t| filters.references.is_empty() || filters.references.iter().any(|p| reference_matches(p, t)))
            .cloned()
            .collect();
        if !filters.references.is_empty() && tags.is_empty() {
            continue;
        }
        let id = if args.no_trunc {
            image.id().to_string()
        } else {
            image.id().short().to_string()
        };
        if args.quiet {
            if seen.insert(id.clone()) {
                println!("{id}");
            }
            continue;
        }
        let entries: Vec<(String, String)> = if tags.is_empty() {
            // Pulled by digest only: Docker shows the repository with no tag.
            let mut repos: Vec<(String, String)> = image
                .repo_digests()
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
            tags.iter()
                .map(|t| {
                    let r = Reference::parse(t).ok();
                    (
                        r.as_ref().map(|r| r.familiar_name()).unwrap_or_default(),
                        r.as_ref()
                            .and_then(|r| r.tag().map(String::from))
                            .unwrap_or_else(|| "<none>".into()),
                    )
                })
                .collect()
        };
        for (repository, tag) in entries {
            let digest = image
                .repo_digests()
                .iter()
                .find_map(|d| d.strip_prefix(&format!("{repository}@")).map(String::from))
                .unwrap_or_else(|| "<none>".into());
            let size = human_size(image.record.size, 3);
            rows.push(json!({
                "Containers": "N/A",
                "CreatedAt": go_time(created.as_deref()),
                "CreatedSince": since(created.as_deref()),
                "Digest": digest,
                "ID": id,
                "Repository": repository,
                "SharedSize": "N/A",
                "Size": size,
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": size,
            }));
        }
    }
    if args.quiet {
        return Ok(());
    }
    let table = if args.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let listing = Listing::new(args.format.as_deref(), table)?;
    print!(
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
    );
    Ok(())
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
    if let Some(p) = &args.platform {
        let host = berth_image::spec::host_platform();
        if !p.starts_with(&format!("{}/{}", host.os, host.architecture)) && p != &host.os {
            bail!(
                "platform {p} is not supported here: this machine runs {}/{}",
                host.os,
                host.architecture
            );
        }
    }
    let engine = engine(options)?;
    let mut input: Box<dyn Read> = if args.source == "-" {
        Box::new(io::stdin().lock())
    } else if args.source.starts_with("http://") || args.source.starts_with("https://") {
        let response = ureq::get(&args.source)
            .call()
            .with_context(|| format!("downloading {}", args.source))?;
        Box::new(response.into_reader())
    } else {
        Box::new(File::open(&args.source).with_context(|| format!("open {}", args.source))?)
    };
    let id = engine.import(
        &mut input,
        &ImportOptions {
            reference: args.reference,
            changes: args.change,
            message: args.message,
            source: args.source,
        },
    )?;
    println!("{id}");
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

fn print_removed(removed: &[Removed], lower: bool) {
    for r in removed {
        match (r, lower) {
            (Removed::Untagged(n), false) => println!("Untagged: {n}"),
            (Removed::Deleted(d), false) => println!("Deleted: {d}"),
            (Removed::Untagged(n), true) => println!("untagged: {n}"),
            (Removed::Deleted(d), true) => println!("deleted: {d}"),
        }
    }
}

pub fn rm(options: &Options, args: RmArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut failed = false;
    for name in &args.images {
        match engine.remove_image(name, args.force) {
            Ok(removed) => print_removed(&removed, false),
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
    let mut labels = Vec::new();
    let mut until = None;
    for f in &args.filter {
        match f.split_once('=') {
            Some(("label", v)) => labels.push(v.to_string()),
            Some(("until", v)) => until = Some(v.to_string()),
            _ => bail!("invalid filter '{f}': image prune takes until= and label="),
        }
    }
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
    let engine = engine(options)?;
    let until = until.map(|u| parse_until(&u)).transpose()?;
    // The build cache's images are `builder prune`'s to remove, as BuildKit's cache is.
    let cache_only = engine.build_cache_images()?;
    let (removed, reclaimed) = engine.prune_images(args.all, |image| {
        if cache_only.contains(image.id()) {
            return true;
        }
        let labels_ok = labels.iter().all(|l| {
            let all = image.labels();
            match l.split_once('=') {
                Some((k, v)) => all.get(k).map(String::as_str) == Some(v),
                None => all.contains_key(l),
            }
        });
        let old_enough = until.is_none_or(|u| {
            image
                .config
                .created
                .as_deref()
                .and_then(crate::format::parse_time)
                .is_some_and(|c| c.timestamp() < u)
        });
        !(labels_ok && old_enough)
    })?;
    if !removed.is_empty() {
        println!("Deleted Images:");
        print_removed(&removed, true);
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed, 4));
    Ok(())
}

/// `until=` takes a Unix time, an RFC 3339 time or a duration like 24h.
fn parse_until(value: &str) -> anyhow::Result<i64> {
    if let Ok(t) = value.parse::<i64>() {
        return Ok(t);
    }
    if let Some(t) = crate::format::parse_time(value) {
        return Ok(t.timestamp());
    }
    let (number, unit) = value.split_at(value.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let n: f64 = number
        .parse()
        .with_context(|| format!("invalid until value {value:?}"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("invalid until value {value:?}: use a timestamp or a duration like 24h"),
    };
    Ok(chrono::Utc::now().timestamp() - seconds as i64)
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
    let mut values = Vec::new();
    let mut failed = false;
    for name in &args.names {
        // Like docker: containers first, then images, unless --type says which.
        let found = match kind {
            "image" => engine.inspect_image(name),
            "container" => engine.inspect_container(name),
            "volume" => engine.volume(name).map(|v| super::volume::volume_json(&v)),
            _ => engine
                .inspect_container(name)
                .or_else(|_| engine.inspect_image(name))
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

/// Prints inspect results: a JSON array, or one template line per object.
pub fn print_inspect(values: &[Value], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        Some(format) => {
            for v in values {
                println!("{}", render_one(format, v)?);
            }
        }
        None => println!("{}", inspect_json(&Value::Array(values.to_vec()))),
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
    let engine = engine(options)?;
    let rows = engine.history(&args.image)?;
    let id_text = |id: &Option<berth_engine::Digest>| match id {
        Some(d) if args.no_trunc => d.to_string(),
        Some(d) => d.short().to_string(),
        None => "<missing>".into(),
    };
    if args.quiet {
        for row in &rows {
            println!("{}", id_text(&row.id));
        }
        return Ok(());
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|row| {
            let created_by = row.created_by.replace('\t', " ");
            let created_by = if args.no_trunc { created_by } else { ellipsis(&created_by, 45) };
            json!({
                "ID": id_text(&row.id),
                "CreatedSince": if args.human { since(row.created.as_deref()) } else { row.created.clone().unwrap_or_default() },
                "CreatedAt": row.created.clone().unwrap_or_default(),
                "CreatedBy": created_by,
                "Size": if args.human { human_size(row.size, 3) } else { row.size.to_string() },
                "Comment": row.comment,
                "Tags": row.tags.join(", "),
            })
        })
        .collect();
    let listing = Listing::new(
        args.format.as_deref(),
        "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    )?;
    print!(
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
    );
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
            let stdout = io::stdout();
            if stdout.is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            drop(engine.save(&args.images, stdout.lock())?);
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
    for image in loaded {
        for (tag, old) in &image.moved {
            println!("The image {tag} already exists, renaming the old one with ID {old} to empty string");
        }
        if image.tags.is_empty() {
            println!("Loaded image ID: {}", image.id);
        }
        for tag in &image.tags {
            println!("Loaded image: {tag}");
        }
    }
    // -q hides progress, as Docker's does: berth's load prints none, only the lines above (which -q keeps).
    let _ = args.quiet;
    Ok(())
}
