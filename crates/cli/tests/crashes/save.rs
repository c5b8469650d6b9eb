//! `save -o FILE` killed at random moments: the directory holds the complete archive (from an
//! earlier save) or nothing, never a partial archive or a temporary file of the archive's size.

use std::fs;
use std::time::Duration;

use crate::common::Berth;

#[test]
fn a_killed_save_leaves_the_old_archive_or_nothing() {
    let berth = Berth::new();
    crate::big_image(&berth, "big:1");

    let out_dir = berth.path("out");
    fs::create_dir_all(&out_dir).expect("mkdir");
    let archive = out_dir.join("big.tar");
    let archive_arg = archive.to_string_lossy().into_owned();
    let mut complete = None;
    for round in 0..12 {
        crate::kill_at_random_as(
            crate::kill_mode(round),
            berth.cmd(&["save", "-o", &archive_arg, "big:1"]),
            Duration::from_millis(400),
        );
        let names: Vec<String> = fs::read_dir(&out_dir)
            .expect("list")
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        assert!(
            names.iter().all(|n| n == "big.tar"),
            "round {round}: {names:?} beside the archive"
        );
        if archive.exists() {
            let size = fs::metadata(&archive).expect("stat").len();
            // Whatever save made it is the whole archive: the same size every time, and it loads.
            assert_eq!(*complete.get_or_insert(size), size, "round {round}: a partial archive");
        }
        crate::assert_checked(&berth, &format!("round {round}"));
    }
    berth.ok(&["save", "-o", &archive_arg, "big:1"]);
    berth.ok(&["rmi", "big:1"]);
    let loaded = berth.ok(&["load", "-i", &archive_arg]);
    assert!(loaded.contains("big:1"), "{loaded}");
}
