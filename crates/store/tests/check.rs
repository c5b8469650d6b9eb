//! The store's side of `system check`: every view leaves the root as it was, and each repair does only
//! what it says.

use std::fs;
use std::path::Path;

use berth_store::check::{Area, BlobState, ImageGap};
use berth_store::rusqlite::Connection;
use berth_store::{meta, Digest, FileLock, Store};

fn image(id: &Digest, layers: Vec<Digest>) -> meta::Image {
    meta::Image {
        id: id.clone(),
        size: 1,
        created: None,
        parent: None,
        manifest_digest: None,
        added_at: "now".into(),
        layers,
        tags: vec![],
        repo_digests: vec![],
    }
}

/// A store with one image: config blob, one layer (blob + unpacked dir), tagged x:latest.
fn one_image(root: &Path) -> (Store, Digest, Digest, Digest) {
    let store = Store::open(root).unwrap();
    let ingest = store.ingest().unwrap();
    let blob = ingest.write_blob_bytes(b"layer-blob", "").unwrap();
    let config = ingest.write_blob_bytes(b"config", "").unwrap();
    let chain = Digest::of(b"chain");
    let dir = ingest.new_dir().unwrap();
    fs::create_dir(dir.join("diff")).unwrap();
    ingest.stage_layer(chain.clone(), dir);
    store
        .commit(&ingest, &[], |tx| {
            meta::insert_layer(
                tx,
                &meta::Layer {
                    chain_id: chain.clone(),
                    diff_id: chain.clone(),
                    parent: None,
                    blob_digest: blob.clone(),
                    blob_media_type: String::new(),
                    blob_size: 10,
                    diff_size: 10,
                    size: 0,
                },
            )?;
            meta::insert_image(tx, &image(&config, vec![chain.clone()]))?;
            meta::set_tag(tx, "docker.io/library/x:latest", &config, "now")?;
            Ok::<_, berth_store::Error>(())
        })
        .unwrap();
    drop(ingest);
    (store, config, chain, blob)
}

/// A connection without berth's settings: foreign keys off, as a hand edit with sqlite3 would be.
fn raw(root: &Path) -> Connection {
    let conn = Connection::open(root.join("berth.db")).unwrap();
    // The bundled SQLite enforces foreign keys by default; the sqlite3 tool does not.
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    conn
}

#[test]
fn a_sound_store_has_nothing_to_report() {
    let root = tempfile::tempdir().unwrap();
    let (store, config, _, blob) = one_image(root.path());
    assert!(store.integrity_problems().unwrap().is_empty());
    assert!(store.key_violations().unwrap().is_empty());
    let _lock = store.lock_as_is().unwrap();
    assert!(store.pending_work().unwrap().is_empty());
    assert!(store.orphans().unwrap().is_empty());
    assert!(store.image_gaps().unwrap().is_empty());
    for record in store.blob_records().unwrap() {
        let digest: Digest = record.digest.parse().unwrap();
        assert_eq!(store.verify_blob(&digest, record.size), BlobState::Intact);
    }
    assert_eq!(
        store.blob_users(&config.to_string()).unwrap().configs_of,
        [config.to_string()]
    );
    assert_eq!(store.blob_users(&blob.to_string()).unwrap().layers.len(), 1);
    assert!(store.stale_ingest().is_empty());
}

#[test]
fn damaged_blobs_are_told_apart() {
    let root = tempfile::tempdir().unwrap();
    let (store, config, _, blob) = one_image(root.path());
    fs::write(store.blob_path(&config), b"confiG").unwrap();
    assert!(matches!(store.verify_blob(&config, 6), BlobState::Content { .. }));
    fs::write(store.blob_path(&config), b"conf").unwrap();
    assert_eq!(store.verify_blob(&config, 6), BlobState::Size { actual: 4 });
    fs::remove_file(store.blob_path(&blob)).unwrap();
    assert_eq!(store.verify_blob(&blob, 10), BlobState::Missing);
    // A blob something needs is never forgotten.
    let _lock = store.lock_as_is().unwrap();
    assert!(!store.forget_blob(&blob.to_string()).unwrap());
    assert!(store.blob_record(&blob.to_string()).unwrap().is_some());
}

#[test]
fn orphans_are_listed_without_removal_and_removed_on_request() {
    let root = tempfile::tempdir().unwrap();
    let (store, _, _, _) = one_image(root.path());
    let stray = root.path().join("blobs/sha256").join(Digest::of(b"stray").hex());
    fs::write(&stray, b"stray").unwrap();
    let stray_layer = root.path().join("layers/not-a-layer");
    fs::create_dir_all(stray_layer.join("diff")).unwrap();
    let _lock = store.lock_as_is().unwrap();
    let orphans = store.orphans().unwrap();
    assert_eq!(orphans.len(), 2, "{orphans:?}");
    assert!(stray.exists() && stray_layer.exists(), "listing removes nothing");
    assert_eq!(orphans[0].area, Area::Blobs);
    assert_eq!(orphans[1].area, Area::Layers);
    for orphan in &orphans {
        assert!(store.remove_orphan(orphan).unwrap());
    }
    assert!(!stray.exists() && !stray_layer.exists());
    assert!(store.orphans().unwrap().is_empty());
}

