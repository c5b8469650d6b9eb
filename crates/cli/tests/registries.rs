//! Registries end to end: berth against Debian's real `docker-registry` (the CNCF distribution
//! registry) on loopback, with skopeo as a second client, htpasswd auth, a multi-platform index, a
//! corrupt blob, and a pull killed half-way behind a small proxy that can hold one blob back.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const REGISTRY: &str = "/usr/bin/docker-registry";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A docker-registry process on a loopback port, storage in a temp dir; killed on drop.
struct Registry {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Registry {
    /// None (the test skips) without docker-registry. `htpasswd`: a user and password it requires.
    fn start(htpasswd: Option<(&str, &str)>) -> Option<Registry> {
        Registry::start_with(htpasswd, "")
    }

    /// `extra`: more top-level YAML for the registry's config.
    fn start_with(htpasswd: Option<(&str, &str)>, extra: &str) -> Option<Registry> {
        if !Path::new(REGISTRY).exists() {
            eprintln!("skipping: {REGISTRY} is not installed (apt-get install docker-registry)");
            return None;
        }
        let dir = tempfile::tempdir().expect("registry dir");
        let port = free_port();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = htpasswd {
            if !need("htpasswd") {
                return None;
            }
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("htpasswd file");
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                file.display()
            ));
        }
        yaml.push_str(extra);
        let config = dir.path().join("config.yml");
        std::fs::write(&config, yaml).expect("config");
        let log = std::fs::File::create(dir.path().join("log")).expect("log");
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(registry)
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Pushes `name` (which has a tag); returns berth's output and the manifest digest it reported.
fn push(berth: &Berth, name: &str) -> (String, String) {
    let out = berth.ok(&["push", name]);
    let tag = name.rsplit_once(':').map_or("latest", |(_, t)| t);
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{tag}: digest: ")))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest line for {tag} in {out}"))
        .to_string();
    (out, digest)
}

/// The manifest digest skopeo sees for `name`.
fn skopeo_digest(name: &str) -> String {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &format!("docker://{name}"),
        ])
        .output()
        .expect("skopeo inspect");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// berth's own registry client, for setting up what berth's commands then meet.
fn client(host: &str) -> berth_registry::Client {
    berth_registry::Client::new(host, berth_registry::ClientOptions::default()).expect("client")
}

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

