//! A standalone server, for trying the crate by hand and measuring its idle
//! footprint:
//!
//! ```text
//! serve LISTEN [--upstream ADDR]... [--host-resolvers] [--idle-secs N] [NAME=IPV4]...
//! dig @127.0.0.1 -p 5353 web
//! ```
//!
//! With `--host-resolvers` the nameservers of /etc/resolv.conf are the
//! upstreams. `--idle-secs N` stops once the file `./stop` exists (checked
//! every N seconds), to show the idle check.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use berth_dns::{host_upstreams, Config, Server, Table};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .ok_or("usage: serve LISTEN [options] [NAME=IPV4]...")?
        .parse()?;
    let table = Arc::new(Table::new());
    let mut config = Config {
        listen: vec![listen],
        ..Config::default()
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--upstream" => config
                .upstreams
                .push(args.next().ok_or("--upstream needs an address")?.parse()?),
            "--host-resolvers" => config
                .upstreams
                .extend(host_upstreams(&std::fs::read_to_string("/etc/resolv.conf")?)),
            "--idle-secs" => {
                let secs: u64 = args.next().ok_or("--idle-secs needs a number")?.parse()?;
                config.idle_check = Some((Duration::from_secs(secs), Box::new(|| Path::new("stop").exists())));
            }
            entry => {
                let (name, ip) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("expected NAME=IPV4, got {entry:?}"))?;
                table.insert(name, ip.parse::<Ipv4Addr>()?);
            }
        }
    }
    let server = Server::bind(config, table)?;
    // One line on stdout once bound, so scripts know the (maybe ephemeral) port.
    println!("listening on {}", server.local_addrs()[0]);
    server.run()?;
    Ok(())
}
