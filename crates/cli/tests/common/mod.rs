//! Helpers for end-to-end tests: each test gets its own data root and run
//! root, and drives the real `berth` binary as a user would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

pub mod pty;
pub mod served;

pub struct Berth {
    pub dir: tempfile::TempDir,
}

impl Drop for Berth {
    /// Removes every container the test left, even when it failed half-way,
    /// so no mount, cgroup or process outlives the test.
    fn drop(&mut self) {
        if !self.root().join("berth.db").exists() {
            return;
        }
        let ids = self.run(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.run(&["rm", "-f", id]);
        }
        // Bridges, firewall rules and DNS servers of this root's networks.
        let _ = self.run(&["system", "network-reset"]);
    }
}

impl Berth {
    pub fn new() -> Berth {
        Berth {
            dir: tempfile::Builder::new()
                .prefix("berth-e2e-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        // Registry credentials stay in the test's own directory, never the user's ~/.docker.
        cmd.env("BERTH_ROOT", self.root())
            .env("BERTH_RUNROOT", self.dir.path().join("run"))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .args(args);
        cmd
    }

    /// Runs berth; returns the output whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run berth")
    }

    /// Runs berth with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(input);
        drop(stdin);
        child.wait_with_output().expect("wait berth")
    }

    /// Runs berth and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs berth and requires failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "berth {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// What the store holds on disk and in its image list, to compare
    /// before and after an operation that must change nothing.
    pub fn store_state(&self) -> (Vec<String>, Vec<String>, Vec<String>, String) {
        let list = |d: &str| -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(self.root().join(d))
                .map(|r| {
                    r.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            names
        };
        let images = self.ok(&[
            "images",
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Repository}}:{{.Tag}}",
        ]);
        (list("blobs/sha256"), list("layers"), list("ingest"), images)
    }

    /// Every blob's content matches its name, and every image's layers exist.
    pub fn assert_consistent(&self) {
        // A command killed before it made the data root leaves no blobs directory: nothing to check.
        let blobs = match fs::read_dir(self.root().join("blobs/sha256")) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            other => Some(other.expect("blobs dir")),
        };
        for entry in blobs.into_iter().flatten().flatten() {
            let bytes = fs::read(entry.path()).expect("read blob");
            let name = entry.file_name().to_string_lossy().into_owned();
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                name,
                "blob {name} does not match its digest"
            );
        }
        let ids = self.ok(&["images", "-a", "-q", "--no-trunc"]);
        for id in ids.lines() {
            let inspect: serde_json::Value =
                serde_json::from_str(&self.ok(&["image", "inspect", id])).expect("inspect json");
            let upper = inspect[0]["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap_or("");
            assert!(
                upper.is_empty() || Path::new(upper).is_dir(),
                "image {id} misses its top layer {upper}"
            );
            assert!(self
                .root()
                .join("blobs/sha256")
                .join(id.trim_start_matches("sha256:"))
                .is_file());
        }
    }
}

/// The busybox binary from Debian's busybox-static, or None (the test then
/// says so and skips: the test script installs it).
pub fn busybox() -> Option<PathBuf> {
    let path = PathBuf::from("/bin/busybox");
    let out = Command::new(&path).arg("--help").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (text.contains("BusyBox")).then_some(path)
}

pub fn need(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED: {tool} is not installed (scripts/test.sh installs it)");
    }
    found
}

/// A busybox root filesystem: /bin/busybox, applet symlinks, a few dirs and files.
pub fn busybox_rootfs(dir: &Path) -> Option<PathBuf> {
    let busybox = busybox()?;
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "var/empty", "root"] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    fs::copy(&busybox, root.join("bin/busybox")).expect("copy busybox");
    for applet in [
        "sh", "ls", "cat", "echo", "true", "false", "sleep", "wget", "id", "env", "hostname", "ps", "mount", "touch",
        "mkdir", "head", "tr", "yes", "kill", "seq", "wc", "pwd", "ping", "nc", "umount", "whoami", "stty", "grep",
        "ulimit", "test", "chown", "rm", "cp",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n\
         alice:x:1001:1002:Alice:/home/alice:/bin/sh\n",
    )
    .expect("passwd");
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\nstaff:x:1002:\nextra:x:2000:alice\n",
    )
    .expect("group");
    fs::hard_link(root.join("etc/passwd"), root.join("etc/passwd.hardlink")).expect("hard link");
    Some(root)
}

/// Tars a directory with GNU tar (numeric owners, sorted).
pub fn tar_dir(dir: &Path, out: &Path) {
    let status = Command::new("tar")
        .args(["--numeric-owner", "--sort=name", "-C"])
        .arg(dir)
        .args(["-cf"])
        .arg(out)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success());
}

