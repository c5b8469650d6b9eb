//! `system check` on the host: what a root's containers and networks hold outside the data root,
//! each leftover made by hand (a monitor killed, a record deleted under a running container, a bridge,
//! a veth and port rules with no record, a stray mount), found, repaired, and gone from the host; and
//! another root's leftovers are never touched.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{code, parent_of, with_busybox, Berth};

/// Kinds and objects of a check's findings (JSON), with its exit code.
fn check(berth: &Berth, repair: bool) -> (i32, Vec<(String, String, Value)>) {
    let mut args = vec!["system", "check", "--format", "json"];
    if repair {
        args.push("--repair");
    }
    let out = berth.run(&args);
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let findings = report["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            let kind = f["kind"].as_str().unwrap_or_default().to_string();
            let object = f["object"].as_str().unwrap_or_default().to_string();
            (kind, object, f["repair"].clone())
        })
        .collect();
    (code(&out), findings)
}

fn kinds(findings: &[(String, String, Value)]) -> Vec<&str> {
    let mut kinds: Vec<&str> = findings.iter().map(|(k, _, _)| k.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Checks, repairs (everything), and checks again (nothing).
fn found_and_repaired(berth: &Berth, expected_kinds: &[&str]) -> Vec<(String, String, Value)> {
    let (status, found) = check(berth, false);
    assert_eq!(status, 1, "{found:?}");
    for kind in expected_kinds {
        assert!(kinds(&found).contains(kind), "no {kind} finding in {found:?}");
    }
    let (status, repaired) = check(berth, true);
    assert_eq!(status, 0, "not all repaired: {repaired:?}");
    assert!(repaired.iter().all(|(_, _, r)| r["outcome"] == "done"), "{repaired:?}");
    let (status, left) = check(berth, false);
    assert_eq!((status, left.len()), (0, 0), "after repair: {left:?}");
    let plain = berth.ok(&["system", "check"]);
    assert!(plain.contains("is consistent"), "{plain}");
    found
}

fn sqlite(berth: &Berth, sql: &str) -> bool {
    Command::new("sqlite3")
        .arg(berth.root().join("berth.db"))
        .arg(sql)
        .status()
        .is_ok_and(|s| s.success())
}

fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"))
}

/// Waits for `pid` to be gone (its parent reaps it, or init does).
fn gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Nothing of container `id` on the host: no mount, namespace, cgroup, veth or port rule.
fn nothing_of(berth: &Berth, id: &str) {
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(id), "a mount of {id} is left");
    assert!(
        !Path::new(&format!("/sys/fs/cgroup/pids/berth/{id}")).exists(),
        "cgroup left"
    );
    let rules = Command::new("nft")
        .args(["list", "table", "ip", "berth"])
        .output()
        .expect("nft");
    assert!(
        !String::from_utf8_lossy(&rules.stdout).contains(&id[..32]),
        "port rules left"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let veth = format!("vb{}", &id[..10]);
    while fs::read_dir("/sys/class/net")
        .expect("links")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(&veth))
    {
        assert!(Instant::now() < deadline, "veth {veth} left");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !berth.path("run").join("runtime").join(id).exists(),
        "runtime state left"
    );
}

