//! `system check` on the data root: each kind of leftover or damage is made by hand in a fresh root,
//! then the check must name it (plain and JSON) and exit 1, `--repair` must say what it did (exit 0
//! when everything was repaired, 1 when something cannot be), and a second check must find nothing
//! more than what cannot be repaired. A clean root is consistent, and a check without `--repair`
//! changes nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_store::rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{code, with_busybox, Berth};

/// The findings of a check (JSON), with its exit code.
fn findings(berth: &Berth, args: &[&str]) -> (i32, Vec<Value>) {
    let mut all = vec!["system", "check", "--format", "json"];
    all.extend_from_slice(args);
    let out = berth.run(&all);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "system check {args:?} printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let list = report["findings"].as_array().cloned().unwrap_or_default();
    (code(&out), list)
}

/// The finding of `kind` whose object is `object`, or else contains it.
fn finding<'a>(list: &'a [Value], kind: &str, object: &str) -> Option<&'a Value> {
    let of_kind = || list.iter().filter(|f| f["kind"] == kind);
    of_kind()
        .find(|f| f["object"] == object)
        .or_else(|| of_kind().find(|f| f["object"].as_str().is_some_and(|o| o.contains(object))))
}

/// A read-only check finds exactly the leftovers `expected` names (kind, part of the object), plain
/// and JSON, and exits 1; returns the plain output.
fn finds(berth: &Berth, expected: &[(&str, &str)]) -> String {
    let (status, list) = findings(berth, &[]);
    assert_eq!(status, 1, "a check that finds something exits 1: {list:#?}");
    assert_eq!(list.len(), expected.len(), "{list:#?}");
    for (kind, object) in expected {
        let f = finding(&list, kind, object).unwrap_or_else(|| panic!("no {kind} {object} in {list:#?}"));
        assert!(f["repair"].is_null(), "a check without --repair repairs nothing: {f}");
    }
    let out = berth.run(&["system", "check"]);
    assert_eq!(code(&out), 1);
    let plain = String::from_utf8_lossy(&out.stdout).into_owned();
    for (kind, object) in expected {
        let label = kind.replace('_', " ");
        assert!(
            plain
                .lines()
                .any(|l| l.starts_with(&format!("{label} ")) && l.contains(object)),
            "no line for {kind} {object} in:\n{plain}"
        );
    }
    plain
}

/// `--repair` answers each expected finding with `outcome` (done, not_possible), plain and JSON, and
/// exits 0 when all were done, 1 otherwise. The JSON run repairs; the plain run after it sees the rest.
fn repairs(berth: &Berth, expected: &[(&str, &str, &str)]) {
    let (status, list) = findings(berth, &["--repair"]);
    assert_eq!(list.len(), expected.len(), "{list:#?}");
    for (kind, object, outcome) in expected {
        let f = finding(&list, kind, object).unwrap_or_else(|| panic!("no {kind} {object} in {list:#?}"));
        assert_eq!(f["repair"]["outcome"], *outcome, "{f}");
        assert!(f["repair"]["detail"].as_str().is_some_and(|d| !d.is_empty()), "{f}");
    }
    let all_done = expected.iter().all(|(_, _, outcome)| *outcome == "done");
    assert_eq!(status, if all_done { 0 } else { 1 }, "{list:#?}");
}

/// A plain `--repair` prints what it did under each finding.
fn repairs_plain(berth: &Berth, line: &str, answer: &str) {
    let out = berth.run(&["system", "check", "--repair"]);
    let plain = String::from_utf8_lossy(&out.stdout);
    let at = plain
        .lines()
        .position(|l| l.contains(line))
        .unwrap_or_else(|| panic!("no {line:?} in:\n{plain}"));
    let next = plain.lines().nth(at + 1).unwrap_or_default();
    assert!(
        next.starts_with(&format!("  {answer}")),
        "{line:?} answered {next:?}:\n{plain}"
    );
}

fn consistent(berth: &Berth) {
    let out = berth.run(&["system", "check"]);
    let plain = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{plain}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        plain.trim(),
        format!("data root {} is consistent", berth.root().display())
    );
}

