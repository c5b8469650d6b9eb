//! Legacy container links (`--link NAME[:ALIAS]`, `HostConfig.Links`, `EndpointsConfig.*.Links`).
//!
//! Docker treats them two ways, and so does berth:
//! - On the default `bridge` network (and `none`), a link is registered at create: the target must
//!   exist (a container sharing another's network stands for that one), must not use the host's
//!   network, and must run when the linking container starts. The start writes `ADDRESS ALIAS
//!   HOSTNAME NAME` into the linking container's /etc/hosts and sets Docker's `ALIAS_PORT_...`,
//!   `ALIAS_NAME` and `ALIAS_ENV_...` variables.
//! - On a user-defined network a link only names the target for the linking container: nothing is
//!   checked at create (the target may come later). Docker answers the alias from its embedded DNS,
//!   for the linking container only; berth writes `ADDRESS ALIAS` into that container's /etc/hosts
//!   when it starts, for each target that then has an address on a network the two share.
//!
//! Names and aliases are container-name characters only: they end up in /etc/hosts and in
//! environment variable names, never in a path.

use std::fmt;
use std::str::FromStr;

use berth_store::networks::{EndpointRow, NetworkRow};
use serde::{Deserialize, Serialize};

use super::{Container, ContainerConfig};
use crate::networks::DEFAULT_NETWORK;
use crate::{Engine, Error, Result};

/// One link: the container it names and the alias the linking container knows it by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Link {
    pub name: String,
    pub alias: String,
}

/// Docker's texts for links with a network mode that has no network of its own.
const HOST_AND_LINKS: &str =
    "conflicting options: host type networking can't be used with links. This would result in undefined behavior";
const CONTAINER_AND_LINKS: &str =
    "conflicting options: container type network can't be used with links. This would result in undefined behavior";

impl FromStr for Link {
    type Err = Error;

    /// `NAME[:ALIAS]`, or the `/NAME:/PARENT/ALIAS` form inspect shows (clients send it back).
    fn from_str(text: &str) -> Result<Link> {
        let bad = |why: &str| Error::InvalidArgument(format!("invalid link {text:?}: {why}"));
        if text.is_empty() {
            return Err(Error::InvalidArgument("empty string specified for links".into()));
        }
        let parts: Vec<&str> = text.split(':').collect();
        let (name, alias) = match parts.as_slice() {
            [name] => (*name, *name),
            [name, full] if name.starts_with('/') => (&name[1..], full.rsplit('/').next().unwrap_or(full)),
            [name, alias] => (*name, *alias),
            _ => return Err(Error::InvalidArgument(format!("bad format for links: {text}"))),
        };
        let name = name.strip_prefix('/').unwrap_or(name);
        if !crate::ids::valid_name(name) {
            return Err(bad(
                "the name must be a container's name or ID ([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
            ));
        }
        if !crate::ids::valid_name(alias) {
            return Err(bad("the alias may hold only [a-zA-Z0-9][a-zA-Z0-9_.-]*"));
        }
        Ok(Link {
            name: name.into(),
            alias: alias.into(),
        })
    }
}

impl fmt::Display for Link {
    /// `NAME:ALIAS`, as given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.alias)
    }
}

impl Link {
    /// Docker's stored form, which inspect shows: `/TARGET:/LINKING/ALIAS`.
    pub fn docker_form(&self, linking: &str) -> String {
        format!("/{}:/{}/{}", self.name, linking, self.alias)
    }

    /// The parse's checks again, for a link that came typed (the API, a stored config).
    fn check(&self) -> Result<()> {
        if crate::ids::valid_name(&self.name) && crate::ids::valid_name(&self.alias) {
            return Ok(());
        }
        Err(Error::InvalidArgument(format!(
            "invalid link {self}: names and aliases may hold only [a-zA-Z0-9][a-zA-Z0-9_.-]*"
        )))
    }
}

/// Whether links on this network mode are registered (checked at create, resolved as Docker's
/// default bridge does) rather than names for a user-defined network.
pub(crate) fn registered(network_mode: &str) -> bool {
    matches!(network_mode, "" | "default" | DEFAULT_NETWORK | "none")
}

/// What `create` refuses of a configuration's links before anything is looked up.
pub(crate) fn check_links(config: &ContainerConfig) -> Result<()> {
    let host = &config.host;
    if host.links.is_empty() {
        return Ok(());
    }
    if host.network_mode == "host" {
        return Err(Error::InvalidArgument(HOST_AND_LINKS.into()));
    }
    if host.network_mode.starts_with("container:") {
        return Err(Error::InvalidArgument(CONTAINER_AND_LINKS.into()));
    }
    host.links.iter().try_for_each(Link::check)
}

/// What a container's links put in its /etc/hosts and its environment when it starts.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Linked {
    /// `/etc/hosts` lines, without the newline.
    pub hosts: Vec<String>,
    /// `KEY=VALUE`, below the container's own variables.
    pub env: Vec<String>,
}

