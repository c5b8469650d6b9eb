//! Interoperability with real clients: skopeo (containers/image) pushes to
//! and pulls from the server, over HTTP, with basic auth and over HTTPS; and
//! images move between this server and Debian's docker-registry (Docker's
//! reference implementation).

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// An OCI image layout with one image tagged `tag`: a small tar layer, its
/// config and manifest. Returns the manifest's digest.
fn make_layout(dir: &Path, tag: &str, content: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let write_blob = |bytes: &[u8]| -> String {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
        digest
    };
    let mut layer = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    layer.append_data(&mut header, "hello.txt", content.as_bytes()).unwrap();
    let tar = layer.into_inner().unwrap();
    // Compressed, as skopeo would otherwise compress it on push and change
    // the manifest.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let layer = gz.finish().unwrap();
    let layer_digest = write_blob(&layer);
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]},
    })
    .to_string();
    let config_digest = write_blob(config.as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string();
    let manifest_digest = write_blob(manifest.as_bytes());
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest_digest
}

/// The digest of the manifest `tag` names in an OCI layout.
fn layout_digest(dir: &Path, tag: &str) -> String {
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no {tag} in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs skopeo with no stored credentials and no policy file needed.
fn skopeo(auth_dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .env("REGISTRY_AUTH_FILE", auth_dir.join("auth.json"))
        .env("DOCKER_CONFIG", auth_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "skopeo {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn skopeo_push_pull_inspect_list_tags() {
    if !have("skopeo") {
        return;
    }
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let digest = make_layout(&src, "v1", "hello from berth\n");
    let addr = reg.addr();
    let image = format!("docker://{addr}/test/img:v1");

    ok(skopeo(
        work.path(),
        &[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", path(&src)),
            &image,
        ],
    ));

    let inspect: Value =
        serde_json::from_str(&ok(skopeo(work.path(), &["inspect", "--tls-verify=false", &image]))).unwrap();
    assert_eq!(inspect["Digest"], digest.as_str());
    assert_eq!(inspect["Architecture"], "amd64");
    let raw = ok(skopeo(work.path(), &["inspect", "--raw", "--tls-verify=false", &image]));
    assert_eq!(sha256(raw.as_bytes()), digest);

    // Pulled back, the manifest is the same.
    let dst = work.path().join("dst");
    ok(skopeo(
        work.path(),
        &[
            "copy",
            "--src-tls-verify=false",
            &image,
            &format!("oci:{}:v1", path(&dst)),
        ],
    ));
    assert_eq!(layout_digest(&dst, "v1"), digest);

    // A second tag, and a copy to another repository (cross-repo mount).
    ok(skopeo(
        work.path(),
        &[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &image,
            &format!("docker://{addr}/test/img:v2"),
        ],
    ));
    ok(skopeo(
        work.path(),
        &[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &image,
            &format!("docker://{addr}/other/img:latest"),
        ],
    ));
    let tags: Value = serde_json::from_str(&ok(skopeo(
        work.path(),
        &["list-tags", "--tls-verify=false", &format!("docker://{addr}/test/img")],
    )))
    .unwrap();
    assert_eq!(tags["Tags"], json!(["v1", "v2"]));
    let other: Value = serde_json::from_str(&ok(skopeo(
        work.path(),
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{addr}/other/img:latest"),
        ],
    )))
    .unwrap();
    assert_eq!(other["Digest"], digest.as_str());

    // Converted to Docker schema 2 on the way in.
    ok(skopeo(
        work.path(),
        &[
            "copy",
            "--format=v2s2",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", path(&src)),
            &format!("docker://{addr}/test/docker:v1"),
        ],
    ));
    let r = call(
        reg.req("GET", "/v2/test/docker/manifests/v1")
            .set("Accept", "application/vnd.docker.distribution.manifest.v2+json"),
    );
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );

    // And deleted through skopeo.
    ok(skopeo(
        work.path(),
        &[
            "delete",
            "--tls-verify=false",
            &format!("docker://{addr}/test/docker:v1"),
        ],
    ));
    assert_eq!(call(reg.req("GET", "/v2/test/docker/manifests/v1")).status(), 404);
}

