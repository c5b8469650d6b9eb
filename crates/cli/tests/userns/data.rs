//! A `--userns=auto` container's files through commit, export, cp and diff: every tar shows the ids
//! the container sees (never the host's shifted ones), and what is copied in is stored shifted, so
//! none of these commands tells it from a `--userns=host` container.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::common::served::{docker_clients, Served};
use crate::common::*;

/// What the test container does: a file it chowns to 1000, a directory and file it makes as root,
/// an image directory it chowns (copied up), an image file it deletes.
const CHANGES: &str = "touch /f && chown 1000:1000 /f && mkdir /made && touch /made/by-root && \
                       chown 1000:1000 /root && rm /etc/passwd.hardlink";

/// A data root with busybox, or None (the test says why and skips).
fn setup() -> Option<Berth> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED: user namespaces over a range of host ids need root");
        return None;
    }
    with_busybox()
}

/// `path -> uid:gid` of every entry of a tar.
fn owners(tar: &[u8]) -> BTreeMap<String, String> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .expect("a tar")
        .map(|e| {
            let e = e.expect("a tar entry");
            let h = e.header();
            let path = e.path().expect("a path").display().to_string();
            (
                path.trim_end_matches('/').to_string(),
                format!("{}:{}", h.uid().unwrap(), h.gid().unwrap()),
            )
        })
        .collect()
}

/// The owner of a tar's first entry.
fn first_owner(tar: &[u8]) -> Option<String> {
    let mut archive = tar::Archive::new(tar);
    let first = archive.entries().ok()?.next()?.ok()?;
    let h = first.header();
    Some(format!("{}:{}", h.uid().ok()?, h.gid().ok()?))
}

fn stdout_of(berth: &Berth, args: &[&str]) -> Vec<u8> {
    let out = berth.run(args);
    assert!(
        out.status.success(),
        "berth {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The host id a running container's root is (its uid_map's second field).
fn base_of(berth: &Berth, id: &str) -> u32 {
    let pid = berth.ok(&["inspect", "-f", "{{.State.Pid}}", id]);
    let map = std::fs::read_to_string(format!("/proc/{}/uid_map", pid.trim())).expect("uid_map");
    let base: u32 = map
        .split_whitespace()
        .nth(1)
        .and_then(|b| b.parse().ok())
        .expect("a mapping");
    assert!(base > 65536, "not a container of its own range: {map}");
    base
}

fn upper(berth: &Berth, id: &str) -> PathBuf {
    let id = berth.ok(&["inspect", "-f", "{{.Id}}", id]);
    berth.root().join("containers").join(id.trim()).join("upper")
}

fn host_owner(path: &Path) -> String {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{}:{}", m.uid(), m.gid())
}

/// A stopped `--userns=auto` container that made [`CHANGES`]; returns its id.
fn changed_container(berth: &Berth) -> String {
    let id = berth.ok(&["create", "--userns=auto", "busybox", "sh", "-c", CHANGES]);
    let id = id.trim().to_string();
    berth.ok(&["start", "-a", &id]);
    id
}

/// A one-entry tar: `name` holding `body`, owned by uid:gid.
fn tar_of(entries: &[(&str, u64, u64)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, uid, gid) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(*uid);
        h.set_gid(*gid);
        h.set_size(3);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &b"hi\n"[..]).expect("append");
    }
    b.into_inner().expect("tar")
}

#[test]
fn commit_writes_the_ids_the_container_saw() {
    let Some(berth) = setup() else { return };
    let id = changed_container(&berth);
    berth.ok(&["commit", &id, "committed:1"]);
    let seen = berth.ok(&[
        "run",
        "--rm",
        "--userns=host",
        "committed:1",
        "busybox",
        "stat",
        "-c",
        "%n %u:%g",
        "/f",
        "/made",
        "/made/by-root",
        "/root",
        "/bin/busybox",
    ]);
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        [
            "/f 1000:1000",
            "/made 0:0",
            "/made/by-root 0:0",
            "/root 1000:1000",
            "/bin/busybox 0:0"
        ]
    );
    // The layer itself, as `save` hands it out.
    let saved = stdout_of(&berth, &["save", "committed:1"]);
    let mut archive = tar::Archive::new(&saved[..]);
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for e in archive.entries().expect("save's tar") {
        let mut e = e.expect("an entry");
        let path = e.path().expect("path").display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read");
        files.insert(path, data);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest");
    let layers = manifest[0]["Layers"].as_array().expect("layers");
    let top = layers.last().and_then(|l| l.as_str()).expect("a top layer");
    let layer = owners(&files[top]);
    assert_eq!(layer["f"], "1000:1000");
    assert_eq!(layer["made/by-root"], "0:0");
    assert_eq!(layer["root"], "1000:1000");
    assert_eq!(layer["etc/.wh.passwd.hardlink"], "0:0");
    assert!(
        layer.values().all(|o| o == "0:0" || o == "1000:1000"),
        "a host id in the layer: {layer:?}"
    );
}

