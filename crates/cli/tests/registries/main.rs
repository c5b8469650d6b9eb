//! Registries end to end: berth against Debian's real `docker-registry` (the CNCF distribution
//! registry) on loopback, with skopeo as a second client, htpasswd auth, a multi-platform index, a
//! corrupt blob, and a pull killed half-way behind a small proxy that can hold one blob back.

#[path = "../common/mod.rs"]
mod common;

mod faults;
mod manifests;
mod own_registry;
mod push_pull;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
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

fn image_id(berth: &Berth, name: &str) -> String {
    berth
        .ok(&["image", "inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}
