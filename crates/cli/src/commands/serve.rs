//! `serve`: the Docker Engine API on unix sockets (or TCP with TLS and client certificates, or the
//! sockets systemd passes), for the docker CLI, compose and the SDKs.

use std::path::PathBuf;

use berth_engine::Options;
use clap::Args;

#[derive(Args)]
pub struct ServeArgs {
    /// Socket to listen on: unix:///path, tcp://ADDRESS:PORT (needs --tlsverify) or fd:// (systemd);
    /// may be given more than once
    #[arg(short = 'H', long = "host", default_value = "unix:///run/berth/berth.sock")]
    hosts: Vec<String>,
    /// Group the unix sockets belong to (a name or id); its members can use berth without root
    #[arg(short = 'G', long)]
    group: Option<String>,
    /// Use TLS and verify the remote (required for tcp:// hosts)
    #[arg(long)]
    tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long)]
    tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file
    #[arg(long)]
    tlscert: Option<PathBuf>,
    /// Path to TLS key file
    #[arg(long)]
    tlskey: Option<PathBuf>,
}

pub fn serve(options: &Options, args: ServeArgs) -> anyhow::Result<()> {
    let tls = match (args.tlsverify, args.tlscacert, args.tlscert, args.tlskey) {
        (false, None, None, None) => None,
        (true, Some(ca), Some(cert), Some(key)) => Some(berth_api::TlsFiles { ca, cert, key }),
        (true, ..) => anyhow::bail!("--tlsverify needs --tlscacert, --tlscert and --tlskey"),
        (false, ..) => anyhow::bail!(
            "TLS without --tlsverify would let anyone who reaches the port control containers as root: \
             add --tlsverify, so only clients with a certificate --tlscacert signed may connect"
        ),
    };
    // Exec and start run helper processes (`berth container-exec`, `berth container-monitor`):
    // this binary (`serve` does not run sealed), named before the server has threads.
    if let Ok(exe) = std::env::current_exe() {
        berth_engine::use_helper_executable(exe);
    }
    // Monitors and exec helpers are forked by a sealed, single-threaded spawner: this process will
    // have threads, and spawning each one by exec costs ~15 ms a start.
    if let Err(e) = berth_engine::start_spawner(options) {
        eprintln!("berth serve: {e}; starting each monitor and exec helper by exec instead");
    }
    let server = berth_api::bind(berth_api::Config {
        options: options.clone(),
        hosts: args.hosts,
        group: args.group,
        tls,
    })?;
    eprintln!("berth serve: listening on {}", server.hosts().join(", "));
    server.run()?;
    Ok(())
}
