//! `system df`, `prune`, `check`, `boot`, `network-reset`, and `info` and `version`.

use berth_engine::check::{CheckOptions, CheckReport, Repair};
use berth_engine::containers::list::ContainerSummary;
use berth_engine::filters::Filters;
use berth_engine::images::ImageSummary;
use berth_engine::images::Removed;
use berth_engine::prune::SystemPruneOptions;
use berth_engine::system::{BuildCacheRecord, DataUsageOptions, SystemDataUsage};
use berth_engine::views::volume::Volume;
use berth_engine::{Engine, Options};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::engine;
use crate::format::{ellipsis, human_size, render_one, since, since_unix, Listing};
use crate::out::{out, outln};
use crate::Exit;

#[derive(Subcommand)]
pub enum SystemCommand {
    /// Show berth disk usage
    Df(DfArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Get real time events from berth
    Events(super::events::EventsArgs),
    /// Start the containers whose restart policy wants them running (run at boot)
    Boot,
    /// Remove unused data: stopped containers, dangling images (and with -a unused ones), with --volumes unused anonymous volumes
    Prune(PruneArgs),
    /// Check the data root and what it set up on the host for leftovers and damage; --repair fixes what it can
    Check(CheckArgs),
    /// Take down what this data root set up on the host's network: every network without containers, the
    /// default bridge included, with their firewall rules (for uninstalling, and for tests)
    #[command(name = "network-reset")]
    NetworkReset,
}

pub fn run(options: &Options, command: SystemCommand) -> anyhow::Result<()> {
    match command {
        SystemCommand::Df(a) => df(options, a),
        SystemCommand::Info(a) => info(options, a),
        SystemCommand::Events(a) => super::events::events(options, a),
        SystemCommand::Prune(a) => prune(options, a),
        SystemCommand::Check(a) => check(options, a),
        SystemCommand::NetworkReset => {
            for name in engine(options)?.reset_networks()? {
                outln!("{name}")?;
            }
            Ok(())
        }
        SystemCommand::Boot => {
            for name in engine(options)?.boot()? {
                outln!("{name}")?;
            }
            Ok(())
        }
    }
}

#[derive(Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
}

fn reclaimable(reclaim: u64, total: u64) -> String {
    if total == 0 {
        return human_size(reclaim, 4);
    }
    format!("{} ({}%)", human_size(reclaim, 4), reclaim * 100 / total)
}

