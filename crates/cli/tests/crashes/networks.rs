//! `network create` and `network rm` killed at random moments: after the next `network prune`, the
//! host has a bridge for each listed network of this root and no other bridge of this root (leaked
//! bridges held their subnets: later creates failed with "Pool overlaps").

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use crate::common::Berth;

/// Network ids in the owner tags (aliases) of this root's bridges on the host.
fn tagged_networks(berth: &Berth) -> BTreeSet<String> {
    let Ok(root_id) = fs::read_to_string(berth.root().join("root-id")) else {
        return BTreeSet::new();
    };
    let prefix = format!("berth:{}:", root_id.trim());
    fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .filter_map(|e| fs::read_to_string(e.path().join("ifalias")).ok())
                .filter_map(|a| a.trim_end().strip_prefix(&prefix).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Ids of this root's bridge networks (the default one included).
fn listed_networks(berth: &Berth) -> BTreeSet<String> {
    berth
        .ok(&["network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}"])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, name)| !matches!(*name, "host" | "none"))
        .map(|(id, _)| id.to_string())
        .collect()
}

#[test]
fn killed_network_create_and_rm_leave_no_bridge_behind() {
    let berth = Berth::new();
    berth.ok(&["network", "create", "first"]);
    for round in 0..15 {
        let name = format!("net{round}");
        crate::kill_at_random_as(
            crate::kill_mode(round),
            berth.cmd(&["network", "create", &name]),
            Duration::from_millis(40),
        );
        crate::kill_at_random_as(
            crate::kill_mode(round),
            berth.cmd(&["network", "rm", "first"]),
            Duration::from_millis(40),
        );
        berth.run(&["network", "create", "first"]);
        crate::assert_checked(&berth, &format!("round {round}"));
    }
    berth.ok(&["network", "prune", "-f"]);
    // Listed first: listing makes the default network (and its bridge) on first use.
    let listed = listed_networks(&berth);
    assert_eq!(
        tagged_networks(&berth),
        listed,
        "the networks of this root's bridges on the host vs its networks"
    );
    // Nothing holds a subnet any more: as many networks as before can be made again.
    for round in 0..15 {
        berth.ok(&["network", "create", &format!("again{round}")]);
    }
    berth.ok(&["network", "prune", "-f"]);
    let listed = listed_networks(&berth);
    assert_eq!(tagged_networks(&berth), listed);
}
