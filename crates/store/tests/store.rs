use std::fs;

use berth_store::{meta, Digest, Store};

fn count(dir: &std::path::Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

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

#[test]
fn blob_roundtrip_and_mismatch_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let ingest = store.ingest().unwrap();
    let wrong = Digest::of(b"other");
    let err = ingest.write_blob(&mut &b"hello"[..], Some(&wrong), "").unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    let good = ingest.write_blob_bytes(b"hello", "text").unwrap();
    assert_eq!(good, Digest::of(b"hello"));
    store
        .commit(&ingest, &[], |tx| {
            meta::insert_image(tx, &image(&good, vec![])).map(|_| ())
        })
        .unwrap();
    drop(ingest);
    assert_eq!(store.read_blob(&good).unwrap(), b"hello");
    assert_eq!(count(&root.path().join("blobs/sha256")), 1);
    assert_eq!(count(&root.path().join("ingest")), 0);
}

#[test]
fn failed_record_takes_back_moved_files() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let ingest = store.ingest().unwrap();
    ingest.write_blob_bytes(b"config", "").unwrap();
    let dir = ingest.new_dir().unwrap();
    fs::create_dir(dir.join("diff")).unwrap();
    ingest.stage_layer(Digest::of(b"layer"), dir);
    let result: Result<(), berth_store::Error> =
        store.commit(&ingest, &[], |_| Err(berth_store::Error::BlobNotFound("x".into())));
    assert!(result.is_err());
    assert_eq!(count(&root.path().join("blobs/sha256")), 0);
    assert_eq!(count(&root.path().join("layers")), 0);
}

#[test]
fn garbage_collection_keeps_what_images_use() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
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
    assert_eq!(store.collect_garbage().unwrap().bytes, 0);
    assert!(store.layer_diff(&chain).is_dir());
    // required layers that are present pass the check
    let again = store.ingest().unwrap();
    store
        .commit(
            &again,
            std::slice::from_ref(&chain),
            |_| Ok::<_, berth_store::Error>(()),
        )
        .unwrap();

    store.write(|tx| meta::delete_image(tx, &config)).unwrap();
    let collected = store.collect_garbage().unwrap();
    assert!(collected.bytes > 0);
    assert_eq!(collected.layers, vec![chain.clone()]);
    assert!(!store.layer_path(&chain).exists());
    assert!(!store.has_blob(&blob));
    assert!(!store.has_blob(&config));
    let err = store
        .commit(
            &again,
            std::slice::from_ref(&chain),
            |_| Ok::<_, berth_store::Error>(()),
        )
        .unwrap_err();
    assert!(matches!(err, berth_store::Error::LayerGone(_)));
}

#[test]
fn stale_ingest_sessions_are_cleared() {
    let root = tempfile::tempdir().unwrap();
    Store::open(root.path()).unwrap();
    let stale = root.path().join("ingest/deadbeef");
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("blob-0"), b"partial").unwrap();
    fs::write(root.path().join("ingest/deadbeef.lock"), b"").unwrap();
    let store = Store::open(root.path()).unwrap();
    let live = store.ingest().unwrap();
    assert!(!stale.exists());
    // a live session is left alone by another opener
    let _other = Store::open(root.path()).unwrap();
    assert!(live.new_dir().unwrap().exists());
}

#[test]
fn parallel_writers_share_one_root() {
    let root = tempfile::tempdir().unwrap();
    Store::open(root.path()).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let path = root.path().to_path_buf();
            std::thread::spawn(move || {
                let store = Store::open(&path).unwrap();
                let ingest = store.ingest().unwrap();
                let id = ingest
                    .write_blob_bytes(format!("config {}", i % 3).as_bytes(), "")
                    .unwrap();
                store
                    .commit(&ingest, &[], |tx| {
                        meta::insert_image(tx, &image(&id, vec![]))?;
                        meta::set_tag(tx, &format!("t:{i}"), &id, "now")?;
                        Ok::<_, berth_store::Error>(())
                    })
                    .unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = Store::open(root.path()).unwrap();
    let images = meta::list_images(&store.db()).unwrap();
    assert_eq!(images.len(), 3);
    assert_eq!(images.iter().map(|i| i.tags.len()).sum::<usize>(), 8);
}
