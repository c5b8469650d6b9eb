//! berth run by an ordinary user (issue 18): a user the tests create, with a subordinate id range of
//! its own, drives the real binary with its own data root and run root; nothing of root's is used.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{busybox_rootfs, code, tar_dir, Berth, ServedRegistry};

/// The user the rootless tests run as, its subordinate ids (clear of --userns=auto's default pool
/// at 2^31, and of what useradd hands out).
const USER: &str = "berth-rootless-test";
const SUBIDS: &str = "1600000000-1600065535";

/// The test user's uid and gid, made (with its subordinate ids) the first time; one user for every
/// test, made under a lock since useradd refuses to run twice at once.
fn test_user() -> Option<(u32, u32)> {
    if !crate::common::need("useradd") || !crate::common::need("newuidmap") || !crate::common::need("slirp4netns") {
        return None;
    }
    // Rootless networks need /dev/net/tun usable by users: mode 0666, as Debian and most distributions
    // ship it (this test machine's is 0600).
    let tun = Path::new("/dev/net/tun");
    if fs::metadata(tun).is_ok_and(|m| m.permissions().mode() & 0o006 != 0o006) {
        fs::set_permissions(tun, fs::Permissions::from_mode(0o666)).expect("chmod /dev/net/tun");
    }
    let lock = fs::File::create("/tmp/berth-rootless-test-user.lock").expect("lock file");
    // SAFETY: flock on an fd this function owns; released when the file closes.
    #[allow(unsafe_code)]
    unsafe {
        libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX)
    };
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, USER]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let status = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin"])
            .arg(USER)
            .status()
            .expect("useradd");
        assert!(status.success(), "useradd {USER}");
    }
    for (file, flag) in [("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")] {
        let listed = fs::read_to_string(file).unwrap_or_default();
        if !listed.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
            let status = Command::new("usermod")
                .args([flag, SUBIDS, USER])
                .status()
                .expect("usermod");
            assert!(status.success(), "usermod {flag}");
        }
    }
    Some((id("-u")?, id("-g")?))
}

/// A rootless berth: the test user's own directory (its home, data root and run root), berth and
/// berth-shim copied in where the user can run them, and every command run as the user through
/// setpriv with no supplementary group of root's.
pub struct Rootless {
    pub dir: tempfile::TempDir,
    pub uid: u32,
    pub gid: u32,
    bin: PathBuf,
}

impl Rootless {
    pub fn new() -> Option<Rootless> {
        let (uid, gid) = test_user()?;
        let dir = tempfile::Builder::new()
            .prefix("berth-rootless-")
            .tempdir()
            .expect("temp dir");
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).expect("mkdir");
        let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
        for name in ["berth", "berth-shim"] {
            let from = berth.with_file_name(name);
            if from.exists() {
                fs::copy(&from, bin.join(name)).expect("copy the binary");
            }
        }
        let rootless = Rootless {
            dir,
            uid,
            gid,
            bin: bin.join("berth"),
        };
        rootless.give(rootless.dir.path());
        fs::set_permissions(rootless.dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
        Some(rootless)
    }

    /// Gives `path` (and what is under it) to the test user.
    pub fn give(&self, path: &Path) {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success());
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg("--")
            .arg(&self.bin)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", self.dir.path())
            .env("XDG_RUNTIME_DIR", self.path("xdg-run"))
            .current_dir(self.dir.path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run berth")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rootless berth {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Imports a busybox root filesystem as `name`.
    pub fn import_busybox(&self, name: &str) -> Option<()> {
        let scratch = self.path("scratch");
        fs::create_dir_all(&scratch).expect("mkdir");
        let rootfs = busybox_rootfs(&scratch)?;
        std::os::unix::fs::symlink("busybox", rootfs.join("bin/stat")).expect("symlink");
        fs::create_dir_all(rootfs.join("home/alice")).expect("mkdir");
        std::os::unix::fs::chown(rootfs.join("home/alice"), Some(1001), Some(1002)).expect("chown");
        let tarball = self.path("busybox.tar");
        tar_dir(&rootfs, &tarball);
        self.give(&tarball);
        self.ok(&["import", tarball.to_str()?, name]);
        Some(())
    }

    /// The pause process holding this berth's namespaces, from its run root.
    fn pause_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.path("xdg-run/berth/pause.pid")).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }
}

