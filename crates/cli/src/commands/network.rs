//! `network create|connect|disconnect|ls|inspect|rm|prune`.

use anyhow::{bail, Context};
use berth_engine::networks::{ConnectOptions, Network, NetworkOptions};
use berth_engine::Options;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::{engine, key_values};
use crate::format::Listing;
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
    println!("{}", net.row.id);
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

fn labels_of(net: &Network) -> Map<String, Value> {
    serde_json::from_str(&net.row.labels).unwrap_or_default()
}

/// Docker's network inspect object. `host` and `none` have no rows: they are shown as Docker shows them.
pub fn network_json(engine: &berth_engine::Engine, net: &Network) -> Value {
    let mut containers = Map::new();
    for e in &net.endpoints {
        let name = engine
            .container(&e.container_id)
            .map(|c| c.row.name.clone())
            .unwrap_or_default();
        let prefix = net.row.subnet.rsplit_once('/').map_or("", |(_, p)| p);
        containers.insert(
            e.container_id.clone(),
            json!({
                "Name": name,
                "EndpointID": e.container_id,
                "MacAddress": e.mac,
                "IPv4Address": format!("{}/{prefix}", e.ip),
                "IPv6Address": "",
            }),
        );
    }
    let options: Value = serde_json::from_str(&net.row.options).unwrap_or(json!({}));
    let mut config = json!({"Subnet": net.row.subnet, "Gateway": net.row.gateway});
    if !net.row.ip_range.is_empty() {
        config["IPRange"] = json!(net.row.ip_range);
    }
    json!({
        "Name": net.row.name,
        "Id": net.row.id,
        "Created": net.row.created,
        "Scope": "local",
        "Driver": net.row.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [config]},
        "Internal": net.row.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": labels_of(net),
        "BridgeName": net.row.bridge,
    })
}

/// The two networks Docker always lists that have no bridge.
fn builtin(name: &str) -> Value {
    let id = berth_store_id(name);
    json!({
        "Name": name,
        "Id": id,
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": if name == "host" { "host" } else { "null" },
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    })
}

/// A stable id for `host` and `none`, from their names.
fn berth_store_id(name: &str) -> String {
    berth_engine::Digest::of(format!("berth-builtin-network:{name}").as_bytes())
        .hex()
        .to_string()
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
    let engine = engine(options)?;
    let mut all: Vec<Value> = engine.networks()?.iter().map(|n| network_json(&engine, n)).collect();
    all.push(builtin("host"));
    all.push(builtin("none"));
    all.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    for f in &args.filter {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
        let text = |n: &Value, key: &str| n[key].as_str().unwrap_or_default().to_string();
        match k {
            "name" => all.retain(|n| text(n, "Name").contains(v)),
            "id" => all.retain(|n| text(n, "Id").starts_with(v)),
            "driver" => all.retain(|n| text(n, "Driver") == v),
            "scope" => all.retain(|_| v == "local"),
            "type" => all.retain(|n| {
                let builtin = matches!(text(n, "Name").as_str(), "bridge" | "host" | "none");
                (v == "builtin") == builtin
            }),
            "dangling" => {
                let want = matches!(v, "true" | "1");
                all.retain(|n| {
                    let builtin = matches!(text(n, "Name").as_str(), "bridge" | "host" | "none");
                    let unused = n["Containers"].as_object().is_none_or(|c| c.is_empty());
                    (!builtin && unused) == want
                })
            }
            "label" => all.retain(|n| match v.split_once('=') {
                Some((lk, lv)) => n["Labels"][lk].as_str() == Some(lv),
                None => n["Labels"].get(v).is_some(),
            }),
            _ => bail!("invalid filter '{k}'"),
        }
    }
    let id_of = |n: &Value| {
        let id = n["Id"].as_str().unwrap_or_default();
        if args.no_trunc {
            id.to_string()
        } else {
            id.chars().take(12).collect()
        }
    };
    if args.quiet {
        for n in &all {
            println!("{}", id_of(n));
        }
        return Ok(());
    }
    let rows: Vec<Value> = all
        .iter()
        .map(|n| {
            let labels = n["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            json!({
                "ID": id_of(n),
                "Name": n["Name"],
                "Driver": n["Driver"],
                "Scope": "local",
                "IPv6": "false",
                "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                "Labels": labels,
                "CreatedAt": n["Created"],
            })
        })
        .collect();
    let listing = Listing::new(args.format.as_deref(), "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}")?;
    print!(
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
    );
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
        if matches!(name.as_str(), "host" | "none") {
            values.push(builtin(name));
            continue;
        }
        match engine.network(name) {
            Ok(n) => values.push(network_json(&engine, &n)),
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
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(options: &Options, args: PruneArgs) -> anyhow::Result<()> {
    if !args.force
        && !super::confirm("WARNING! This will remove all custom networks not used by at least one container.")?
    {
        return Ok(());
    }
    if !args.filter.is_empty() {
        bail!("network prune filters are not supported yet");
    }
    let removed = engine(options)?.prune_networks()?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for name in &removed {
            println!("{name}");
        }
    }
    Ok(())
}
