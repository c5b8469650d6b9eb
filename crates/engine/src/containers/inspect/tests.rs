use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_store::containers::ContainerRow;
use berth_store::networks::{EndpointRow, NetworkRow};
use serde_json::{json, Value};

use super::*;
use crate::containers::health::{self, CheckResult};
use crate::containers::{ContainerConfig, HostConfig};
use crate::mounts::{MountKind, MountSpec};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn row(state: ContainerState) -> ContainerRow {
    ContainerRow {
        id: ID.into(),
        name: "web".into(),
        image_id: "sha256:feed".into(),
        created: "2026-01-02T03:04:05.000000006Z".into(),
        config: String::new(),
        state,
        pid: if state.is_running() { 4242 } else { 0 },
        started_at: "2026-01-02T03:04:06Z".into(),
        finished_at: "0001-01-01T00:00:00Z".into(),
        restart_count: 1,
        ..Default::default()
    }
}

/// A container with a bit of everything: entrypoint and cmd, a published and an exposed port, a
/// volume, a bind, tmpfs, a ulimit, a device, a health check, one network.
fn sample(state: ContainerState) -> Container {
    let mount = |kind: MountKind, source: &str, target: &str, read_only: bool| MountSpec {
        kind,
        source: source.into(),
        target: target.into(),
        read_only,
        ..MountSpec::default()
    };
    Container {
        row: row(state),
        config: ContainerConfig {
            image: "docker.io/library/busybox:latest".into(),
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec!["httpd -f".into()]),
            env: vec!["PATH=/bin".into()],
            hostname: "0123456789ab".into(),
            healthcheck: Some(crate::containers::HealthConfig {
                test: vec!["CMD".into(), "true".into()],
                ..Default::default()
            }),
            labels: BTreeMap::from([("team".into(), "core".into())]),
            exposed_ports: BTreeMap::from([("80/tcp".into(), json!({})), ("9000/udp".into(), json!({}))]),
            volumes: BTreeMap::from([("/data".into(), json!({}))]),
            mounts: vec![
                mount(MountKind::Volume, "data", "/data", false),
                mount(MountKind::Bind, "/srv", "/srv", true),
            ],
            host: HostConfig {
                network_mode: "bridge".into(),
                port_bindings: vec![crate::ports::PortBinding {
                    host_ip: String::new(),
                    host_port: 8080,
                    container_port: 80,
                    proto: "tcp".into(),
                }],
                tmpfs: BTreeMap::from([("/run".into(), "size=64k".into()), ("/tmp".into(), String::new())]),
                ulimits: vec!["nofile=1024:2048".parse().unwrap(), "core=-1".parse().unwrap()],
                devices: vec!["/dev/fuse".parse().unwrap()],
                log_type: "json-file".into(),
                restart_policy: "on-failure:3".parse().unwrap(),
                ..HostConfig::default()
            },
            ..ContainerConfig::default()
        },
    }
}

fn observed() -> Observed {
    let dir = PathBuf::from("/var/lib/berth/containers").join(ID);
    Observed {
        log_path: dir.join(format!("{ID}-json.log")),
        dir,
        netns: PathBuf::from("/run/berth/netns").join(ID),
        volumes: BTreeMap::from([("data".into(), PathBuf::from("/var/lib/berth/volumes/data/_data"))]),
        health: Some(health::Health {
            status: "healthy".into(),
            failing_streak: 0,
            log: vec![CheckResult {
                start: "2026-01-02T03:04:07Z".into(),
                end: "2026-01-02T03:04:08Z".into(),
                exit_code: 0,
                output: String::new(),
            }],
        }),
        ports: vec![BoundPort {
            host_ip: "0.0.0.0".into(),
            host_port: 8080,
            container_port: 80,
            proto: "tcp".into(),
        }],
        endpoints: vec![(
            NetworkRow {
                id: "net1".into(),
                name: "bridge".into(),
                driver: "bridge".into(),
                subnet: "172.17.0.0/16".into(),
                gateway: "172.17.0.1".into(),
                ip_range: String::new(),
                internal: false,
                bridge: "berth0".into(),
                labels: "{}".into(),
                options: "{}".into(),
                created: String::new(),
            },
            EndpointRow {
                network_id: "net1".into(),
                container_id: ID.into(),
                ip: "172.17.0.2".into(),
                mac: "02:42:ac:11:00:02".into(),
                aliases: r#"["www"]"#.into(),
            },
        )],
        sizes: None,
    }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().expect("an object").keys().map(String::as_str).collect()
}

