//! Pulls of one image side by side into an empty root: every one succeeds and the store ends
//! consistent (a pull's commit used to move a shared download into the store while another pull was
//! still unpacking or staging it), and commands opening a new root at once all open it.

use std::fs;
use std::time::Duration;

use crate::common::{with_busybox, Berth, ServedRegistry};
use crate::kill_at_random_as;

#[test]
fn ten_parallel_pulls_of_one_image_all_succeed() {
    let Some(source) = with_busybox() else { return };
    let served = ServedRegistry::start(&source, &source.path("registry"));
    // Three layers: busybox's and two of a build.
    let context = source.path("ctx");
    fs::create_dir_all(&context).expect("mkdir");
    fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN echo a > /a && seq 1 20000 > /numbers\nRUN echo b > /b\n",
    )
    .expect("Dockerfile");
    let image = format!("{}/parallel/pull:1", served.host());
    source.ok(&["build", "-q", "-t", &image, &context.to_string_lossy()]);
    source.ok(&["push", "-q", &image]);

    for round in 0..20 {
        let berth = Berth::new();
        let pull: &[&str] = &["pull", "-q", &image];
        for out in crate::side_by_side(&berth, &[pull; 10]) {
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(berth.ok(&["images", "-q"]).lines().count(), 1);
        // The finished downloads went into the store; none is left beside it.
        let left: Vec<String> = fs::read_dir(berth.root().join("downloads"))
            .map(|e| e.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        let left: Vec<&String> = left.iter().filter(|n| !n.ends_with(".lock")).collect();
        assert!(left.is_empty(), "round {round}: downloads left: {left:?}");
        berth.assert_consistent();
        assert_eq!(berth.ok(&["run", "--rm", &image, "cat", "/b"]), "b\n");
    }
}

/// Ten commands on a data root that does not exist yet: each opens (and one creates) the database
/// at once; none may fail with "database is locked" (2 rounds in 30 did, from `PRAGMA journal_mode`).
#[test]
fn ten_commands_on_a_fresh_root() {
    for round in 0..30 {
        let berth = Berth::new();
        let images: &[&str] = &["images", "-q"];
        for out in crate::side_by_side(&berth, &[images; 10]) {
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// What an interrupted pull leaves in downloads/ shows in `system df` as reclaimable image space,
/// and `image prune` removes it (it was counted nowhere and only `system prune` removed it).
#[test]
fn a_left_download_is_counted_and_pruned() {
    let berth = Berth::new();
    berth.ok(&["images"]);
    let downloads = berth.root().join("downloads");
    fs::create_dir_all(&downloads).expect("mkdir");
    let hex = "ab".repeat(32);
    fs::write(downloads.join(&hex), vec![7u8; 5_000_000]).expect("partial download");
    fs::write(downloads.join(format!("{hex}.lock")), b"").expect("lock file");
    let df = berth.ok(&["system", "df"]);
    let images = df
        .lines()
        .find(|l| l.starts_with("Images"))
        .unwrap_or_default()
        .to_string();
    assert!(images.contains("5MB       5MB (100%)"), "{df}");
    let pruned = berth.ok(&["image", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space: 5MB"), "{pruned}");
    assert!(!downloads.join(&hex).exists());
    let df = berth.ok(&["system", "df"]);
    assert!(df.lines().any(|l| l.starts_with("Images") && l.contains("0B")), "{df}");
}

/// `pull` of a 40 MB image killed at random moments, the CLI alone and (a pull starts no other
/// process) the same as a tree kill: the image is whole or absent, the next pull succeeds, and what
/// the killed one downloaded is taken by it or pruned.
#[test]
fn a_killed_pull_is_finished_by_the_next_one() {
    let source = Berth::new();
    let served = ServedRegistry::start(&source, &source.path("registry"));
    crate::big_image(&source, "big:1");
    let image = format!("{}/killed/pull:1", served.host());
    source.ok(&["tag", "big:1", &image]);
    source.ok(&["push", "-q", &image]);
    let berth = Berth::new();
    for round in 0..10 {
        let kill = crate::kill_mode(round);
        kill_at_random_as(kill, berth.cmd(&["pull", "-q", &image]), Duration::from_millis(400));
        berth.assert_consistent();
        let listed = berth.ok(&["images", "-q"]);
        assert!(listed.lines().count() <= 1, "round {round}: {listed}");
        berth.ok(&["pull", "-q", &image]);
        berth.assert_consistent();
        crate::assert_checked(&berth, &format!("round {round}"));
        let size = berth.ok(&["image", "inspect", "--format", "{{.Size}}", &image]);
        assert!(
            size.trim().parse::<u64>().unwrap_or(0) >= 40 << 20,
            "round {round}: {size}"
        );
        berth.ok(&["rmi", &image]);
        berth.ok(&["image", "prune", "-a", "-f"]);
        let left: Vec<String> = fs::read_dir(berth.root().join("downloads"))
            .map(|e| e.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "round {round}: downloads left: {left:?}");
        for dir in ["blobs/sha256", "layers", "ingest"] {
            let entries = fs::read_dir(berth.root().join(dir)).map(|d| d.count()).unwrap_or(0);
            assert_eq!(entries, 0, "round {round}: {dir} holds something after rmi and prune");
        }
    }
}
