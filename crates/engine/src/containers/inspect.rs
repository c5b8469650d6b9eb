//! `inspect` of a container: Docker's ContainerInspect JSON.

use serde_json::{json, Value};

use super::{image_display, monitor, Container};
use crate::ContainerState;
use crate::{Engine, Result};

impl Engine {
    pub fn inspect_container(&self, name: &str) -> Result<Value> {
        let c = self.container(name)?;
        Ok(container_json(self, &c))
    }
}

fn container_json(engine: &Engine, c: &Container) -> Value {
    let r = &c.row;
    let cfg = &c.config;
    let h = &cfg.host;
    let args = c.args();
    let (path, rest) = args
        .split_first()
        .map_or((String::new(), Vec::new()), |(p, a)| (p.clone(), a.to_vec()));
    let dir = engine.container_dir(&r.id);
    let restart = super::lifecycle::RestartPolicy::parse(&h.restart_policy).ok();
    let (restart_name, restart_max) = match restart {
        Some(super::lifecycle::RestartPolicy::OnFailure(n)) => ("on-failure", n.unwrap_or(0)),
        Some(super::lifecycle::RestartPolicy::Always) => ("always", 0),
        Some(super::lifecycle::RestartPolicy::UnlessStopped) => ("unless-stopped", 0),
        _ => ("no", 0),
    };
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": path,
        "Args": rest,
        "State": {
            "Status": r.state,
            "Running": r.state.is_live(),
            "Paused": r.state == ContainerState::Paused,
            "Restarting": r.state == ContainerState::Restarting,
            "OOMKilled": r.oom_killed,
            "Dead": r.state == ContainerState::Dead,
            "Pid": r.pid,
            "ExitCode": r.exit_code,
            "Error": r.error,
            "StartedAt": r.started_at,
            "FinishedAt": r.finished_at,
            "Health": engine.container_health(&r.id),
        },
        "Image": r.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": if h.log_type == "json-file" { json!(monitor::log_path(engine, &r.id)) } else { json!("") },
        "Name": format!("/{}", r.name),
        "RestartCount": r.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": Value::Null,
        "HostConfig": {
            "Binds": Value::Null,
            "ContainerIDFile": "",
            "LogConfig": { "Type": h.log_type, "Config": h.log_opts },
            "NetworkMode": h.network_mode,
            "PortBindings": port_bindings(&h.port_bindings),
            "RestartPolicy": { "Name": restart_name, "MaximumRetryCount": restart_max },
            "AutoRemove": h.auto_remove,
            "CapAdd": h.cap_add,
            "CapDrop": h.cap_drop,
            "ExtraHosts": h.extra_hosts,
            "GroupAdd": cfg.group_add,
            "Privileged": h.privileged,
            "ReadonlyRootfs": h.read_only,
            "SecurityOpt": h.security_opt,
            "Tmpfs": h.tmpfs.iter().map(|t| {
                let (p, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
                (p.to_string(), json!(o))
            }).collect::<serde_json::Map<String, Value>>(),
            "ShmSize": if h.shm_size > 0 { h.shm_size } else { 64 * 1024 * 1024 },
            "Runtime": if h.runtime.is_empty() { "berth" } else { h.runtime.as_str() },
            "Memory": h.memory,
            "MemoryReservation": h.memory_reservation,
            "MemorySwap": h.memory_swap,
            "NanoCpus": h.nano_cpus,
            "CpuShares": h.cpu_shares,
            "CpusetCpus": h.cpuset_cpus,
            "PidsLimit": if h.pids_limit == 0 { Value::Null } else { json!(h.pids_limit) },
            "OomKillDisable": h.oom_kill_disable,
            "Ulimits": h.ulimits,
            "Devices": h.devices,
            "Init": h.init,
        },
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "MergedDir": dir.join("merged"),
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
            },
        },
        "Mounts": cfg.mounts.iter().map(|m| {
            let volume = m.kind == "volume";
            json!({
                "Type": m.kind,
                "Name": if volume { json!(m.source) } else { Value::Null },
                "Source": if volume { json!(engine.volume_data(&m.source)) } else { json!(m.source) },
                "Destination": m.target,
                "Driver": if volume { "local" } else { "" },
                "Mode": if m.read_only { "ro" } else { "" },
                "RW": !m.read_only,
                "Propagation": if m.kind == "bind" && m.propagation.is_empty() { "rprivate" } else { m.propagation.as_str() },
            })
        }).collect::<Vec<_>>(),
        "Config": {
            "Hostname": cfg.hostname,
            "Domainname": cfg.domainname,
            "MacAddress": cfg.mac_address,
            "Healthcheck": cfg.healthcheck,
            "User": cfg.user,
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "ExposedPorts": if cfg.exposed_ports.is_empty() { Value::Null } else { json!(cfg.exposed_ports) },
            "Tty": cfg.tty,
            "OpenStdin": cfg.open_stdin,
            "StdinOnce": false,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Image": image_display(&cfg.image),
            "Volumes": if cfg.volumes.is_empty() { Value::Null } else { json!(cfg.volumes) },
            "WorkingDir": cfg.working_dir,
            "Entrypoint": cfg.entrypoint,
            "OnBuild": Value::Null,
            "Labels": cfg.labels,
            "StopSignal": cfg.stop_signal,
            "StopTimeout": cfg.stop_timeout,
        },
        "NetworkSettings": network_settings(engine, c),
    })
}