fn image_id(berth: &Berth, name: &str) -> String {
    berth
        .ok(&["image", "inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

#[test]
fn push_and_pull_keep_the_image_and_run_pulls_what_is_missing() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    let name = format!("{}/team/busybox:1.0", registry.host());
    berth.ok(&["tag", "busybox", &name]);
    let id = image_id(&berth, "busybox");
    let (pushed, digest) = push(&berth, &name);
    assert!(
        pushed.contains(&format!(
            "The push refers to repository [{}/team/busybox]",
            registry.host()
        )),
        "{pushed}"
    );
    assert!(pushed.contains(": Pushed"), "{pushed}");
    // A plain tar layer (import made it) goes out gzipped, as Docker pushes it.
    let sent = client(&registry.host())
        .get_manifest("team/busybox", "1.0", berth_registry::MANIFEST_ACCEPT)
        .expect("manifest");
    let sent: serde_json::Value = serde_json::from_slice(&sent.bytes).expect("json");
    assert_eq!(
        sent["layers"][0]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "{sent}"
    );
    // Pushing again sends nothing.
    assert!(berth.ok(&["push", &name]).contains("Layer already exists"));

    berth.ok(&["rmi", &name, "busybox"]);
    let pulled = berth.ok(&["pull", &name]);
    assert!(pulled.contains("1.0: Pulling from team/busybox"), "{pulled}");
    assert!(pulled.contains("Pull complete"), "{pulled}");
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
    assert!(pulled.ends_with(&format!("{name}\n")), "{pulled}");
    assert_eq!(image_id(&berth, &name), id, "the same image comes back");
    let digests = berth.ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &name]);
    assert!(digests.contains(&digest), "{digests}");
    assert!(berth.ok(&["pull", &name]).contains("Status: Image is up to date"));
    assert_eq!(berth.ok(&["run", "--rm", &name, "echo", "pulled"]), "pulled\n");
    berth.assert_consistent();

    // By digest, and `-q`.
    berth.ok(&["rmi", &name]);
    let by_digest = format!("{}/team/busybox@{digest}", registry.host());
    assert_eq!(berth.ok(&["pull", "-q", &by_digest]).trim(), by_digest);
    assert_eq!(image_id(&berth, &by_digest), id);

    // `run` pulls a missing image, with Docker's lines on stderr and the container's output alone on stdout.
    berth.ok(&["rmi", &by_digest]);
    let out = berth.run(&["run", "--rm", &name, "echo", "hello"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert!(
        stderr(&out).contains(&format!("Unable to find image '{name}' locally")),
        "{}",
        stderr(&out)
    );
    // --pull never refuses, --pull always pulls again.
    berth.ok(&["rmi", &name]);
    let never = berth.run(&["run", "--rm", "--pull", "never", &name, "true"]);
    assert_eq!(code(&never), 125);
    let always = berth.run(&["run", "--rm", "--pull", "always", &name, "true"]);
    assert_eq!(code(&always), 0, "{}", stderr(&always));
    // A missing repository: exit 125 from run, 1 from pull, nothing stored.
    let before = berth.store_state();
    let missing = format!("{}/team/nothere:1", registry.host());
    assert_eq!(code(&berth.run(&["run", "--rm", &missing, "true"])), 125);
    let err = berth.fails(&["pull", &missing]);
    assert!(err.contains("not found") || err.contains("unknown"), "{err}");
    assert_eq!(berth.store_state(), before);
}

#[test]
fn skopeo_and_berth_read_each_others_pushes() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    if !need("skopeo") {
        return;
    }
    // skopeo pushes an archive berth saved; berth pulls and runs it.
    let archive = berth.path("busybox.tar");
    berth.ok(&["save", "-o", archive.to_str().expect("path"), "busybox"]);
    let id = image_id(&berth, "busybox");
    let dest = format!("docker://{}/skopeo/busybox:s", registry.host());
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            &format!("docker-archive:{}", archive.display()),
            &dest,
        ])
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "{}", stderr(&out));
    let name = format!("{}/skopeo/busybox:s", registry.host());
    berth.ok(&["pull", &name]);
    assert_eq!(image_id(&berth, &name), id);
    assert_eq!(
        berth.ok(&["run", "--rm", &name, "echo", "from skopeo"]),
        "from skopeo\n"
    );

    // berth pushes; skopeo sees the same manifest digest berth reported.
    let mine = format!("{}/berth/busybox:b", registry.host());
    berth.ok(&["tag", "busybox", &mine]);
    let (_, digest) = push(&berth, &mine);
    assert_eq!(skopeo_digest(&mine), digest);
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
fn htpasswd_login_push_pull_logout() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(Some(("alice", "s3cret"))) else {
        return;
    };
    let name = format!("{}/private/busybox:1", registry.host());
    berth.ok(&["tag", "busybox", &name]);
    // No credentials: a clear refusal, nothing changes.
    let before = berth.store_state();
    let err = berth.fails(&["pull", &name]);
    assert!(err.to_lowercase().contains("auth") || err.contains("401"), "{err}");
    assert!(berth.fails(&["push", &name]).to_lowercase().contains("auth"));
    assert_eq!(berth.store_state(), before);
    // A wrong password is refused and stored nowhere.
    let wrong = berth.run_stdin(
        &["login", "-u", "alice", "--password-stdin", &registry.host()],
        b"nope\n",
    );
    assert_eq!(code(&wrong), 1);
    assert!(
        stderr(&wrong).to_lowercase().contains("unauthorized"),
        "{}",
        stderr(&wrong)
    );
    let config = berth.path("docker-config/config.json");
    assert!(!std::fs::read_to_string(&config)
        .unwrap_or_default()
        .contains(&registry.host()));
    // The right one works and is kept in Docker's config.json.
    let ok = berth.run_stdin(
        &["login", "-u", "alice", "--password-stdin", &registry.host()],
        b"s3cret\n",
    );
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "Login Succeeded\n");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("config.json")).expect("json");
    assert!(stored["auths"][registry.host()]["auth"].is_string(), "{stored}");
    berth.ok(&["push", &name]);
    berth.ok(&["rmi", &name]);
    berth.ok(&["pull", &name]);
    assert_eq!(
        berth.ok(&["logout", &registry.host()]),
        format!("Removing login credentials for {}\n", registry.host())
    );
    berth.ok(&["rmi", &name]);
    assert!(berth.fails(&["pull", &name]).to_lowercase().contains("auth"));
}

