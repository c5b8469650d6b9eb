//! The hidden `container-monitor` command the engine starts per container.

use super::*;

/// The hidden `container-monitor ID` command the engine starts per container.
#[derive(Args)]
pub struct MonitorArgs {
    #[arg(long, default_value_t = -1)]
    status_fd: i32,
    /// The starter's start lock, held until the container runs or fails to start.
    #[arg(long, default_value_t = -1)]
    start_lock_fd: i32,
    #[arg(long)]
    attach: bool,
    /// Set by berth-shim: the exit status of the run it watched.
    #[arg(long)]
    resume_status: Option<i32>,
    #[arg(long, default_value_t = 0)]
    restarts: u32,
    #[arg(long, default_value_t = 100)]
    backoff_ms: u64,
    #[arg(long, default_value_t = 0)]
    started_ms: i64,
    id: String,
}

impl MonitorArgs {
    pub fn id(&self) -> &str {
        &self.id
    }
}

pub fn monitor(options: &Options, args: MonitorArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let resume = berth_engine::containers::monitor::Resume {
        status: args.resume_status,
        restarts: args.restarts,
        backoff_ms: args.backoff_ms,
        started_ms: args.started_ms,
    };
    let code = berth_engine::containers::monitor::run(
        &engine,
        &args.id,
        args.status_fd,
        args.start_lock_fd,
        args.attach,
        resume,
    );
    if code != 0 {
        return Err(Exit::status(code as i64).into());
    }
    Ok(())
}
