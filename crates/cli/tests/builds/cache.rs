//! The build cache: hits, misses from a changed file on, `--no-cache`, and `builder prune`.

use crate::common::*;
use crate::{build, context};

#[test]
fn the_cache_reuses_steps_until_a_copied_file_changes() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("one.txt", "1\n"),
            ("two.txt", "2\n"),
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN echo base > /base\n\
                 COPY one.txt /files/\n\
                 RUN cat /files/one.txt > /from-one\n\
                 COPY two.txt /files/\n\
                 RUN cat /files/two.txt > /from-two\n",
            ),
        ],
    );
    build(&berth, &dir, "cached:1");
    let id = berth.ok(&["image", "inspect", "-f", "{{.Id}}", "cached:1"]);
    // Nothing changed: every step after FROM is a cache hit and the same image comes out.
    let again = build(&berth, &dir, "cached:1");
    assert_eq!(again.matches("Using cache").count(), 5, "{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert_eq!(berth.ok(&["image", "inspect", "-f", "{{.Id}}", "cached:1"]), id);
    // The second copied file changes: the steps before it are still cached, it and what follows run.
    std::fs::write(dir.join("two.txt"), "two\n").expect("write");
    let changed = build(&berth, &dir, "cached:2");
    let steps: Vec<&str> = changed.split("Step ").skip(1).collect();
    assert_eq!(steps.len(), 6);
    for step in &steps[1..4] {
        assert!(step.contains("Using cache"), "{step}");
    }
    for step in &steps[4..] {
        assert!(!step.contains("Using cache"), "{step}");
    }
    assert_eq!(berth.ok(&["run", "--rm", "cached:2", "cat", "/from-two"]), "two\n");
    // --no-cache runs everything again.
    let fresh = berth.ok(&["build", "--no-cache", "-t", "cached:3", dir.to_str().expect("path")]);
    assert!(!fresh.contains("Using cache"), "{fresh}");
    // `system df` counts the steps only the cache keeps; `builder prune` forgets them.
    let cache_row = |berth: &Berth| {
        berth
            .ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"])
            .lines()
            .find_map(|l| l.strip_prefix("Build Cache=").map(str::to_owned))
            .expect("build cache row")
    };
    assert_ne!(cache_row(&berth), "0");
    // `image prune` leaves the build cache alone.
    berth.ok(&["image", "prune", "-f"]);
    assert_ne!(cache_row(&berth), "0");
    berth.ok(&["builder", "prune", "-f"]);
    assert_eq!(cache_row(&berth), "0");
    let after = build(&berth, &dir, "cached:4");
    assert!(!after.contains("Using cache"), "{after}");
}