#[test]
fn pending_work_is_reported_apart_from_orphans_and_finished() {
    let root = tempfile::tempdir().unwrap();
    let (store, config, chain, _) = one_image(root.path());
    // What an rmi killed between its deletion and its collection leaves.
    store.write(|tx| meta::delete_image(tx, &config)).unwrap();
    // And a path a killed commit had renamed in before its rows.
    let half = Digest::of(b"half");
    fs::write(store.blob_path(&half), b"half").unwrap();
    raw(root.path())
        .execute(
            "INSERT INTO pending (kind, digest) VALUES ('blob', ?1)",
            [half.to_string()],
        )
        .unwrap();
    drop(store);
    let store = Store::open_as_is(root.path()).unwrap();
    let _lock = store.lock_as_is().unwrap();
    let work = store.pending_work().unwrap();
    assert!(work.collection_due);
    assert_eq!(work.paths, [("blob".to_string(), half.to_string())]);
    assert!(store.orphans().unwrap().is_empty(), "pending paths are not orphans too");
    assert!(store.layer_path(&chain).exists(), "open_as_is collected nothing");
    store.finish_pending().unwrap();
    assert!(store.pending_work().unwrap().is_empty());
    assert!(!store.layer_path(&chain).exists());
    assert!(!store.blob_path(&half).exists());
    assert!(store.blob_records().unwrap().is_empty());
}

#[test]
fn dangling_tags_are_key_violations_that_cascade() {
    let root = tempfile::tempdir().unwrap();
    let (store, _, _, _) = one_image(root.path());
    let gone = Digest::of(b"gone");
    raw(root.path())
        .execute(
            "INSERT INTO tags (name, image_id, added_at) VALUES ('docker.io/library/y:1', ?1, 'now')",
            [gone.to_string()],
        )
        .unwrap();
    let violations = store.key_violations().unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    let v = &violations[0];
    assert_eq!(
        (v.table.as_str(), v.key.as_str(), v.parent.as_str()),
        ("tags", "docker.io/library/y:1", "images")
    );
    assert_eq!(v.missing, gone.to_string());
    assert!(v.cascades);
    assert!(store.delete_violating_row(v).unwrap());
    assert!(!store.delete_violating_row(v).unwrap(), "only once");
    assert!(store.key_violations().unwrap().is_empty());
    assert!(meta::resolve_tag(&store.db().unwrap(), "docker.io/library/x:latest")
        .unwrap()
        .is_some());
}

#[test]
fn images_naming_rows_that_are_gone_show_as_gaps() {
    let root = tempfile::tempdir().unwrap();
    let (store, config, chain, _) = one_image(root.path());
    let db = raw(root.path());
    db.execute("DELETE FROM layers WHERE chain_id = ?1", [chain.to_string()])
        .unwrap();
    db.execute("DELETE FROM blobs WHERE digest = ?1", [config.to_string()])
        .unwrap();
    let gaps = store.image_gaps().unwrap();
    assert_eq!(
        gaps,
        [
            (config.to_string(), ImageGap::Config),
            (config.to_string(), ImageGap::Layer(chain.to_string()))
        ]
    );
}

#[test]
fn unused_layers_are_forgotten_and_used_ones_kept() {
    let root = tempfile::tempdir().unwrap();
    let (store, config, chain, _) = one_image(root.path());
    let _lock = store.lock_as_is().unwrap();
    assert!(!store.forget_layer(&chain.to_string()).unwrap());
    let records = store.layer_records().unwrap();
    assert_eq!(records[0].images, [config.to_string()]);
    assert!(records[0].blob_recorded);
    raw(root.path())
        .execute_batch("DELETE FROM image_layers; DELETE FROM images")
        .unwrap();
    assert!(store.forget_layer(&chain.to_string()).unwrap());
    assert!(!store.layer_path(&chain).exists());
    assert!(store.layer_records().unwrap().is_empty());
}

#[test]
fn stale_ingest_sessions_are_listed_and_live_ones_left_alone() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let live = store.ingest().unwrap();
    let dead = root.path().join("ingest/0123456789abcdef");
    fs::create_dir(&dead).unwrap();
    fs::write(dead.join("blob-0"), b"partial").unwrap();
    fs::write(root.path().join("ingest/0123456789abcdef.lock"), b"").unwrap();
    let lockless = root.path().join("ingest/fedcba9876543210");
    fs::create_dir(&lockless).unwrap();
    assert_eq!(store.stale_ingest(), ["0123456789abcdef", "fedcba9876543210"]);
    assert!(dead.exists(), "listing removes nothing");
    for id in store.stale_ingest() {
        assert!(store.remove_stale_ingest(&id).unwrap());
    }
    assert!(!dead.exists() && !lockless.exists());
    assert!(store.stale_ingest().is_empty());
    assert!(live.new_dir().unwrap().exists(), "the live session is whole");
    assert!(!FileLock::is_held(&root.path().join("ingest/0123456789abcdef.lock")));
}

#[test]
fn a_damaged_index_fails_the_integrity_check() {
    let root = tempfile::tempdir().unwrap();
    let (store, _, _, _) = one_image(root.path());
    drop(store);
    // Point the index of tags by image at another column: its entries no longer match the table.
    let db = raw(root.path());
    db.execute_batch(
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = 'CREATE INDEX tags_image ON tags(added_at)' WHERE name = 'tags_image';
         PRAGMA writable_schema = OFF;",
    )
    .unwrap();
    drop(db);
    let store = Store::open_as_is(root.path()).unwrap();
    let problems = store.integrity_problems().unwrap();
    assert!(!problems.is_empty());
    assert!(problems.iter().any(|p| p.contains("tags_image")), "{problems:?}");
}