impl Engine {
    /// The container whose network stack `c` uses: itself, or the one its `container:` mode names.
    fn network_owner(&self, mut c: Container) -> Result<Container> {
        // A container joins one that existed before it, so the chain ends; the bound is for damaged records.
        for _ in 0..16 {
            let Some(other) = c.config.host.network_mode.strip_prefix("container:") else {
                return Ok(c);
            };
            c = self.container(other)?;
        }
        Err(Error::InvalidArgument(format!(
            "container {} joins the network of containers that join each other",
            c.name()
        )))
    }

    /// Registers the links of a container being created on the default network (or none), as
    /// dockerd does: each target must exist and must not use the host's network; a target that
    /// shares another container's network stands for that one. The stored links name the target by
    /// its name. Links on a user-defined network are kept as given.
    pub(crate) fn register_links(&self, config: &mut ContainerConfig) -> Result<()> {
        check_links(config)?;
        if !registered(&config.host.network_mode) {
            return Ok(());
        }
        for link in &mut config.host.links {
            let target = self.container(&link.name).map_err(|e| match e {
                Error::NoSuchContainer(_) => {
                    Error::InvalidArgument(format!("could not get container for {}: {e}", link.name))
                }
                other => other,
            })?;
            let target = self.network_owner(target)?;
            if target.config.host.network_mode == "host" {
                return Err(Error::InvalidArgument(HOST_AND_LINKS.into()));
            }
            link.name = target.name().to_string();
        }
        Ok(())
    }

    /// What `c`'s links give it when it starts, given its endpoints. On the default network a target
    /// that is gone no longer counts (Docker drops the link with it), and one that does not run fails
    /// the start with Docker's text.
    pub(crate) fn linked(&self, c: &Container, endpoints: &[(NetworkRow, EndpointRow)]) -> Result<Linked> {
        let mut out = Linked::default();
        let mode = c.config.host.network_mode.as_str();
        if mode == "none" {
            return Ok(out);
        }
        let default_bridge = registered(mode);
        for link in &c.config.host.links {
            let target = match self.container(&link.name).and_then(|t| self.network_owner(t)) {
                Ok(t) => t,
                Err(Error::NoSuchContainer(_)) => continue,
                Err(e) => return Err(e),
            };
            let theirs = self.container_endpoints(target.id())?;
            if default_bridge {
                if !target.is_running() {
                    return Err(Error::Conflict(format!(
                        "Cannot link to a non running container: /{} AS /{}/{}",
                        target.name(),
                        c.name(),
                        link.alias
                    )));
                }
                let Some((_, e)) = theirs.iter().find(|(n, _)| n.name == DEFAULT_NETWORK) else {
                    return Err(Error::Conflict(format!(
                        "container {} not attached to default bridge network",
                        target.id()
                    )));
                };
                out.hosts.push(bridge_hosts_line(link, &target, &e.ip));
                out.env.extend(link_env(link, c.name(), &target, &e.ip));
            } else {
                // The first of the linking container's networks that the target is on too.
                let shared = endpoints
                    .iter()
                    .find_map(|(n, _)| theirs.iter().find(|(tn, _)| tn.id == n.id).map(|(_, e)| e));
                if let Some(e) = shared {
                    out.hosts.push(format!("{}\t{}", e.ip, link.alias));
                }
            }
        }
        Ok(out)
    }
}

/// Docker's default-bridge line: the alias, the target's hostname, and its name unless that is the alias.
fn bridge_hosts_line(link: &Link, target: &Container, ip: &str) -> String {
    let mut names = vec![link.alias.as_str()];
    if !target.config.hostname.is_empty() {
        names.push(&target.config.hostname);
    }
    if target.name() != link.alias {
        names.push(target.name());
    }
    format!("{ip}\t{}", names.join(" "))
}