/// HostConfig.PortBindings: what was asked for, `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`.
fn port_bindings(bindings: &[crate::networks::PortBinding]) -> Value {
    let mut map = serde_json::Map::new();
    for b in bindings {
        let key = format!("{}/{}", b.container_port, b.proto);
        let entry = map.entry(key).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            let port = if b.host_port == 0 {
                String::new()
            } else {
                b.host_port.to_string()
            };
            list.push(json!({"HostIp": b.host_ip, "HostPort": port}));
        }
    }
    Value::Object(map)
}

/// NetworkSettings as Docker shows it: the ports bound while running, and each network's endpoint.
fn network_settings(engine: &Engine, c: &Container) -> Value {
    let mut ports = serde_json::Map::new();
    for port in c.config.exposed_ports.keys() {
        ports.insert(port.clone(), Value::Null);
    }
    for p in engine.container_ports(c.id()) {
        let key = format!("{}/{}", p.container_port, p.proto);
        let entry = ports.entry(key).or_insert(Value::Null);
        if !entry.is_array() {
            *entry = json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
        }
    }
    let running = c.is_running();
    let mut networks = serde_json::Map::new();
    let mut primary = json!({"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": ""});
    let endpoints = engine.container_endpoints(c.id()).unwrap_or_default();
    let own_namespace = running && !endpoints.is_empty();
    for (n, e) in endpoints {
        let prefix: u64 = n.subnet.rsplit_once('/').and_then(|(_, p)| p.parse().ok()).unwrap_or(0);
        let aliases: Vec<String> = serde_json::from_str(&e.aliases).unwrap_or_default();
        // Docker shows the address only while the container runs.
        let (ip, gateway, mac, len) = if running {
            (e.ip.clone(), n.gateway.clone(), e.mac.clone(), prefix)
        } else {
            (String::new(), String::new(), String::new(), 0)
        };
        if networks.is_empty() {
            primary = json!({"IPAddress": ip, "IPPrefixLen": len, "Gateway": gateway, "MacAddress": mac});
        }
        networks.insert(
            n.name.clone(),
            json!({
                "IPAMConfig": null,
                "Links": null,
                "Aliases": if aliases.is_empty() { Value::Null } else { json!(aliases) },
                "NetworkID": n.id,
                "EndpointID": if running { e.container_id.clone() } else { String::new() },
                "Gateway": gateway,
                "IPAddress": ip,
                "IPPrefixLen": len,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": mac,
                "DNSNames": null,
            }),
        );
    }
    if networks.is_empty() {
        let mode = &c.config.host.network_mode;
        networks.insert(
            mode.clone(),
            json!({"NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": ""}),
        );
    }
    json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": if own_namespace {
            engine.netns_path(c.id()).display().to_string()
        } else {
            String::new()
        },
        "Ports": ports,
        "IPAddress": primary["IPAddress"],
        "IPPrefixLen": primary["IPPrefixLen"],
        "Gateway": primary["Gateway"],
        "MacAddress": primary["MacAddress"],
        "Networks": networks,
    })
}