impl Drop for Rootless {
    /// Removes every container, then ends the pause process: no process, mount or file of the test
    /// user's is left (the temporary directory goes as root, subordinate ids' files included).
    fn drop(&mut self) {
        let listed = self.run(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&listed.stdout).lines() {
            let _ = self.run(&["rm", "-f", id]);
        }
        if let Some(pid) = self.pause_pid() {
            // SAFETY: kill(2) with a pid and a signal number has no memory effects.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid, libc::SIGKILL)
            };
        }
    }
}

/// Every process of the test user whose environment names this test's directory (berth's helpers
/// and containers carry its HOME or roots), for the check that none outlives the test.
fn processes_of(rootless: &Rootless) -> Vec<i32> {
    let dir = rootless.dir.path().to_string_lossy().into_owned();
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == rootless.uid))
        .filter(|pid| {
            let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            String::from_utf8_lossy(&environ).contains(&dir)
        })
        .collect()
}

#[test]
fn a_user_runs_containers_in_its_own_id_range() {
    let Some(rootless) = Rootless::new() else { return };
    rootless.import_busybox("busybox").expect("busybox");
    // Data root and run root default to the user's XDG directories.
    assert!(rootless.path(".local/share/berth/berth.db").exists());
    let map = rootless.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    let lines: Vec<Vec<&str>> = map.lines().map(|l| l.split_whitespace().collect()).collect();
    let uid = rootless.uid.to_string();
    assert_eq!(lines, [vec!["0", uid.as_str(), "1"], vec!["1", "1600000000", "65536"]]);
    // Exit codes pass through; container root is the user on the host.
    let out = rootless.run(&["run", "--rm", "--network", "none", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));
    let out = rootless.run(&["run", "--rm", "--network", "none", "busybox", "no-such-command"]);
    assert_eq!(code(&out), 127);
    // The image's owners are kept, through the subordinate ids on disk.
    let owner = rootless.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "stat",
        "-c",
        "%u:%g",
        "/home/alice",
    ]);
    assert_eq!(owner.trim(), "1001:1002");
    let layer_dir = fs::read_dir(rootless.path(".local/share/berth/layers"))
        .expect("layers")
        .flatten()
        .map(|e| e.path().join("diff/home/alice"))
        .find(|p| p.exists())
        .expect("the layer's directory");
    assert_eq!(fs::metadata(layer_dir).expect("stat").uid(), 1600000000 + 1000);
    // info says so; --userns=auto is root's.
    let info = rootless.ok(&["info", "--format", "{{.Rootless}} {{.IdMap}} {{json .SecurityOptions}}"]);
    assert_eq!(
        info.trim(),
        format!(
            r#"true 0 {} 1; 1 1600000000 65536 ["name=seccomp,profile=builtin","name=rootless"]"#,
            rootless.uid
        )
    );
    assert!(rootless.ok(&["info"]).contains("Cgroup Limits: "));
    let out = rootless.run(&["run", "--rm", "--userns=auto", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--userns=auto needs root"));
}

#[test]
fn detached_containers_log_exec_stop_and_go() {
    let Some(rootless) = Rootless::new() else { return };
    rootless.import_busybox("busybox").expect("busybox");
    let id = rootless
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo started; exec sleep 100",
        ])
        .trim()
        .to_string();
    let mut logs = String::new();
    for _ in 0..50 {
        logs = rootless.ok(&["logs", &id]);
        if !logs.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(logs, "started\n");
    assert_eq!(rootless.ok(&["exec", &id, "id", "-u"]).trim(), "0");
    assert_eq!(
        rootless.ok(&["inspect", "-f", "{{.State.Running}}", &id]).trim(),
        "true"
    );
    rootless.ok(&["stop", "-t", "1", &id]);
    assert_eq!(
        rootless.ok(&["inspect", "-f", "{{.State.Status}}", &id]).trim(),
        "exited"
    );
    rootless.ok(&["rm", &id]);
    assert_eq!(rootless.ok(&["ps", "-aq"]), "");
}

