//! Compatibility with the real Docker engine (Debian's docker.io): docker
//! loads what berth saves, and berth loads what docker saves (dockerd 20.10
//! writes the 1.10–24 archive layout).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A private dockerd with its own data root and socket, and no networking.
struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    fn start() -> Option<Dockerd> {
        if !need("dockerd") || !need("docker") {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("berth-dockerd-").tempdir().ok()?;
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).ok()?;
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .ok()?;
        let daemon = Dockerd { child, dir };
        for _ in 0..120 {
            if daemon.docker(&["version"]).status.success() {
                return Some(daemon);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let log = std::fs::read_to_string(daemon.dir.path().join("dockerd.log")).unwrap_or_default();
        panic!("dockerd did not start:\n{log}");
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("docker.sock").display()),
            )
            .args(args)
            .output()
            .expect("run docker")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        for _ in 0..40 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // dockerd leaves its overlay mounts and its data root's bind mount behind on a hard stop.
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("data"))
            .status();
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("exec"))
            .status();
    }
}

#[test]
fn docker_loads_berths_archive_and_berth_loads_dockers() {
    let Some(docker) = Dockerd::start() else { return };
    let berth = Berth::new();
    let Some((id, rootfs)) = import_busybox(&berth, "busybox:compat") else {
        eprintln!("SKIPPED: busybox-static is not installed");
        return;
    };
    berth.ok(&["tag", "busybox:compat", "localhost:5000/team/busybox:2"]);
    let archive = berth.path("from-berth.tar");
    berth.ok(&[
        "save",
        "-o",
        archive.to_str().unwrap_or_default(),
        "busybox:compat",
        "localhost:5000/team/busybox:2",
    ]);

    let out = docker.ok(&["load", "-i", archive.to_str().unwrap_or_default()]);
    assert!(out.contains("Loaded image: busybox:compat"), "{out}");
    assert_eq!(
        docker
            .ok(&["image", "inspect", "--format", "{{.Id}}", "busybox:compat"])
            .trim(),
        id
    );
    assert_eq!(
        docker
            .ok(&[
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                "localhost:5000/team/busybox:2"
            ])
            .trim(),
        id
    );

    // Back the other way: dockerd 20.10 writes the 1.10–24 layout.
    docker.ok(&["tag", "busybox:compat", "via-docker:1"]);
    let from_docker = berth.path("from-docker.tar");
    docker.ok(&["save", "-o", from_docker.to_str().unwrap_or_default(), "via-docker:1"]);
    let other = Berth::new();
    let out = other.ok(&["load", "-i", from_docker.to_str().unwrap_or_default()]);
    assert!(out.contains("Loaded image: via-docker:1"), "{out}");
    let inspect: Value = serde_json::from_str(&other.ok(&["image", "inspect", "via-docker:1"])).expect("json");
    assert_eq!(
        inspect[0]["Id"],
        id.as_str(),
        "the image ID survives berth -> docker -> berth"
    );
    let upper = inspect[0]["GraphDriver"]["Data"]["UpperDir"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut loaded = listing(std::path::Path::new(&upper));
    let mut original = listing(&rootfs);
    loaded.remove("");
    original.remove("");
    assert_eq!(loaded, original, "rootfs after a round trip through docker");
    other.assert_consistent();
}
