//! `container prune` and `system prune` with Docker's filters (`until`, `label`, `label!`), and
//! `system df -v`'s tables, served by the engine's prune and disk usage calls.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

fn lines(out: &str) -> Vec<&str> {
    out.lines().collect()
}

/// Unix seconds `delta` seconds from now, as `until=` takes them.
fn unix_from_now(delta: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    (now + delta).to_string()
}

#[test]
fn container_prune_takes_what_the_label_filters_say() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    for (name, label) in [("kept", "keep=yes"), ("tested", "env=test"), ("plain", "")] {
        let mut args = vec!["create", "--name", name, "--network", "none"];
        if !label.is_empty() {
            args.extend(["--label", label]);
        }
        args.extend(["busybox", "true"]);
        berth.ok(&args);
    }
    let names = || berth.ok(&["ps", "-a", "--format", "{{.Names}}"]);

    let refused = berth.run(&["container", "prune", "-f", "--filter", "status=exited"]);
    assert_eq!(common::code(&refused), 1);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("invalid filter 'status'"), "{err}");
    assert_eq!(lines(&names()).len(), 3, "a refused prune removed something");

    let tested = berth.ok(&["ps", "-a", "-q", "--no-trunc", "--filter", "name=tested"]);
    let out = berth.ok(&["container", "prune", "-f", "--filter", "label=env=test"]);
    assert_eq!(
        out,
        format!("Deleted Containers:\n{}\n\nTotal reclaimed space: 0B\n", tested.trim())
    );
    assert_eq!(lines(&names()), ["plain", "kept"]);

    let out = berth.ok(&["container", "prune", "-f", "--filter", "label=nobody"]);
    assert_eq!(out, "Total reclaimed space: 0B\n", "a label nothing has takes nothing");

    berth.ok(&["container", "prune", "-f", "--filter", "label!=keep"]);
    assert_eq!(lines(&names()), ["kept"], "label! keeps what carries the label");
}

#[test]
fn container_prune_until_takes_only_what_was_created_by_then() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    berth.ok(&["create", "--name", "one", "--network", "none", "busybox", "true"]);
    berth.ok(&["create", "--name", "two", "--network", "none", "busybox", "true"]);
    let running = berth.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--network",
        "none",
        "busybox",
        "sleep",
        "100",
    ]);
    let names = || berth.ok(&["ps", "-a", "--format", "{{.Names}}"]);

    // An hour back (a duration) and a timestamp an hour ago: both are older than these containers.
    for until in ["until=1h".to_string(), format!("until={}", unix_from_now(-3600))] {
        let out = berth.ok(&["container", "prune", "-f", "--filter", &until]);
        assert_eq!(out, "Total reclaimed space: 0B\n", "{until}");
        assert_eq!(lines(&names()).len(), 3, "{until}");
    }

    let err = berth.fails(&["container", "prune", "-f", "--filter", "until=soon"]);
    assert!(err.contains("invalid time \"soon\""), "{err}");
    let err = berth.fails(&[
        "container",
        "prune",
        "-f",
        "--filter",
        "until=1h",
        "--filter",
        "until=2h",
    ]);
    assert!(err.contains("more than one until filter specified"), "{err}");

    // A time in the future: every stopped container was created by then; the running one stays.
    let until = format!("until={}", unix_from_now(3600));
    let out = berth.ok(&["container", "prune", "-f", "--filter", &until]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert_eq!(out.lines().filter(|l| l.len() == 64).count(), 2, "{out}");
    assert_eq!(lines(&names()), ["busy"]);
    berth.ok(&["rm", "-f", running.trim()]);
}

