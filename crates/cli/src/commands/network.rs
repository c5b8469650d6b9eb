//! `network create|connect|disconnect|ls|inspect|rm|prune`.

use berth_engine::filters::Filters;
use berth_engine::networks::{ConnectOptions, NetworkOptions};
use berth_engine::views::Network;
use berth_engine::Options;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{engine, key_values};
use crate::format::Listing;
use crate::out::{out, outln};
use crate::Exit;

#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// List networks
    #[command(visible_alias = "list", name = "ls")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove", name = "rm")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
}

pub fn run(options: &Options, command: NetworkCommand) -> anyhow::Result<()> {
    match command {
        NetworkCommand::Create(a) => create(options, a),
        NetworkCommand::Connect(a) => connect(options, a),
        NetworkCommand::Disconnect(a) => disconnect(options, a),
        NetworkCommand::Ls(a) => ls(options, a),
        NetworkCommand::Inspect(a) => inspect(options, a),
        NetworkCommand::Rm(a) => rm(options, a),
        NetworkCommand::Prune(a) => prune(options, a),
    }
}

#[derive(Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    gateway: Option<String>,
    /// Allocate container ip from a sub-range
    #[arg(long)]
    ip_range: Option<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    name: String,
}

pub fn create(options: &Options, args: CreateArgs) -> anyhow::Result<()> {
    let net = engine(options)?.create_network(&NetworkOptions {
        name: args.name,
        driver: args.driver,
        subnet: args.subnet,
        gateway: args.gateway,
        ip_range: args.ip_range,
        internal: args.internal,
        labels: key_values(&args.label, "label")?,
        options: key_values(&args.opt, "option")?,
    })?;
    outln!("{}", net.id())?;
    Ok(())
}

#[derive(Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<String>,
    /// Add link to another container (only one it was created with)
    #[arg(long)]
    link: Vec<String>,
    network: String,
    container: String,
}

pub fn connect(options: &Options, args: ConnectArgs) -> anyhow::Result<()> {
    engine(options)?.connect_container(
        &args.network,
        &args.container,
        &ConnectOptions {
            aliases: args.alias,
            ip: args.ip,
            links: args.link.iter().map(|l| l.parse()).collect::<Result<_, _>>()?,
        },
    )?;
    Ok(())
}

#[derive(Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

pub fn disconnect(options: &Options, args: DisconnectArgs) -> anyhow::Result<()> {
    engine(options)?.disconnect_container(&args.network, &args.container, args.force)?;
    Ok(())
}

#[derive(Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge", "name=x", "id=x", "label=k[=v]", "dangling=true")
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
}

pub fn ls(options: &Options, args: LsArgs) -> anyhow::Result<()> {
    let networks = engine(options)?.list_networks(&Filters::from_args(&args.filter)?)?;
    let id_of = |n: &Network| {
        if args.no_trunc {
            n.id.clone()
        } else {
            n.id.chars().take(12).collect()
        }
    };
    if args.quiet {
        for n in &networks {
            outln!("{}", id_of(n))?;
        }
        return Ok(());
    }
    let rows: Vec<Value> = networks
        .iter()
        .map(|n| {
            let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            json!({
                "ID": id_of(n),
                "Name": n.name,
                "Driver": n.driver,
                "Scope": n.scope,
                "IPv6": n.enable_ipv6.to_string(),
                "Internal": n.internal.to_string(),
                "Labels": labels.join(","),
                "CreatedAt": n.created,
            })
        })
        .collect();
    let listing = Listing::new(args.format.as_deref(), "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}")?;
    out!(
        "{}",
        listing.render(
            &rows,
            &super::image::headers(&[
                ("ID", "NETWORK ID"),
                ("Name", "NAME"),
                ("Driver", "DRIVER"),
                ("Scope", "SCOPE"),
                ("IPv6", "IPV6"),
                ("Internal", "INTERNAL"),
                ("Labels", "LABELS"),
                ("CreatedAt", "CREATED AT"),
            ])
        )?
    )?;
    Ok(())
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    networks: Vec<String>,
}

pub fn inspect(options: &Options, args: InspectArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let mut values = Vec::new();
    let mut failed = false;
    for name in &args.networks {
        match engine.inspect_network(name) {
            Ok(n) => values.push(serde_json::to_value(&n)?),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    super::image::print_inspect(&values, args.format.as_deref())?;
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

#[derive(Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    networks: Vec<String>,
}

pub fn rm(options: &Options, args: RmArgs) -> anyhow::Result<()> {
    let engine = engine(options)?;
    let force = args.force;
    super::each(&args.networks, |name| match engine.remove_network(name) {
        Err(e) if force && e.kind() == berth_engine::ErrorKind::NotFound => Ok(()),
        other => other.map(|_| ()),
    })
}

#[derive(Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=24h", "label=<key>=<value>", "label!=<key>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(options: &Options, args: PruneArgs) -> anyhow::Result<()> {
    let filters = Filters::from_args(&args.filter)?;
    if !args.force
        && !super::confirm("WARNING! This will remove all custom networks not used by at least one container.")?
    {
        return Ok(());
    }
    let report = engine(options)?.prune_networks_matching(&filters)?;
    if !report.networks_deleted.is_empty() {
        outln!("Deleted Networks:")?;
        for name in &report.networks_deleted {
            outln!("{name}")?;
        }
    }
    Ok(())
}
