//! The client against a real registry: Debian's docker-registry (CNCF distribution 2.8),
//! no authentication.

mod common;

use berth_registry::{BlobRef, BlobSource, Client, Error, ErrorKind, PushOutcome, MANIFEST_ACCEPT};
use berth_store::Digest;
use common::*;

fn registry() -> (Registry, Client) {
    let r = Registry::start(RegistryConfig::default());
    let c = Client::new(&r.host(), options()).unwrap();
    (r, c)
}

#[test]
fn push_and_pull_back_byte_identical() {
    require!(REGISTRY_BIN, "docker-registry");
    let (reg, client) = registry();
    client.ping().unwrap();
    // Loopback: HTTPS was tried, the registry speaks plain HTTP.
    assert_eq!(client.base_url().unwrap(), format!("http://{}", reg.host()));
    let img = TestImage::new(1, 100_000);
    let repo = "team/app";

    assert!(!client.blob_exists(repo, &img.layer_digest()).unwrap());
    let mut seen = Vec::new();
    let out = client
        .push_blob(
            repo,
            &img.config_digest(),
            img.config.len() as u64,
            BlobSource::Bytes(&img.config),
            &mut |n| seen.push(n),
        )
        .unwrap();
    assert_eq!(out, PushOutcome::Uploaded);
    assert_eq!(seen.last(), Some(&(img.config.len() as u64)));

    // The layer goes up in chunks, from a file.
    let dir = tempfile::tempdir().unwrap();
    let layer_file = write_file(dir.path(), "layer", &img.layer);
    let mut chunks = Vec::new();
    let out = client
        .push_blob_chunked(
            repo,
            &img.layer_digest(),
            img.layer.len() as u64,
            BlobSource::File(&layer_file),
            30_000,
            &mut |n| chunks.push(n),
        )
        .unwrap();
    assert_eq!(out, PushOutcome::Uploaded);
    assert_eq!(chunks.first(), Some(&0));
    assert_eq!(chunks.last(), Some(&100_000));
    assert!(chunks.windows(2).all(|w| w[0] <= w[1]), "{chunks:?}");
    for boundary in [30_000, 60_000, 90_000] {
        assert!(chunks.contains(&boundary), "{chunks:?}");
    }
    assert!(client.blob_exists(repo, &img.layer_digest()).unwrap());

    // Present now: HEAD says so and nothing is uploaded.
    let out = client
        .push_blob(
            repo,
            &img.layer_digest(),
            img.layer.len() as u64,
            BlobSource::Bytes(&img.layer),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(out, PushOutcome::AlreadyPresent);

    let digest = client
        .put_manifest(repo, "v1", "application/vnd.oci.image.manifest.v1+json", &img.manifest)
        .unwrap();
    assert_eq!(digest, img.manifest_digest());

    let m = client.get_manifest(repo, "v1", MANIFEST_ACCEPT).unwrap();
    assert_eq!(m.bytes, img.manifest);
    assert_eq!(m.digest, img.manifest_digest());
    assert_eq!(m.media_type, "application/vnd.oci.image.manifest.v1+json");
    let by_digest = client.get_manifest(repo, &digest.to_string(), MANIFEST_ACCEPT).unwrap();
    assert_eq!(by_digest, m);
    let head = client.head_manifest(repo, "v1", MANIFEST_ACCEPT).unwrap().unwrap();
    assert_eq!(head.digest, Some(digest.clone()));
    assert_eq!(head.size, Some(img.manifest.len() as u64));
    assert_eq!(client.head_manifest(repo, "nope", MANIFEST_ACCEPT).unwrap(), None);

    for (digest, bytes) in [(img.config_digest(), &img.config), (img.layer_digest(), &img.layer)] {
        let dest = dir.path().join(format!("{}.partial", digest.hex()));
        let mut last = 0;
        let got = client
            .fetch_blob(
                repo,
                &BlobRef::new(digest.clone(), Some(bytes.len() as u64)),
                &dest,
                &mut |n| last = n,
            )
            .unwrap();
        assert_eq!(got.digest, digest);
        assert_eq!(got.resumed_from, 0);
        assert_eq!(last, bytes.len() as u64);
        assert_eq!(&std::fs::read(&dest).unwrap(), bytes);
    }
    // Without a known size too.
    let dest = dir.path().join("nosize");
    client
        .fetch_blob(repo, &BlobRef::new(img.config_digest(), None), &dest, &mut |_| {})
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), img.config);

    assert_eq!(client.tags(repo).unwrap(), vec!["v1".to_string()]);

    // A big monolithic push reports progress as the body goes out.
    let big = TestImage::new(20, 1 << 20);
    let mut seen = Vec::new();
    client
        .push_blob(
            repo,
            &big.layer_digest(),
            big.layer.len() as u64,
            BlobSource::Bytes(&big.layer),
            &mut |n| seen.push(n),
        )
        .unwrap();
    assert!(seen.len() > 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(seen.last(), Some(&(1 << 20)));
}

