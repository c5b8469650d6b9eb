//! `ps` filters, served by the engine's container list.

mod common;

fn names(out: &str) -> Vec<&str> {
    out.lines().collect()
}

#[test]
fn ps_filters_by_order_volume_network_exit_and_label() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    berth.ok(&[
        "create",
        "--name",
        "first",
        "--network",
        "none",
        "-v",
        "data:/data",
        "busybox",
        "true",
    ]);
    berth.ok(&["create", "--name", "second", "--label", "tier=front", "busybox", "true"]);
    berth.run(&[
        "run",
        "--name",
        "third",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 4",
    ]);
    let ps = |filters: &[&str]| {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        berth.ok(&args)
    };
    assert_eq!(names(&ps(&[])), ["third", "second", "first"], "newest first");
    assert_eq!(names(&ps(&["before=third"])), ["second", "first"]);
    assert_eq!(names(&ps(&["since=first"])), ["third", "second"]);
    assert_eq!(names(&ps(&["since=first", "before=third"])), ["second"]);
    assert_eq!(names(&ps(&["volume=data"])), ["first"]);
    assert_eq!(names(&ps(&["volume=/data"])), ["first"]);
    assert_eq!(names(&ps(&["network=none"])), ["third", "first"]);
    assert_eq!(names(&ps(&["exited=4"])), ["third"]);
    assert_eq!(names(&ps(&["status=created", "label=tier=front"])), ["second"]);
    assert_eq!(names(&ps(&["health=none", "name=ir"])), ["third", "first"]);
    assert_eq!(
        names(&berth.ok(&["ps", "-n", "2", "--format", "{{.Names}}"])),
        ["third", "second"]
    );
    assert_eq!(
        names(&berth.ok(&["ps", "--latest", "--format", "{{.Names}}"])),
        ["third"]
    );
    assert_eq!(
        berth.ok(&["ps", "--format", "{{.Names}}"]),
        "",
        "only running ones without -a"
    );
    let err = berth.fails(&["ps", "--filter", "colour=red"]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    let err = berth.fails(&["ps", "--filter", "before=nothing"]);
    assert!(err.contains("No such container: nothing"), "{err}");
    let status = berth.ok(&["ps", "-a", "--filter", "name=third", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Exited (4) "), "{status}");
}