/// `v`'s keys are `expected` (separated by spaces), in that order.
#[track_caller]
fn assert_keys(v: &Value, expected: &str) {
    assert_eq!(keys(v), expected.split_whitespace().collect::<Vec<_>>());
}

#[test]
fn keys_are_in_dockers_order() {
    let v = serde_json::to_value(assemble(&sample(ContainerState::Running), &observed())).unwrap();
    assert_keys(
        &v,
        "Id Created Path Args State Image ResolvConfPath HostnamePath HostsPath LogPath Name RestartCount Driver \
         Platform MountLabel ProcessLabel AppArmorProfile ExecIDs HostConfig GraphDriver Mounts Config \
         NetworkSettings",
    );
    assert_keys(
        &v["State"],
        "Status Running Paused Restarting OOMKilled Dead Pid ExitCode Error StartedAt FinishedAt Health",
    );
    assert_keys(&v["State"]["Health"], "Status FailingStreak Log");
    assert_keys(&v["State"]["Health"]["Log"][0], "Start End ExitCode Output");
    assert_keys(
        &v["HostConfig"],
        "Binds ContainerIDFile LogConfig NetworkMode PortBindings RestartPolicy AutoRemove CapAdd CapDrop Dns \
         DnsOptions DnsSearch ExtraHosts GroupAdd Links Privileged ReadonlyRootfs SecurityOpt Tmpfs UsernsMode ShmSize Runtime \
         CpuShares Memory NanoCpus CpusetCpus Devices MemoryReservation MemorySwap OomKillDisable PidsLimit \
         Ulimits Init",
    );
    assert_keys(&v["HostConfig"]["LogConfig"], "Type Config");
    assert_keys(&v["HostConfig"]["RestartPolicy"], "Name MaximumRetryCount");
    assert_keys(&v["HostConfig"]["Ulimits"][0], "Name Hard Soft");
    assert_keys(
        &v["HostConfig"]["Devices"][0],
        "PathOnHost PathInContainer CgroupPermissions",
    );
    assert_keys(&v["GraphDriver"], "Data Name");
    assert_keys(&v["GraphDriver"]["Data"], "MergedDir UpperDir WorkDir");
    assert_keys(
        &v["Mounts"][0],
        "Type Name Source Destination Driver Mode RW Propagation",
    );
    // A bind has no volume name, which dockerd leaves out.
    assert_keys(&v["Mounts"][1], "Type Source Destination Driver Mode RW Propagation");
    assert_keys(
        &v["Config"],
        "Hostname Domainname User AttachStdin AttachStdout AttachStderr ExposedPorts Tty OpenStdin StdinOnce Env \
         Cmd Healthcheck Image Volumes WorkingDir Entrypoint MacAddress OnBuild Labels StopSignal",
    );
    assert_keys(
        &v["NetworkSettings"],
        "Bridge SandboxID SandboxKey Ports HairpinMode LinkLocalIPv6Address LinkLocalIPv6PrefixLen \
         SecondaryIPAddresses SecondaryIPv6Addresses EndpointID Gateway GlobalIPv6Address GlobalIPv6PrefixLen \
         IPAddress IPPrefixLen IPv6Gateway MacAddress Networks",
    );
    assert_keys(
        &v["NetworkSettings"]["Networks"]["bridge"],
        "IPAMConfig Links Aliases MacAddress DriverOpts GwPriority NetworkID EndpointID Gateway IPAddress \
         IPPrefixLen IPv6Gateway GlobalIPv6Address GlobalIPv6PrefixLen DNSNames",
    );
}