/// Docker's link variables: `ALIAS_PORT` (the lowest exposed port), `ALIAS_PORT_N_PROTO` with its
/// `_ADDR`, `_PORT` and `_PROTO`, `ALIAS_NAME`, and the target's own variables as `ALIAS_ENV_KEY`
/// (but HOME and PATH).
fn link_env(link: &Link, linking: &str, target: &Container, ip: &str) -> Vec<String> {
    let prefix = link.alias.to_ascii_uppercase().replace('-', "_");
    let mut ports: Vec<(u16, String)> = target
        .config
        .exposed_ports
        .keys()
        .filter_map(|key| {
            let (number, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            Some((number.parse().ok()?, proto.to_ascii_lowercase()))
        })
        .collect();
    ports.sort();
    let mut env = Vec::new();
    if let Some((number, proto)) = ports.first() {
        env.push(format!("{prefix}_PORT={proto}://{ip}:{number}"));
    }
    for (number, proto) in &ports {
        let key = format!("{prefix}_PORT_{number}_{}", proto.to_ascii_uppercase());
        env.push(format!("{key}={proto}://{ip}:{number}"));
        env.push(format!("{key}_ADDR={ip}"));
        env.push(format!("{key}_PORT={number}"));
        env.push(format!("{key}_PROTO={proto}"));
    }
    env.push(format!("{prefix}_NAME=/{linking}/{}", link.alias));
    for var in &target.config.env {
        if let Some((key, value)) = var.split_once('=') {
            if key != "HOME" && key != "PATH" {
                env.push(format!("{prefix}_ENV_{key}={value}"));
            }
        }
    }
    env
}

/// The container's environment with the link variables under it: its own variables win.
pub(crate) fn with_link_env(own: &[String], linked: &[String]) -> Vec<String> {
    let key = |v: &str| v.split_once('=').map_or(v, |(k, _)| k).to_string();
    let own_keys: std::collections::HashSet<String> = own.iter().map(|v| key(v)).collect();
    linked
        .iter()
        .filter(|v| !own_keys.contains(&key(v)))
        .chain(own)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(text: &str) -> Result<Link> {
        text.parse()
    }

    #[test]
    fn links_read_dockers_forms() {
        let l = link("redis").unwrap();
        assert_eq!((l.name.as_str(), l.alias.as_str()), ("redis", "redis"));
        let l = link("proj_redis_1:redis_1").unwrap();
        assert_eq!((l.name.as_str(), l.alias.as_str()), ("proj_redis_1", "redis_1"));
        let l = link("/proj_redis_1:/proj_web_run_1/redis").unwrap();
        assert_eq!((l.name.as_str(), l.alias.as_str()), ("proj_redis_1", "redis"));
        assert_eq!(l.docker_form("proj_web_run_1"), "/proj_redis_1:/proj_web_run_1/redis");
        assert_eq!(l.to_string(), "proj_redis_1:redis");
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"Name":"proj_redis_1","Alias":"redis"}"#
        );
    }

    #[test]
    fn hostile_links_are_refused() {
        for text in [
            "",
            "a:b:c",
            "../../etc/passwd",
            "redis:../x",
            "redis:a b",
            "redis:x\n1.2.3.4 evil",
            "redis:$(id)",
            "redis:",
            ":alias",
            "/a/b:/c/d",
            "red/is",
            "redis:-x",
        ] {
            assert!(link(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn host_and_container_modes_refuse_links() {
        let mut c = ContainerConfig::default();
        c.host.links.push(link("db").unwrap());
        c.host.network_mode = "host".into();
        assert_eq!(check_links(&c).unwrap_err().to_string(), HOST_AND_LINKS);
        c.host.network_mode = "container:abc".into();
        assert_eq!(check_links(&c).unwrap_err().to_string(), CONTAINER_AND_LINKS);
        c.host.network_mode = "none".into();
        assert!(check_links(&c).is_ok());
        c.host.links.push(Link {
            name: "db".into(),
            alias: "x y".into(),
        });
        assert!(check_links(&c).is_err(), "a damaged stored alias");
    }

    #[test]
    fn link_variables_are_dockers() {
        let target = Container {
            row: berth_store::containers::ContainerRow {
                id: "0".repeat(64),
                name: "redis".into(),
                state: crate::ContainerState::Running,
                ..Default::default()
            },
            config: ContainerConfig {
                env: vec!["PATH=/bin".into(), "REDIS_VERSION=7".into()],
                exposed_ports: [
                    ("6379/tcp".to_string(), serde_json::json!({})),
                    ("53/udp".into(), serde_json::json!({})),
                ]
                .into_iter()
                .collect(),
                hostname: "0123456789ab".into(),
                ..ContainerConfig::default()
            },
        };
        let l = link("redis:my-db").unwrap();
        let env = link_env(&l, "web", &target, "10.0.0.2");
        assert_eq!(
            env,
            [
                "MY_DB_PORT=udp://10.0.0.2:53",
                "MY_DB_PORT_53_UDP=udp://10.0.0.2:53",
                "MY_DB_PORT_53_UDP_ADDR=10.0.0.2",
                "MY_DB_PORT_53_UDP_PORT=53",
                "MY_DB_PORT_53_UDP_PROTO=udp",
                "MY_DB_PORT_6379_TCP=tcp://10.0.0.2:6379",
                "MY_DB_PORT_6379_TCP_ADDR=10.0.0.2",
                "MY_DB_PORT_6379_TCP_PORT=6379",
                "MY_DB_PORT_6379_TCP_PROTO=tcp",
                "MY_DB_NAME=/web/my-db",
                "MY_DB_ENV_REDIS_VERSION=7",
            ]
        );
        assert_eq!(
            bridge_hosts_line(&l, &target, "10.0.0.2"),
            "10.0.0.2\tmy-db 0123456789ab redis"
        );
        let same = link("redis").unwrap();
        assert_eq!(
            bridge_hosts_line(&same, &target, "10.0.0.2"),
            "10.0.0.2\tredis 0123456789ab"
        );
        let merged = with_link_env(&["A=1".into(), "MY_DB_NAME=mine".into()], &env[9..]);
        assert_eq!(merged, ["MY_DB_ENV_REDIS_VERSION=7", "A=1", "MY_DB_NAME=mine"]);
    }
}