/// berth.db as the sqlite3 tool opens it: foreign keys not enforced.
fn db(berth: &Berth) -> Connection {
    let conn = Connection::open(berth.root().join("berth.db")).expect("open berth.db");
    conn.pragma_update(None, "foreign_keys", "OFF").expect("pragma");
    conn
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// busybox's (image ID hex, layer blob hex, chain ID hex) in a root with only busybox.
fn busybox_parts(berth: &Berth) -> (String, String, String) {
    let id = berth.ok(&["images", "-q", "--no-trunc", "busybox"]);
    let id = id.trim().trim_start_matches("sha256:").to_string();
    let names = |dir: &str| -> Vec<String> {
        fs::read_dir(berth.root().join(dir))
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let blob = names("blobs/sha256")
        .into_iter()
        .find(|n| *n != id)
        .expect("layer blob");
    let chain = names("layers").pop().expect("one layer");
    (id, blob, chain)
}

/// Sets a path's modification time to an hour ago (past every grace period).
fn age(path: &Path) {
    let status = Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(path)
        .status()
        .expect("touch");
    assert!(status.success());
}

/// Every path under the root with its size and content hash, and every row of berth.db: what a
/// read-only check must leave as it found it. Lock files and SQLite's WAL files are left out (opening
/// the root makes them).
fn snapshot(berth: &Berth) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(base).expect("prefix").to_string_lossy().into_owned();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".lock") || name.starts_with("berth.db") {
                continue;
            }
            let meta = fs::symlink_metadata(&path).expect("lstat");
            if meta.is_dir() {
                out.insert(rel, "dir".into());
                walk(base, &path, out);
            } else if meta.is_file() {
                let bytes = fs::read(&path).unwrap_or_default();
                out.insert(rel, format!("{} {}", meta.len(), sha256_hex(&bytes)));
            } else {
                out.insert(rel, "other".into());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&berth.root(), &berth.root(), &mut out);
    let conn = Connection::open_with_flags(berth.root().join("berth.db"), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open read-only");
    let tables: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .expect("tables");
        let rows = stmt.query_map([], |r| r.get(0)).expect("query");
        rows.map(|r| r.expect("row")).collect()
    };
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).expect("select");
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).expect("query");
        let mut n = 0;
        while let Some(row) = rows.next().expect("row") {
            let values: Vec<String> = (0..columns)
                .map(|i| format!("{:?}", row.get_ref(i).expect("value")))
                .collect();
            out.insert(format!("db {table} {n}"), values.join("|"));
            n += 1;
        }
    }
    out
}

#[test]
fn a_clean_root_is_consistent_and_a_check_changes_nothing() {
    let Some(berth) = with_busybox() else { return };
    berth.ok(&["volume", "create", "data"]);
    berth.ok(&["create", "--name", "stopped", "-v", "data:/data", "busybox", "true"]);
    berth.ok(&["run", "-d", "--name", "running", "busybox", "sleep", "60"]);
    consistent(&berth);
    let (status, list) = findings(&berth, &[]);
    assert_eq!((status, list.len()), (0, 0));

    // Leftovers of several kinds, which a check without --repair must only report.
    fs::create_dir_all(berth.root().join("layers/stray/diff")).expect("mkdir");
    fs::create_dir_all(berth.root().join("volumes/ghost/_data")).expect("mkdir");
    fs::create_dir_all(berth.root().join("downloads")).expect("mkdir");
    fs::write(berth.root().join("downloads").join(sha256_hex(b"x")), b"partial").expect("write");
    fs::create_dir_all(berth.root().join("ingest/0123456789abcdef")).expect("mkdir");
    db(&berth)
        .execute("INSERT INTO pending (kind, digest) VALUES ('gc', '')", [])
        .expect("insert");
    let before = snapshot(&berth);
    finds(
        &berth,
        &[
            ("database", "pending"),
            ("layer", "layers/stray"),
            ("volume", "ghost"),
            ("download", "downloads/"),
            ("ingest", "ingest/0123456789abcdef"),
        ],
    );
    assert_eq!(snapshot(&berth), before, "a check without --repair changed the root");
    repairs(
        &berth,
        &[
            ("database", "pending", "done"),
            ("layer", "layers/stray", "done"),
            ("volume", "ghost", "done"),
            ("download", "downloads/", "done"),
            ("ingest", "ingest/0123456789abcdef", "done"),
        ],
    );
    consistent(&berth);
    // What the user made is all still there.
    assert!(berth.ok(&["ps", "-a", "--format", "{{.Names}}"]).contains("stopped"));
    assert!(berth.ok(&["ps", "--format", "{{.Names}}"]).contains("running"));
    assert!(berth.ok(&["volume", "ls", "-q"]).contains("data"));
    berth.ok(&["run", "--rm", "busybox", "true"]);
}

