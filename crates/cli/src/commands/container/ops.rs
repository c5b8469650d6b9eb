//! pause, unpause, rename, update, top and stats.

use super::*;

#[derive(Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn pause(options: &Options, args: NamesArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| engine.pause_container(n))
}

pub fn unpause(options: &Options, args: NamesArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| engine.unpause_container(n))
}

#[derive(Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

pub fn rename(options: &Options, args: RenameArgs) -> anyhow::Result<()> {
    engine(options)?.rename_container(&args.container, &args.new_name)?;
    Ok(())
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long)]
    memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn update(options: &Options, args: UpdateArgs) -> anyhow::Result<()> {
    let parse = |name: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_ref().map(|_| size_flag(name, v)).transpose()
    };
    let update = berth_engine::containers::UpdateOptions {
        memory: parse("--memory", &args.memory)?,
        memory_swap: parse("--memory-swap", &args.memory_swap)?,
        nano_cpus: args
            .cpus
            .as_ref()
            .map(|c| {
                berth_engine::units::parse_cpus(c)
                    .map_err(|e| anyhow::anyhow!("invalid argument {c:?} for \"--cpus\" flag: {e}"))
            })
            .transpose()?,
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit,
        restart_policy: args.restart.as_deref().map(str::parse).transpose()?,
    };
    let engine = engine(options)?;
    each(&args.containers, |n| engine.update_container(n, &update))
}

#[derive(Args)]
pub struct TopArgs {
    container: String,
    /// ps options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

#[derive(Args)]
pub struct PortArgs {
    container: String,
    /// PRIVATE_PORT[/PROTO]
    private_port: Option<String>,
}

/// `port`: the published ports of a running container, `80/tcp -> 0.0.0.0:32768` (all), or
/// `0.0.0.0:32768` for one private port.
pub fn port(options: &Options, args: PortArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let c = engine.container(&args.container)?;
    let ports = engine.container_ports(c.id());
    match &args.private_port {
        None => {
            for p in &ports {
                outln!("{}/{} -> {}:{}", p.container_port, p.proto, p.host_ip, p.host_port)?;
            }
        }
        Some(wanted) => {
            let (number, proto) = wanted.split_once('/').unwrap_or((wanted.as_str(), "tcp"));
            let number: u16 = number
                .parse()
                .with_context(|| format!("invalid port {wanted:?}: use PORT[/PROTO]"))?;
            let found: Vec<_> = ports
                .iter()
                .filter(|p| p.container_port == number && p.proto == proto)
                .collect();
            if found.is_empty() {
                bail!("No public port '{number}/{proto}' published for {}", args.container);
            }
            for p in found {
                outln!("{}:{}", p.host_ip, p.host_port)?;
            }
        }
    }
    Ok(())
}

/// `top`: the host's `ps`, keeping only the container's processes.
pub fn top(options: &Options, args: TopArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let top = engine.top_container(&args.container, &args.ps_args)?;
    let mut table = format!("{}\n", top.titles.join("\t"));
    for row in &top.processes {
        table.push_str(&format!("{}\n", row.join("\t")));
    }
    out!("{}", berth_gotmpl::align_columns(&table))?;
    Ok(())
}

#[derive(Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    containers: Vec<String>,
}

pub fn stats(options: &Options, args: StatsArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let targets: Vec<Container> = if args.containers.is_empty() {
        engine
            .containers()?
            .into_iter()
            .filter(|c| args.all || c.state() == berth_engine::ContainerState::Running)
            .collect()
    } else {
        args.containers
            .iter()
            .map(|n| engine.container(n))
            .collect::<Result<_, _>>()?
    };
    let listing = Listing::new(
        args.format.as_deref(),
        "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
    )?;
    // Two readings half a second apart give the CPU use, as the docker CLI's first line does.
    let read = |previous: &[Option<StatsResponse>]| -> Vec<Option<StatsResponse>> {
        targets
            .iter()
            .zip(previous)
            .map(|(c, p)| engine.container_stats(c.id(), p.as_ref()).ok())
            .collect()
    };
    let mut last = read(&vec![None; targets.len()]);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        last = read(&last);
        let mut rows = Vec::new();
        for (c, stats) in targets.iter().zip(&last) {
            let stats = stats.clone().unwrap_or_default();
            let (mem, lim) = (stats.memory_without_cache(), stats.memory_stats.limit.unwrap_or(0));
            let (block_read, block_write) = stats.block_io();
            let (rx, tx) = stats.network_io();
            let si = |b: u64| crate::format::human_size(b, 3);
            let iec = |b: u64| crate::format::bytes_size(b);
            rows.push(json!({
                "Container": if args.no_trunc { c.id() } else { c.short_id() },
                "ID": if args.no_trunc { c.id() } else { c.short_id() },
                "Name": c.name(),
                "CPUPerc": format!("{:.2}%", stats.cpu_percent()),
                "MemUsage": format!("{} / {}", iec(mem), iec(lim)),
                "MemPerc": format!("{:.2}%", if lim > 0 { mem as f64 * 100.0 / lim as f64 } else { 0.0 }),
                "NetIO": format!("{} / {}", si(rx), si(tx)),
                "BlockIO": format!("{} / {}", si(block_read), si(block_write)),
                "PIDs": stats.pids_stats.current.unwrap_or(0).to_string(),
            }));
        }
        let text = listing.render(
            &rows,
            &crate::commands::image::headers(&[
                ("Container", "CONTAINER"),
                ("ID", "CONTAINER ID"),
                ("Name", "NAME"),
                ("CPUPerc", "CPU %"),
                ("MemUsage", "MEM USAGE / LIMIT"),
                ("MemPerc", "MEM %"),
                ("NetIO", "NET I/O"),
                ("BlockIO", "BLOCK I/O"),
                ("PIDs", "PIDS"),
            ]),
        )?;
        if args.no_stream {
            out!("{text}")?;
            return Ok(());
        }
        // Redraw in place, as docker does on a terminal.
        out!("\x1b[2J\x1b[H{text}")?;
    }
}