#[test]
fn values_have_dockers_types() {
    let v = serde_json::to_value(assemble(&sample(ContainerState::Running), &observed())).unwrap();
    assert_eq!(v["Id"], ID);
    assert_eq!(v["Path"], "/bin/sh");
    assert_eq!(v["Args"], json!(["-c", "httpd -f"]));
    assert_eq!(v["Name"], "/web");
    assert_eq!(v["ExecIDs"], Value::Null);
    assert_eq!(v["LogPath"], format!("/var/lib/berth/containers/{ID}/{ID}-json.log"));
    let state = &v["State"];
    assert_eq!(state["Status"], "running");
    assert_eq!(state["Running"], true);
    assert_eq!(state["Pid"], 4242);
    assert_eq!(state["Health"]["Status"], "healthy");
    let host = &v["HostConfig"];
    assert_eq!(host["Binds"], Value::Null);
    assert_eq!(
        host["PortBindings"],
        json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
    );
    assert_eq!(
        host["RestartPolicy"],
        json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );
    assert_eq!(host["Tmpfs"], json!({"/run": "size=64k", "/tmp": ""}));
    assert_eq!(host["ShmSize"], 64 * 1024 * 1024);
    assert_eq!(host["PidsLimit"], Value::Null);
    assert_eq!(
        host["Ulimits"],
        json!([{"Name": "nofile", "Hard": 2048, "Soft": 1024}, {"Name": "core", "Hard": -1, "Soft": -1}])
    );
    assert_eq!(
        host["Devices"],
        json!([{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}])
    );
    assert_eq!(v["Mounts"][0]["Source"], "/var/lib/berth/volumes/data/_data");
    assert_eq!(v["Mounts"][0]["Driver"], "local");
    assert_eq!(v["Mounts"][1]["Mode"], "ro");
    assert_eq!(v["Mounts"][1]["Propagation"], "rprivate");
    let config = &v["Config"];
    assert_eq!(config["ExposedPorts"], json!({"80/tcp": {}, "9000/udp": {}}));
    assert_eq!(config["Volumes"], json!({"/data": {}}));
    assert_eq!(config["Image"], "busybox:latest");
    assert_eq!(config["OnBuild"], Value::Null);
    let net = &v["NetworkSettings"];
    assert_eq!(net["SandboxKey"], format!("/run/berth/netns/{ID}"));
    // Published ports carry their bindings, ports only exposed are null.
    assert_eq!(
        net["Ports"],
        json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "9000/udp": null})
    );
    assert_eq!(net["IPAddress"], "172.17.0.2");
    assert_eq!(net["IPPrefixLen"], 16);
    assert_eq!(net["SecondaryIPAddresses"], Value::Null);
    let bridge = &net["Networks"]["bridge"];
    assert_eq!(bridge["Aliases"], json!(["www"]));
    assert_eq!(bridge["NetworkID"], "net1");
    assert_eq!(bridge["Gateway"], "172.17.0.1");
    assert_eq!(bridge["GwPriority"], 0);
    assert_eq!(bridge["DNSNames"], Value::Null);
}