#[test]
fn diff_still_tells_added_changed_and_deleted() {
    let Some(berth) = setup() else { return };
    let id = changed_container(&berth);
    let diff = berth.ok(&["diff", &id]);
    assert_eq!(
        diff.lines().collect::<Vec<_>>(),
        [
            "C /etc",
            "D /etc/passwd.hardlink",
            "A /f",
            "A /made",
            "A /made/by-root",
            "C /root"
        ]
    );
}

#[test]
fn export_shows_the_containers_ids_for_its_files_and_the_images() {
    let Some(berth) = setup() else { return };
    let id = changed_container(&berth);
    let exported = owners(&stdout_of(&berth, &["export", &id]));
    assert_eq!(exported["f"], "1000:1000");
    assert_eq!(exported["root"], "1000:1000");
    assert_eq!(exported["made/by-root"], "0:0");
    // The image's files, seen through the container's mapping, then shifted back.
    assert_eq!(exported["bin/busybox"], "0:0");
    assert_eq!(exported["etc/passwd"], "0:0");
    assert!(!exported.contains_key("etc/passwd.hardlink"));
    assert!(
        exported.values().all(|o| o == "0:0" || o == "1000:1000"),
        "a host id in the export: {exported:?}"
    );
}

#[test]
fn cp_out_shows_the_containers_ids_running_or_not() {
    let Some(berth) = setup() else { return };
    let id = berth.ok(&[
        "run",
        "-d",
        "--userns=auto",
        "busybox",
        "sh",
        "-c",
        &format!("{CHANGES} && sleep 1000"),
    ]);
    let id = id.trim();
    // Wait for the changes to be made.
    for _ in 0..100 {
        if berth.run(&["exec", id, "test", "-e", "/made/by-root"]).status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let expected: BTreeMap<String, String> = [
        ("/bin", "0:0"),
        ("/f", "1000:1000"),
        ("/root", "1000:1000"),
        ("/made", "0:0"),
        ("/etc/passwd", "0:0"),
    ]
    .map(|(p, o)| (p.to_string(), o.to_string()))
    .into();
    let check = |when: &str| {
        for (path, owner) in &expected {
            let bytes = stdout_of(&berth, &["cp", &format!("{id}:{path}"), "-"]);
            let top = first_owner(&bytes);
            let tar = owners(&bytes);
            assert_eq!(top.as_ref(), Some(owner), "{when}: cp {path}: {tar:?}");
            assert!(
                tar.values().all(|o| o == "0:0" || o == "1000:1000"),
                "{when}: a host id in cp {path}: {tar:?}"
            );
        }
    };
    check("running");
    berth.ok(&["stop", "-t", "0", id]);
    check("stopped");
}

#[test]
fn cp_in_stores_kept_owners_shifted_and_gives_the_rest_to_the_containers_root() {
    let Some(berth) = setup() else { return };
    let id = berth.ok(&["run", "-d", "--userns=auto", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let base = base_of(&berth, id);
    let inside = |path: &str| {
        berth
            .ok(&["exec", id, "busybox", "stat", "-c", "%u:%g", path])
            .trim()
            .to_string()
    };
    // Running: through /proc/PID/root.
    berth.ok(&["exec", id, "mkdir", "/in"]);
    let archive = tar_of(&[("kept", 1000, 1000)]);
    let out = berth.run_stdin(&["cp", "-a", "-", &format!("{id}:/in")], &archive);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = berth.run_stdin(&["cp", "-", &format!("{id}:/in")], &tar_of(&[("given", 1000, 1000)]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(inside("/in/kept"), "1000:1000");
    assert_eq!(inside("/in/given"), "0:0");
    let upper = upper(&berth, id);
    assert_eq!(
        host_owner(&upper.join("in/kept")),
        format!("{}:{}", base + 1000, base + 1000)
    );
    assert_eq!(host_owner(&upper.join("in/given")), format!("{base}:{base}"));

    // Stopped: through a view of its own, into the upper dir; the container sees them at its start.
    berth.ok(&["stop", "-t", "0", id]);
    let archive = tar_of(&[("kept-stopped", 1000, 2000)]);
    let out = berth.run_stdin(&["cp", "-a", "-", &format!("{id}:/etc")], &archive);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = berth.run_stdin(&["cp", "-", &format!("{id}:/etc")], &tar_of(&[("given-stopped", 7, 7)]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        host_owner(&upper.join("etc/kept-stopped")),
        format!("{}:{}", base + 1000, base + 2000)
    );
    assert_eq!(host_owner(&upper.join("etc/given-stopped")), format!("{base}:{base}"));
    // /etc came up from the (idmapped) image layer: the container's root's, as in the image.
    assert_eq!(host_owner(&upper.join("etc")), format!("{base}:{base}"));
    berth.ok(&["start", id]);
    assert_eq!(inside("/etc/kept-stopped"), "1000:2000");
    assert_eq!(inside("/etc/given-stopped"), "0:0");
    assert_eq!(inside("/etc"), "0:0");
}

#[test]
fn cp_in_refuses_an_owner_beyond_the_range_before_writing_anything() {
    let Some(berth) = setup() else { return };
    let id = berth.ok(&["run", "-d", "--userns=auto", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let archive = tar_of(&[("fine", 1000, 1000), ("hostile", 4_000_000_000, 0)]);
    let out = berth.run_stdin(&["cp", "-a", "-", &format!("{id}:/tmp")], &archive);
    assert!(!out.status.success(), "an owner beyond the range was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hostile") && err.contains("4000000000") && err.contains("cannot be mapped"),
        "{err}"
    );
    // Nothing of the archive was written, not even the entry before the hostile one.
    let listed = berth.ok(&["exec", id, "ls", "-A", "/tmp"]);
    assert_eq!(listed.trim(), "", "left behind: {listed}");
    assert!(!upper(&berth, id).join("tmp").exists());
    // Without -a the owners are not the archive's: the container's root gets both.
    let out = berth.run_stdin(&["cp", "-", &format!("{id}:/tmp")], &archive);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = berth.ok(&[
        "exec",
        id,
        "busybox",
        "stat",
        "-c",
        "%n %u:%g",
        "/tmp/fine",
        "/tmp/hostile",
    ]);
    assert_eq!(seen.lines().collect::<Vec<_>>(), ["/tmp/fine 0:0", "/tmp/hostile 0:0"]);
}

#[test]
fn docker_cp_and_export_through_the_api_show_the_containers_ids() {
    let Some(berth) = setup() else { return };
    let Some(client) = docker_clients().into_iter().next() else {
        eprintln!("SKIPPED: no docker client on this machine");
        return;
    };
    let id = changed_container(&berth);
    let served = Served::start(&berth);
    let out = served.docker_with(client, &["cp", &format!("{id}:/f"), "-"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let copied = owners(&out.stdout);
    assert_eq!(copied.get("f").map(String::as_str), Some("1000:1000"), "{copied:?}");
    let out = served.docker_with(client, &["export", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exported = owners(&out.stdout);
    assert_eq!(exported["f"], "1000:1000");
    assert_eq!(exported["root"], "1000:1000");
    assert_eq!(exported["bin/busybox"], "0:0");
}

#[test]
fn cp_in_reaches_a_running_containers_volume_stored_unshifted() {
    let Some(berth) = setup() else { return };
    let id = berth.ok(&[
        "run",
        "-d",
        "--userns=auto",
        "-v",
        "shared:/data",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let archive = tar_of(&[("kept", 1000, 1000)]);
    let out = berth.run_stdin(&["cp", "-a", "-", &format!("{id}:/data")], &archive);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = berth.run_stdin(&["cp", "-", &format!("{id}:/data")], &tar_of(&[("given", 1000, 1000)]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = berth.ok(&[
        "exec",
        id,
        "busybox",
        "stat",
        "-c",
        "%n %u:%g",
        "/data/kept",
        "/data/given",
    ]);
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        ["/data/kept 1000:1000", "/data/given 0:0"]
    );
    // A volume holds the container's ids as they are, for any container to share.
    let data = berth.root().join("volumes/shared/_data");
    assert_eq!(host_owner(&data.join("kept")), "1000:1000");
    assert_eq!(host_owner(&data.join("given")), "0:0");
    let copied = owners(&stdout_of(&berth, &["cp", &format!("{id}:/data"), "-"]));
    assert_eq!(copied["data/kept"], "1000:1000");
}
