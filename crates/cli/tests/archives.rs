//! End-to-end: save/load compatibility with skopeo and umoci, bad archives,
//! crash safety and concurrency.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Rewrites a tar archive entry by entry.
fn rewrite_tar(src: &Path, dst: &Path, mut edit: impl FnMut(&str, Vec<u8>) -> Option<Vec<u8>>) {
    let mut archive = tar::Archive::new(fs::File::open(src).expect("open"));
    let mut out = tar::Builder::new(fs::File::create(dst).expect("create"));
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        if let Some(data) = edit(&path, data) {
            header.set_size(data.len() as u64);
            header.set_cksum();
            out.append(&header, &data[..]).expect("append");
        }
    }
    out.finish().expect("finish");
}

fn saved_busybox(berth: &Berth) -> Option<(String, std::path::PathBuf, std::path::PathBuf)> {
    let (id, rootfs) = import_busybox(berth, "busybox:e2e")?;
    let archive = berth.path("busybox.tar");
    berth.ok(&["save", "-o", archive.to_str()?, "busybox:e2e"]);
    Some((id, rootfs, archive))
}

#[test]
fn skopeo_and_umoci_read_berths_archive() {
    if !need("skopeo") || !need("umoci") {
        return;
    }
    let berth = Berth::new();
    let Some((id, rootfs, archive)) = saved_busybox(&berth) else {
        return;
    };
    let archive_ref = format!("docker-archive:{}", archive.display());
    let inspect: Value =
        serde_json::from_str(&sh(Command::new("skopeo").args(["inspect", &archive_ref]))).expect("skopeo inspect json");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(1));

    let oci = berth.path("oci");
    sh(Command::new("skopeo").args(["copy", &archive_ref, &format!("oci:{}:e2e", oci.display())]));
    let config_digest = sh(Command::new("skopeo").args(["inspect", "--config", &format!("oci:{}:e2e", oci.display())]));
    let config: Value = serde_json::from_str(&config_digest).expect("config");
    assert_eq!(config["os"], "linux");

    let bundle = berth.path("bundle");
    sh(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:e2e", oci.display())])
        .arg(&bundle));
    let mut unpacked = listing(&bundle.join("rootfs"));
    let mut original = listing(&rootfs);
    // The root directory itself is not an entry of either listing; mtimes are not compared.
    unpacked.remove("");
    original.remove("");
    assert_eq!(
        unpacked, original,
        "umoci's unpack of berth's archive differs from the rootfs"
    );

    // The OCI half of the archive is readable too, as an OCI archive.
    sh(Command::new("skopeo").args(["inspect", &format!("oci-archive:{}", archive.display())]));
    let _ = id;
}

#[test]
fn archives_written_by_skopeo_load_and_match_file_for_file() {
    if !need("skopeo") || !need("umoci") {
        return;
    }
    let berth = Berth::new();
    let Some(rootfs) = busybox_rootfs(berth.dir.path()) else {
        return;
    };
    // Build an OCI image with umoci from the rootfs, then let skopeo write archives of it.
    let layout = berth.path("layout");
    sh(Command::new("umoci").args(["init", "--layout"]).arg(&layout));
    sh(Command::new("umoci").args(["new", "--image", &format!("{}:v1", layout.display())]));
    sh(Command::new("umoci")
        .args(["insert", "--image", &format!("{}:v1", layout.display())])
        .arg(&rootfs)
        .arg("/"));
    let docker_archive = berth.path("skopeo-docker.tar");
    let oci_archive = berth.path("skopeo-oci.tar");
    sh(Command::new("skopeo").args([
        "copy",
        &format!("oci:{}:v1", layout.display()),
        &format!("docker-archive:{}:fromskopeo:v1", docker_archive.display()),
    ]));
    sh(Command::new("skopeo").args([
        "copy",
        &format!("oci:{}:v1", layout.display()),
        &format!("oci-archive:{}:docker.io/library/fromoci:v1", oci_archive.display()),
    ]));

    for (archive, name) in [(&docker_archive, "fromskopeo:v1"), (&oci_archive, "fromoci:v1")] {
        let out = berth.ok(&["load", "-i", archive.to_str().unwrap_or_default()]);
        assert!(out.contains("Loaded image"), "{out}");
        let inspect: Value = serde_json::from_str(&berth.ok(&["image", "inspect", name])).expect("json");
        let upper = inspect[0]["GraphDriver"]["Data"]["UpperDir"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            inspect[0]["RootFS"]["Layers"].as_array().map(Vec::len),
            Some(1),
            "{name}"
        );
        let mut loaded = listing(Path::new(&upper));
        let mut original = listing(&rootfs);
        loaded.remove("");
        original.remove("");
        assert_eq!(loaded, original, "{name}: loaded rootfs differs from the original");
    }
    berth.assert_consistent();
}