#[test]
fn a_stopped_container_shows_no_addresses_and_leaves_out_what_docker_leaves_out() {
    let mut c = sample(ContainerState::Exited);
    c.config.healthcheck = None;
    c.config.exposed_ports.clear();
    c.config.volumes.clear();
    c.config.host.tmpfs.clear();
    c.config.host.pids_limit = 100;
    c.config.host.init = true;
    c.config.host.log_type = "none".into();
    c.config.stop_signal = "SIGINT".into();
    c.config.stop_timeout = Some(5);
    let mut o = observed();
    o.health = None;
    o.ports.clear();
    let v = serde_json::to_value(assemble(&c, &o)).unwrap();
    assert_eq!(v["State"]["Running"], false);
    assert!(v["State"].get("Health").is_none());
    assert_eq!(v["LogPath"], "");
    // Written empty, though dockerd leaves it out, so that templates print docker's `map[]`.
    assert_eq!(v["HostConfig"]["Tmpfs"], json!({}));
    assert_eq!(v["HostConfig"]["PidsLimit"], 100);
    assert_eq!(v["HostConfig"]["Init"], true);
    assert!(v["Config"].get("ExposedPorts").is_none());
    assert!(v["Config"].get("Healthcheck").is_none());
    assert_eq!(v["Config"]["Volumes"], Value::Null);
    assert_eq!(v["Config"]["StopSignal"], "SIGINT");
    assert_eq!(v["Config"]["StopTimeout"], 5);
    assert_eq!(keys(&v["Config"]).last(), Some(&"StopTimeout"));
    let net = &v["NetworkSettings"];
    assert_eq!(net["SandboxKey"], "");
    assert_eq!(net["IPAddress"], "");
    assert_eq!(net["Ports"], json!({}));
    let bridge = &net["Networks"]["bridge"];
    assert_eq!(bridge["NetworkID"], "net1");
    assert_eq!(bridge["IPAddress"], "");
    assert_eq!(bridge["EndpointID"], "");
    assert_eq!(bridge["IPPrefixLen"], 0);
}

#[test]
fn without_endpoints_the_network_mode_has_an_empty_entry() {
    let mut c = sample(ContainerState::Running);
    c.config.host.network_mode = "host".into();
    let mut o = observed();
    o.endpoints.clear();
    let v = serde_json::to_value(assemble(&c, &o)).unwrap();
    assert_eq!(v["NetworkSettings"]["SandboxKey"], "");
    let host = &v["NetworkSettings"]["Networks"]["host"];
    assert_eq!(host["NetworkID"], "");
    assert_eq!(host["IPAMConfig"], Value::Null);
    assert_eq!(host["IPPrefixLen"], 0);
}

#[test]
fn the_json_reads_back_as_the_same_value() {
    let inspect = assemble(&sample(ContainerState::Running), &observed());
    let text = serde_json::to_string(&inspect).unwrap();
    let back: ContainerInspectResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(back, inspect);
}

#[test]
fn sizes_are_there_only_when_asked_for() {
    let c = sample(ContainerState::Exited);
    let v = serde_json::to_value(assemble(&c, &observed())).unwrap();
    assert!(v.get("SizeRw").is_none() && v.get("SizeRootFs").is_none(), "{v}");
    let sized = Observed {
        sizes: Some((4096, 4096 + 1_000_000)),
        ..observed()
    };
    let v = serde_json::to_value(assemble(&c, &sized)).unwrap();
    assert_eq!(v["SizeRw"], json!(4096));
    assert_eq!(v["SizeRootFs"], json!(1_004_096));
    // Where dockerd writes them: after GraphDriver.
    let keys = keys(&v);
    let at = |k: &str| keys.iter().position(|x| *x == k).unwrap();
    assert_eq!(at("SizeRw"), at("GraphDriver") + 1);
    assert_eq!(at("SizeRootFs"), at("GraphDriver") + 2);
}

/// Links on the default network are Docker's registered ones (`/TARGET:/NAME/ALIAS` in HostConfig);
/// on a user-defined network they are the endpoint's, as given.
#[test]
fn links_show_where_docker_shows_them() {
    let mut c = sample(ContainerState::Running);
    c.config.host.links = vec!["db:store".parse().unwrap()];
    let v = serde_json::to_value(assemble(&c, &observed())).unwrap();
    assert_eq!(v["HostConfig"]["Links"], json!(["/db:/web/store"]));
    assert_eq!(v["NetworkSettings"]["Networks"]["bridge"]["Links"], Value::Null);

    let mut o = observed();
    o.endpoints[0].0.name = "back".into();
    c.config.host.network_mode = "back".into();
    let v = serde_json::to_value(assemble(&c, &o)).unwrap();
    assert_eq!(v["HostConfig"]["Links"], Value::Null);
    assert_eq!(v["NetworkSettings"]["Networks"]["back"]["Links"], json!(["db:store"]));
}
