//! (issue 13) layers: a hostile layer must not cost more disk than it weighs, and what berth writes
//! out must come back the same. A GNU sparse entry declares a real size whose holes an unpacker
//! writes as zeros: a 3 kB layer would become a 2 GiB file, through `import`, `load` and `pull`
//! alike; berth refuses it before writing anything. And `export` (and `commit`) once wrote every
//! device node as 0:0, which overlayfs reads as a whiteout: re-imported, /dev/null-like nodes
//! vanished.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::common::*;

/// What the sparse entry claims to be. The fixed code refuses it before writing a byte of it.
const DECLARED: u64 = 2 << 30;
/// The data bytes it really carries, at the end of the file.
const CARRIED: usize = 512;
/// More than the data root ever needs here (SQLite's files, a few kB of blobs), far less than `DECLARED`.
const SMALL: u64 = 32 << 20;

/// A tar with a directory, a small file and a GNU sparse entry 'S' of `DECLARED` bytes, all but the
/// last `CARRIED` of them holes. Headers written by hand: no tool has to make a real sparse file.
fn sparse_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "data/", std::io::empty()).expect("dir");
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(3);
    b.append_data(&mut h, "data/small", &b"hi\n"[..]).expect("file");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_size(CARRIED as u64);
    {
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.set_real_size(DECLARED);
        gnu.sparse[0].set_offset(DECLARED - CARRIED as u64);
        gnu.sparse[0].set_length(CARRIED as u64);
    }
    b.append_data(&mut h, "data/big", &[0x5a; CARRIED][..])
        .expect("sparse entry");
    let tar = b.into_inner().expect("tar");
    assert!(tar.len() < 8192, "the layer is tiny: {} bytes", tar.len());
    tar
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// An image config for one layer.
fn config(layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": arch(),
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256(layer))]},
    }))
    .expect("config json")
}

/// Bytes allocated on disk under `root`, each inode once, symbolic links not followed.
fn disk_usage(root: &Path) -> u64 {
    fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>, total: &mut u64) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if seen.insert((meta.dev(), meta.ino())) {
                *total += meta.blocks() * 512;
            }
            if meta.is_dir() {
                walk(&entry.path(), seen, total);
            }
        }
    }
    let mut total = 0;
    walk(root, &mut HashSet::new(), &mut total);
    total
}

/// What `Berth::store_state` returns: blobs, layers, ingest sessions, the image list.
type State = (Vec<String>, Vec<String>, Vec<String>, String);

/// The command failed with the sparse-file error, and the store holds what it held before, in
/// well under the layer's declared size.
fn assert_refused(berth: &Berth, what: &str, out: &std::process::Output, before: &State) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(code(out), 0, "{what} of a sparse layer must fail; stderr: {err}");
    assert!(
        err.contains("data/big") && err.contains("sparse") && err.contains("rebuild"),
        "{what}: the error names the entry and what to do: {err}"
    );
    let used = disk_usage(&berth.root());
    eprintln!("{what}: data root uses {used} bytes after the refusal");
    assert!(used < SMALL, "{what}: the data root grew to {used} bytes");
    assert_eq!(&berth.store_state(), before, "{what}: the store changed");
    berth.assert_consistent();
}

#[test]
fn import_refuses_a_sparse_layer() {
    let berth = Berth::new();
    let before = berth.store_state();
    let file = berth.path("sparse.tar");
    fs::write(&file, sparse_layer()).expect("write tar");
    let out = berth.run(&["import", file.to_str().expect("path"), "sparse:import"]);
    assert_refused(&berth, "import", &out, &before);
    // From stdin too.
    let out = berth.run_stdin(&["import", "-", "sparse:stdin"], &sparse_layer());
    assert_refused(&berth, "import -", &out, &before);
}

#[test]
fn load_refuses_a_sparse_layer() {
    let berth = Berth::new();
    let before = berth.store_state();
    // A `docker save` archive: config, layer and manifest.json.
    let layer = sparse_layer();
    let config = config(&layer);
    let config_name = format!("{}.json", sha256(&config));
    let layer_name = format!("{}/layer.tar", sha256(&layer));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["sparse:load"],
        "Layers": [layer_name],
    }]))
    .expect("manifest json");
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [(&config_name, &config), (&layer_name, &layer)] {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).expect("append");
    }
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(manifest.len() as u64);
    b.append_data(&mut h, "manifest.json", &manifest[..]).expect("append");
    let archive = berth.path("sparse-save.tar");
    fs::write(&archive, b.into_inner().expect("archive")).expect("write archive");
    let out = berth.run(&["load", "-i", archive.to_str().expect("path")]);
    assert_refused(&berth, "load", &out, &before);
}

#[test]
fn pull_refuses_a_sparse_layer() {
    let berth = Berth::new();
    let registry = ServedRegistry::start(&berth, &berth.path("registry"));
    let layer = sparse_layer();
    let config = config(&layer);
    let descriptor = |media_type: &str, blob: &[u8]| serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{}", sha256(blob)), "size": blob.len()});
    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
    }))
    .expect("manifest json");
    registry.put_image("evil/sparse", "1", MANIFEST, &manifest, &[&config, &layer]);
    let before = berth.store_state();
    let out = berth.run(&["pull", &format!("{}/evil/sparse:1", registry.host())]);
    assert_refused(&berth, "pull", &out, &before);
}

/// The device nodes of `tar`: (name, type, major, minor).
fn devices(tar: &[u8]) -> Vec<(String, tar::EntryType, u32, u32)> {
    let mut out = Vec::new();
    for entry in tar::Archive::new(tar).entries().expect("entries") {
        let entry = entry.expect("entry");
        let h = entry.header();
        if matches!(h.entry_type(), tar::EntryType::Char | tar::EntryType::Block) {
            let name = entry.path().expect("path").to_string_lossy().into_owned();
            let major = h.device_major().ok().flatten().unwrap_or(0);
            let minor = h.device_minor().ok().flatten().unwrap_or(0);
            out.push((name.trim_start_matches("./").to_string(), h.entry_type(), major, minor));
        }
    }
    out
}

#[test]
fn export_and_commit_keep_device_numbers() {
    let Some(berth) = with_busybox() else { return };
    berth.ok(&[
        "run",
        "--name",
        "devs",
        "busybox",
        "/bin/busybox",
        "sh",
        "-c",
        "/bin/busybox mknod /x c 1 3 && /bin/busybox mknod /blk b 7 5",
    ]);
    let exported = berth.path("exported.tar");
    berth.ok(&["export", "-o", exported.to_str().expect("path"), "devs"]);
    let found = devices(&fs::read(&exported).expect("read export"));
    for want in [
        ("x".to_string(), tar::EntryType::Char, 1, 3),
        ("blk".to_string(), tar::EntryType::Block, 7, 5),
    ] {
        assert!(found.contains(&want), "export lost {want:?}: {found:?}");
    }
    berth.ok(&["import", exported.to_str().expect("path"), "devs:exported"]);
    berth.ok(&["commit", "devs", "devs:committed"]);
    for image in ["devs:exported", "devs:committed"] {
        let out = berth.ok(&[
            "run",
            "--rm",
            image,
            "/bin/busybox",
            "stat",
            "-c",
            "%n %F %t,%T",
            "/x",
            "/blk",
        ]);
        assert_eq!(
            out,
            "/x character special file 1,3
/blk block special file 7,5
",
            "{image}"
        );
    }
}
