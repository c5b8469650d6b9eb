//! `run -d -p` killed at random moments, the CLI alone or its whole process tree (monitor and
//! container included): a start could publish the port rules before it recorded them, and one DNAT
//! chain outlived `rm -f`, `system prune` and `network-reset`, pointing into a subnet later handed
//! to another bridge. Now, after `rm -f` of whatever is listed, no rule, veth, namespace or mount of
//! this root is left, and the same host port can be published again.

use std::fs;
use std::time::Duration;

use crate::common::{with_busybox, Berth};
use crate::{kill_at_random_as, Kill};

/// The comments of this root's rules in berth's nftables table (`ctr:<root id>.<container>...`).
fn port_rules(berth: &Berth) -> Vec<String> {
    let Ok(root_id) = fs::read_to_string(berth.root().join("root-id")) else {
        return Vec::new();
    };
    let owner = format!("ctr:{}.", root_id.trim());
    let chain = format!("ctr-{}.", root_id.trim());
    table_items()
        .iter()
        .filter_map(|i| {
            let rule = i["rule"]["comment"].as_str().filter(|c| c.starts_with(&owner));
            let chain = i["chain"]["name"].as_str().filter(|n| n.starts_with(&chain));
            rule.or(chain).map(str::to_string)
        })
        .collect()
}

/// Host links whose alias tags them as this root's containers' veths.
fn tagged_veths(berth: &Berth) -> Vec<String> {
    let Ok(root_id) = fs::read_to_string(berth.root().join("root-id")) else {
        return Vec::new();
    };
    let prefix = format!("berth:{}:ctr:", root_id.trim());
    fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .filter(|e| fs::read_to_string(e.path().join("ifalias")).is_ok_and(|a| a.starts_with(&prefix)))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `tagged_veths` once the kernel is done: a namespace's veths are deleted in the background after
/// the namespace goes, which takes a moment.
fn veths_gone(berth: &Berth) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = tagged_veths(berth);
        if left.is_empty() || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn killed_runs_with_ports_leave_nothing(kill: Kill) {
    let Some(berth) = with_busybox() else { return };
    let port = free_port();
    let publish = format!("{port}:80");
    let run = ["run", "-d", "-p", &publish, "busybox", "sleep", "100"];
    for round in 0..10 {
        kill_at_random_as(kill, berth.cmd(&run), Duration::from_millis(150));
        let ids: Vec<String> = berth
            .ok(&["ps", "-a", "-q", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect();
        for id in &ids {
            berth.ok(&["rm", "-f", id]);
        }
        let what = format!("{kill:?} round {round}");
        assert_eq!(forwards_of(port), Vec::<String>::new(), "{what}: DNAT rules left");
        assert_eq!(port_rules(&berth), Vec::<String>::new(), "{what}: rules left");
        assert_eq!(veths_gone(&berth), Vec::<String>::new(), "{what}: veths left");
        for id in &ids {
            let veth = format!("vb{}", &id[..10]);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while links().iter().any(|l| l.starts_with(&veth)) {
                assert!(std::time::Instant::now() < deadline, "{what}: {veth}* left");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let left = crate::mounts_of_test(&berth);
        assert!(left.is_empty(), "{what}: mounts left: {left:?}");
        crate::assert_checked(&berth, &what);
        // The port is free again: published, then let go.
        let id = berth.ok(&run).trim().to_string();
        assert_eq!(forwards_of(port).len(), 1, "{what}: the DNAT rule");
        assert_eq!(port_rules(&berth).len(), 3, "{what}: chain, jump and DNAT, tagged");
        berth.ok(&["rm", "-f", &id]);
    }
    assert_eq!(forwards_of(port), Vec::<String>::new());
}

/// Comments of the DNAT rules (of any owner) for host port `port`.
fn forwards_of(port: u16) -> Vec<String> {
    let mapping = format!(" 0.0.0.0:{port} ");
    table_items()
        .iter()
        .filter_map(|i| i["rule"]["comment"].as_str())
        .filter(|c| c.contains(&mapping))
        .map(str::to_string)
        .collect()
}

fn table_items() -> Vec<serde_json::Value> {
    let out = std::process::Command::new("nft")
        .args(["-j", "list", "table", "ip", "berth"])
        .output()
        .expect("nft");
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    listing["nftables"].as_array().cloned().unwrap_or_default()
}

fn links() -> Vec<String> {
    fs::read_dir("/sys/class/net")
        .map(|d| d.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
        .unwrap_or_default()
}

#[test]
fn killed_run_with_ports_cli_alone() {
    killed_runs_with_ports_leave_nothing(Kill::Cli);
}

#[test]
fn killed_run_with_ports_whole_tree() {
    killed_runs_with_ports_leave_nothing(Kill::Tree);
}

/// Rules and a veth a killed command left with no container record (made here by hand) are removed
/// by `network prune`; another root's are left alone.
#[test]
fn prune_removes_leftovers_without_a_container_and_spares_other_roots() {
    let Some(berth) = with_busybox() else { return };
    let Some(other) = with_busybox() else { return };
    let mut made = Vec::new();
    for (b, n) in [(&berth, 1), (&other, 2)] {
        // A running container makes the root's identity and berth's table.
        let id = b.ok(&["run", "-d", "-p", "80", "busybox", "sleep", "100"]);
        let root_id = fs::read_to_string(b.root().join("root-id")).expect("root id");
        let owner = format!("{}.{}", root_id.trim(), "f".repeat(32));
        let comment = format!("ctr:{owner}");
        let veth = format!("vbleak{n}{}", std::process::id() % 100_000);
        for command in [
            format!("add chain ip berth ctr-{owner}"),
            format!("add rule ip berth ports jump ctr-{owner} comment \"{comment}\""),
            format!(
                "add rule ip berth ctr-{owner} tcp dport 9 dnat to 10.255.0.2:80 comment \"{comment} tcp 0.0.0.0:9 10.255.0.2:80\""
            ),
        ] {
            let status = std::process::Command::new("nft").arg(&command).status().expect("nft");
            assert!(status.success(), "{command}");
        }
        let status = std::process::Command::new("ip")
            .args([
                "link",
                "add",
                &veth,
                "type",
                "veth",
                "peer",
                "name",
                &format!("{veth}p"),
            ])
            .status()
            .expect("ip");
        assert!(status.success());
        let alias = format!("berth:{}:ctr:{}", root_id.trim(), "f".repeat(64));
        fs::write(format!("/sys/class/net/{veth}/ifalias"), alias).expect("alias");
        made.push((id.trim().to_string(), veth));
    }
    assert_eq!(port_rules(&berth).len(), 6, "the container's and the leftover's");
    berth.ok(&["network", "prune", "-f"]);
    assert_eq!(port_rules(&berth).len(), 3, "the leftover's rules stay");
    assert_eq!(tagged_veths(&berth).len(), 1, "the leftover veth stays");
    assert_eq!(port_rules(&other).len(), 6, "another root's rules were touched");
    assert_eq!(tagged_veths(&other).len(), 2, "another root's veth was touched");
    other.ok(&["network", "prune", "-f"]);
    for (b, (id, _)) in [&berth, &other].into_iter().zip(&made) {
        b.ok(&["rm", "-f", id]);
        assert_eq!(port_rules(b), Vec::<String>::new());
        assert_eq!(veths_gone(b), Vec::<String>::new());
    }
}