#[test]
fn images_and_volumes_work_without_root() {
    let Some(rootless) = Rootless::new() else { return };
    rootless.import_busybox("busybox").expect("busybox");
    // save, load, tag, rmi.
    let archive = rootless.path("saved.tar");
    rootless.ok(&["save", "-o", archive.to_str().expect("path"), "busybox"]);
    rootless.ok(&["rmi", "busybox"]);
    rootless.ok(&["load", "-i", archive.to_str().expect("path")]);
    rootless.ok(&["tag", "busybox", "again:1"]);
    // push and pull against a registry on loopback (berth's own, run by root here).
    let registry_berth = Berth::new();
    let served = ServedRegistry::start(&registry_berth, &registry_berth.path("registry"));
    let name = format!("{}/rootless/busybox:1", served.host());
    rootless.ok(&["tag", "busybox", &name]);
    rootless.ok(&["push", &name]);
    rootless.ok(&["rmi", &name, "again:1", "busybox"]);
    rootless.ok(&["pull", &name]);
    // A volume keeps what a container wrote, owned inside as it was made.
    rootless.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/data",
        &name,
        "sh",
        "-c",
        "echo kept > /data/file && chown 1001:1002 /data/file",
    ]);
    let out = rootless.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/data",
        &name,
        "sh",
        "-c",
        "cat /data/file; stat -c %u:%g /data/file",
    ]);
    assert_eq!(out, "kept\n1001:1002\n");
    rootless.ok(&["volume", "rm", "data"]);
    // cp both ways, owners kept with -a.
    let id = rootless
        .ok(&["create", "--network", "none", &name, "sleep", "100"])
        .trim()
        .to_string();
    let file = rootless.path("to-copy");
    fs::write(&file, "copied in\n").expect("write");
    rootless.give(&file);
    rootless.ok(&["cp", file.to_str().expect("path"), &format!("{id}:/copied")]);
    rootless.ok(&["start", &id]);
    let out = rootless.ok(&["exec", &id, "sh", "-c", "cat /copied; stat -c %u /copied"]);
    assert_eq!(out, "copied in\n0\n");
    let back = rootless.path("back");
    rootless.ok(&["cp", &format!("{id}:/copied"), back.to_str().expect("path")]);
    assert_eq!(fs::read_to_string(&back).expect("copied out"), "copied in\n");
    rootless.ok(&["rm", "-f", &id]);
}

#[test]
fn without_subordinate_ids_berth_says_how_to_add_them() {
    let Some(rootless) = Rootless::new() else { return };
    // A second user with no subordinate ids at all.
    let user = "berth-rootless-nosub";
    let exists = Command::new("id")
        .args(["-u", user])
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        let status = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user])
            .status()
            .expect("useradd");
        assert!(status.success());
    }
    let uid = String::from_utf8_lossy(&Command::new("id").args(["-u", user]).output().expect("id").stdout)
        .trim()
        .to_string();
    let scratch = tempfile::Builder::new()
        .prefix("berth-rootless-nosub-")
        .tempdir()
        .expect("temp dir");
    let home = scratch.path().to_path_buf();
    let status = Command::new("chown").arg(&uid).arg(&home).status().expect("chown");
    assert!(status.success());
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "--",
        ])
        .arg(&rootless.bin)
        .arg("images")
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .output()
        .expect("berth");
    assert_eq!(code(&out), 125);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/etc/subuid") && stderr.contains("usermod --add-subuids"),
        "{stderr}"
    );
    assert!(
        !home.join(".local/share/berth").exists(),
        "a data root was made before the check"
    );
}

#[test]
fn nothing_of_the_users_outlives_its_berth() {
    let Some(rootless) = Rootless::new() else { return };
    rootless.import_busybox("busybox").expect("busybox");
    rootless.ok(&["run", "-d", "--network", "none", "busybox", "sleep", "100"]);
    assert!(
        !processes_of(&rootless).is_empty(),
        "the container and its pause process run as the user"
    );
    let dir = rootless.dir.path().to_string_lossy().into_owned();
    let uid = rootless.uid;
    drop(rootless);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left: Vec<i32> = fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == uid))
            .filter(|pid| {
                String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/environ")).unwrap_or_default()).contains(&dir)
            })
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "processes of the user left: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!Path::new(&dir).exists(), "the user's directory is left");
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(&dir),
        "a mount of the user's is left in the host's namespace"
    );
}