#[test]
fn system_prune_passes_its_filters_to_every_part() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    berth.ok(&[
        "create",
        "--name",
        "c-keep",
        "--network",
        "none",
        "--label",
        "keep=yes",
        "busybox",
        "true",
    ]);
    berth.ok(&["create", "--name", "c-go", "--network", "none", "busybox", "true"]);
    berth.ok(&["network", "create", "--label", "keep=yes", "n-keep"]);
    berth.ok(&["network", "create", "n-go"]);
    let tarball = berth.path("rootfs.tar");
    let tarball = tarball.to_str().unwrap_or_default();
    // Two dangling images, one labelled; each has a label of its own, so neither is busybox:latest.
    let image_go = berth
        .ok(&["import", "--change", "LABEL which=go", tarball])
        .trim()
        .to_string();
    let image_keep = berth
        .ok(&["import", "--change", "LABEL keep=yes", tarball])
        .trim()
        .to_string();
    assert_ne!(image_go, image_keep);
    let containers = || berth.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let networks = || berth.ok(&["network", "ls", "--format", "{{.Name}}"]);
    let images = || berth.ok(&["images", "-q", "--no-trunc"]);

    let err = berth.fails(&["system", "prune", "-f", "--volumes", "--filter", "until=1h"]);
    assert!(
        err.contains(r#"The "until" filter is not supported with "--volumes""#),
        "{err}"
    );
    let refused = berth.run(&["system", "prune", "-f", "--filter", "dangling=true"]);
    assert_eq!(common::code(&refused), 1);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("invalid filter 'dangling'"));
    assert_eq!(lines(&containers()).len(), 2, "a refused prune removed something");

    // Everything here is younger than an hour.
    berth.ok(&["system", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(lines(&containers()).len(), 2);
    assert!(networks().contains("n-go"));
    assert!(images().contains(&image_go));

    let out = berth.ok(&["system", "prune", "-f", "--filter", "label!=keep"]);
    assert!(out.contains("Deleted Networks:\nn-go\n"), "{out}");
    assert!(out.contains(&format!("deleted: {image_go}")), "{out}");
    assert!(!out.contains(&image_keep), "{out}");
    assert_eq!(lines(&containers()), ["c-keep"]);
    let left = networks();
    assert!(left.contains("n-keep") && !left.contains("n-go"), "{left}");
    let left = images();
    assert!(left.contains(&image_keep) && !left.contains(&image_go), "{left}");

    berth.ok(&["system", "prune", "-f", "--filter", "label=keep=yes"]);
    assert_eq!(containers(), "");
    assert!(!networks().contains("n-keep"));
    assert!(!images().contains(&image_keep));
    assert_eq!(lines(&images()).len(), 1, "the tagged image stays");
}

#[test]
fn system_df_verbose_lists_images_containers_and_volumes() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    berth.ok(&["volume", "create", "spare"]);
    let web = berth.ok(&[
        "run",
        "--name",
        "web",
        "--network",
        "none",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "head -c 3000000 /dev/zero > /data/blob; head -c 2000000 /dev/zero > /rw",
    ]);
    assert_eq!(web, "");
    let image = berth.ok(&["images", "-q", "busybox"]).trim().to_string();
    let id = berth.ok(&["ps", "-a", "-q", "--filter", "name=web"]).trim().to_string();

    let out = berth.ok(&["system", "df", "-v"]);
    let sections: Vec<&str> = out.split("\n\n").collect();
    assert_eq!(sections[0], "Images space usage:", "{out}");
    let image_rows = lines(sections[1]);
    assert!(
        image_rows[0].starts_with("REPOSITORY")
            && image_rows[0].contains("SHARED SIZE")
            && image_rows[0].ends_with("CONTAINERS"),
        "{out}"
    );
    let cells: Vec<&str> = image_rows[1].split_whitespace().collect();
    assert_eq!(&cells[..3], ["busybox", "latest", image.as_str()], "{out}");
    assert_eq!(cells.last(), Some(&"1"), "one container uses it: {out}");
    assert_eq!(image_rows.len(), 2, "{out}");

    assert_eq!(sections[2], "Containers space usage:", "{out}");
    let container_rows = lines(sections[3]);
    assert!(
        container_rows[0].starts_with("CONTAINER ID")
            && container_rows[0].contains("LOCAL VOLUMES")
            && container_rows[0].ends_with("NAMES"),
        "{out}"
    );
    let row = container_rows[1];
    assert!(row.starts_with(&id[..12]) && row.ends_with("web"), "{out}");
    assert!(
        row.contains("  1  ") && row.contains("2MB"),
        "one volume, 2MB written: {out}"
    );
    assert!(row.contains("Exited (0)"), "{out}");

    assert_eq!(sections[4], "Local Volumes space usage:", "{out}");
    let volume_rows = lines(sections[5]);
    assert_eq!(
        volume_rows[0].split_whitespace().collect::<Vec<_>>(),
        ["VOLUME", "NAME", "LINKS", "SIZE"]
    );
    let mut volumes: Vec<Vec<&str>> = volume_rows[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    volumes.sort();
    assert_eq!(volumes, [vec!["data", "1", "3MB"], vec!["spare", "0", "0B"]], "{out}");

    assert_eq!(sections[6], "Build cache usage: 0B", "{out}");
    assert!(sections[7].starts_with("CACHE ID"), "{out}");
    assert!(
        sections[7].contains("CACHE TYPE") && sections[7].trim_end().ends_with("SHARED"),
        "{out}"
    );

    // The summary is unchanged without -v, and -v takes a template over the lists.
    let summary = berth.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"]);
    assert_eq!(
        summary,
        "Images 1 1\nContainers 1 0\nLocal Volumes 2 1\nBuild Cache 0 0\n"
    );
    let names = berth.ok(&[
        "system",
        "df",
        "-v",
        "--format",
        "{{range .Volumes}}{{.Name}}={{.Links}} {{end}}",
    ]);
    let mut names: Vec<&str> = names.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["data=1", "spare=0"]);
}
