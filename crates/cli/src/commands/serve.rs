//! `serve`: the Docker Engine API on unix sockets, for the docker CLI, compose and the SDKs.

use berth_engine::Options;
use clap::Args;

#[derive(Args)]
pub struct ServeArgs {
    /// Socket to listen on (unix:///path); may be given more than once
    #[arg(short = 'H', long = "host", default_value = "unix:///run/berth/berth.sock")]
    hosts: Vec<String>,
    /// Group the sockets belong to (a name or id); its members can use berth without root
    #[arg(short = 'G', long)]
    group: Option<String>,
}

pub fn serve(options: &Options, args: ServeArgs) -> anyhow::Result<()> {
    // Exec and start run helper processes (`berth container-exec`, `berth container-monitor`):
    // this binary (`serve` does not run sealed), named before the server has threads.
    if let Ok(exe) = std::env::current_exe() {
        berth_engine::use_helper_executable(exe);
    }
    let server = berth_api::bind(berth_api::Config {
        options: options.clone(),
        hosts: args.hosts,
        group: args.group,
    })?;
    eprintln!("berth serve: listening on {}", server.hosts().join(", "));
    server.run()?;
    Ok(())
}