/// Starts `busybox sleep 100` detached with a published port; returns its id and its process's pid.
fn sleeper_with_a_port(berth: &Berth) -> (String, i32) {
    let id = berth
        .ok(&["run", "-d", "-p", "80", "busybox", "sleep", "100"])
        .trim()
        .to_string();
    let pid = berth
        .ok(&["inspect", "-f", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .expect("pid");
    (id, pid)
}

/// A running container whose monitor was killed (it was then recorded running forever): found as a
/// monitor finding, and repair records its exit and tears its run down.
#[test]
#[allow(unsafe_code)]
fn a_container_whose_monitor_died_is_recorded_exited() {
    let Some(berth) = with_busybox() else { return };
    let (id, pid) = sleeper_with_a_port(&berth);
    let monitor = parent_of(pid).expect("the container's monitor") as i32;
    assert!(monitor > 1);
    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    assert!(gone(monitor), "the monitor survived SIGKILL");
    let found = found_and_repaired(&berth, &["monitor"]);
    assert_eq!(found.len(), 1, "{found:?}");
    let state = berth.ok(&["inspect", "-f", "{{.State.Status}}", &id]);
    assert_eq!(state.trim(), "exited");
    assert!(gone(pid), "the container's process still runs");
    nothing_of(&berth, &id);
    berth.ok(&["rm", &id]);
}

/// A running container whose record is gone (as a hand edit or a bug could leave it): its root mount,
/// network namespace, cgroups and runtime state are found as held by a container with no record, and
/// repair kills it and removes all of it, port rules and veth included.
#[test]
fn what_a_container_without_a_record_holds_is_torn_down() {
    let Some(berth) = with_busybox() else { return };
    let (id, pid) = sleeper_with_a_port(&berth);
    if !sqlite(&berth, &format!("DELETE FROM containers WHERE id = '{id}'")) {
        eprintln!("skipped: no sqlite3");
        return;
    }
    found_and_repaired(&berth, &["mount", "netns", "cgroup"]);
    assert!(gone(pid), "the container's process still runs");
    nothing_of(&berth, &id);
    assert!(
        !berth.root().join("containers").join(&id).exists(),
        "its directory is left"
    );
}

/// A bridge, a veth and port rules tagged as this root's but with no network or container (a killed
/// create, rm or start could leave each) are found and removed; another root's are not touched.
#[test]
fn network_leftovers_are_found_and_removed_and_other_roots_spared() {
    let ours = Berth::new();
    let other = Berth::new();
    let mut made = Vec::new();
    for (n, berth) in [&ours, &other].into_iter().enumerate() {
        // Any network command makes the root's identity and berth's table.
        berth.ok(&["network", "create", "net"]);
        let root_id = fs::read_to_string(berth.root().join("root-id")).expect("root id");
        let root_id = root_id.trim();
        let suffix = format!("{n}{}", std::process::id() % 10_000);
        let bridge = format!("br-chk{suffix}");
        let veth = format!("vbchk{suffix}");
        let owner = format!("{root_id}.{}", "e".repeat(32));
        let ip = |args: &[&str]| assert!(Command::new("ip").args(args).status().expect("ip").success());
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&[
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{veth}p"),
        ]);
        fs::write(
            format!("/sys/class/net/{bridge}/ifalias"),
            format!("berth:{root_id}:{}", "d".repeat(64)),
        )
        .expect("alias");
        fs::write(
            format!("/sys/class/net/{veth}/ifalias"),
            format!("berth:{root_id}:ctr:{}", "e".repeat(64)),
        )
        .expect("alias");
        for command in [
            format!("add chain ip berth ctr-{owner}"),
            format!("add rule ip berth ports jump ctr-{owner} comment \"ctr:{owner}\""),
        ] {
            assert!(
                Command::new("nft").arg(&command).status().expect("nft").success(),
                "{command}"
            );
        }
        made.push((bridge, veth, owner));
    }
    let found = found_and_repaired(&ours, &["bridge", "veth", "firewall_rule"]);
    assert_eq!(found.len(), 3, "{found:?}");
    let links: Vec<String> = fs::read_dir("/sys/class/net")
        .expect("links")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let rules = Command::new("nft")
        .args(["list", "table", "ip", "berth"])
        .output()
        .expect("nft");
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        !links.contains(&made[0].0) && !links.contains(&made[0].1),
        "ours stayed: {links:?}"
    );
    assert!(!rules.contains(&made[0].2), "our rules stayed");
    assert!(
        links.contains(&made[1].0) && links.contains(&made[1].1),
        "the other root's went: {links:?}"
    );
    assert!(rules.contains(&made[1].2), "the other root's rules went");
    let found = found_and_repaired(&other, &["bridge", "veth", "firewall_rule"]);
    assert_eq!(found.len(), 3, "{found:?}");
    for berth in [&ours, &other] {
        berth.ok(&["network", "rm", "net"]);
    }
}

/// Something mounted under the data root that no container accounts for is found and unmounted.
#[test]
fn a_stray_mount_under_the_root_is_unmounted() {
    let berth = Berth::new();
    berth.ok(&["images"]);
    let stray = berth.root().join("stray");
    fs::create_dir_all(&stray).expect("mkdir");
    assert!(Command::new("mount")
        .args(["-t", "tmpfs", "stray", &stray.to_string_lossy()])
        .status()
        .expect("mount")
        .success());
    let found = found_and_repaired(&berth, &["mount"]);
    assert_eq!(found.len(), 1, "{found:?}");
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(&*stray.to_string_lossy()));
}

/// A `--rm` container that exited with no monitor left, and a build step's container whose build is
/// gone (each made here by editing its record as a kill would leave it): nobody would remove them but
/// the next command that lists containers; the check names them and repair removes them.
#[test]
fn containers_left_for_removal_are_found_and_removed() {
    let Some(berth) = with_busybox() else { return };
    let rm = berth.ok(&["create", "--rm", "busybox", "true"]).trim().to_string();
    let step = berth.ok(&["create", "busybox", "true"]).trim().to_string();
    let edits = [
        format!("UPDATE containers SET state = 'exited', exit_code = 137 WHERE id = '{rm}'"),
        format!(
            "UPDATE containers SET config = json_set(config, '$.owner', json('{{\"pid\":2147483000,\"start\":1,\"boot\":\"\"}}')) WHERE id = '{step}'"
        ),
    ];
    for sql in &edits {
        if !sqlite(&berth, sql) {
            eprintln!("skipped: no sqlite3");
            return;
        }
    }
    let found = found_and_repaired(&berth, &["container"]);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(berth.ok(&["ps", "-a", "-q"]).trim(), "");
    for id in [&rm, &step] {
        assert!(
            !berth.root().join("containers").join(id).exists(),
            "{id}'s files are left"
        );
    }
}
