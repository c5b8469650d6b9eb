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
    let images = meta::list_images(&store.db().unwrap()).unwrap();
    assert_eq!(images.len(), 3);
    assert_eq!(images.iter().map(|i| i.tags.len()).sum::<usize>(), 8);
}

/// Counts the rows of the test's own table, writing one first.
fn add_row(store: &Store) -> Result<i64, berth_store::Error> {
    store.write(|tx| {
        tx.execute("CREATE TABLE IF NOT EXISTS forked (n INTEGER)", [])?;
        tx.execute("INSERT INTO forked VALUES (1)", [])?;
        Ok::<_, berth_store::Error>(tx.query_row("SELECT COUNT(*) FROM forked", [], |r| r.get(0))?)
    })
}

/// A child forked after `close_db` holds its own SQLite locks, so another process opening the database leaves
/// the child's view alone. With the connection open across the fork, the child believed it held the parent's
/// locks; once the parent let go, the next process to open the database truncated the shared-memory file the
/// child had mapped, and the child died of SIGBUS on its next query (as container monitors did).
#[test]
fn a_child_forked_after_close_db_holds_its_own_locks() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    assert_eq!(add_row(&store).unwrap(), 1);
    store.close_db();
    let (mut parent_end, mut child_end) = UnixStream::pair().unwrap();
    // SAFETY: the child only uses the store and the socket, then leaves through _exit. Under nextest this test
    // is alone in its process; libtest's other threads hold no SQLite or allocator locks across the fork.
    #[allow(unsafe_code)]
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let mut go = [0u8];
        let ok = add_row(&store).is_ok()
            && child_end.write_all(b"r").is_ok()
            && child_end.read_exact(&mut go).is_ok()
            && add_row(&store).is_ok();
        // SAFETY: ends the child without running the parent's destructors or the test harness.
        #[allow(unsafe_code)]
        unsafe {
            libc::_exit(if ok { 0 } else { 1 })
        };
    }
    let mut ready = [0u8];
    parent_end.read_exact(&mut ready).unwrap();
    // The parent as the next berth command: it lets go of whatever it had, then opens the database afresh.
    store.close_db();
    // The child, idle between queries, must still hold a lock on the shared memory: that lock is what tells
    // the next opener not to reset it.
    let shm = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(root.path().join("berth.db-shm"))
        .unwrap();
    // SAFETY: flock is plain data; all zeroes is a valid value.
    #[allow(unsafe_code)]
    let mut probe: libc::flock = unsafe { std::mem::zeroed() };
    probe.l_type = libc::F_WRLCK as _;
    probe.l_whence = libc::SEEK_SET as _;
    // SAFETY: F_GETLK on an fd we own, with a valid flock to fill in.
    #[allow(unsafe_code)]
    let got = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&shm), libc::F_GETLK, &mut probe) };
    assert_eq!(got, 0, "F_GETLK failed");
    assert_eq!(probe.l_pid, pid, "the forked child holds no lock on the shared memory");
    drop(shm);
    assert_eq!(add_row(&store).unwrap(), 3);
    parent_end.write_all(b"g").unwrap();
    let mut status = 0;
    // SAFETY: waits for our own child.
    #[allow(unsafe_code)]
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked child failed: wait status {status:#x} (signal {})",
        libc::WTERMSIG(status)
    );
    assert_eq!(add_row(&store).unwrap(), 5);
}
