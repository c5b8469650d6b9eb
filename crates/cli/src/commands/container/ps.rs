//! `ps`.

use berth_engine::containers::list::{ContainerSummary, PortSummary};

use super::*;
use crate::format::human_size;

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

pub fn ps(options: &Options, args: PsArgs) -> anyhow::Result<()> {
    let request = berth_engine::containers::list::ListRequest {
        all: args.all,
        limit: if args.latest { Some(1) } else { args.last },
        size: args.size,
        filters: berth_engine::filters::Filters::from_args(&args.filter)?,
    };
    let list = engine(options)?.list_containers(&request)?;
    let id = |c: &ContainerSummary| {
        if args.no_trunc {
            c.id.clone()
        } else {
            c.id[..12.min(c.id.len())].to_string()
        }
    };
    if args.quiet {
        for c in &list {
            outln!("{}", id(c))?;
        }
        return Ok(());
    }
    let rows: Vec<Value> = list
        .iter()
        .map(|c| {
            let command = if args.no_trunc { c.command.clone() } else { ellipsis(&c.command, 20) };
            let created = chrono::DateTime::from_timestamp(c.created, 0).map(|t| t.to_rfc3339());
            json!({
                "ID": id(c),
                "Image": c.image,
                "Command": format!("\"{command}\""),
                "CreatedAt": go_time(created.as_deref()),
                "RunningFor": crate::format::since(created.as_deref()),
                "Status": c.status,
                "State": c.state,
                "Ports": ports_text(&c.ports),
                "Names": c.names.iter().map(|n| n.trim_start_matches('/')).collect::<Vec<_>>().join(","),
                "Labels": c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Mounts": c.mounts.iter().map(|m| if m.kind == berth_engine::mounts::MountKind::Volume { m.name.clone() } else { m.destination.clone() }).collect::<Vec<_>>().join(","),
                "Networks": c.host_config.network_mode,
                "Size": match (c.size_rw, c.size_root_fs) {
                    (Some(rw), Some(all)) => format!("{} (virtual {})", human_size(rw as u64, 3), human_size(all as u64, 3)),
                    _ => String::new(),
                },
            })
        })
        .collect();
    let table = if args.size {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let listing = Listing::new(args.format.as_deref(), table)?;
    out!(
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
    )?;
    Ok(())
}

/// Docker's PORTS column: the published ports, then the exposed ones nothing publishes:
/// `0.0.0.0:8080->80/tcp, 6379/tcp`.
fn ports_text(ports: &[PortSummary]) -> String {
    let text = |p: &PortSummary| match (&p.ip, p.public_port) {
        (Some(ip), Some(public)) => format!("{ip}:{public}->{}/{}", p.private_port, p.kind),
        _ => format!("{}/{}", p.private_port, p.kind),
    };
    ports.iter().map(text).collect::<Vec<_>>().join(", ")
}