#[test]
fn builds_run_their_steps_on_the_users_network() {
    let Some(rootless) = Rootless::new() else { return };
    rootless.import_busybox("busybox").expect("busybox");
    let context = rootless.path("context");
    fs::create_dir(&context).expect("mkdir");
    fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN echo built > /built && chown 1001:1002 /built\nCOPY note /note\n",
    )
    .expect("Dockerfile");
    fs::write(context.join("note"), "copied\n").expect("note");
    rootless.give(&context);
    rootless.ok(&["build", "-t", "built", context.to_str().expect("path")]);
    let out = rootless.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "built",
        "sh",
        "-c",
        "cat /built /note; stat -c %u:%g /built",
    ]);
    assert_eq!(out, "built\ncopied\n1001:1002\n");
    // The user's own network works too.
    rootless.ok(&["run", "--rm", "--network", "host", "busybox", "true"]);
    // commit keeps what a container changed, with its owners.
    let id = rootless
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "built",
            "sh",
            "-c",
            "echo changed > /changed && chown 1001:1002 /changed && exec sleep 100",
        ])
        .trim()
        .to_string();
    for _ in 0..50 {
        if rootless.run(&["exec", &id, "test", "-e", "/changed"]).status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    rootless.ok(&["commit", &id, "committed:1"]);
    rootless.ok(&["rm", "-f", &id]);
    let out = rootless.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "committed:1",
        "sh",
        "-c",
        "cat /changed /built; stat -c %u:%g /changed",
    ]);
    assert_eq!(out, "changed\nbuilt\n1001:1002\n");
}

/// Reads what a TCP server at 127.0.0.1:`port` says first, retrying while it starts.
fn first_words(port: &str) -> String {
    let mut answer = String::new();
    for _ in 0..50 {
        if let Ok(mut stream) = std::net::TcpStream::connect(format!("127.0.0.1:{port}")) {
            use std::io::Read;
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = stream.read_to_string(&mut answer);
            if !answer.is_empty() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    answer
}

#[test]
fn published_ports_and_names_work_on_the_users_networks() {
    let Some(rootless) = Rootless::new() else { return };
    rootless.import_busybox("busybox").expect("busybox");
    rootless.ok(&["network", "create", "mine"]);
    let serve = "while true; do echo \"served by $(hostname)\" | nc -l -p 80; done";
    let web = rootless
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "mine",
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sh",
            "-c",
            serve,
        ])
        .trim()
        .to_string();
    let port = rootless.ok(&["port", &web, "80"]);
    let port = port.trim().rsplit(':').next().expect("a port").to_string();
    // Reached from the host, through slirp4netns's forward into the user's network namespace.
    assert_eq!(first_words(&port).trim(), format!("served by {}", &web[..12]));
    // Reached by name from another container on the same network (the network's DNS server).
    let out = rootless.ok(&[
        "run",
        "--rm",
        "--network",
        "mine",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do nc web 80 </dev/null && exit 0; sleep 0.2; done; exit 1",
    ]);
    assert_eq!(out.trim(), format!("served by {}", &web[..12]));
    // The default bridge works as well.
    rootless.ok(&["run", "--rm", "busybox", "true"]);
    // Gone with the container: the port is free again and no forward is left.
    rootless.ok(&["rm", "-f", "web"]);
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
        "the port still answers"
    );
    rootless.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--network",
        "mine",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        serve,
    ]);
    assert!(first_words(&port).starts_with("served by"));
    rootless.ok(&["rm", "-f", "again"]);
    rootless.ok(&["network", "rm", "mine"]);
}

