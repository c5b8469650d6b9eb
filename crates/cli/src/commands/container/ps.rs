//! `ps`.

use super::*;

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

/// docker ps SIZE: the writable layer, and with the image "(virtual ...)".
pub(super) fn size_text(engine: &Engine, c: &Container) -> String {
    let rw = berth_engine::volumes::dir_size(&engine.root().join("containers").join(c.id()).join("upper"));
    let image = engine.image(&c.row.image_id).map(|i| i.record.size).unwrap_or(0);
    format!(
        "{} (virtual {})",
        crate::format::human_size(rw, 3),
        crate::format::human_size(rw + image, 3)
    )
}

/// docker ps STATUS: "Up 3 seconds", "Up 1 minute (healthy)", "Exited (0) 2 minutes ago", "Created".
pub fn status_text(engine: &berth_engine::Engine, c: &Container) -> String {
    let status = plain_status(c);
    if c.row.state != "running" {
        return status;
    }
    match engine.container_health(c.id()).map(|h| h.status) {
        Some(s) if s == "starting" => format!("{status} (health: starting)"),
        Some(s) if !s.is_empty() => format!("{status} ({s})"),
        _ => status,
    }
}

fn plain_status(c: &Container) -> String {
    let now = chrono::Utc::now();
    let ago = |t: &str| {
        parse_time(t)
            .map(|t| human_duration((now - t).num_seconds()))
            .unwrap_or_default()
    };
    match c.row.state.as_str() {
        "running" => format!("Up {}", ago(&c.row.started_at)),
        "paused" => format!("Up {} (Paused)", ago(&c.row.started_at)),
        "restarting" => format!("Restarting ({}) {} ago", c.row.exit_code, ago(&c.row.finished_at)),
        "exited" => format!("Exited ({}) {} ago", c.row.exit_code, ago(&c.row.finished_at)),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        _ => "Created".into(),
    }
}

pub(super) fn matches_filters(c: &Container, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "status" => c.row.state == *v,
        "name" => c.row.name.contains(v.as_str()),
        "id" => c.row.id.starts_with(v.as_str()),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => c.config.labels.get(lk).map(String::as_str) == Some(lv),
            None => c.config.labels.contains_key(v.as_str()),
        },
        "ancestor" => {
            c.config.image == *v
                || c.row
                    .image_id
                    .trim_start_matches("sha256:")
                    .starts_with(v.trim_start_matches("sha256:"))
        }
        "exited" => c.row.state == "exited" && c.row.exit_code.to_string() == *v,
        _ => false,
    })
}

pub fn ps(options: &Options, args: PsArgs) -> anyhow::Result<()> {
    let mut filters = Vec::new();
    for f in &args.filter {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
        if !matches!(k, "status" | "name" | "id" | "label" | "ancestor" | "exited") {
            bail!("invalid filter '{k}'");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let engine = engine(options)?;
    let mut list = engine.containers()?;
    let all = args.all || args.last.is_some() || args.latest || !filters.is_empty();
    list.retain(|c| (all || c.is_running()) && matches_filters(c, &filters));
    if args.latest {
        list.truncate(1);
    }
    if let Some(n) = args.last {
        list.truncate(n);
    }
    if args.quiet {
        for c in &list {
            println!("{}", if args.no_trunc { c.id() } else { c.short_id() });
        }
        return Ok(());
    }
    let rows: Vec<Value> = list
        .iter()
        .map(|c| {
            let command = c.args().join(" ");
            let command = if args.no_trunc { command } else { ellipsis(&command, 20) };
            json!({
                "ID": if args.no_trunc { c.id() } else { c.short_id() },
                "Image": c.config.image,
                "Command": format!("\"{command}\""),
                "CreatedAt": go_time(Some(&c.row.created)),
                "RunningFor": crate::format::since(Some(&c.row.created)),
                "Status": status_text(&engine, c),
                "State": c.row.state,
                // Only a running container has ports (a stopped one's bound ports may linger while its monitor
                // tears the run down).
                "Ports": if c.is_running() { ports_text(&engine.container_ports(c.id()), &c.config.exposed_ports) } else { String::new() },
                "Names": c.row.name,
                "Labels": c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Mounts": c.config.mounts.iter().map(|m| if m.kind == "volume" { m.source.clone() } else { m.target.clone() }).collect::<Vec<_>>().join(","),
                "Networks": c.config.host.network_mode,
                "Size": if args.size { size_text(&engine, c) } else { String::new() },
            })
        })
        .collect();
    let table = if args.size {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let listing = Listing::new(args.format.as_deref(), table)?;
    print!(
        "{}",
        listing.render(
            &rows,
            &crate::commands::image::headers(&[
                ("ID", "CONTAINER ID"),
                ("Image", "IMAGE"),
                ("Command", "COMMAND"),
                ("CreatedAt", "CREATED AT"),
                ("RunningFor", "CREATED"),
                ("Status", "STATUS"),
                ("State", "STATE"),
                ("Ports", "PORTS"),
                ("Names", "NAMES"),
                ("Labels", "LABELS"),
                ("Mounts", "MOUNTS"),
                ("Networks", "NETWORKS"),
                ("Size", "SIZE"),
            ])
        )?
    );
    Ok(())
}

/// Docker's PORTS column: `0.0.0.0:8080->80/tcp, 127.0.0.1:9000->90/udp`.
/// A running container's published ports, then the exposed ones nothing publishes, as Docker lists
/// them: `0.0.0.0:8080->80/tcp, 6379/tcp`.
fn ports_text(
    ports: &[berth_engine::networks::BoundPort],
    exposed: &std::collections::BTreeMap<String, serde_json::Value>,
) -> String {
    let published = ports
        .iter()
        .map(|p| format!("{}:{}->{}/{}", p.host_ip, p.host_port, p.container_port, p.proto));
    let unpublished = exposed.keys().filter(|key| {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        !ports
            .iter()
            .any(|p| p.container_port.to_string() == port && p.proto == proto)
    });
    published.chain(unpublished.cloned()).collect::<Vec<_>>().join(", ")
}
