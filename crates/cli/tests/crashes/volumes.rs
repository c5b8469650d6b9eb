//! Volumes: a killed `volume rm` or `volume create` never leaves a listed volume without its
//! directory, never brings an old volume's data back under a new volume of the same name, and
//! leaves no directory that no command removes; creates, removals and `run -v` of one name side by
//! side fail only with the errors Docker gives.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::common::{with_busybox, Berth};

const MARKER: &str = "old-volume-data";
/// Files in the volume under removal: enough that removing them takes a while.
const FILES: usize = 2000;

fn listed(berth: &Berth) -> BTreeSet<String> {
    berth.ok(&["volume", "ls", "-q"]).lines().map(str::to_string).collect()
}

/// Every listed volume has its directory; after one locked operation (a create and rm of a probe),
/// volumes/ holds exactly the listed volumes' directories and an empty trash.
fn assert_volumes_consistent(berth: &Berth) {
    berth.ok(&["volume", "create", "probe-sweep"]);
    berth.ok(&["volume", "rm", "probe-sweep"]);
    let names = listed(berth);
    let dir = berth.root().join("volumes");
    for name in &names {
        assert!(
            dir.join(name).join("_data").is_dir(),
            "volume {name} is listed without its directory"
        );
    }
    let on_disk: BTreeSet<String> = fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let leftovers: Vec<&String> = on_disk
        .iter()
        .filter(|n| *n != ".trash" && !names.contains(*n))
        .collect();
    assert!(leftovers.is_empty(), "directories without a volume: {leftovers:?}");
    let trash = fs::read_dir(dir.join(".trash")).map(|e| e.count()).unwrap_or(0);
    assert_eq!(trash, 0, "the trash is emptied");
}

fn data_of(berth: &Berth, name: &str) -> std::path::PathBuf {
    berth.root().join("volumes").join(name).join("_data")
}

#[test]
fn killed_volume_rm_and_create_never_resurrect_data_or_leak() {
    let berth = Berth::new();
    let (mut removed, mut kept) = (0, 0);
    for round in 0..15 {
        berth.ok(&["volume", "create", "kept"]);
        for i in 0..FILES {
            fs::write(data_of(&berth, "kept").join(format!("file{i}")), MARKER).expect("write into the volume");
        }
        crate::kill_at_random_as(
            crate::kill_mode(round),
            berth.cmd(&["volume", "rm", "kept"]),
            Duration::from_millis(80),
        );
        if listed(&berth).contains("kept") {
            kept += 1;
            // Not removed: all of it is still there.
            let files = fs::read_dir(data_of(&berth, "kept")).map(|e| e.count()).unwrap_or(0);
            assert_eq!(files, FILES, "a volume still listed lost files");
        } else {
            removed += 1;
        }
        // A create of the same name comes up empty, or is the very volume the rm did not remove.
        let was_kept = listed(&berth).contains("kept");
        crate::kill_at_random_as(
            crate::kill_mode(round),
            berth.cmd(&["volume", "create", "kept"]),
            Duration::from_millis(40),
        );
        berth.ok(&["volume", "create", "kept"]);
        let content: Vec<_> = fs::read_dir(data_of(&berth, "kept"))
            .expect("volume dir")
            .flatten()
            .collect();
        if !was_kept {
            assert!(content.is_empty(), "a new volume holds an old one's files: {content:?}");
        }
        berth.ok(&["volume", "rm", "kept"]);
        assert_volumes_consistent(&berth);
        crate::assert_checked(&berth, &format!("round {round}"));
    }
    eprintln!("kills: rm committed {removed} times, not {kept} times");
}

#[test]
fn parallel_creates_and_removals_of_one_name() {
    let berth = Berth::new();
    for _ in 0..20 {
        let create: &[&str] = &["volume", "create", "contested"];
        let rm: &[&str] = &["volume", "rm", "contested"];
        let outputs = crate::side_by_side(&berth, &[create, rm, create, rm, create, rm, create, rm]);
        for (i, out) in outputs.iter().enumerate() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if i % 2 == 0 {
                assert!(out.status.success(), "create failed: {stderr}");
            } else {
                assert!(
                    out.status.success() || stderr.contains("no such volume"),
                    "rm: {stderr}"
                );
            }
        }
        if listed(&berth).contains("contested") {
            assert!(data_of(&berth, "contested").is_dir());
        }
    }
    assert_volumes_consistent(&berth);
}

#[test]
fn volume_rm_racing_run_with_the_volume() {
    let Some(berth) = with_busybox() else { return };
    for round in 0..10 {
        let name = format!("user{round}");
        berth.ok(&["volume", "create", "shared"]);
        let run = berth
            .cmd(&["create", "--name", &name, "-v", "shared:/data", "busybox", "true"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn create");
        let rm = berth.run(&["volume", "rm", "shared"]);
        let run = run.wait_with_output().expect("wait create");
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let rm_err = String::from_utf8_lossy(&rm.stderr);
        assert!(rm.status.success() || rm_err.contains("volume is in use"), "{rm_err}");
        // The container's volume exists with its directory, whoever came first.
        assert!(listed(&berth).contains("shared"), "the container's volume is gone");
        assert!(data_of(&berth, "shared").is_dir());
        berth.ok(&["rm", &name]);
        berth.ok(&["volume", "rm", "shared"]);
    }
    assert_volumes_consistent(&berth);
    assert!(!Path::new(&berth.root().join("volumes/shared")).exists());
}

/// What a killed `volume rm` or `create` left (the trash, a directory without a row) shows in
/// `system df` as reclaimable volume space, and `volume prune` removes it and counts it.
#[test]
fn volume_leftovers_are_counted_and_pruned() {
    let berth = Berth::new();
    berth.ok(&["volume", "ls"]);
    let volumes = berth.root().join("volumes");
    for dir in [
        volumes.join(".trash").join("old.1"),
        volumes.join("norow").join("_data"),
    ] {
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("data"), vec![1u8; 3_000_000]).expect("write");
    }
    let df = berth.ok(&["system", "df"]);
    let line = df.lines().find(|l| l.starts_with("Local Volumes")).unwrap_or_default();
    assert!(line.contains("6MB       6MB (100%)"), "{df}");
    let pruned = berth.ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space: 6MB"), "{pruned}");
    assert!(!volumes.join("norow").exists());
    let trash = fs::read_dir(volumes.join(".trash")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(trash, 0);
    crate::assert_checked(&berth, "after prune");
}