/// path -> "type mode uid:gid size sha256|target" for every entry under `root`.
pub fn listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = fs::read_dir(dir).expect("read dir").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let rel = path.strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
        let ft = meta.file_type();
        let what = if ft.is_symlink() {
            format!("link {}", fs::read_link(&path).expect("readlink").display())
        } else if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_file() {
            format!(
                "file {} {}",
                meta.len(),
                hex::encode(Sha256::digest(fs::read(&path).expect("read")))
            )
        } else if ft.is_char_device() {
            format!("char {}", meta.rdev())
        } else {
            "other".to_string()
        };
        let mode = if ft.is_symlink() { 0 } else { meta.mode() & 0o7777 };
        out.insert(rel, format!("{what} {mode:o} {}:{}", meta.uid(), meta.gid()));
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// Imports a busybox rootfs as `name`; returns (image ID, rootfs dir).
pub fn import_busybox(berth: &Berth, name: &str) -> Option<(String, PathBuf)> {
    let rootfs = busybox_rootfs(berth.dir.path())?;
    let tarball = berth.path("rootfs.tar");
    tar_dir(&rootfs, &tarball);
    let id = berth.ok(&["import", tarball.to_str()?, name]).trim().to_string();
    Some((id, rootfs))
}

/// A fresh data root with busybox imported as `busybox:latest`; None (the test skips) without busybox.
pub fn with_busybox() -> Option<Berth> {
    let berth = Berth::new();
    import_busybox(&berth, "busybox:latest")?;
    Some(berth)
}

/// A finished command's exit code (-1 when a signal ended it).
/// The parent of process `pid`, from /proc/PID/stat (None once it is gone). The field after the
/// command name in parentheses (which may hold spaces and parentheses) is the state, then the ppid.
pub fn parent_of(pid: impl std::fmt::Display) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// A web server on loopback that answers every GET with the body of the first route whose path prefix
/// matches (the last route otherwise). Returns its base URL and how many answers it sent.
pub fn serve_http(routes: Vec<(&'static str, Vec<u8>)>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut head = [0u8; 4096];
            let n = conn.read(&mut head).unwrap_or(0);
            let path = String::from_utf8_lossy(&head[..n])
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .to_string();
            let Some((_, body)) = routes
                .iter()
                .find(|(prefix, _)| path.starts_with(prefix))
                .or(routes.last())
            else {
                continue;
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if conn
                .write_all(head.as_bytes())
                .and_then(|_| conn.write_all(body))
                .is_ok()
            {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    (base, served)
}

/// `berth registry serve` on a free loopback port with its content in `dir`; killed on drop.
/// Tests put hand-made manifests and blobs there with `berth_registry::Client` and then pull them.
pub struct ServedRegistry {
    pub port: u16,
    child: std::process::Child,
}

impl ServedRegistry {
    pub fn start(berth: &Berth, dir: &Path) -> ServedRegistry {
        ServedRegistry::start_with(berth, dir, None)
    }

    /// As `start`, asking for basic auth with the users of an `htpasswd` file when given.
    pub fn start_with(berth: &Berth, dir: &Path, htpasswd: Option<&Path>) -> ServedRegistry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec![
            "registry",
            "serve",
            "--addr",
            &addr,
            "--root",
            dir.to_str().expect("path"),
        ];
        if let Some(file) = htpasswd {
            args.extend(["--htpasswd", file.to_str().expect("path")]);
        }
        let child = berth
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("berth registry serve");
        let registry = ServedRegistry { port, child };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "berth registry serve did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        registry
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes `blobs` (config and layers, by content) and then `manifest` under `repo:tag`, as any
    /// client could, without berth having to accept the image first.
    pub fn put_image(&self, repo: &str, tag: &str, media_type: &str, manifest: &[u8], blobs: &[&[u8]]) {
        let client = berth_registry::Client::new(&self.host(), berth_registry::ClientOptions::default())
            .expect("registry client");
        for blob in blobs {
            let digest: berth_store::Digest = format!("sha256:{}", hex::encode(Sha256::digest(blob)))
                .parse()
                .expect("digest");
            client
                .push_blob(
                    repo,
                    &digest,
                    blob.len() as u64,
                    berth_registry::BlobSource::Bytes(blob),
                    &mut |_| {},
                )
                .expect("push blob");
        }
        client
            .put_manifest(repo, tag, media_type, manifest)
            .expect("put manifest");
    }
}

impl Drop for ServedRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