#[test]
fn parallel_downloads_share_one_client() {
    require!(REGISTRY_BIN, "docker-registry");
    let (_reg, client) = registry();
    let images: Vec<TestImage> = (0..4).map(|i| TestImage::new(10 + i, 50_000)).collect();
    for (i, img) in images.iter().enumerate() {
        img.push(&client, "par", &format!("t{i}"));
    }
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for img in &images {
            let client = &client;
            let dir = dir.path();
            s.spawn(move || {
                let dest = dir.join(img.layer_digest().hex());
                client
                    .fetch_blob(
                        "par",
                        &BlobRef::new(img.layer_digest(), Some(img.layer.len() as u64)),
                        &dest,
                        &mut |_| {},
                    )
                    .unwrap();
                assert_eq!(std::fs::read(&dest).unwrap(), img.layer);
            });
        }
    });
}

#[test]
fn resumes_a_partial_blob() {
    require!(REGISTRY_BIN, "docker-registry");
    let (_reg, client) = registry();
    let img = TestImage::new(2, 200_000);
    img.push(&client, "resume", "latest");
    let dir = tempfile::tempdir().unwrap();
    let blob = BlobRef::new(img.layer_digest(), Some(img.layer.len() as u64));

    let dest = write_file(dir.path(), "partial", &img.layer[..77_777]);
    let mut first = None;
    let got = client
        .fetch_blob("resume", &blob, &dest, &mut |n| {
            first.get_or_insert(n);
        })
        .unwrap();
    assert_eq!(got.resumed_from, 77_777);
    // Only the rest came over the network: the registry honoured the range.
    assert_eq!(got.transferred, 200_000 - 77_777);
    assert!(first.unwrap() > 77_777);
    assert_eq!(std::fs::read(&dest).unwrap(), img.layer);

    // Already complete: verified, nothing fetched.
    let got = client.fetch_blob("resume", &blob, &dest, &mut |_| {}).unwrap();
    assert_eq!(got.resumed_from, img.layer.len() as u64);
    assert_eq!(got.transferred, 0);

    // A partial file with wrong bytes: the end result cannot match, so it is refused
    // and removed (the next attempt starts clean).
    let mut bad = img.layer[..1000].to_vec();
    bad[10] ^= 0xff;
    let dest = write_file(dir.path(), "bad-partial", &bad);
    let e = client.fetch_blob("resume", &blob, &dest, &mut |_| {}).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    assert!(!dest.exists());
    client.fetch_blob("resume", &blob, &dest, &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), img.layer);

    // Longer than the blob: thrown away and fetched again.
    let mut long = img.layer.clone();
    long.extend_from_slice(b"trailing junk");
    let dest = write_file(dir.path(), "long", &long);
    client.fetch_blob("resume", &blob, &dest, &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), img.layer);
}