#[test]
fn a_blob_an_image_needs_that_was_damaged_is_named_with_its_image() {
    let Some(berth) = with_busybox() else { return };
    let (_, blob, _) = busybox_parts(&berth);
    let path = berth.root().join("blobs/sha256").join(&blob);
    let mut bytes = fs::read(&path).expect("read blob");
    bytes[100] ^= 0xff;
    fs::write(&path, &bytes).expect("flip a byte");
    let plain = finds(&berth, &[("blob", &blob)]);
    assert!(plain.contains("content does not match its digest"), "{plain}");
    assert!(plain.contains("busybox"), "the image that needs it is named: {plain}");
    repairs(&berth, &[("blob", &blob, "not_possible")]);
    repairs_plain(&berth, &blob, "not repaired: nothing on this host can restore it");
    assert!(path.exists(), "the only copy is kept");
    finds(&berth, &[("blob", &blob)]);
    // The way back the advice gives.
    berth.ok(&["rmi", "-f", "busybox"]);
    consistent(&berth);
}

#[test]
fn a_truncated_blob_nothing_needs_is_removed() {
    let berth = Berth::new();
    consistent(&berth);
    let content = b"a blob nothing refers to";
    let hex = sha256_hex(content);
    fs::write(berth.root().join("blobs/sha256").join(&hex), &content[..5]).expect("write");
    db(&berth)
        .execute(
            "INSERT INTO blobs (digest, size, media_type) VALUES (?1, ?2, '')",
            (format!("sha256:{hex}"), content.len() as i64),
        )
        .expect("insert");
    let plain = finds(&berth, &[("blob", &hex)]);
    assert!(plain.contains("its file has 5 bytes"), "{plain}");
    repairs(&berth, &[("blob", &hex, "done")]);
    assert!(!berth.root().join("blobs/sha256").join(&hex).exists());
    consistent(&berth);
}

#[test]
fn a_missing_layer_directory_is_named_with_its_image() {
    let Some(berth) = with_busybox() else { return };
    let (_, _, chain) = busybox_parts(&berth);
    fs::remove_dir_all(berth.root().join("layers").join(&chain)).expect("rm layer");
    let plain = finds(&berth, &[("layer", &chain)]);
    assert!(plain.contains("is missing") && plain.contains("busybox"), "{plain}");
    repairs(&berth, &[("layer", &chain, "not_possible")]);
    finds(&berth, &[("layer", &chain)]);
    berth.ok(&["rmi", "-f", "busybox"]);
    consistent(&berth);
}

#[test]
fn orphan_blobs_and_layers_are_removed() {
    let Some(berth) = with_busybox() else { return };
    let stray = sha256_hex(b"stray");
    fs::write(berth.root().join("blobs/sha256").join(&stray), b"stray").expect("write");
    fs::create_dir_all(berth.root().join("layers").join(sha256_hex(b"layer")).join("diff/etc")).expect("mkdir");
    finds(&berth, &[("blob", &stray), ("layer", &sha256_hex(b"layer"))]);
    repairs(
        &berth,
        &[("blob", &stray, "done"), ("layer", &sha256_hex(b"layer"), "done")],
    );
    consistent(&berth);
    berth.ok(&["run", "--rm", "busybox", "true"]);
}

#[test]
fn a_killed_rmi_left_pending_is_finished() {
    let Some(berth) = with_busybox() else { return };
    let (id, blob, chain) = busybox_parts(&berth);
    // What rmi's first transaction commits: the image's rows gone and a collection due.
    let conn = db(&berth);
    conn.execute_batch(
        "DELETE FROM tags; DELETE FROM repo_digests; DELETE FROM image_layers; DELETE FROM images;
         INSERT INTO pending (kind, digest) VALUES ('gc', '');",
    )
    .expect("delete");
    drop(conn);
    finds(&berth, &[("database", "pending")]);
    assert!(berth.root().join("layers").join(&chain).exists());
    repairs(&berth, &[("database", "pending", "done")]);
    for gone in [
        berth.root().join("layers").join(&chain),
        berth.root().join("blobs/sha256").join(&blob),
        berth.root().join("blobs/sha256").join(&id),
    ] {
        assert!(!gone.exists(), "{} was left", gone.display());
    }
    consistent(&berth);
}

#[test]
fn a_dangling_tag_is_removed() {
    let Some(berth) = with_busybox() else { return };
    db(&berth)
        .execute(
            "INSERT INTO tags (name, image_id, added_at) VALUES ('docker.io/library/ghost:1', ?1, 'now')",
            [format!("sha256:{}", sha256_hex(b"no such image"))],
        )
        .expect("insert");
    let plain = finds(&berth, &[("tag", "ghost:1")]);
    assert!(plain.contains("which does not exist"), "{plain}");
    repairs(&berth, &[("tag", "ghost:1", "done")]);
    consistent(&berth);
    assert!(berth.ok(&["images", "--format", "{{.Repository}}"]).contains("busybox"));
}

