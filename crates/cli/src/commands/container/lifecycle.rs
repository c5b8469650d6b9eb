//! start, stop, restart, kill, rm, container prune and wait.

use super::*;

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn start(options: &Options, args: StartArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut failed = false;
    for name in &args.containers {
        let mode = if args.attach {
            StartMode::Attached(berth_engine::containers::Caller::own_stdio(args.interactive)?)
        } else {
            StartMode::Detached
        };
        match engine.start_container(name, mode) {
            Ok(started) if args.attach => {
                let tty = engine.container(name).map(|c| c.config.tty).unwrap_or(false);
                return finish_attached(started, tty, args.interactive, true);
            }
            Ok(_) => outln!("{name}")?,
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        eprintln!("Error: failed to start containers: {}", args.containers.join(", "));
        return Err(Exit(1).into());
    }
    Ok(())
}

#[derive(Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short, long)]
    time: Option<i64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn stop(options: &Options, args: StopArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| {
        engine.stop_container(n, args.time, args.signal.as_deref())
    })
}

pub fn restart(options: &Options, args: StopArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| {
        engine.restart_container(n, args.time, args.signal.as_deref())
    })
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn kill(options: &Options, args: KillArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| engine.kill_container(n, &args.signal))
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// Remove the specified link
    #[arg(short, long)]
    link: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn rm(options: &Options, args: RmArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    each(&args.containers, |n| {
        engine.remove_container(n, args.force, args.volumes).map(|_| ())
    })
}

#[derive(Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(options: &Options, args: PruneArgs) -> anyhow::Result<()> {
    let filters = berth_engine::filters::Filters::from_args(&args.filter)?;
    if !args.force && !crate::commands::confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let pruned = engine(options)?.prune_containers(&filters)?;
    if !pruned.removed.is_empty() {
        outln!("Deleted Containers:")?;
        for id in &pruned.removed {
            outln!("{id}")?;
        }
        outln!()?;
    }
    outln!("Total reclaimed space: {}", crate::format::human_size(pruned.bytes, 4))?;
    Ok(())
}

#[derive(Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn wait(options: &Options, args: WaitArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    for_each_name(&args.containers, |name| {
        let code = engine.wait_container(name)?;
        // A closed stdout is noted (`main` ends with its status); the other waits are still done.
        let _ = outln!("{code}");
        Ok(())
    })
}