#[test]
fn corrupt_blob_in_storage_is_a_digest_mismatch() {
    require!(REGISTRY_BIN, "docker-registry");
    let (reg, client) = registry();
    let img = TestImage::new(3, 10_000);
    img.push(&client, "corrupt", "latest");
    let stored = reg.blob_path(&img.layer_digest());
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[5000] ^= 0x55;
    std::fs::write(&stored, &bytes).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("partial");
    let e = client
        .fetch_blob(
            "corrupt",
            &BlobRef::new(img.layer_digest(), Some(img.layer.len() as u64)),
            &dest,
            &mut |_| {},
        )
        .unwrap_err();
    match &e {
        Error::DigestMismatch { expected, actual, .. } => {
            assert_eq!(expected, &img.layer_digest());
            assert_eq!(actual, &Digest::of(&bytes));
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    assert!(!dest.exists(), "the bad partial file must be removed");

    // A size that does not match is caught as well.
    let e = client
        .fetch_blob(
            "corrupt",
            &BlobRef::new(img.config_digest(), Some(img.config.len() as u64 - 1)),
            &dest,
            &mut |_| {},
        )
        .unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e}");
    assert!(!dest.exists());
}

#[test]
fn unknown_things_are_not_found() {
    require!(REGISTRY_BIN, "docker-registry");
    let (_reg, client) = registry();
    let img = TestImage::new(4, 1000);
    img.push(&client, "known", "v1");

    let e = client.get_manifest("known", "v2", MANIFEST_ACCEPT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        matches!(&e, Error::NotFound { what: "manifest", reference, .. } if reference == "v2"),
        "{e:?}"
    );
    assert!(e.to_string().contains("manifest_unknown"), "{e}");

    let e = client.get_manifest("unknown/repo", "v1", MANIFEST_ACCEPT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let dir = tempfile::tempdir().unwrap();
    let e = client
        .fetch_blob(
            "known",
            &BlobRef::new(Digest::of(b"nothing"), None),
            &dir.path().join("x"),
            &mut |_| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(matches!(&e, Error::NotFound { what: "blob", .. }), "{e:?}");
    assert!(!dir.path().join("x").exists(), "no empty partial file left behind");

    // A manifest naming a blob the registry does not have is refused.
    let other = TestImage::new(5, 10);
    let e = client
        .put_manifest(
            "known",
            "broken",
            "application/vnd.oci.image.manifest.v1+json",
            &other.manifest,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

    let e = client.get_manifest("Bad Name", "v1", MANIFEST_ACCEPT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);

    // Search is not something distribution offers.
    let e = client.search("app", 10).unwrap_err();
    assert!(matches!(e, Error::NotSupported { .. }), "{e}");
}

#[test]
fn cross_repo_mount() {
    require!(REGISTRY_BIN, "docker-registry");
    let (_reg, client) = registry();
    let img = TestImage::new(6, 5000);
    img.push(&client, "source/app", "v1");
    assert!(!client.blob_exists("dest/app", &img.layer_digest()).unwrap());
    assert!(client
        .mount_blob("dest/app", &img.layer_digest(), "source/app")
        .unwrap());
    assert!(client.blob_exists("dest/app", &img.layer_digest()).unwrap());
    // Nothing to mount from a repository without the blob.
    let missing = Digest::of(b"not pushed anywhere");
    assert!(!client.mount_blob("dest/app", &missing, "source/app").unwrap());
    assert!(!client.blob_exists("dest/app", &missing).unwrap());
}

#[test]
fn tags_and_catalog_pagination() {
    require!(REGISTRY_BIN, "docker-registry");
    let (_reg, client) = registry();
    let img = TestImage::new(7, 100);
    for repo in ["a/one", "b/two", "c/three", "d/four", "e/five"] {
        img.push(&client, repo, "latest");
    }
    for tag in ["1.0", "1.1", "2.0", "latest", "edge"] {
        client
            .put_manifest(
                "a/one",
                tag,
                "application/vnd.oci.image.manifest.v1+json",
                &img.manifest,
            )
            .unwrap();
    }
    let mut tags = client.list_tags("a/one", Some(2)).unwrap();
    tags.sort();
    assert_eq!(tags, vec!["1.0", "1.1", "2.0", "edge", "latest"]);
    assert_eq!(client.tags("a/one").unwrap().len(), 5);

    // The catalog is paginated by distribution (Link headers): two at a time.
    let repos = client.catalog(Some(2)).unwrap();
    assert_eq!(repos, vec!["a/one", "b/two", "c/three", "d/four", "e/five"]);
    assert_eq!(client.catalog(None).unwrap().len(), 5);

    let e = client.tags("no/such").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn pushes_a_multi_platform_index_and_selects_from_it() {
    require!(REGISTRY_BIN, "docker-registry");
    let (_reg, client) = registry();
    let amd = TestImage::new(8, 300);
    let arm = TestImage::new(9, 300);
    amd.push(&client, "multi", "amd");
    arm.push(&client, "multi", "arm");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd.manifest_digest().to_string(),
             "size": amd.manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm.manifest_digest().to_string(),
             "size": arm.manifest.len(), "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
        ]
    }))
    .unwrap();
    client
        .put_manifest("multi", "latest", "application/vnd.oci.image.index.v1+json", &index)
        .unwrap();
    let got = client.get_manifest("multi", "latest", MANIFEST_ACCEPT).unwrap();
    assert_eq!(got.media_type, "application/vnd.oci.image.index.v1+json");
    assert_eq!(
        berth_registry::manifest_kind(&got.media_type),
        Some(berth_registry::ManifestKind::Index)
    );
    let want = berth_registry::platform::parse_platform("linux/arm/v7").unwrap();
    let d = berth_registry::select_manifest_from_bytes(&got.bytes, &want).unwrap();
    let m = client.get_manifest("multi", &d.digest, MANIFEST_ACCEPT).unwrap();
    assert_eq!(m.bytes, arm.manifest);
    let want = berth_registry::platform::parse_platform("linux/arm64").unwrap();
    let e = berth_registry::select_manifest_from_bytes(&got.bytes, &want).unwrap_err();
    assert!(e.to_string().contains("linux/amd64, linux/arm/v7"), "{e}");
}