#[test]
fn bad_archives_leave_the_store_as_it_was() {
    let berth = Berth::new();
    let Some((_, _, archive)) = saved_busybox(&berth) else {
        return;
    };
    let before = berth.store_state();
    let bytes = fs::read(&archive).expect("read");

    // Truncated in the middle of the layer.
    let truncated = berth.path("truncated.tar");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    // Not a tar at all.
    let garbage = berth.path("garbage.tar");
    fs::write(&garbage, b"this is not an archive at all, just text that goes on").expect("write");
    // A layer whose bytes were changed: it no longer has the digest it is named by.
    let corrupt = berth.path("corrupt.tar");
    rewrite_tar(&archive, &corrupt, |path, mut data| {
        if data.len() > 100_000 {
            data[50_000] ^= 0xff;
        }
        let _ = path;
        Some(data)
    });
    // An OCI archive (no manifest.json) whose manifest blob does not match its digest.
    let index: Value = {
        let mut a = tar::Archive::new(fs::File::open(&archive).expect("open"));
        let mut found = Value::Null;
        for e in a.entries().expect("entries") {
            let mut e = e.expect("entry");
            if e.path().expect("path").to_string_lossy() == "index.json" {
                let mut s = String::new();
                e.read_to_string(&mut s).expect("read");
                found = serde_json::from_str(&s).expect("index");
            }
        }
        found
    };
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap_or_default().to_string();
    let manifest_path = format!("blobs/sha256/{}", manifest_digest.trim_start_matches("sha256:"));
    let mismatch = berth.path("mismatch.tar");
    rewrite_tar(&archive, &mismatch, |path, mut data| match path {
        "manifest.json" | "repositories" => None,
        p if p == manifest_path => {
            data.extend_from_slice(b" ");
            Some(data)
        }
        _ => Some(data),
    });

    for (bad, expect) in [
        (&truncated, "truncated or corrupt"),
        (&garbage, "invalid archive"),
        (&corrupt, "digest"),
        (&mismatch, "digest"),
    ] {
        let err = berth.fails(&["load", "-i", bad.to_str().unwrap_or_default()]);
        assert!(err.contains(expect), "{}: {err}", bad.display());
        assert_eq!(berth.store_state(), before, "{} changed the store", bad.display());
    }
    // A missing file is reported as such.
    let err = berth.fails(&["load", "-i", "/nonexistent/archive.tar"]);
    assert!(err.contains("/nonexistent/archive.tar"), "{err}");
}

/// A tar whose entries are built by hand, so escapes can be expressed.
fn evil_tar(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, link) in entries {
        let mut header = tar::Header::new_gnu();
        {
            let gnu = header.as_gnu_mut().expect("gnu header");
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        let data: &[u8] = if *kind == tar::EntryType::Regular {
            b"owned\n"
        } else {
            b""
        };
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).expect("append");
    }
    builder.into_inner().expect("tar")
}

