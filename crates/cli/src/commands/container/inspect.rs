//! `inspect` of containers.

use berth_engine::containers::inspect::InspectRequest;

use super::*;

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn inspect(options: &Options, args: InspectArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let request = InspectRequest { size: args.size };
    let mut values = Vec::new();
    let mut failed = false;
    for name in &args.containers {
        // The printed JSON and the templates both read the typed result as Docker's JSON.
        match engine
            .inspect_container(name, request)
            .and_then(crate::commands::image::to_json)
        {
            Ok(v) => values.push(v),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    crate::commands::image::print_inspect(&values, args.format.as_deref())?;
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}
