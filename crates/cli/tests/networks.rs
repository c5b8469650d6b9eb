//! Networking end to end: real bridges, veths, nftables rules and the per-network DNS server, driven through
//! the berth binary. Each test has its own data root; its Drop removes containers and networks.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use common::*;

/// A host port nobody uses right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The host's first non-loopback IPv4 address.
fn host_address() -> Option<Ipv4Addr> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        let ip: Ipv4Addr = fields.get(3)?.split('/').next()?.parse().ok()?;
        (!ip.is_loopback()
            && fields
                .get(1)
                .is_some_and(|i| !i.starts_with("bt") && !i.starts_with("br-")))
        .then_some(ip)
    })
}

fn http_get(url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "5", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn interfaces() -> String {
    std::fs::read_to_string("/proc/net/dev").unwrap_or_default()
}

/// The page at http://NAME/ as a container on `network` fetches it (by DNS name).
fn fetch_on(berth: &Berth, network: &str, name: &str) -> String {
    let url = format!("http://{name}/");
    berth.ok(&[
        "run",
        "--rm",
        "--network",
        network,
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &url,
    ])
}

/// Serves `text` with busybox httpd from a host directory.
fn web_root(berth: &Berth, text: &str) -> String {
    let dir = berth.path("www");
    std::fs::create_dir_all(&dir).expect("www");
    std::fs::write(dir.join("index.html"), text).expect("index");
    format!("{}:/www:ro", dir.display())
}

#[test]
fn published_port_serves_the_host_and_other_containers() {
    let Some(berth) = with_busybox() else { return };
    if !need("curl") {
        return;
    }
    let www = web_root(&berth, "hello from berth\n");
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let id = berth.ok(&[
        "run", "-d", "--name", "web", "-p", &publish, "-v", &www, "busybox", "busybox", "httpd", "-f", "-p", "80",
        "-h", "/www",
    ]);
    let id = id.trim();
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(&url) != "hello from berth\n" {
        assert!(Instant::now() < deadline, "no answer on {url}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(berth.ok(&["port", "web"]).trim(), format!("80/tcp -> 127.0.0.1:{port}"));
    assert_eq!(berth.ok(&["port", "web", "80"]).trim(), format!("127.0.0.1:{port}"));
    assert!(berth.ok(&["ps"]).contains(&format!("127.0.0.1:{port}->80/tcp")));
    let ip = berth.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]);
    assert!(ip.trim().parse::<Ipv4Addr>().is_ok(), "{ip}");
    // Another container on the default bridge reaches it by address.
    let direct = berth.ok(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://{}/", ip.trim()),
    ]);
    assert_eq!(direct, "hello from berth\n");
    // Published on every host address: from the host's own address, and from a container through it.
    if let Some(host) = host_address() {
        let port2 = free_port();
        let all = format!("{port2}:80");
        berth.ok(&[
            "run", "-d", "-p", &all, "-v", &www, "busybox", "busybox", "httpd", "-f", "-p", "80", "-h", "/www",
        ]);
        let url = format!("http://{host}:{port2}/");
        let deadline = Instant::now() + Duration::from_secs(10);
        while http_get(&url) != "hello from berth\n" {
            assert!(Instant::now() < deadline, "no answer on {url}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let hairpin = berth.ok(&["run", "--rm", "busybox", "wget", "-q", "-O", "-", &url]);
        assert_eq!(hairpin, "hello from berth\n");
    }
    // A port that is taken: a clear error, exit 125, and the container does not run.
    let taken = berth.run(&["run", "-d", "-p", &publish, "busybox", "sleep", "30"]);
    assert_eq!(code(&taken), 125);
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("port is already allocated"),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    berth.ok(&["rm", "-f", id]);
    // Gone with the container: the mapping answers no more.
    assert_eq!(http_get(&url), "");
}

#[test]
fn publish_all_maps_every_exposed_port() {
    let Some(berth) = with_busybox() else { return };
    let dir = berth.path("img");
    let Some(root) = busybox_rootfs(&dir) else { return };
    let tar = berth.path("rootfs.tar");
    tar_dir(&root, &tar);
    berth.ok(&[
        "import",
        "--change",
        "EXPOSE 80 53/udp",
        tar.to_str().expect("path"),
        "exposed:1",
    ]);
    let id = berth.ok(&["run", "-d", "-P", "exposed:1", "sleep", "30"]);
    let ports = berth.ok(&["port", id.trim()]);
    let mut lines: Vec<&str> = ports.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{ports}");
    assert!(lines[0].starts_with("53/udp -> 0.0.0.0:"), "{ports}");
    assert!(lines[1].starts_with("80/tcp -> 0.0.0.0:"), "{ports}");
    berth.ok(&["rm", "-f", id.trim()]);
    // `ps` lists the exposed ports nothing publishes too, as Docker does, while the container runs.
    let id = berth.ok(&["run", "-d", "-p", "127.0.0.1::80", "exposed:1", "sleep", "30"]);
    let ports = berth.ok(&["ps", "--format", "{{.Ports}}"]);
    let (published, rest) = ports.trim().split_once(", ").expect("two ports");
    assert!(
        published.starts_with("127.0.0.1:") && published.ends_with("->80/tcp"),
        "{ports}"
    );
    assert_eq!(rest, "53/udp");
    berth.ok(&["stop", "-t", "0", id.trim()]);
    assert_eq!(berth.ok(&["ps", "-a", "--format", "{{.Ports}}"]).trim(), "");
    berth.ok(&["rm", "-f", id.trim()]);
}

/// `--expose` adds to the image's exposed ports (Config.ExposedPorts), which `-P` then publishes; bad
/// values are refused before anything is made.
#[test]
fn expose_adds_ports_that_publish_all_publishes() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&[
        "run",
        "-d",
        "--expose",
        "6379",
        "--expose",
        "7000-7001/udp",
        "busybox",
        "sleep",
        "30",
    ]);
    let exposed = berth.ok(&["inspect", "-f", "{{json .Config.ExposedPorts}}", id.trim()]);
    assert_eq!(exposed.trim(), r#"{"6379/tcp":{},"7000/udp":{},"7001/udp":{}}"#);
    berth.ok(&["rm", "-f", id.trim()]);
    let id = berth.ok(&["run", "-d", "-P", "--expose", "6379", "busybox", "sleep", "30"]);
    let ports = berth.ok(&["port", id.trim()]);
    assert!(ports.starts_with("6379/tcp -> 0.0.0.0:"), "{ports}");
    berth.ok(&["rm", "-f", id.trim()]);
    let out = berth.run(&["run", "--expose", "80/sctp", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--expose"));
    assert!(berth.ok(&["ps", "-a", "-q"]).trim().is_empty());
}

#[test]
fn user_network_resolves_names_and_aliases() {
    let Some(berth) = with_busybox() else { return };
    let net = format!("net{}", std::process::id());
    berth.ok(&["network", "create", &net]);
    let www = web_root(&berth, "by name\n");
    berth.ok(&[
        "run",
        "-d",
        "--network",
        &net,
        "--name",
        "api",
        "--network-alias",
        "backend",
        "-v",
        &www,
        "busybox",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    for name in ["api", "backend", "API"] {
        let got = fetch_on(&berth, &net, name);
        assert_eq!(got, "by name\n", "{name}");
    }
    // The default bridge does not resolve names, as in Docker: no berth DNS server in its resolv.conf (a
    // query would go to the host's resolvers, off this machine, so none is sent here).
    let gateway = berth.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "bridge",
    ]);
    let resolv = berth.ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains(&format!("nameserver {}", gateway.trim())), "{resolv}");
    let user_gateway = berth.ok(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", &net]);
    let resolv = berth.ok(&["run", "--rm", "--network", &net, "busybox", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.starts_with(&format!("nameserver {}\n", user_gateway.trim())),
        "{resolv}"
    );
    // In use: refused, and nothing changes.
    let busy = berth.run(&["network", "rm", &net]);
    assert_ne!(code(&busy), 0);
    assert!(String::from_utf8_lossy(&busy.stderr).contains("has active endpoints"));
    berth.ok(&["rm", "-f", "api"]);
    // The network's DNS server leaves with its last container.
    let deadline = Instant::now() + Duration::from_secs(5);
    let root = berth.root().display().to_string();
    while dns_servers(&root) > 0 {
        assert!(
            Instant::now() < deadline,
            "the DNS server outlived the network's containers"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let bridge_name = berth.ok(&["network", "inspect", "-f", "{{.BridgeName}}", &net]);
    berth.ok(&["network", "rm", &net]);
    assert!(!interfaces().contains(&format!("{}:", bridge_name.trim())));
}

/// DNS server processes started for this data root.
fn dns_servers(root: &str) -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .filter(|c| c.contains("network-dns") && c.contains(root))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn none_host_and_container_modes() {
    let Some(berth) = with_busybox() else { return };
    let none = berth.ok(&["run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev"]);
    let names: Vec<&str> = none
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(names, ["lo"], "{none}");
    let host = berth.ok(&["run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev"]);
    // Other tests add and remove bridges and veths meanwhile: compare the interfaces that stay.
    let stable = |dev: &str| -> Vec<String> {
        let mut names: Vec<String> = dev
            .lines()
            .skip(2)
            .filter_map(|l| Some(l.split(':').next()?.trim().to_string()))
            .filter(|n| !n.starts_with("bt") && !n.starts_with("br-") && !n.starts_with("vb"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(stable(&host), stable(&interfaces()), "{host}");
    assert!(stable(&host).len() > 1, "{host}");
    // container:NAME shares the other container's stack: same address.
    berth.ok(&["run", "-d", "--name", "first", "busybox", "sleep", "30"]);
    let ip = berth.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "first"]);
    let shared = berth.ok(&[
        "run",
        "--rm",
        "--network",
        "container:first",
        "busybox",
        "cat",
        "/proc/net/fib_trie",
    ]);
    assert!(shared.contains(ip.trim()), "{ip} not in {shared}");
}

#[test]
fn twenty_parallel_containers_get_distinct_addresses() {
    let Some(berth) = with_busybox() else { return };
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| berth.ok(&["run", "-d", "busybox", "sleep", "30"]).trim().to_string()))
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let mut ips: Vec<String> = ids
        .iter()
        .map(|id| {
            berth
                .ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", id])
                .trim()
                .to_string()
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 20, "{ips:?}");
    assert!(ips.iter().all(|ip| ip.parse::<Ipv4Addr>().is_ok()), "{ips:?}");
}

#[test]
fn bad_network_input_is_refused_cleanly() {
    let Some(berth) = with_busybox() else { return };
    let a = format!("a{}", std::process::id());
    let b = format!("b{}", std::process::id());
    berth.ok(&["network", "create", "--subnet", "10.231.7.0/24", &a]);
    let overlap = berth.run(&["network", "create", "--subnet", "10.231.7.128/25", &b]);
    assert_ne!(code(&overlap), 0);
    assert!(String::from_utf8_lossy(&overlap.stderr).contains("overlaps"));
    assert!(!berth
        .ok(&["network", "ls", "-q", "--filter", &format!("name={b}")])
        .contains(char::is_alphanumeric));
    for args in [
        vec!["run", "--rm", "--network", "nosuchnet", "busybox", "true"],
        vec!["run", "--rm", "-p", "notaport", "busybox", "true"],
        vec!["run", "--rm", "-p", "1-3:1-2", "busybox", "true"],
        vec!["run", "--rm", "--network", "none", "-p", "80", "busybox", "true"],
    ] {
        let out = berth.run(&args);
        assert_eq!(code(&out), 125, "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(berth.ok(&["ps", "-aq"]), "", "no container was left half-created");
    let gateway = berth.ok(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", &a]);
    assert_eq!(gateway.trim(), "10.231.7.1");
    berth.ok(&["network", "rm", &a]);
}

#[test]
fn fetches_the_debian_mirror_through_nat() {
    let Some(berth) = with_busybox() else { return };
    // The only outside host a container may reach; its name is resolved here, on the host.
    let Ok(mut addrs) = std::net::ToSocketAddrs::to_socket_addrs(&("deb.debian.org", 80)) else {
        eprintln!("SKIP: deb.debian.org does not resolve on this host");
        return;
    };
    let Some(ip) = addrs.find(|a| a.is_ipv4()).map(|a| a.ip()) else {
        eprintln!("SKIP: no IPv4 address for deb.debian.org");
        return;
    };
    let host = format!("deb.debian.org:{ip}");
    let out = berth.run(&[
        "run",
        "--rm",
        "--add-host",
        &host,
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://deb.debian.org/debian/dists/bookworm/Release",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Origin: Debian"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The interface names inside a running container.
fn container_interfaces(berth: &Berth, name: &str) -> Vec<String> {
    berth
        .ok(&["exec", name, "cat", "/proc/net/dev"])
        .lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim().to_string()))
        .collect()
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let Some(berth) = with_busybox() else { return };
    let net = format!("c{}", std::process::id());
    berth.ok(&["network", "create", "--subnet", "10.232.9.0/24", &net]);
    let www = web_root(&berth, "joined\n");
    berth.ok(&[
        "run", "-d", "--name", "web", "-v", &www, "busybox", "busybox", "httpd", "-f", "-p", "80", "-h", "/www",
    ]);
    assert_eq!(container_interfaces(&berth, "web"), ["lo", "eth0"]);
    // Joining a user network while running: a new interface with the asked-for address, the alias resolves,
    // and the container's resolver now points at that network's DNS server.
    berth.ok(&[
        "network",
        "connect",
        "--alias",
        "site",
        "--ip",
        "10.232.9.50",
        &net,
        "web",
    ]);
    assert_eq!(container_interfaces(&berth, "web"), ["lo", "eth0", "eth1"]);
    let addr = berth.ok(&["exec", "web", "cat", "/proc/net/fib_trie"]);
    assert!(addr.contains("10.232.9.50"), "{addr}");
    let resolv = berth.ok(&["exec", "web", "cat", "/etc/resolv.conf"]);
    assert!(resolv.starts_with("nameserver 10.232.9.1\n"), "{resolv}");
    let ip = berth.ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        "web",
    ]);
    assert_eq!(ip.trim(), "10.232.9.50");
    for name in ["web", "site"] {
        let got = fetch_on(&berth, &net, name);
        assert_eq!(got, "joined\n", "{name}");
    }
    // Twice is a conflict; a container in none mode cannot join.
    let again = berth.run(&["network", "connect", &net, "web"]);
    assert_ne!(code(&again), 0);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    berth.ok(&["create", "--name", "isolated", "--network", "none", "busybox", "true"]);
    let none = berth.run(&["network", "connect", &net, "isolated"]);
    assert_ne!(code(&none), 0);
    assert!(String::from_utf8_lossy(&none.stderr).contains("network mode is none"));
    // Leaving: the interface goes at once, the address is free again, and the network can be removed.
    berth.ok(&["network", "disconnect", &net, "web"]);
    assert_eq!(container_interfaces(&berth, "web"), ["lo", "eth0"]);
    let not = berth.run(&["network", "disconnect", &net, "web"]);
    assert!(String::from_utf8_lossy(&not.stderr).contains("is not connected"));
    berth.ok(&["network", "rm", &net]);
    // A stopped container joins at its next start.
    berth.ok(&["network", "create", "--subnet", "10.232.10.0/24", &net]);
    berth.ok(&["create", "--name", "later", "busybox", "sleep", "30"]);
    berth.ok(&["network", "connect", &net, "later"]);
    berth.ok(&["start", "later"]);
    assert_eq!(container_interfaces(&berth, "later"), ["lo", "eth0", "eth1"]);
    berth.ok(&["rm", "-f", "later", "web", "isolated"]);
    berth.ok(&["network", "rm", &net]);
}

#[test]
fn mac_address_is_given_to_the_interface() {
    let Some(berth) = with_busybox() else { return };
    let out = berth.ok(&[
        "run",
        "--rm",
        "--mac-address",
        "92:D0:C6:0A:29:33",
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(out, "92:d0:c6:0a:29:33\n");
    let bad = berth.run(&["run", "--rm", "--mac-address", "92:d0:zz", "busybox", "true"]);
    assert_eq!(code(&bad), 125);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a valid mac address"));
}

#[test]
fn nothing_is_left_behind() {
    let Some(berth) = with_busybox() else { return };
    let net = format!("gone{}", std::process::id());
    berth.ok(&["network", "create", &net]);
    let mut ids = Vec::new();
    for network in ["bridge", net.as_str()] {
        let id = berth.ok(&[
            "run",
            "-d",
            "--network",
            network,
            "-p",
            "80",
            "-p",
            "53/udp",
            "busybox",
            "sleep",
            "30",
        ]);
        ids.push(id.trim().to_string());
    }
    berth.ok(&["network", "connect", &net, &ids[0]]);
    let bridges: Vec<String> = ["bridge", net.as_str()]
        .iter()
        .map(|n| {
            berth
                .ok(&["network", "inspect", "-f", "{{.BridgeName}}", n])
                .trim()
                .to_string()
        })
        .collect();
    let rules = || {
        std::process::Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let before = rules();
    for b in &bridges {
        assert!(interfaces().contains(&format!("{b}:")), "{b} missing");
        assert!(before.contains(b.as_str()), "no rules for {b}");
    }
    assert!(ids.iter().all(|id| before.contains(&id[..12])), "no port rules");
    assert_eq!(dns_servers(&berth.root().display().to_string()), 1);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    berth.ok(&rm);
    berth.ok(&["network", "rm", &net]);
    berth.ok(&["system", "network-reset"]);
    // Interfaces go in the background once their namespace is gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let links = interfaces();
        let left: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(':').next().map(str::trim))
            .filter(|name| {
                bridges.iter().any(|b| b == name) || ids.iter().any(|id| name.starts_with(&format!("vb{}", &id[..10])))
            })
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "interfaces left: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = rules();
    for b in &bridges {
        assert!(!after.contains(b.as_str()), "rules for {b} left:\n{after}");
    }
    for id in &ids {
        assert!(!after.contains(&id[..12]), "rules for {id} left:\n{after}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while dns_servers(&berth.root().display().to_string()) > 0 {
        assert!(Instant::now() < deadline, "a DNS server is left");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!berth.ok(&["network", "ls", "--format", "{{.Name}}"]).contains(&net));
}

/// `--link` on a user-defined network: the alias names the target for the linking container only
/// (Docker answers it from its DNS, berth from the container's /etc/hosts), the target need not
/// exist, and inspect shows the links on the network's endpoint.
#[test]
fn link_on_a_user_network_names_the_target_for_the_linking_container() {
    let Some(berth) = with_busybox() else { return };
    let net = format!("lnk{}", std::process::id());
    berth.ok(&["network", "create", &net]);
    let www = web_root(&berth, "linked\n");
    berth.ok(&[
        "run",
        "-d",
        "--network",
        &net,
        "--name",
        "db",
        "-v",
        &www,
        "busybox",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let got = berth.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--link",
        "db:store",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://store/",
    ]);
    assert_eq!(got, "linked\n");
    // The command's exit code passes through.
    let out = berth.run(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--link",
        "db:store",
        "busybox",
        "sh",
        "-c",
        "wget -q -O /dev/null http://store/ && exit 3",
    ]);
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));
    // Another container on the network does not know the alias.
    let hosts = berth.ok(&["run", "--rm", "--network", &net, "busybox", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("store"), "{hosts}");
    // A link to a container that does not exist is accepted, as Docker does there, and gives nothing.
    let hosts = berth.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--link",
        "ghost:spook",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    assert!(!hosts.contains("spook"), "{hosts}");
    berth.ok(&[
        "create",
        "--network",
        &net,
        "--name",
        "linker",
        "--link",
        "db:store",
        "busybox",
        "true",
    ]);
    assert_eq!(
        berth
            .ok(&["inspect", "-f", "{{json .HostConfig.Links}}", "linker"])
            .trim(),
        "null"
    );
    let format = format!("{{{{json (index .NetworkSettings.Networks \"{net}\").Links}}}}");
    assert_eq!(
        berth.ok(&["inspect", "-f", &format, "linker"]).trim(),
        r#"["db:store"]"#
    );
    // Connecting to another network repeats the links (compose does); new ones are refused.
    let other = format!("{net}b");
    berth.ok(&["network", "create", &other]);
    let err = berth.fails(&["network", "connect", "--link", "db:elsewhere", &other, "linker"]);
    assert!(err.contains("berth takes links when a container is created"), "{err}");
    berth.ok(&["network", "connect", "--link", "db:store", &other, "linker"]);
    berth.ok(&["rm", "-f", "linker", "db"]);
    berth.ok(&["network", "rm", &net, &other]);
}

/// `--link` on the default network, as Docker's legacy links: checked at create, the target must
/// run at start, an /etc/hosts line and the link variables.
#[test]
fn link_on_the_default_network_is_a_legacy_link() {
    let Some(berth) = with_busybox() else { return };
    let www = web_root(&berth, "legacy\n");
    berth.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "-e",
        "SECRET=s3",
        "--expose",
        "80",
        "-v",
        &www,
        "busybox",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let ip = berth.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"]);
    let ip = ip.trim();
    let hostname = berth.ok(&["inspect", "-f", "{{.Config.Hostname}}", "db"]);
    let seen = berth.ok(&[
        "run",
        "--name",
        "web",
        "--link",
        "db:store",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts; env; wget -q -O - http://store/",
    ]);
    assert!(
        seen.contains(&format!("{ip}\tstore {} db\n", hostname.trim())),
        "{seen}"
    );
    for var in [
        format!("STORE_PORT=tcp://{ip}:80"),
        format!("STORE_PORT_80_TCP_ADDR={ip}"),
        "STORE_NAME=/web/store".to_string(),
        "STORE_ENV_SECRET=s3".to_string(),
    ] {
        assert!(seen.lines().any(|l| l == var), "{var} not in {seen}");
    }
    assert!(seen.ends_with("legacy\n"), "{seen}");
    assert_eq!(
        berth.ok(&["inspect", "-f", "{{json .HostConfig.Links}}", "web"]).trim(),
        r#"["/db:/web/store"]"#
    );

    // Refused at create, with Docker's texts.
    berth.ok(&[
        "run",
        "-d",
        "--network",
        "host",
        "--name",
        "onhost",
        "busybox",
        "sleep",
        "30",
    ]);
    for (args, says) in [
        (vec!["--link", "nosuch"], "could not get container for nosuch"),
        (
            vec!["--network", "host", "--link", "db"],
            "host type networking can't be used with links",
        ),
        (
            vec!["--network", "container:db", "--link", "db"],
            "container type network can't be used with links",
        ),
        (
            vec!["--link", "onhost:h"],
            "host type networking can't be used with links",
        ),
        (vec!["--link", "../../etc/passwd:x"], "invalid link"),
        (vec!["--link", "db:a/../b"], "invalid link"),
        (vec!["--link", "db:x y"], "invalid link"),
        (vec!["--link", "a:b:c"], "bad format for links"),
    ] {
        let mut command = vec!["run", "--rm"];
        command.extend(args);
        command.extend(["busybox", "true"]);
        let err = berth.fails(&command);
        assert!(err.contains(says), "{command:?}: {err}");
    }

    // The target must run when the linking container starts.
    berth.ok(&["create", "--name", "stopped", "busybox", "true"]);
    berth.ok(&["create", "--name", "needs", "--link", "stopped:s", "busybox", "true"]);
    let err = berth.fails(&["start", "needs"]);
    assert!(
        err.contains("Cannot link to a non running container: /stopped AS /needs/s"),
        "{err}"
    );
    berth.ok(&["rm", "-f", "web", "needs", "stopped", "onhost", "db"]);
    assert_eq!(berth.ok(&["ps", "-aq"]), "");
}
