//! `rmi` killed at random moments: the image is either still there, whole, or gone with its layer
//! and blobs by the time the next command has opened the store (a killed rmi's files used to wait
//! for some later command that took the store lock, and repeating the rmi cleaned nothing).

use std::path::PathBuf;
use std::time::Duration;

use crate::common::Berth;

#[test]
fn a_killed_rmi_leaves_the_image_whole_or_nothing_of_it() {
    let berth = Berth::new();
    let (mut gone, mut kept) = (0, 0);
    for round in 0..10 {
        if berth.ok(&["images", "-q"]).trim().is_empty() {
            crate::big_image(&berth, "big:1");
        }
        let id = berth
            .ok(&["image", "inspect", "--format", "{{.Id}}", "big:1"])
            .trim()
            .to_string();
        let upper = PathBuf::from(
            berth
                .ok(&[
                    "image",
                    "inspect",
                    "--format",
                    "{{.GraphDriver.Data.UpperDir}}",
                    "big:1",
                ])
                .trim(),
        );
        let layer = upper.parent().expect("layer dir").to_path_buf();
        let config = berth.root().join("blobs/sha256").join(id.trim_start_matches("sha256:"));
        crate::kill_at_random_as(
            crate::kill_mode(round),
            berth.cmd(&["rmi", "big:1"]),
            Duration::from_millis(60),
        );
        // Any command: opening the store finishes what the rmi left.
        let listed = berth.ok(&["images", "-q"]);
        if listed.trim().is_empty() {
            gone += 1;
            assert!(
                !layer.exists(),
                "round {round}: the removed image's layer {} is left",
                layer.display()
            );
            assert!(
                !config.exists(),
                "round {round}: the removed image's config blob is left"
            );
        } else {
            kept += 1;
            assert!(upper.is_dir(), "round {round}: a listed image lost its layer");
            berth.assert_consistent();
        }
        crate::assert_checked(&berth, &format!("round {round}"));
    }
    eprintln!("kills: image gone {gone} times, kept {kept} times");
}
