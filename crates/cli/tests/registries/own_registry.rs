//! berth's own registry (`berth registry serve`) for skopeo and berth, with and without htpasswd.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::{free_port, image_id, push, skopeo_digest, stderr};

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
