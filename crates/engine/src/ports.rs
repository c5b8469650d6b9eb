//! Ports as a container asks for them: `-p` (published) and `--expose` (exposed only), parsed into the
//! bindings and port keys the engine records.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One port a container publishes: `-p [IP:]HOST:CONTAINER[/PROTO]` or `-P`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortBinding {
    pub host_ip: String,
    /// 0: any free port.
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub proto: String,
}

/// A published port as it is bound while the container runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundPort {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: String,
}

/// Parses one `-p`: `CPORT`, `HPORT:CPORT`, `IP:HPORT:CPORT`, `IP::CPORT`, ranges `A-B` on both sides, `/tcp|udp`.
pub fn parse_publish(text: &str) -> Result<Vec<PortBinding>> {
    let bad = |why: &str| Error::InvalidArgument(format!("invalid publish spec {text:?}: {why}"));
    let (spec, proto) = match text.rsplit_once('/') {
        Some((s, p)) if p == "tcp" || p == "udp" => (s, p),
        Some((_, p)) => return Err(bad(&format!("unknown protocol {p:?}: use tcp or udp"))),
        None => (text, "tcp"),
    };
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let (host_ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [c, h] => ("", *h, *c),
        [c, h, ip] => (*ip, *h, *c),
        _ => return Err(bad("use [IP:]HOST_PORT:CONTAINER_PORT")),
    };
    let host_ip = host_ip.trim_start_matches('[').trim_end_matches(']');
    if !host_ip.is_empty() && host_ip.parse::<Ipv4Addr>().is_err() {
        return Err(bad(&format!("{host_ip:?} is not an IPv4 address")));
    }
    let range = |s: &str| -> Result<(u16, u16)> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a.parse().map_err(|_| bad(&format!("invalid port {s:?}")))?;
        let b: u16 = b.parse().map_err(|_| bad(&format!("invalid port {s:?}")))?;
        if a == 0 || b < a {
            return Err(bad(&format!("invalid port range {s:?}")));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(container)?;
    let hosts = if host.is_empty() { None } else { Some(range(host)?) };
    if let Some((h0, h1)) = hosts {
        if h1 - h0 != c1 - c0 {
            return Err(bad("the host and container port ranges must be the same size"));
        }
    }
    Ok((c0..=c1)
        .enumerate()
        .map(|(i, c)| PortBinding {
            host_ip: host_ip.to_string(),
            host_port: hosts.map_or(0, |(h0, _)| h0 + i as u16),
            container_port: c,
            proto: proto.to_string(),
        })
        .collect())
}

/// Parses `--expose` values: `PORT`, `PORT/PROTO` or a range `A-B[/PROTO]`, into Docker's port keys
/// (`80/tcp`) for Config.ExposedPorts.
pub fn parse_expose(specs: &[String]) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut ports = BTreeMap::new();
    for text in specs {
        let bad = |why: &str| Error::InvalidArgument(format!("invalid --expose {text:?}: {why}"));
        let (range, proto) = match text.rsplit_once('/') {
            Some((r, p)) if p == "tcp" || p == "udp" => (r, p),
            Some((_, p)) => return Err(bad(&format!("unknown protocol {p:?}: use tcp or udp"))),
            None => (text.as_str(), "tcp"),
        };
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0);
        let (Some(a), Some(b)) = (port(a), port(b)) else {
            return Err(bad("use PORT[/PROTO] or a range START-END[/PROTO]"));
        };
        if b < a {
            return Err(bad("the range ends before it starts"));
        }
        for p in a..=b {
            ports.insert(format!("{p}/{proto}"), serde_json::json!({}));
        }
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> PortBinding {
        let mut v = parse_publish(text).unwrap();
        assert_eq!(v.len(), 1, "{text}");
        v.remove(0)
    }

    #[test]
    fn publish_specs() {
        assert_eq!(
            one("8080:80"),
            PortBinding {
                host_ip: "".into(),
                host_port: 8080,
                container_port: 80,
                proto: "tcp".into()
            }
        );
        assert_eq!(
            one("127.0.0.1:8080:80/udp"),
            PortBinding {
                host_ip: "127.0.0.1".into(),
                host_port: 8080,
                container_port: 80,
                proto: "udp".into()
            }
        );
        assert_eq!(one("80").host_port, 0);
        assert_eq!(one("127.0.0.1::80").host_port, 0);
        let range = parse_publish("9000-9002:90-92").unwrap();
        assert_eq!(
            range
                .iter()
                .map(|b| (b.host_port, b.container_port))
                .collect::<Vec<_>>(),
            [(9000, 90), (9001, 91), (9002, 92)]
        );
        for bad in ["abc", "80:abc", "1-3:1-2", "80/sctp", "x.y:80:80", "0", "70000"] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expose_specs() {
        let keys = |specs: &[&str]| -> Vec<String> {
            let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
            parse_expose(&specs).unwrap().into_keys().collect()
        };
        assert_eq!(keys(&["80", "53/udp"]), ["53/udp", "80/tcp"]);
        assert_eq!(keys(&["7000-7002"]), ["7000/tcp", "7001/tcp", "7002/tcp"]);
        for bad in ["x", "0", "80/sctp", "9-8", "70000"] {
            assert!(parse_expose(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