#[test]
fn escaping_tars_are_refused_and_write_nothing_outside() {
    let berth = Berth::new();
    let before = berth.store_state();
    let outside = berth.path("outside");
    fs::create_dir(&outside).expect("mkdir");
    let outside_str = outside.to_string_lossy().into_owned();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dot-dot", evil_tar(&[("../../escaped", tar::EntryType::Regular, "")])),
        (
            "absolute symlink",
            evil_tar(&[
                ("link", tar::EntryType::Symlink, &outside_str),
                ("link/escaped", tar::EntryType::Regular, ""),
            ]),
        ),
        (
            "relative symlink",
            evil_tar(&[
                ("up", tar::EntryType::Symlink, "../../../../../../.."),
                ("up/tmp/berth-relative-escape", tar::EntryType::Regular, ""),
            ]),
        ),
        (
            "hard link",
            evil_tar(&[("passwd", tar::EntryType::Link, "../../../../etc/passwd")]),
        ),
    ];
    for (what, tarball) in cases {
        let out = berth.run_stdin(&["import", "-", "evil:1"], &tarball);
        assert!(!out.status.success(), "{what}: import of an escaping tar must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.is_empty(), "{what}: no error message");
        assert_eq!(berth.store_state(), before, "{what} changed the store");
    }
    assert_eq!(
        fs::read_dir(&outside).expect("read").count(),
        0,
        "something was written outside"
    );
    assert!(!Path::new("/tmp/berth-relative-escape").exists());

    // An absolute entry name means the layer's root, as in Docker: it lands inside.
    let absolute = evil_tar(&[("/tmp/berth-absolute-entry", tar::EntryType::Regular, "")]);
    let out = berth.run_stdin(&["import", "-", "absolute:1"], &absolute);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !Path::new("/tmp/berth-absolute-entry").exists(),
        "an absolute entry escaped the layer"
    );
    let inspect: Value = serde_json::from_str(&berth.ok(&["image", "inspect", "absolute:1"])).expect("json");
    let upper = inspect[0]["GraphDriver"]["Data"]["UpperDir"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(Path::new(&upper).join("tmp/berth-absolute-entry").is_file());
}

#[test]
fn killed_load_leaves_a_consistent_store_and_the_next_load_works() {
    let berth = Berth::new();
    let Some((id, _, archive)) = saved_busybox(&berth) else {
        return;
    };
    berth.ok(&["rmi", "busybox:e2e"]);
    let bytes = fs::read(&archive).expect("read");
    for fraction in [3, 2] {
        let mut child = berth
            .cmd(&["load"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn load");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&bytes[..bytes.len() / fraction]).expect("write part");
        stdin.flush().expect("flush");
        std::thread::sleep(std::time::Duration::from_millis(300));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        drop(stdin);
        // Fully there or absent, and no half-written blob visible.
        let images = berth.ok(&["images", "-q", "--no-trunc"]);
        assert!(images.trim().is_empty() || images.trim() == id, "{images}");
        berth.assert_consistent();
    }
    let out = berth.ok(&["load", "-i", archive.to_str().unwrap_or_default()]);
    assert!(out.contains("Loaded image: busybox:e2e"), "{out}");
    let (_, _, ingest, _) = berth.store_state();
    assert!(ingest.is_empty(), "stale ingest sessions are cleared: {ingest:?}");
    berth.assert_consistent();
}

#[test]
fn parallel_loads_imports_and_removals_keep_the_store_consistent() {
    let berth = Berth::new();
    let Some((_, _, archive)) = saved_busybox(&berth) else {
        return;
    };
    let tarball = berth.path("rootfs.tar");
    let archive = archive.to_string_lossy().into_owned();
    let tarball = tarball.to_string_lossy().into_owned();
    let mut children = Vec::new();
    for i in 0..8 {
        let args: Vec<String> = match i % 4 {
            0 | 1 => vec!["load".into(), "-i".into(), archive.clone()],
            2 => vec!["import".into(), tarball.clone(), format!("imported:{i}")],
            _ => vec!["rmi".into(), "-f".into(), "busybox:e2e".into()],
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        children.push(
            berth
                .cmd(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn"),
        );
    }
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait");
        // rmi may find the image already gone; everything else must succeed.
        if i % 4 != 3 {
            assert!(
                out.status.success(),
                "process {i} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    berth.assert_consistent();
    assert_eq!(
        berth
            .ok(&["images", "-q", "--filter", "reference=imported"])
            .lines()
            .count(),
        2
    );
    berth.ok(&["load", "-i", &archive]);
    berth.assert_consistent();
}