#[test]
fn a_corrupt_blob_never_enters_the_store() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    let name = format!("{}/bad/busybox:1", registry.host());
    berth.ok(&["tag", "busybox", &name]);
    berth.ok(&["push", &name]);
    let layer = berth
        .ok(&["image", "inspect", "-f", "{{index .RootFS.Layers 0}}", &name])
        .trim()
        .to_string();
    berth.ok(&["rmi", &name, "busybox"]);
    // The registry now serves other bytes under the layer's digest.
    let layer_blob = std::fs::read_dir(registry.dir.path().join("data/docker/registry/v2/blobs/sha256"))
        .expect("blobs")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|d| d.path().join("data"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a blob");
    let mut bytes = std::fs::read(&layer_blob).expect("blob");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&layer_blob, &bytes).expect("corrupt");
    assert!(!layer.is_empty());
    let before = berth.store_state();
    let err = berth.fails(&["pull", &name]);
    assert!(err.contains("digest"), "{err}");
    assert_eq!(berth.store_state(), before, "nothing of the pull was kept");
    berth.assert_consistent();
}

/// A proxy in front of the registry that closes every connection after one answer (so it sees each
/// request) and can hold back the answer for one blob until released.
struct Proxy {
    port: u16,
    hold: Arc<Mutex<Option<String>>>,
    held: Arc<AtomicBool>,
    /// Blob GETs answered in full, by digest.
    served: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy");
        let port = listener.local_addr().expect("addr").port();
        let proxy = Proxy {
            port,
            hold: Arc::new(Mutex::new(None)),
            held: Arc::new(AtomicBool::new(false)),
            served: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (hold, held, served, stop) = (
            proxy.hold.clone(),
            proxy.held.clone(),
            proxy.served.clone(),
            proxy.stop.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (hold, held, served) = (hold.clone(), held.clone(), served.clone());
                std::thread::spawn(move || relay(client, upstream, &hold, &held, &served));
            }
        });
        proxy
    }

    fn served(&self) -> Vec<String> {
        self.served.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(mut h) = self.hold.lock() {
            *h = None;
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn relay(
    client: TcpStream,
    upstream: u16,
    hold: &Mutex<Option<String>>,
    held: &AtomicBool,
    served: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let end = line == "\r\n";
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(&line);
        }
        if end {
            break;
        }
    }
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let blob = target
        .split("/blobs/")
        .nth(1)
        .filter(|_| head.starts_with("GET "))
        .map(str::to_owned);
    if let Some(b) = &blob {
        if hold.lock().map(|h| h.as_deref() == Some(b.as_str())).unwrap_or(false) {
            // Held until the test lets go; then this connection is dropped unanswered (its client was killed).
            held.store(true, Ordering::Relaxed);
            while hold.lock().map(|h| h.as_deref() == Some(b.as_str())).unwrap_or(false) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let head = head.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
    let head = if head.ends_with("\r\n\r\n") {
        head
    } else {
        format!("{}Connection: close\r\n\r\n", head.trim_end_matches("\r\n"))
    };
    if up.write_all(head.as_bytes()).and_then(|_| up.write_all(&body)).is_err() {
        return;
    }
    let mut answer = Vec::new();
    if up.read_to_end(&mut answer).is_err() {
        return;
    }
    let mut client = client;
    if client.write_all(&answer).is_ok() {
        if let Some(b) = blob {
            if answer.starts_with(b"HTTP/1.1 200") {
                if let Ok(mut s) = served.lock() {
                    s.push(b);
                }
            }
        }
    }
}

#[test]
fn a_killed_pull_resumes_with_the_layers_it_finished() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    // A 10-layer image: busybox plus nine commits of a file each.
    berth.ok(&["run", "--name", "layers", "busybox", "true"]);
    let mut image = "busybox".to_string();
    for i in 1..10 {
        berth.ok(&["rm", "-f", "layers"]);
        berth.ok(&[
            "run",
            "--name",
            "layers",
            &image,
            "sh",
            "-c",
            &format!("head -c {} /dev/urandom > /layer{i}", 200_000 + i * 1000),
        ]);
        image = format!("ten:{i}");
        berth.ok(&["commit", "layers", &image]);
    }
    berth.ok(&["rm", "-f", "layers"]);
    let layers: Vec<String> =
        serde_json::from_str(&berth.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "ten:9"]))
            .expect("layers");
    assert_eq!(layers.len(), 10);
    let direct = format!("{}/ten/image:1", registry.host());
    berth.ok(&["tag", "ten:9", &direct]);
    berth.ok(&["push", &direct]);

    // Through the proxy, holding back the top layer's blob.
    let proxy = Proxy::start(registry.port);
    let name = format!("127.0.0.1:{}/ten/image:1", proxy.port);
    let fresh = Berth::new();
    let manifest = client(&registry.host())
        .get_manifest("ten/image", "1", berth_registry::MANIFEST_ACCEPT)
        .expect("manifest");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.bytes).expect("json");
    let blobs: Vec<String> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["digest"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(blobs.len(), 10);
    let top = blobs[9].clone();
    *proxy.hold.lock().expect("hold") = Some(top.clone());
    let before = {
        fresh.ok(&["images"]);
        fresh.store_state()
    };
    let mut pull = fresh
        .cmd(&["pull", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pull");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let served = proxy.served();
        let others = blobs[..9].iter().all(|b| served.contains(b));
        if others && proxy.held.load(Ordering::Relaxed) {
            break;
        }
        assert!(Instant::now() < deadline, "the pull did not get that far: {served:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give the unpacking of the last finished layers a moment, then kill the pull outright.
    std::thread::sleep(Duration::from_millis(300));
    let _ = pull.kill();
    let _ = pull.wait();
    assert_eq!(fresh.store_state(), before, "a killed pull stores nothing");
    let first_round = proxy.served().len();

    *proxy.hold.lock().expect("hold") = None;
    let again = fresh.ok(&["pull", &name]);
    assert!(again.contains("Status: Downloaded newer image"), "{again}");
    let second: Vec<String> = proxy.served()[first_round..].to_vec();
    assert_eq!(second, vec![top], "only the held-back layer was downloaded again");
    assert_eq!(image_id(&fresh, &name), image_id(&berth, "ten:9"));
    assert_eq!(
        fresh
            .ok(&["run", "--rm", &name, "sh", "-c", "ls /layer* | wc -l"])
            .trim(),
        "9"
    );
    // What the pulls left in downloads/ (lock files) goes with `system prune`; the image stays.
    fresh.ok(&["system", "prune", "-f"]);
    let left: Vec<_> = std::fs::read_dir(fresh.root().join("downloads"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(image_id(&fresh, &name), image_id(&berth, "ten:9"));
}

/// `berth registry serve` on a free loopback port; stopped (SIGTERM) on drop.
struct OwnRegistry {
    port: u16,
    child: Child,
}

impl OwnRegistry {
    fn start(berth: &Berth, dir: &Path, extra: &[&str]) -> OwnRegistry {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec![
            "registry",
            "serve",
            "--addr",
            &addr,
            "--root",
            dir.to_str().expect("path"),
        ];
        args.extend_from_slice(extra);
        let child = berth
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("berth registry serve");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "berth registry serve did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRegistry { port, child }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it as a service manager would, and returns its exit code.
    fn stop(mut self) -> Option<i32> {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid"),
            rustix::process::Signal::TERM,
        );
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn berths_own_registry_serves_skopeo_and_berth() {
    let Some(berth) = with_busybox() else { return };
    if !need("skopeo") {
        return;
    }
    let storage = berth.path("registry");
    let registry = OwnRegistry::start(&berth, &storage, &[]);
    let id = image_id(&berth, "busybox");
    // berth pushes; skopeo sees the digest berth reported and copies the image out to an OCI layout.
    let name = format!("{}/own/busybox:1", registry.host());
    berth.ok(&["tag", "busybox", &name]);
    let (_, digest) = push(&berth, &name);
    assert_eq!(skopeo_digest(&name), digest);
    let layout = berth.path("layout");
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{name}"),
            &format!("oci:{}:1", layout.display()),
        ])
        .output()
        .expect("skopeo copy");
    assert!(out.status.success(), "{}", stderr(&out));
    // skopeo pushes under another name; berth pulls and runs it.
    let other = format!("{}/pushed/by-skopeo:2", registry.host());
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:1", layout.display()),
            &format!("docker://{other}"),
        ])
        .output()
        .expect("skopeo copy");
    assert!(out.status.success(), "{}", stderr(&out));
    berth.ok(&["rmi", &name, "busybox"]);
    berth.ok(&["pull", &other]);
    assert_eq!(image_id(&berth, &other), id);
    assert_eq!(
        berth.ok(&["run", "--rm", &other, "echo", "own registry"]),
        "own registry\n"
    );
    // Its content lives where --root said.
    assert!(storage
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
        .exists());
    assert_eq!(registry.stop(), Some(0), "SIGTERM ends it cleanly");
}

#[test]
fn berths_own_registry_with_htpasswd() {
    let Some(berth) = with_busybox() else { return };
    if !need("htpasswd") {
        return;
    }
    let out = Command::new("htpasswd")
        .args(["-Bbn", "bob", "pw"])
        .output()
        .expect("htpasswd");
    let file = berth.path("htpasswd");
    std::fs::write(&file, &out.stdout).expect("write");
    let registry = OwnRegistry::start(
        &berth,
        &berth.path("registry"),
        &["--htpasswd", file.to_str().expect("path")],
    );
    let name = format!("{}/locked/busybox:1", registry.host());
    berth.ok(&["tag", "busybox", &name]);
    assert!(berth.fails(&["push", &name]).to_lowercase().contains("auth"));
    let wrong = berth.run_stdin(&["login", "-u", "bob", "--password-stdin", &registry.host()], b"x\n");
    assert_eq!(code(&wrong), 1);
    let ok = berth.run_stdin(&["login", "-u", "bob", "--password-stdin", &registry.host()], b"pw\n");
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    berth.ok(&["push", &name]);
    berth.ok(&["rmi", &name]);
    berth.ok(&["pull", &name]);
    berth.ok(&["logout", &registry.host()]);
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

#[test]
fn all_tags_push_and_pull() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    let repo = format!("{}/many/busybox", registry.host());
    for tag in ["a", "b", "c"] {
        berth.ok(&["tag", "busybox", &format!("{repo}:{tag}")]);
    }
    let pushed = berth.ok(&["push", "--all-tags", &repo]);
    for tag in ["a", "b", "c"] {
        assert!(pushed.contains(&format!("{tag}: digest: ")), "{pushed}");
    }
    assert!(berth
        .fails(&["push", "-a", &format!("{repo}:a")])
        .contains("--all-tags"));
    for tag in ["a", "b", "c"] {
        berth.ok(&["rmi", &format!("{repo}:{tag}")]);
    }
    let pulled = berth.ok(&["pull", "-a", &repo]);
    assert!(pulled.ends_with(&format!("{repo}\n")), "{pulled}");
    let tags = berth.ok(&["images", "--format", "{{.Tag}}", &repo]);
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["a", "b", "c"]);
}
