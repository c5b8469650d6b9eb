//! End-to-end: a container's changes through diff, commit and export.

mod common;

use std::process::Command;

use common::*;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn diff_commit_export_roundtrip() {
    let berth = Berth::new();
    let Some(_) = import_busybox(&berth, "busybox:latest") else {
        return;
    };
    let id = berth.ok(&[
        "create",
        "busybox",
        "sh",
        "-c",
        "echo new > /tmp/new; echo changed >> /etc/group; rm /etc/passwd.hardlink; mkdir /made",
    ]);
    let id = id.trim();
    berth.ok(&["start", "-a", id]);

    let diff = berth.ok(&["diff", id]);
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines,
        vec![
            "C /etc",
            "C /etc/group",
            "D /etc/passwd.hardlink",
            "A /made",
            "C /tmp",
            "A /tmp/new"
        ],
        "runtime mount points are not changes"
    );

    let new_id = berth.ok(&[
        "commit",
        "-m",
        "the change",
        "-a",
        "Tester <t@example.com>",
        "-c",
        "ENV COMMITTED=yes",
        id,
        "committed:1",
    ]);
    assert!(new_id.trim().starts_with("sha256:"));
    let seen = berth.ok(&[
        "run",
        "--rm",
        "committed:1",
        "sh",
        "-c",
        "cat /tmp/new; tail -n 1 /etc/group; ls /etc/passwd.hardlink 2>&1; ls -d /made; echo $COMMITTED",
    ]);
    let seen: Vec<&str> = seen.lines().collect();
    assert_eq!(seen[0], "new");
    assert_eq!(seen[1], "changed");
    assert!(seen[2].contains("No such file"), "{seen:?}");
    assert_eq!(&seen[3..], &["/made", "yes"]);
    let history = berth.ok(&["history", "--format", "{{.Comment}}|{{.CreatedBy}}", "committed:1"]);
    assert!(
        history
            .lines()
            .next()
            .unwrap_or_default()
            .starts_with("the change|sh -c echo new"),
        "{history}"
    );
    assert_eq!(
        berth
            .ok(&[
                "inspect",
                "--format",
                "{{.Author}} {{len .RootFS.Layers}}",
                "committed:1"
            ])
            .trim(),
        "Tester <t@example.com> 2"
    );
    // The image a container uses cannot be deleted from under it.
    let err = berth.fails(&["rmi", "busybox"]);
    assert!(err.contains("conflict"), "{err}");

    // export: the merged view as a tar, which imports and runs again.
    let exported = berth.path("exported.tar");
    berth.ok(&["export", "-o", exported.to_str().unwrap_or_default(), id]);
    let listing = Command::new("tar").arg("tf").arg(&exported).output().expect("tar");
    let names = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        names.lines().any(|l| l == "tmp/new") && names.lines().any(|l| l == "bin/busybox"),
        "{names}"
    );
    assert!(!names.contains("passwd.hardlink") && !names.contains(".wh."), "{names}");
    berth.ok(&["import", exported.to_str().unwrap_or_default(), "reimported:1"]);
    assert_eq!(
        berth.ok(&["run", "--rm", "reimported:1", "cat", "/tmp/new"]).trim(),
        "new"
    );

    // A running container commits too (paused meanwhile) and keeps running.
    let live = berth.ok(&["run", "-d", "busybox", "sh", "-c", "echo live > /live; sleep 100"]);
    let live = live.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !berth.run(&["exec", live, "cat", "/live"]).status.success() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    berth.ok(&["commit", live, "live:1"]);
    assert_eq!(
        berth.ok(&["inspect", "--format", "{{.State.Status}}", live]).trim(),
        "running"
    );
    assert_eq!(berth.ok(&["run", "--rm", "live:1", "cat", "/live"]).trim(), "live");
    berth.ok(&["rm", "-f", live]);
    berth.ok(&["rm", id]);

    // Bad input: nothing is created.
    let before = berth.store_state();
    let out = berth.run(&["commit", "nosuchcontainer", "x:1"]);
    assert_ne!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container"));
    assert_eq!(berth.store_state(), before);
}