pub fn df(options: &Options, args: DfArgs) -> anyhow::Result<()> {
    let usage = engine(options)?.disk_usage(&DataUsageOptions { verbose: args.verbose })?;
    if args.verbose {
        return df_verbose(&usage, args.format.as_deref());
    }
    let row = |kind: &str, total: u64, active: u64, size: u64, reclaim: String| {
        json!({
            "Type": kind,
            "TotalCount": total.to_string(),
            "Active": active.to_string(),
            "Size": human_size(size, 4),
            "Reclaimable": reclaim,
        })
    };
    let (images, containers, volumes, cache) = (
        &usage.image_usage,
        &usage.container_usage,
        &usage.volume_usage,
        &usage.build_cache_usage,
    );
    let rows = vec![
        row(
            "Images",
            images.total_count,
            images.active_count,
            images.total_size,
            reclaimable(images.reclaimable, images.total_size),
        ),
        row(
            "Containers",
            containers.total_count,
            containers.active_count,
            containers.total_size,
            reclaimable(containers.reclaimable, containers.total_size),
        ),
        row(
            "Local Volumes",
            volumes.total_count,
            volumes.active_count,
            volumes.total_size,
            reclaimable(volumes.reclaimable, volumes.total_size),
        ),
        // As docker prints it: the whole cache is reclaimable, so no share.
        row(
            "Build Cache",
            cache.total_count,
            cache.active_count,
            cache.total_size,
            human_size(cache.reclaimable, 4),
        ),
    ];
    let listing = Listing::new(
        args.format.as_deref(),
        "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    )?;
    out!(
        "{}",
        listing.render(
            &rows,
            &super::image::headers(&[
                ("Type", "TYPE"),
                ("TotalCount", "TOTAL"),
                ("Active", "ACTIVE"),
                ("Size", "SIZE"),
                ("Reclaimable", "RECLAIMABLE"),
            ])
        )?
    )?;
    Ok(())
}

/// `system df -v`: docker's four tables, or with `--format` a template over the four lists of rows
/// (`.Images`, `.Containers`, `.Volumes`, `.BuildCache`).
fn df_verbose(usage: &SystemDataUsage, format: Option<&str>) -> anyhow::Result<()> {
    let images: Vec<Value> = usage.image_usage.items.iter().map(df_image_row).collect();
    let containers: Vec<Value> = usage.container_usage.items.iter().map(df_container_row).collect();
    let volumes: Vec<Value> = usage.volume_usage.items.iter().map(df_volume_row).collect();
    let mut records: Vec<&BuildCacheRecord> = usage.build_cache_usage.items.iter().collect();
    // Docker's order: never used first (by ID), then by last use.
    records.sort_by(|a, b| (&a.last_used_at, &a.id).cmp(&(&b.last_used_at, &b.id)));
    let cache: Vec<Value> = records.into_iter().map(df_cache_row).collect();
    match format.map(str::trim) {
        None | Some("table") => {}
        Some("json") => {
            let all = json!({ "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache });
            outln!("{}", serde_json::to_string(&all)?)?;
            return Ok(());
        }
        Some(template) => {
            let all = json!({ "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache });
            outln!("{}", render_one(template, &all)?)?;
            return Ok(());
        }
    }
    let table = |template: &str, rows: &[Value], headers: &[(&str, &str)]| -> anyhow::Result<String> {
        Listing::new(None, template)?.render(rows, &super::image::headers(headers))
    };
    out!("Images space usage:\n\n")?;
    out!(
        "{}",
        table(
            "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
            &images,
            &[
                ("Repository", "REPOSITORY"),
                ("Tag", "TAG"),
                ("ID", "IMAGE ID"),
                ("CreatedSince", "CREATED"),
                ("Size", "SIZE"),
                ("SharedSize", "SHARED SIZE"),
                ("UniqueSize", "UNIQUE SIZE"),
                ("Containers", "CONTAINERS"),
            ],
        )?
    )?;
    out!("\nContainers space usage:\n\n")?;
    out!(
        "{}",
        table(
            "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
            &containers,
            &[
                ("ID", "CONTAINER ID"),
                ("Image", "IMAGE"),
                ("Command", "COMMAND"),
                ("LocalVolumes", "LOCAL VOLUMES"),
                ("Size", "SIZE"),
                ("RunningFor", "CREATED"),
                ("Status", "STATUS"),
                ("Names", "NAMES"),
            ],
        )?
    )?;
    out!("\nLocal Volumes space usage:\n\n")?;
    out!(
        "{}",
        table(
            "{{.Name}}\t{{.Links}}\t{{.Size}}",
            &volumes,
            &[("Name", "VOLUME NAME"), ("Links", "LINKS"), ("Size", "SIZE")],
        )?
    )?;
    out!(
        "\nBuild cache usage: {}\n\n",
        human_size(usage.build_cache_usage.total_size, 4)
    )?;
    out!(
        "{}",
        table(
            "{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
            &cache,
            &[
                ("ID", "CACHE ID"),
                ("CacheType", "CACHE TYPE"),
                ("Size", "SIZE"),
                ("CreatedSince", "CREATED"),
                ("LastUsedSince", "LAST USED"),
                ("UsageCount", "USAGE"),
                ("Shared", "SHARED"),
            ],
        )?
    )?;
    Ok(())
}

/// A size the API gives as `int64` (never negative here), as go-units prints it.
fn size_text(bytes: i64, precision: usize) -> String {
    human_size(u64::try_from(bytes).unwrap_or(0), precision)
}

/// An image row of `system df -v`: its first tag split into repository and tag (`<none>` when
/// untagged), sizes as docker's client prints them (`Size` to 3 digits, the others to 4).
fn df_image_row(image: &ImageSummary) -> Value {
    let (repository, tag) = image
        .repo_tags
        .first()
        .and_then(|t| t.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')))
        .map_or(("<none>".to_string(), "<none>".to_string()), |(r, t)| {
            (r.to_string(), t.to_string())
        });
    let hex = image.id.strip_prefix("sha256:").unwrap_or(&image.id);
    json!({
        "Repository": repository,
        "Tag": tag,
        "ID": hex.chars().take(12).collect::<String>(),
        "CreatedSince": since_unix(image.created),
        "Size": size_text(image.size, 3),
        "SharedSize": if image.shared_size < 0 { "N/A".to_string() } else { size_text(image.shared_size, 4) },
        "UniqueSize": if image.shared_size < 0 { "N/A".to_string() } else { size_text(image.size - image.shared_size, 4) },
        "Containers": if image.containers < 0 { "N/A".to_string() } else { image.containers.to_string() },
    })
}

/// A container row of `system df -v`: its writable layer's size only (docker leaves out the virtual
/// size here), and how many local volumes it mounts.
fn df_container_row(c: &ContainerSummary) -> Value {
    let created = chrono::DateTime::from_timestamp(c.created, 0).map(|t| t.to_rfc3339());
    json!({
        "ID": c.id.chars().take(12).collect::<String>(),
        "Image": c.image,
        "Command": format!("\"{}\"", ellipsis(&c.command, 20)),
        "LocalVolumes": c.mounts.iter().filter(|m| m.kind == berth_engine::mounts::MountKind::Volume).count().to_string(),
        "Size": size_text(c.size_rw.unwrap_or(0), 3),
        "RunningFor": since(created.as_deref()),
        "Status": c.status,
        "Names": c.names.iter().map(|n| n.trim_start_matches('/')).collect::<Vec<_>>().join(","),
    })
}

/// A volume row of `system df -v`: how many containers name it, and its size.
fn df_volume_row(v: &Volume) -> Value {
    let (links, size) = match &v.usage_data {
        Some(u) => (u.ref_count.to_string(), size_text(u.size, 4)),
        None => ("N/A".to_string(), "N/A".to_string()),
    };
    json!({ "Name": v.name, "Links": links, "Size": size })
}

/// A build cache row of `system df -v` (an ID ending in `*` is in use).
fn df_cache_row(r: &BuildCacheRecord) -> Value {
    let mut id: String = r.id.chars().take(12).collect();
    if r.in_use {
        id.push('*');
    }
    json!({
        "ID": id,
        "CacheType": r.kind,
        "Size": size_text(r.size, 3),
        "CreatedSince": since(Some(&r.created_at)),
        "LastUsedSince": r.last_used_at.as_deref().map_or(String::new(), |t| since(Some(t))),
        "UsageCount": r.usage_count.to_string(),
        "Shared": r.shared.to_string(),
    })
}

#[derive(Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

pub fn info(options: &Options, args: InfoArgs) -> anyhow::Result<()> {
    let info = engine(options)?.info()?;
    if let Some(format) = &args.format {
        outln!("{}", render_one(format, &serde_json::to_value(&info)?)?)?;
        return Ok(());
    }
    outln!("Client:")?;
    outln!(" Version:    {}", env!("CARGO_PKG_VERSION"))?;
    outln!(" Context:    default")?;
    outln!()?;
    outln!("Server:")?;
    outln!(" Containers: {}", info.containers)?;
    outln!("  Running: {}", info.containers_running)?;
    outln!("  Paused: {}", info.containers_paused)?;
    outln!("  Stopped: {}", info.containers_stopped)?;
    outln!(" Images: {}", info.images)?;
    outln!(" Server Version: {}", info.server_version)?;
    outln!(" Storage Driver: {}", info.driver)?;
    outln!(" Logging Driver: {}", info.logging_driver)?;
    outln!(" Cgroup Driver: {}", info.cgroup_driver)?;
    outln!(" Cgroup Version: {}", info.cgroup_version)?;
    outln!(" Kernel Version: {}", info.kernel_version)?;
    outln!(" Operating System: {}", info.operating_system)?;
    outln!(" OSType: {}", info.os_type)?;
    outln!(" Architecture: {}", info.architecture)?;
    outln!(" CPUs: {}", info.ncpu)?;
    outln!(" Total Memory: {}", crate::format::bytes_size(info.mem_total))?;
    outln!(" Name: {}", info.name)?;
    outln!(" Docker Root Dir: {}", info.docker_root_dir)?;
    outln!(" Debug Mode: false")?;
    outln!(" Security Options:")?;
    for option in &info.security_options {
        let mut parts = option.split(',');
        outln!("  {}", parts.next().unwrap_or_default().trim_start_matches("name="))?;
        for part in parts {
            if let Some(("profile", profile)) = part.split_once('=') {
                outln!("   Profile: {profile}")?;
            }
        }
    }
    let userns = &info.user_namespaces;
    outln!(" Rootless: {}", info.rootless)?;
    outln!(" Id Map: {}", info.id_map)?;
    outln!(" User Namespaces:")?;
    outln!("  Default: {}", userns.default)?;
    outln!("  Pool: {} ({} in use)", userns.pool, userns.ranges_in_use)?;
    outln!("  Idmapped Mounts: {}", userns.idmapped_mounts)?;
    outln!(" Network Backend: {}", info.network_backend)?;
    outln!(" Cgroup Limits: {}", info.cgroup_limits)?;
    Ok(())
}

#[derive(Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

pub fn version(_options: &Options, args: VersionArgs) -> anyhow::Result<()> {
    // Daemonless: the server is this process's engine, so no data root is needed.
    let server = berth_engine::system::version();
    let os_arch = format!("{}/{}", server.os, server.arch);
    if let Some(format) = &args.format {
        // The client part is the CLI's own, as docker's client reports itself.
        let info = json!({
            "Client": {
                "Platform": { "Name": "berth" },
                "Version": env!("CARGO_PKG_VERSION"),
                "ApiVersion": berth_engine::system::API_VERSION,
                "Os": server.os,
                "Arch": server.arch,
                "Context": "default",
            },
            "Server": server,
        });
        outln!("{}", render_one(format, &info)?)?;
        return Ok(());
    }
    outln!("Client: berth")?;
    outln!(" Version:           {}", env!("CARGO_PKG_VERSION"))?;
    outln!(" API version:       {}", berth_engine::system::API_VERSION)?;
    outln!(" OS/Arch:           {os_arch}")?;
    outln!(" Context:           default")?;
    outln!()?;
    outln!("Server: berth (daemonless: the CLI is the engine)")?;
    outln!(" Engine:")?;
    outln!("  Version:          {}", server.version)?;
    outln!(
        "  API version:      {} (minimum version {})",
        server.api_version,
        server.min_api_version
    )?;
    outln!("  OS/Arch:          {os_arch}")?;
    outln!("  Kernel Version:   {}", server.kernel_version)?;
    Ok(())
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    filter: Vec<String>,
}

pub fn prune(options: &Options, args: PruneArgs) -> anyhow::Result<()> {
    let request = SystemPruneOptions {
        all: args.all,
        volumes: args.volumes,
        filters: Filters::from_args(&args.filter)?,
    };
    // What Docker's client refuses before it asks.
    berth_engine::prune::check_system_prune(&request)?;
    if !args.force && !super::confirm(&prune_warning(&args))? {
        return Ok(());
    }
    let report = engine(options)?.prune_system(&request)?;
    print_list("Deleted Containers:", &report.containers.removed)?;
    print_list("Deleted Networks:", &report.networks.networks_deleted)?;
    if let Some(volumes) = &report.volumes {
        print_list("Deleted Volumes:", &volumes.volumes_deleted)?;
    }
    let images: Vec<String> = report
        .images
        .iter()
        .map(|r| match r {
            Removed::Untagged(n) => format!("untagged: {n}"),
            Removed::Deleted(d) => format!("deleted: {d}"),
        })
        .collect();
    print_list("Deleted Images:", &images)?;
    outln!("Total reclaimed space: {}", human_size(report.space_reclaimed(), 4))?;
    Ok(())
}

/// Docker's confirmation for `system prune`: what goes, then the filters (label, label!, until) in order.
fn prune_warning(args: &PruneArgs) -> String {
    let mut warning = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if args.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if args.all {
        "  - all images without at least one container associated to them\n"
    } else {
        "  - all dangling images\n"
    });
    warning.push_str("  - all build cache\n");
    let mut filters: Vec<&String> = args
        .filter
        .iter()
        .filter(|f| ["label=", "label!=", "until="].iter().any(|k| f.starts_with(k)))
        .collect();
    filters.sort();
    if !filters.is_empty() {
        warning.push_str("\n  Items to be pruned will be filtered with:\n");
        for f in filters {
            warning.push_str(&format!("  - {f}\n"));
        }
    }
    warning
}

/// A heading and one line per item, then a blank line; nothing when there are no items.
fn print_list(heading: &str, items: &[String]) -> std::io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    outln!("{heading}")?;
    for item in items {
        outln!("{item}")?;
    }
    outln!()
}

#[derive(Args)]
pub struct CheckArgs {
    /// Fix what can be fixed, and say what was done
    #[arg(long)]
    repair: bool,
    /// Print the report as JSON ("json")
    #[arg(long)]
    format: Option<String>,
}

/// `system check`: exits 0 when nothing is wrong (or `--repair` fixed everything), 1 when something is
/// left, 125 when the check could not run.
pub fn check(options: &Options, args: CheckArgs) -> anyhow::Result<()> {
    let json = match args.format.as_deref() {
        None => false,
        Some("json") => true,
        Some(other) => anyhow::bail!("unsupported --format {other:?}: system check prints plain lines or json"),
    };
    // As is: opening the root normally would finish some leftovers before the check could see them.
    let report =
        Engine::open_as_is(options.clone()).and_then(|engine| engine.check(&CheckOptions { repair: args.repair }));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: {e}");
            return Err(Exit(125).into());
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", plain_report(&report, &options.root, args.repair))?;
    }
    if report.is_consistent() || (args.repair && report.all_repaired()) {
        Ok(())
    } else {
        Err(Exit(1).into())
    }
}

/// One line per finding (and one per repair), then a summary line.
fn plain_report(report: &CheckReport, root: &std::path::Path, repaired: bool) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for f in &report.findings {
        let _ = writeln!(out, "{} {}: {}", f.kind.as_str().replace('_', " "), f.object, f.problem);
        let _ = match &f.repair {
            Some(Repair::Done(what)) => writeln!(out, "  repaired: {what}"),
            Some(Repair::Failed(why)) => writeln!(out, "  repair failed: {why}"),
            Some(Repair::NotPossible(advice)) => writeln!(out, "  not repaired: {advice}"),
            None => Ok(()),
        };
    }
    let n = report.findings.len();
    let problems = if n == 1 {
        "1 problem".to_string()
    } else {
        format!("{n} problems")
    };
    let _ = if report.is_consistent() {
        writeln!(out, "data root {} is consistent", root.display())
    } else if !repaired {
        writeln!(
            out,
            "data root {}: {problems}; `berth system check --repair` repairs what it can",
            root.display()
        )
    } else {
        let done = report
            .findings
            .iter()
            .filter(|f| matches!(f.repair, Some(Repair::Done(_))))
            .count();
        writeln!(out, "data root {}: {problems}, {done} repaired", root.display())
    };
    out
}