#[test]
fn skopeo_with_htpasswd() {
    if !have("skopeo") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let htpasswd = work.path().join("htpasswd");
    // The real htpasswd tool when it is there, else the same format by hand.
    let made = Command::new("htpasswd")
        .args(["-Bbc", path(&htpasswd), "alice", "s3cret"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !made {
        eprintln!("htpasswd (apache2-utils) missing: writing the bcrypt entry with the bcrypt crate");
        let hash = bcrypt::hash("s3cret", 5).unwrap().replacen("$2b$", "$2y$", 1);
        std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    }
    let reg = Registry::start_with(|c| c.htpasswd = Some(htpasswd));
    let src = work.path().join("src");
    let digest = make_layout(&src, "v1", "secret layer\n");
    let image = format!("docker://{}/private/img:v1", reg.addr());
    let from = format!("oci:{}:v1", path(&src));

    for creds in [None, Some("alice:wrong"), Some("bob:s3cret")] {
        let mut args = vec!["copy", "--dest-tls-verify=false"];
        if let Some(c) = creds {
            args.extend(["--dest-creds", c]);
        }
        args.extend([from.as_str(), image.as_str()]);
        assert!(!skopeo(work.path(), &args).status.success(), "{creds:?} pushed");
    }
    ok(skopeo(
        work.path(),
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:s3cret",
            &from,
            &image,
        ],
    ));
    let inspect: Value = serde_json::from_str(&ok(skopeo(
        work.path(),
        &["inspect", "--tls-verify=false", "--creds", "alice:s3cret", &image],
    )))
    .unwrap();
    assert_eq!(inspect["Digest"], digest.as_str());
    assert!(!skopeo(
        work.path(),
        &["inspect", "--tls-verify=false", "--creds", "alice:nope", &image]
    )
    .status
    .success());
    let dst = work.path().join("dst");
    ok(skopeo(
        work.path(),
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            "alice:s3cret",
            &image,
            &format!("oci:{}:v1", path(&dst)),
        ],
    ));
    assert_eq!(layout_digest(&dst, "v1"), digest);
}

#[test]
fn skopeo_over_tls() {
    if !have("skopeo") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = work.path().join("cert.pem");
    let key = work.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    // containers/image trusts the *.crt files of a cert dir as CAs.
    let certs = work.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), certified.cert.pem()).unwrap();

    let reg = Registry::start_with(|c| c.tls = Some((cert.clone(), key.clone())));
    let src = work.path().join("src");
    let digest = make_layout(&src, "v1", "over tls\n");
    let image = format!("docker://{}/tls/img:v1", reg.addr());
    let from = format!("oci:{}:v1", path(&src));

    // Verification is on by default: without the CA the push fails.
    assert!(!skopeo(work.path(), &["copy", &from, &image]).status.success());
    ok(skopeo(
        work.path(),
        &["copy", "--dest-cert-dir", path(&certs), &from, &image],
    ));
    let dst = work.path().join("dst");
    ok(skopeo(
        work.path(),
        &[
            "copy",
            "--src-cert-dir",
            path(&certs),
            &image,
            &format!("oci:{}:v1", path(&dst)),
        ],
    ));
    assert_eq!(layout_digest(&dst, "v1"), digest);
    // tls-verify=false still speaks TLS, unverified.
    let inspect: Value =
        serde_json::from_str(&ok(skopeo(work.path(), &["inspect", "--tls-verify=false", &image]))).unwrap();
    assert_eq!(inspect["Digest"], digest.as_str());
}

/// Debian's docker-registry on a free loopback port, killed on drop.
struct DockerRegistry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl DockerRegistry {
    fn start() -> DockerRegistry {
        let dir = tempfile::tempdir().unwrap();
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", path(&config)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while ureq::get(&format!("http://{addr}/v2/")).call().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "docker-registry did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        DockerRegistry { child, addr, _dir: dir }
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn images_move_between_this_server_and_docker_registry() {
    if !have("skopeo") || !have("docker-registry") {
        return;
    }
    let reg = Registry::start();
    let docker = DockerRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let digest = make_layout(&src, "v1", "both ways\n");
    let ours = format!("docker://{}/x/img:v1", reg.addr());
    let theirs = format!("docker://{}/x/img:v1", docker.addr);
    let back = format!("docker://{}/y/img:v1", reg.addr());
    ok(skopeo(
        work.path(),
        &[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", path(&src)),
            &ours,
        ],
    ));
    for (from, to) in [(&ours, &theirs), (&theirs, &back)] {
        ok(skopeo(
            work.path(),
            &["copy", "--src-tls-verify=false", "--dest-tls-verify=false", from, to],
        ));
    }
    for image in [&theirs, &back] {
        let inspect: Value =
            serde_json::from_str(&ok(skopeo(work.path(), &["inspect", "--tls-verify=false", image]))).unwrap();
        assert_eq!(inspect["Digest"], digest.as_str(), "{image}");
    }
    // Same answers to the same questions.
    let blob = reg_blob_digest(&src);
    for base in [format!("http://{}", reg.addr()), format!("http://{}", docker.addr)] {
        let r = call(ureq::head(&format!("{base}/v2/x/img/blobs/{blob}")));
        assert_eq!(r.status(), 200, "{base}");
        assert_eq!(r.header("Docker-Content-Digest"), Some(blob.as_str()));
        let r = call(ureq::get(&format!("{base}/v2/x/img/blobs/{}", sha256(b"none"))));
        assert_eq!((r.status(), error_code(r)), (404, "BLOB_UNKNOWN".to_string()), "{base}");
        let r = call(ureq::get(&format!("{base}/v2/x/img/manifests/nope")));
        assert_eq!(
            (r.status(), error_code(r)),
            (404, "MANIFEST_UNKNOWN".to_string()),
            "{base}"
        );
    }
}

/// The config blob's digest of the layout's only image.
fn reg_blob_digest(layout: &Path) -> String {
    let digest = layout_digest(layout, "v1");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            PathBuf::from(layout)
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    manifest["config"]["digest"].as_str().unwrap().to_string()
}
