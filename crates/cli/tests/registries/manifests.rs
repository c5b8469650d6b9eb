//! Manifests berth did not write, set up with berth's own registry client: a multi-platform index,
//! and a foreign layer that comes from its URL.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::common::*;
use crate::{client, image_id, push, Registry};

/// A blob's bytes, fetched by the client through `path`.
fn blob(client: &berth_registry::Client, repo: &str, digest: &str, path: &Path) -> Vec<u8> {
    client
        .fetch_blob(
            repo,
            &berth_registry::BlobRef::new(digest.parse().expect("digest"), None),
            path,
            &mut |_| {},
        )
        .expect("blob");
    std::fs::read(path).expect("blob bytes")
}

#[test]
fn a_multi_platform_index_pulls_the_hosts_image() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    let repo = format!("{}/multi/busybox", registry.host());
    berth.ok(&["tag", "busybox", &format!("{repo}:amd64")]);
    let (_, amd64) = push(&berth, &format!("{repo}:amd64"));
    // An arm64 sibling: the same layer under a config that says arm64, pushed with berth's own client.
    let client = client(&registry.host());
    let amd64_manifest = client
        .get_manifest("multi/busybox", &amd64, berth_registry::MANIFEST_ACCEPT)
        .expect("manifest");
    let mut manifest: serde_json::Value = serde_json::from_slice(&amd64_manifest.bytes).expect("json");
    let config_digest = manifest["config"]["digest"].as_str().expect("config").to_string();
    let config_bytes = blob(&client, "multi/busybox", &config_digest, &berth.path("config.json"));
    let mut config: serde_json::Value = serde_json::from_slice(&config_bytes).expect("json");
    config["architecture"] = "arm64".into();
    let arm_config = serde_json::to_vec(&config).expect("json");
    let arm_config_digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&arm_config))
    );
    client
        .push_blob(
            "multi/busybox",
            &arm_config_digest.parse().expect("digest"),
            arm_config.len() as u64,
            berth_registry::BlobSource::Bytes(&arm_config),
            &mut |_| {},
        )
        .expect("push config");
    manifest["config"]["digest"] = arm_config_digest.clone().into();
    manifest["config"]["size"] = arm_config.len().into();
    let arm_manifest = serde_json::to_vec(&manifest).expect("json");
    let arm64 = client
        .put_manifest("multi/busybox", "arm64", &amd64_manifest.media_type, &arm_manifest)
        .expect("put arm64");
    let entry = |digest: &str, size: usize, arch: &str| {
        serde_json::json!({
            "mediaType": amd64_manifest.media_type,
            "digest": digest,
            "size": size,
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            entry(&arm64.to_string(), arm_manifest.len(), "arm64"),
            entry(&amd64, amd64_manifest.bytes.len(), "amd64"),
        ],
    });
    let index_bytes = serde_json::to_vec(&index).expect("json");
    let index_digest = client
        .put_manifest(
            "multi/busybox",
            "latest",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            &index_bytes,
        )
        .expect("put index");

    let id = image_id(&berth, "busybox");
    berth.ok(&["rmi", &format!("{repo}:amd64"), "busybox"]);
    let pulled = berth.ok(&["pull", &repo]);
    assert!(pulled.starts_with("Using default tag: latest\n"), "{pulled}");
    assert!(
        pulled.contains(&format!("Digest: {index_digest}")),
        "the index digest is recorded: {pulled}"
    );
    assert_eq!(image_id(&berth, &repo), id, "linux/amd64 was chosen");
    let arm = berth.ok(&["pull", "--platform", "linux/arm64", &format!("{repo}:latest")]);
    assert!(arm.contains("Status: Downloaded newer image"), "{arm}");
    assert_eq!(
        berth.ok(&["image", "inspect", "-f", "{{.Architecture}}", &repo]).trim(),
        "arm64"
    );
    let err = berth.fails(&["pull", "--platform", "linux/s390x", &repo]);
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "names what there is: {err}"
    );
}

#[test]
fn a_foreign_layer_comes_from_its_url() {
    let Some(berth) = with_busybox() else { return };
    // Distribution accepts manifests with foreign layers only from URLs it is told to allow.
    let allow = "validation:\n  manifests:\n    urls:\n      allow:\n        - ^http://127\\.0\\.0\\.1\n";
    let Some(registry) = Registry::start_with(None, allow) else {
        return;
    };
    let plain = format!("{}/plain/busybox:1", registry.host());
    berth.ok(&["tag", "busybox", &plain]);
    berth.ok(&["push", &plain]);
    let client = client(&registry.host());
    let fetched = client
        .get_manifest("plain/busybox", "1", berth_registry::MANIFEST_ACCEPT)
        .expect("manifest");
    let mut manifest: serde_json::Value = serde_json::from_slice(&fetched.bytes).expect("json");
    let layer_digest = manifest["layers"][0]["digest"].as_str().expect("digest").to_string();
    let layer = blob(&client, "plain/busybox", &layer_digest, &berth.path("layer.tgz"));
    // A tiny web server for the layer, as a vendor's download site would be.
    let (base, served) = serve_http(vec![("/layer.tgz", layer)]);
    let url = format!("{base}/layer.tgz");
    // The same image in a repository that lacks the layer blob, which the manifest says lives at the URL.
    manifest["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into();
    manifest["layers"][0]["urls"] = serde_json::json!([url]);
    let config_digest = manifest["config"]["digest"].as_str().expect("config").to_string();
    let config = blob(&client, "plain/busybox", &config_digest, &berth.path("config.json"));
    client
        .push_blob(
            "foreign/busybox",
            &config_digest.parse().expect("digest"),
            config.len() as u64,
            berth_registry::BlobSource::Bytes(&config),
            &mut |_| {},
        )
        .expect("config blob");
    let bytes = serde_json::to_vec(&manifest).expect("json");
    client
        .put_manifest("foreign/busybox", "1", &fetched.media_type, &bytes)
        .expect("foreign manifest");

    let id = image_id(&berth, "busybox");
    berth.ok(&["rmi", &plain, "busybox"]);
    let name = format!("{}/foreign/busybox:1", registry.host());
    berth.ok(&["pull", &name]);
    assert_eq!(served.load(Ordering::Relaxed), 1, "the layer came from its URL");
    assert_eq!(image_id(&berth, &name), id);
    assert_eq!(berth.ok(&["run", "--rm", &name, "echo", "foreign"]), "foreign\n");
    // Pushing it elsewhere leaves the foreign layer where it is, as Docker does.
    let copy = format!("{}/copy/busybox:1", registry.host());
    berth.ok(&["tag", &name, &copy]);
    let pushed = berth.ok(&["push", &copy]);
    assert!(!pushed.contains("Pushed"), "{pushed}");
}