#[test]
fn downloads_and_ingest_sessions_no_process_holds_are_removed() {
    let berth = Berth::new();
    consistent(&berth);
    let downloads = berth.root().join("downloads");
    fs::create_dir_all(&downloads).expect("mkdir");
    let hex = sha256_hex(b"download");
    fs::write(downloads.join(&hex), b"half a layer").expect("write");
    fs::write(downloads.join(format!("{hex}.lock")), b"").expect("write");
    // A download a live pull holds is not a leftover.
    let held = sha256_hex(b"held");
    fs::write(downloads.join(&held), b"being fetched").expect("write");
    let lock = berth_store::FileLock::exclusive(&downloads.join(format!("{held}.lock"))).expect("lock");
    let ingest = berth.root().join("ingest/00000000deadbeef");
    fs::create_dir_all(ingest.join("dir-0/diff")).expect("mkdir");
    fs::write(berth.root().join("ingest/00000000deadbeef.lock"), b"").expect("write");
    finds(&berth, &[("download", &hex), ("ingest", "00000000deadbeef")]);
    repairs(
        &berth,
        &[("download", &hex, "done"), ("ingest", "00000000deadbeef", "done")],
    );
    assert!(!downloads.join(&hex).exists() && !downloads.join(format!("{hex}.lock")).exists());
    assert!(!ingest.exists());
    assert!(downloads.join(&held).exists(), "the held download is left alone");
    consistent(&berth);
    drop(lock);
}

#[test]
fn temporary_files_of_gone_writers_are_removed() {
    let berth = Berth::new();
    consistent(&berth);
    // A pid that was a process and is gone.
    let mut child = Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    let root_id = berth.root().join(format!("root-id.{pid}"));
    fs::write(&root_id, b"0123456789abcdef\n").expect("write");
    // The monitor's copy of berth-init, written under a temporary name in the run root.
    let run = berth.dir.path().join("run");
    fs::create_dir_all(&run).expect("mkdir");
    let init = run.join("berth-init.tmp-4242");
    fs::write(&init, b"half a binary").expect("write");
    age(&init);
    let fresh = run.join("berth-init.tmp-4343");
    fs::write(&fresh, b"being written").expect("write");
    finds(
        &berth,
        &[("temp", &format!("root-id.{pid}")), ("temp", "berth-init.tmp-4242")],
    );
    repairs(
        &berth,
        &[
            ("temp", &format!("root-id.{pid}"), "done"),
            ("temp", "berth-init.tmp-4242", "done"),
        ],
    );
    assert!(!root_id.exists() && !init.exists());
    assert!(fresh.exists(), "a temporary file being written is left alone");
    consistent(&berth);
}

#[test]
fn volume_leftovers_are_removed_and_a_used_volume_without_data_is_reported() {
    let Some(berth) = with_busybox() else { return };
    berth.ok(&["volume", "create", "unused"]);
    berth.ok(&["volume", "create", "used"]);
    berth.ok(&["create", "--name", "user", "-v", "used:/data", "busybox", "true"]);
    fs::remove_dir_all(berth.root().join("volumes/unused")).expect("rm");
    fs::remove_dir_all(berth.root().join("volumes/used")).expect("rm");
    fs::create_dir_all(berth.root().join("volumes/ghost/_data")).expect("mkdir");
    fs::write(berth.root().join("volumes/ghost/_data/old"), b"old data").expect("write");
    let trashed = berth.root().join("volumes/.trash/gone.0123456789abcdef/_data");
    fs::create_dir_all(&trashed).expect("mkdir");
    let plain = finds(
        &berth,
        &[
            ("volume", "unused"),
            ("volume", "used"),
            ("volume", "ghost"),
            ("trash", "gone.0123456789abcdef"),
        ],
    );
    assert!(
        plain.contains("without a record") && plain.contains("directory is missing"),
        "{plain}"
    );
    repairs(
        &berth,
        &[
            ("volume", "unused", "done"),
            ("volume", "used", "not_possible"),
            ("volume", "ghost", "done"),
            ("trash", "gone.0123456789abcdef", "done"),
        ],
    );
    assert!(!berth.root().join("volumes/ghost").exists());
    assert!(!berth.root().join("volumes/.trash/gone.0123456789abcdef").exists());
    assert!(!berth.ok(&["volume", "ls", "-q"]).contains("unused"));
    finds(&berth, &[("volume", "used")]);
    berth.ok(&["rm", "user"]);
    berth.ok(&["volume", "rm", "used"]);
    consistent(&berth);
}

