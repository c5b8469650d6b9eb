//! End-to-end: image commands through the real binary.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn import_list_tag_inspect_history_save_load_roundtrip() {
    let berth = Berth::new();
    let Some((id, _rootfs)) = import_busybox(&berth, "busybox:demo") else {
        eprintln!("SKIPPED: busybox-static is not installed");
        return;
    };
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "import prints the full ID: {id}"
    );

    let list = berth.ok(&["images"]);
    let mut lines = list.lines();
    let header = lines.next().unwrap_or_default();
    for column in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(column), "header {header:?} lacks {column}");
    }
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with("busybox"), "{row}");
    assert!(row.contains("demo") && row.contains(&id[7..19]), "{row}");

    berth.ok(&["tag", "busybox:demo", "localhost:5000/team/box:1.0"]);
    berth.ok(&["tag", &id[7..15], "other"]);
    let formatted = berth.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = formatted.lines().collect();
    names.sort();
    assert_eq!(
        names,
        vec!["busybox:demo", "localhost:5000/team/box:1.0", "other:latest"]
    );
    assert_eq!(berth.ok(&["images", "-q"]).trim(), &id[7..19]);
    let json_line = berth.ok(&["images", "--format", "json", "--filter", "reference=other"]);
    let row: Value = serde_json::from_str(json_line.trim()).expect("json row");
    assert_eq!(row["Repository"], "other");
    assert_eq!(row["ID"], &id[7..19]);

    let inspect: Value = serde_json::from_str(&berth.ok(&["image", "inspect", "busybox:demo"])).expect("json");
    let image = &inspect[0];
    assert_eq!(image["Id"], id.as_str());
    assert_eq!(image["Os"], "linux");
    assert_eq!(image["RootFS"]["Type"], "layers");
    assert_eq!(image["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));
    assert!(
        image["Size"].as_u64().unwrap_or(0) > 500_000,
        "busybox is big: {}",
        image["Size"]
    );
    let tags = image["RepoTags"].as_array().cloned().unwrap_or_default();
    assert_eq!(tags.len(), 3);
    assert_eq!(berth.ok(&["inspect", "--format", "{{.Id}}", "other"]).trim(), id);

    let history = berth.ok(&["history", "busybox:demo"]);
    assert!(history.starts_with("IMAGE"), "{history}");
    assert!(history.contains("Imported from"), "{history}");
    assert_eq!(berth.ok(&["history", "-q", "busybox:demo"]).trim(), &id[7..19]);

    let archive = berth.path("saved.tar");
    berth.ok(&[
        "save",
        "-o",
        archive.to_str().unwrap_or_default(),
        "busybox:demo",
        "other",
    ]);
    berth.ok(&["rmi", "-f", &id]);
    assert_eq!(berth.ok(&["images", "-q"]).trim(), "");
    let loaded = berth.ok(&["load", "-i", archive.to_str().unwrap_or_default()]);
    assert!(loaded.contains("Loaded image: busybox:demo"), "{loaded}");
    assert!(loaded.contains("Loaded image: other:latest"), "{loaded}");
    let again: Value = serde_json::from_str(&berth.ok(&["image", "inspect", "busybox:demo"])).expect("json");
    assert_eq!(
        again[0]["Id"],
        id.as_str(),
        "load must give back the identical image ID"
    );
    berth.assert_consistent();
}

#[test]
fn rmi_untags_then_deletes_and_removes_unused_layers() {
    let berth = Berth::new();
    let Some((id, _)) = import_busybox(&berth, "box:1") else {
        return;
    };
    berth.ok(&["tag", "box:1", "box:2"]);
    berth.ok(&["tag", "box:1", "elsewhere:1"]);
    let conflict = berth.fails(&["rmi", &id[7..19]]);
    assert!(conflict.contains("must be forced"), "{conflict}");
    assert_eq!(berth.ok(&["rmi", "box:2"]).trim(), "Untagged: box:2");
    berth.ok(&["rmi", "elsewhere:1"]);
    let out = berth.ok(&["rmi", "box:1"]);
    assert!(
        out.contains("Untagged: box:1") && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    let (blobs, layers, ingest, images) = berth.store_state();
    assert!(
        blobs.is_empty() && layers.is_empty() && ingest.is_empty(),
        "{blobs:?} {layers:?} {ingest:?}"
    );
    assert!(images.trim().is_empty());
    let missing = berth.fails(&["rmi", "box:1"]);
    assert!(missing.contains("No such image"), "{missing}");
}

#[test]
fn prune_removes_dangling_images() {
    let berth = Berth::new();
    let Some((id, _)) = import_busybox(&berth, "keep:1") else {
        return;
    };
    // Importing again with a change makes a second image; untagging leaves it dangling.
    let tarball = berth.path("rootfs.tar");
    let other = berth
        .ok(&[
            "import",
            "--change",
            "ENV X=1",
            tarball.to_str().unwrap_or_default(),
            "gone:1",
        ])
        .trim()
        .to_string();
    berth.ok(&["tag", "gone:1", "gone:2"]);
    berth.ok(&["rmi", "gone:1"]);
    berth.ok(&["rmi", "gone:2"]);
    assert_eq!(berth.ok(&["images", "-q", "--filter", "dangling=true"]).trim(), "");
    let dangling = berth
        .ok(&["import", tarball.to_str().unwrap_or_default()])
        .trim()
        .to_string();
    assert_eq!(
        berth.ok(&["images", "-q", "--filter", "dangling=true"]).trim(),
        &dangling[7..19]
    );
    let out = berth.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(berth.ok(&["images", "-q"]).trim(), &id[7..19]);
    let _ = other;
    let out = berth.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: keep:1"), "{out}");
    assert_eq!(berth.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn import_changes_and_message_land_in_config_and_history() {
    let berth = Berth::new();
    let Some(rootfs) = busybox_rootfs(berth.dir.path()) else {
        return;
    };
    let tarball = berth.path("rootfs.tar.gz");
    let status = std::process::Command::new("tar")
        .args(["--numeric-owner", "-czf"])
        .arg(&tarball)
        .arg("-C")
        .arg(&rootfs)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success());
    let input = std::fs::read(&tarball).expect("read");
    let out = berth.run_stdin(
        &[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            "-c",
            "ENV GREETING=hello",
            "-c",
            "EXPOSE 8080",
            "-c",
            "WORKDIR /tmp",
            "-c",
            "LABEL org.example.team=core",
            "-m",
            "first import",
            "-",
            "changed:latest",
        ],
        &input,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = berth.ok(&["inspect", "--format", "{{json .Config}}", "changed"]);
    let config: Value = serde_json::from_str(&config).expect("json");
    assert_eq!(config["Cmd"][0], "/bin/sh");
    assert_eq!(config["Env"][0], "GREETING=hello");
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    assert_eq!(config["WorkingDir"], "/tmp");
    assert_eq!(config["Labels"]["org.example.team"], "core");
    assert_eq!(
        berth
            .ok(&["images", "-q", "--filter", "label=org.example.team=core"])
            .trim()
            .len(),
        12
    );
    let history = berth.ok(&["history", "--format", "{{.Comment}}", "changed"]);
    assert_eq!(history.trim(), "first import");
    let bad = berth.run_stdin(&["import", "-c", "RUN rm -rf /", "-", "x"], &input);
    assert!(!bad.status.success());
}

#[test]
fn unknown_images_and_malformed_references_fail_clearly() {
    let berth = Berth::new();
    let before = berth.store_state();
    let err = berth.fails(&["image", "inspect", "nosuchimage"]);
    assert!(err.contains("No such image: nosuchimage"), "{err}");
    let err = berth.fails(&["tag", "nosuchimage", "x"]);
    assert!(err.contains("No such image"), "{err}");
    let err = berth.fails(&["tag", "nosuchimage", "Bad:Name"]);
    assert!(
        err.contains("No such image") || err.contains("invalid reference format"),
        "{err}"
    );
    let err = berth.fails(&["history", "UPPER"]);
    assert!(
        err.contains("invalid reference format") || err.contains("must be lowercase"),
        "{err}"
    );
    let err = berth.fails(&[
        "save",
        "-o",
        berth.path("x.tar").to_str().unwrap_or_default(),
        "missing:1",
    ]);
    assert!(err.contains("No such image"), "{err}");
    assert!(!berth.path("x.tar").exists(), "a failed save must leave no file");
    let out = berth.run(&["images", "--bogus-flag"]);
    assert_eq!(out.status.code(), Some(125), "usage errors exit 125 as in docker");
    assert_eq!(berth.store_state(), before);
}

#[test]
fn system_df_info_version() {
    let berth = Berth::new();
    let df = berth.ok(&["system", "df"]);
    assert!(df.starts_with("TYPE"), "{df}");
    assert!(df.contains("Images") && df.contains("RECLAIMABLE"), "{df}");
    let root = berth.ok(&["info", "--format", "{{.DockerRootDir}}"]);
    assert_eq!(root.trim(), berth.root().to_string_lossy());
    let version = berth.ok(&["version", "--format", "{{.Client.Version}}"]);
    assert_eq!(version.trim(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn two_roots_never_interfere() {
    let a = Berth::new();
    let b = Berth::new();
    let Some(_) = import_busybox(&a, "only-in-a") else {
        return;
    };
    assert!(a.ok(&["images", "-q"]).trim().len() == 12);
    assert_eq!(b.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn import_from_a_url_on_loopback() {
    let berth = Berth::new();
    let Some(rootfs) = busybox_rootfs(berth.dir.path()) else {
        return;
    };
    if !need("python3") {
        return;
    }
    let serve = berth.path("serve");
    std::fs::create_dir(&serve).expect("mkdir");
    tar_dir(&rootfs, &serve.join("rootfs.tar"));
    // Port 0: the server picks a free port and prints it.
    let mut server = std::process::Command::new("python3")
        .args([
            "-c",
            "import http.server,functools,sys\n\
             h=functools.partial(http.server.SimpleHTTPRequestHandler,directory=sys.argv[1])\n\
             s=http.server.HTTPServer(('127.0.0.1',0),h)\n\
             print(s.server_address[1],flush=True)\n\
             s.serve_forever()",
        ])
        .arg(&serve)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python http server");
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().expect("stdout")),
        &mut port,
    )
    .expect("port");
    let url = format!("http://127.0.0.1:{}/rootfs.tar", port.trim());
    let out = berth.run(&["import", &url, "fromurl:1"]);
    let missing = berth.run(&[
        "import",
        &format!("http://127.0.0.1:{}/missing.tar", port.trim()),
        "x:1",
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let history = berth.ok(&["history", "--no-trunc", "--format", "{{.Comment}}", "fromurl:1"]);
    assert_eq!(history.trim(), format!("Imported from {url}"));
    assert!(!missing.status.success(), "a 404 must fail the import");
}

/// `load --platform` is refused (it was accepted and ignored, loading every variant) and loads nothing.
#[test]
fn load_platform_is_refused_rather_than_ignored() {
    let Some(berth) = with_busybox() else { return };
    let archive = berth.path("busybox.tar");
    berth.ok(&["save", "-o", archive.to_str().expect("path"), "busybox"]);
    berth.ok(&["rmi", "busybox"]);
    let out = berth.run(&[
        "load",
        "--platform",
        "linux/arm64",
        "-i",
        archive.to_str().expect("path"),
    ]);
    assert_ne!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("load --platform linux/arm64 is not supported"));
    assert!(berth.ok(&["images", "-q"]).trim().is_empty());
    let quiet = berth.ok(&["load", "-q", "-i", archive.to_str().expect("path")]);
    assert_eq!(quiet, "Loaded image: busybox:latest\n");
}