/// The pause processes of this test's user namespace (one at most is right).
fn pauses(rootless: &Rootless) -> Vec<i32> {
    processes_of(rootless)
        .into_iter()
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("rootless-pause"))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn a_killed_pause_process_or_first_command_leaves_berth_usable() {
    let Some(rootless) = Rootless::new() else { return };
    rootless.import_busybox("busybox").expect("busybox");
    // The pause process killed under a running container: the next commands start another, the
    // container can still be removed, and new ones run, with their network.
    let id = rootless
        .ok(&["run", "-d", "busybox", "sleep", "100"])
        .trim()
        .to_string();
    let first = pauses(&rootless);
    assert_eq!(first.len(), 1, "{first:?}");
    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(first[0], libc::SIGKILL)
    };
    rootless.ok(&["ps", "-a"]);
    rootless.ok(&["rm", "-f", &id]);
    assert_eq!(rootless.ok(&["run", "--rm", "busybox", "echo", "again"]), "again\n");
    assert_eq!(pauses(&rootless).len(), 1);
    // The first command of a fresh run root killed at random moments, as it makes the namespaces: the
    // next command finds one pause process, or makes it, and works.
    for round in 0..6u64 {
        for pid in pauses(&rootless) {
            // SAFETY: as above.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid, libc::SIGKILL)
            };
        }
        let _ = fs::remove_file(rootless.path("xdg-run/berth/pause.pid"));
        let mut child = rootless.cmd(&["images"]).spawn().expect("berth");
        std::thread::sleep(std::time::Duration::from_millis(round * 7));
        let _ = child.kill();
        let _ = child.wait();
        assert!(rootless.ok(&["images"]).contains("busybox"), "round {round}");
        let alive = pauses(&rootless);
        assert_eq!(alive.len(), 1, "round {round}: {alive:?}");
        assert_eq!(
            rootless.ok(&["run", "--rm", "--network", "none", "busybox", "echo", "ok"]),
            "ok\n"
        );
    }
}

#[test]
fn the_docker_client_drives_a_rootless_berth_serve() {
    let Some(rootless) = Rootless::new() else { return };
    if !crate::common::need("docker") {
        return;
    }
    rootless.import_busybox("busybox").expect("busybox");
    let socket = rootless.path("docker.sock");
    let host = format!("unix://{}", socket.display());
    let mut server = rootless
        .cmd(&["serve", "--host", &host])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("berth serve");
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let docker = |args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", rootless.uid))
            .arg(format!("--regid={}", rootless.gid))
            .args(["--clear-groups", "--", "docker"])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", rootless.dir.path())
            .env("DOCKER_HOST", &host);
        cmd.output().expect("docker")
    };
    let out = docker(&["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]);
    let map = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        map.lines().nth(1).map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["1", "1600000000", "65536"])
    );
    let out = docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sh",
        "-c",
        "while true; do echo served | nc -l -p 80; done",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let port = String::from_utf8_lossy(&docker(&["port", "web", "80"]).stdout)
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(first_words(&port).trim(), "served");
    assert!(docker(&["rm", "-f", "web"]).status.success());
    let _ = server.kill();
    let _ = server.wait();
}

/// The live slirp4netns processes of this test's run root (zombies are not counted).
fn slirps(rootless: &Rootless) -> Vec<i32> {
    let socket = rootless.path("xdg-run/berth/slirp.sock").to_string_lossy().into_owned();
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline =
                String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).into_owned();
            cmdline.starts_with("slirp4netns") && cmdline.contains(&socket)
        })
        .collect()
}

#[test]
fn a_slirp4netns_started_late_ends_when_the_next_pause_process_starts() {
    let Some(rootless) = Rootless::new() else { return };
    rootless.import_busybox("busybox").expect("busybox");
    rootless.ok(&["run", "--rm", "busybox", "true"]);
    let kill = |pid: i32| {
        // SAFETY: kill(2) with a pid and a signal number has no memory effects.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGKILL)
        };
    };
    // The first one dies: the next container with a network starts another, late.
    for pid in slirps(&rootless) {
        kill(pid);
    }
    rootless.ok(&["run", "--rm", "busybox", "true"]);
    assert_eq!(slirps(&rootless).len(), 1);
    // The pause process dies: the next command's new one ends the late slirp4netns, and its own ends
    // with it.
    for pid in pauses(&rootless) {
        kill(pid);
    }
    rootless.ok(&["run", "--rm", "busybox", "true"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while slirps(&rootless).len() != 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(slirps(&rootless).len(), 1, "{:?}", slirps(&rootless));
}