#[test]
fn container_leftovers_are_removed_or_named_with_what_to_do() {
    let Some(berth) = with_busybox() else { return };
    let id = |name: &str| berth.ok(&["inspect", "--format", "{{.Id}}", name]).trim().to_string();
    berth.ok(&["create", "--name", "halfgone", "busybox", "true"]);
    berth.ok(&["create", "--name", "nodir", "busybox", "true"]);
    let (halfgone, nodir) = (id("halfgone"), id("nodir"));
    // A killed rm: marked as being removed, its directory partly gone, nobody holding its lock.
    db(&berth)
        .execute("UPDATE containers SET state = 'removing' WHERE id = ?1", [&halfgone])
        .expect("update");
    fs::remove_dir_all(berth.root().join("containers").join(&halfgone).join("upper")).expect("rm");
    fs::remove_dir_all(berth.root().join("containers").join(&nodir)).expect("rm");
    // A killed create: a directory without a row, old enough that no create is at work on it.
    let orphan: String = "ab".repeat(32);
    let dir: PathBuf = berth.root().join("containers").join(&orphan);
    fs::create_dir_all(dir.join("upper/etc")).expect("mkdir");
    age(&dir);
    // One just made: a create may be at work on it.
    let young = berth.root().join("containers").join("cd".repeat(32));
    fs::create_dir_all(young.join("upper")).expect("mkdir");
    let plain = finds(
        &berth,
        &[
            ("container", "halfgone"),
            ("container", "nodir"),
            ("container", &orphan),
        ],
    );
    assert!(
        plain.contains("half removed") && plain.contains("is missing"),
        "{plain}"
    );
    repairs(
        &berth,
        &[
            ("container", "halfgone", "done"),
            ("container", "nodir", "not_possible"),
            ("container", &orphan, "done"),
        ],
    );
    assert!(!dir.exists() && young.exists());
    assert!(!berth.ok(&["ps", "-a", "--format", "{{.Names}}"]).contains("halfgone"));
    repairs_plain(
        &berth,
        "nodir",
        "not repaired: its files are gone: remove it with `berth rm -f nodir`",
    );
    berth.ok(&["rm", "-f", "nodir"]);
    fs::remove_dir_all(&young).expect("rm");
    consistent(&berth);
}

#[test]
fn a_container_whose_image_is_gone_is_reported() {
    let Some(berth) = with_busybox() else { return };
    berth.ok(&["create", "--name", "orphaned", "busybox", "true"]);
    // Deleted behind berth's back (rmi refuses an image a container uses); the rows that depend on
    // the image go with it, as berth's keys say.
    let conn = db(&berth);
    conn.pragma_update(None, "foreign_keys", "ON").expect("pragma");
    conn.execute("DELETE FROM images", []).expect("delete");
    drop(conn);
    let plain = finds(&berth, &[("container", "orphaned")]);
    assert!(plain.contains("its image") && plain.contains("is gone"), "{plain}");
    repairs(&berth, &[("container", "orphaned", "not_possible")]);
    berth.ok(&["rm", "orphaned"]);
    consistent(&berth);
}

#[test]
fn a_damaged_database_is_reported_and_nothing_is_repaired_while_it_is() {
    let Some(berth) = with_busybox() else { return };
    // The index of tags by image made to describe another column: its entries no longer match.
    db(&berth)
        .execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_master SET sql = 'CREATE INDEX tags_image ON tags(added_at)' WHERE name = 'tags_image';
             PRAGMA writable_schema = OFF;",
        )
        .expect("damage the index");
    let stray = berth.root().join("layers/stray");
    fs::create_dir_all(&stray).expect("mkdir");
    let plain = finds(&berth, &[("database", "berth.db"), ("layer", "layers/stray")]);
    assert!(plain.contains("integrity check fails"), "{plain}");
    let (status, list) = findings(&berth, &["--repair"]);
    assert_eq!(status, 1);
    let damage = finding(&list, "database", "berth.db").expect("database finding");
    assert_eq!(damage["repair"]["outcome"], "not_possible");
    let layer = finding(&list, "layer", "layers/stray").expect("layer finding");
    assert!(layer["repair"].is_null(), "repaired while berth.db is damaged: {layer}");
    assert!(stray.exists());
}

#[test]
fn format_other_than_json_is_refused() {
    let berth = Berth::new();
    let out = berth.run(&["system", "check", "--format", "{{.Findings}}"]);
    assert_ne!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("json"));
}

#[test]
fn a_root_that_cannot_be_opened_exits_125() {
    let berth = Berth::new();
    fs::write(berth.root(), b"not a directory").expect("write");
    let out = berth.run(&["system", "check"]);
    assert_eq!(code(&out), 125);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not usable"));
}
