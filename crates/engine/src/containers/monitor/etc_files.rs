//! The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, written beside it and bound in.

use std::fs;
use std::path::Path;

use berth_runtime::spec;

use crate::{Engine, Error, Result};

/// /etc/hostname, /etc/hosts and /etc/resolv.conf as Docker writes them: the container's own address and
/// name in hosts, and the lines its links give (`links`); for a user-defined network, the network's DNS
/// server (on its gateway) in resolv.conf. They are written beside the container and bound in.
pub(super) fn write_etc_files(
    dir: &Path,
    c: &crate::containers::ContainerConfig,
    endpoints: &[(berth_store::networks::NetworkRow, berth_store::networks::EndpointRow)],
    links: &[String],
) -> Result<Vec<spec::BindMount>> {
    let io = |path: &Path, e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let hostname = dir.join("hostname");
    fs::write(&hostname, format!("{}\n", c.hostname)).map_err(|e| io(&hostname, e))?;
    let hosts = dir.join("hosts");
    let mut text = if c.host.network_mode == "host" {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            .to_string()
    };
    for extra in &c.host.extra_hosts {
        if let Some((name, ip)) = extra.split_once(':') {
            let ip = match (ip, endpoints.first()) {
                ("host-gateway", Some((net, _))) => net.gateway.as_str(),
                _ => ip,
            };
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    for line in links {
        text.push_str(line);
        text.push('\n');
    }
    if let Some((_, endpoint)) = endpoints.first() {
        text.push_str(&format!("{}\t{}\n", endpoint.ip, c.hostname));
    }
    fs::write(&hosts, text).map_err(|e| io(&hosts, e))?;
    let resolv = dir.join("resolv.conf");
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let user_network = endpoints
        .iter()
        .find(|(net, _)| net.name != crate::networks::DEFAULT_NETWORK)
        .map(|(net, _)| net.gateway.clone());
    fs::write(&resolv, resolv_conf(&host_resolv, c, user_network.as_deref())).map_err(|e| io(&resolv, e))?;
    Ok([
        (hostname, "/etc/hostname"),
        (hosts, "/etc/hosts"),
        (resolv, "/etc/resolv.conf"),
    ]
    .into_iter()
    .map(|(source, destination)| spec::BindMount {
        source,
        destination: destination.to_string(),
        // As with Docker, `--read-only` covers them too; `network connect` still rewrites resolv.conf from
        // the host side.
        read_only: c.host.read_only,
        options: Vec::new(),
    })
    .collect())
}

/// Rewrites a running container's resolv.conf in place (it is bind-mounted, so the file must stay the same
/// inode) to use a network's DNS server, after `network connect` to its first user-defined network.
pub(crate) fn point_resolver_at(engine: &Engine, c: &crate::containers::Container, gateway: &str) {
    let path = engine.container_dir(c.id()).join("resolv.conf");
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if let Err(e) = fs::write(&path, resolv_conf(&host, &c.config, Some(gateway))) {
        tracing::warn!(id = c.id(), error = %e, "updating resolv.conf");
    }
}

/// The container's resolv.conf: `--dns` servers, else the network's DNS server (user networks), else the
/// host's servers that a container can reach (not loopback ones); search domains and options from the flags
/// or the host.
fn resolv_conf(host: &str, c: &crate::containers::ContainerConfig, network_dns: Option<&str>) -> String {
    let mut servers: Vec<String> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => servers.extend(words.next().map(str::to_owned)),
            Some("search") | Some("domain") => search = words.map(str::to_owned).collect(),
            Some("options") => options.extend(words.map(str::to_owned)),
            _ => {}
        }
    }
    let h = &c.host;
    if c.host.network_mode != "host" {
        servers.retain(|s| !s.starts_with("127.") && s != "::1");
    }
    if !h.dns.is_empty() {
        servers = h.dns.clone();
    } else if let Some(gateway) = network_dns {
        servers = vec![gateway.to_string()];
    }
    if !h.dns_search.is_empty() {
        search = h.dns_search.iter().filter(|s| s.as_str() != ".").cloned().collect();
    }
    if !h.dns_options.is_empty() {
        options = h.dns_options.clone();
    }
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}
