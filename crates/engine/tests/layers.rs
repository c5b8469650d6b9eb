//! A two-layer image with whiteouts and an opaque directory, loaded through
//! the engine, then viewed through the overlay snapshotter and its copy
//! fallback: the view must show exactly the upper layer's changes.

use std::fs;
use std::path::{Path, PathBuf};

use berth_engine::{Engine, Options};
use berth_image::snapshot;
use sha2::{Digest as _, Sha256};

fn entry(b: &mut tar::Builder<Vec<u8>>, name: &str, data: Option<&[u8]>) {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).expect("path");
    match data {
        Some(d) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
        }
        None => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_mode(0o755);
        }
    }
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append(&h, data.unwrap_or_default()).expect("append");
}

fn layer(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    f(&mut b);
    b.into_inner().expect("tar")
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A docker-archive (1.10–24 layout) with the given layers.
fn docker_archive(layers: &[Vec<u8>], tag: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| format!("sha256:{}", hex(l))).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "layer one"}, {"created_by": "layer two"}],
    });
    let config = serde_json::to_vec(&config).expect("json");
    let config_name = format!("{}.json", hex(&config));
    let mut b = tar::Builder::new(Vec::new());
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let path = format!("{:064x}/layer.tar", i + 1);
        entry(&mut b, &path, Some(l));
        paths.push(path);
    }
    entry(&mut b, &config_name, Some(&config));
    let manifest = serde_json::json!([{"Config": config_name, "RepoTags": [tag], "Layers": paths}]);
    entry(
        &mut b,
        "manifest.json",
        Some(&serde_json::to_vec(&manifest).expect("json")),
    );
    b.into_inner().expect("tar")
}

fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir).expect("read dir").flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let rel = e.path().strip_prefix(root).expect("prefix").display().to_string();
            if e.path().is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &e.path(), out);
            } else {
                out.push(format!("{rel}={}", fs::read_to_string(e.path()).unwrap_or_default()));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = snapshot::unmount(&self.0);
    }
}

#[test]
fn whiteouts_and_opaque_dirs_show_through_the_overlay_view() {
    let tmp = tempfile::tempdir().expect("tmp");
    let engine = Engine::open(Options {
        root: tmp.path().join("root"),
        runroot: tmp.path().join("run"),
    })
    .expect("engine");
    let lower = layer(|b| {
        entry(b, "etc/", None);
        entry(b, "etc/keep", Some(b"keep"));
        entry(b, "etc/gone", Some(b"gone"));
        entry(b, "etc/changed", Some(b"old"));
        entry(b, "data/", None);
        entry(b, "data/a", Some(b"a"));
        entry(b, "data/sub/", None);
        entry(b, "data/sub/b", Some(b"b"));
    });
    let upper = layer(|b| {
        entry(b, "etc/", None);
        entry(b, "etc/.wh.gone", Some(b""));
        entry(b, "etc/changed", Some(b"new"));
        entry(b, "data/", None);
        entry(b, "data/.wh..wh..opq", Some(b""));
        entry(b, "data/fresh", Some(b"fresh"));
    });
    let archive = docker_archive(&[lower, upper], "layered:1");
    let loaded = engine.load(Box::new(std::io::Cursor::new(archive))).expect("load");
    assert_eq!(loaded[0].tags, vec!["layered:1".to_string()]);

    let image = engine.image("layered:1").expect("image");
    assert_eq!(image.record.layers.len(), 2);
    let lowers: Vec<PathBuf> = image
        .record
        .layers
        .iter()
        .rev()
        .map(|c| engine.store().layer_diff(c))
        .collect();
    let expected = vec![
        "data/".to_string(),
        "data/fresh=fresh".into(),
        "etc/".into(),
        "etc/changed=new".into(),
        "etc/keep=keep".into(),
    ];

    let copy = tmp.path().join("copy");
    fs::create_dir(&copy).expect("mkdir");
    snapshot::copy_view(&lowers, &copy).expect("copy view");
    assert_eq!(listing(&copy), expected, "copy fallback view");

    if !snapshot::overlay_supported() {
        eprintln!("SKIPPED: overlayfs is not available; only the copy fallback was checked");
        return;
    }
    let (up, work, merged) = (
        tmp.path().join("upper"),
        tmp.path().join("work"),
        tmp.path().join("merged"),
    );
    for d in [&up, &work, &merged] {
        fs::create_dir(d).expect("mkdir");
    }
    snapshot::mount_overlay(&lowers, &up, &work, &merged).expect("mount overlay");
    let _guard = Unmount(merged.clone());
    assert_eq!(listing(&merged), expected, "overlay view");
    fs::write(merged.join("etc/written"), b"w").expect("write through overlay");
    assert!(up.join("etc/written").is_file(), "writes go to the upper dir");
    assert!(!lowers[0].join("etc/written").exists(), "layers stay read-only");
}
