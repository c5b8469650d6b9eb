//! Running, exec'ing, networking and storing files in `--userns=auto` containers.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::common::{busybox_rootfs, code, tar_dir, Berth};
use crate::{mapped_base, pid_of};

/// A data root with `owned:latest`: busybox plus /home/alice/file owned by 1001:1002 and a setuid-free
/// /etc/secret owned by root with mode 0600.
fn with_owned_image() -> Option<Berth> {
    let berth = Berth::new();
    let rootfs = busybox_rootfs(berth.dir.path())?;
    for applet in ["stat", "mknod"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("symlink");
    }
    fs::create_dir_all(rootfs.join("home/alice")).expect("mkdir");
    fs::write(rootfs.join("home/alice/file"), "alice's").expect("write");
    std::os::unix::fs::chown(rootfs.join("home/alice/file"), Some(1001), Some(1002)).expect("chown");
    std::os::unix::fs::chown(rootfs.join("home/alice"), Some(1001), Some(1002)).expect("chown");
    fs::write(rootfs.join("etc/secret"), "root's").expect("write");
    fs::set_permissions(rootfs.join("etc/secret"), fs::Permissions::from_mode(0o600)).expect("chmod");
    let tarball = berth.path("owned.tar");
    tar_dir(&rootfs, &tarball);
    berth.ok(&["import", tarball.to_str()?, "owned:latest"]);
    Some(berth)
}

fn layer_dirs(berth: &Berth) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(berth.root().join("layers"))
        .expect("layers")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn two_containers_get_disjoint_ranges_and_exec_joins_the_range() {
    let Some(berth) = with_owned_image() else { return };
    let mut ranges = Vec::new();
    for name in ["a", "b"] {
        berth.ok(&["run", "-d", "--name", name, "--userns=auto", "owned", "sleep", "100"]);
        let (base, size) = mapped_base(&pid_of(&berth, name));
        assert_eq!(size, 65536);
        assert!(
            base >= 65536,
            "container root is host id {base}: not an unprivileged range"
        );
        // An exec'd process is in the same range (libcontainer's own exec would leave it host root).
        let exec_map = berth.ok(&["exec", name, "cat", "/proc/self/uid_map"]);
        assert_eq!(
            exec_map.split_whitespace().collect::<Vec<_>>(),
            ["0", &base.to_string(), "65536"],
            "exec in {name}"
        );
        assert_eq!(berth.ok(&["exec", name, "id", "-u"]).trim(), "0");
        assert_eq!(
            berth.ok(&["inspect", "-f", "{{.HostConfig.UsernsMode}}", name]).trim(),
            "auto"
        );
        ranges.push((base, size));
    }
    let ((a, n), (b, _)) = (ranges[0], ranges[1]);
    assert!(a + n <= b || b + n <= a, "ranges overlap: {ranges:?}");
    // A restart keeps the range: the upper dir is stored in it.
    berth.ok(&["restart", "-t", "0", "a"]);
    assert_eq!(mapped_base(&pid_of(&berth, "a")), ranges[0]);
    // Once removed, its range is free for the next container.
    berth.ok(&["rm", "-f", "a"]);
    berth.ok(&["run", "-d", "--name", "c", "--userns=auto", "owned", "sleep", "100"]);
    assert_eq!(mapped_base(&pid_of(&berth, "c")), ranges[0]);
}

#[test]
fn image_files_keep_their_owners_without_a_chowned_copy() {
    let Some(berth) = with_owned_image() else { return };
    let layers = layer_dirs(&berth);
    let id = berth
        .ok(&[
            "create",
            "--userns=auto",
            "owned",
            "sh",
            "-c",
            "stat -c '%u:%g %n' / /bin/busybox /home/alice/file /etc/hosts; cat /etc/secret",
        ])
        .trim()
        .to_string();
    let out = berth.ok(&["start", "-a", &id]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "0:0 /",
            "0:0 /bin/busybox",
            "1001:1002 /home/alice/file",
            "0:0 /etc/hosts",
            "root's"
        ],
    );
    // No layer was added or copied: the layers are the image's, and the container's own upper dir holds
    // only the mount points the runtime made, none of the image's files.
    assert_eq!(layer_dirs(&berth), layers);
    let upper = berth.root().join("containers").join(&id).join("upper");
    for copied in ["bin/busybox", "home/alice/file", "etc/secret"] {
        assert!(!upper.join(copied).exists(), "{copied} was copied into the upper dir");
    }
    // On disk the layer still holds the image's own ids.
    let unpacked = fs::read_dir(berth.root().join("layers"))
        .expect("layers")
        .flatten()
        .map(|e| e.path().join("diff/home/alice/file"))
        .find(|p| p.exists())
        .expect("the layer's file");
    assert_eq!(fs::metadata(unpacked).expect("stat").uid(), 1001);
}

#[test]
fn container_root_is_an_unprivileged_host_user() {
    let Some(berth) = with_owned_image() else { return };
    let shared = berth.path("shared");
    fs::create_dir(&shared).expect("mkdir");
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).expect("chmod");
    let host_file = berth.path("host-owned");
    fs::write(&host_file, "host\n").expect("write");
    fs::set_permissions(&host_file, fs::Permissions::from_mode(0o644)).expect("chmod");
    let id = berth
        .ok(&[
            "run",
            "-d",
            "--userns=auto",
            "-v",
            &format!("{}:/shared", shared.display()),
            "-v",
            &format!("{}:/host-owned", host_file.display()),
            "owned",
            "sleep",
            "100",
        ])
        .trim()
        .to_string();
    let (base, _) = mapped_base(&pid_of(&berth, &id));
    // What container root makes on a bind mount is owned on the host by the range's base, not by root.
    berth.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo made > /shared/by-root && mkdir /shared/dir",
    ]);
    for made in ["by-root", "dir"] {
        let meta = fs::metadata(shared.join(made)).expect("made on the host");
        assert_eq!((meta.uid(), meta.gid()), (base, base), "{made}");
    }
    // A host file owned by host root is not container root's: it cannot write it, and sees it as nobody.
    let out = berth.run(&["exec", &id, "sh", "-c", "echo owned >> /host-owned"]);
    assert_ne!(code(&out), 0, "container root wrote a host root file");
    assert_eq!(fs::read_to_string(&host_file).expect("read"), "host\n");
    assert_eq!(
        berth.ok(&["exec", &id, "stat", "-c", "%u", "/host-owned"]).trim(),
        "65534"
    );
    // Device nodes cannot be made, even by container root with CAP_MKNOD.
    let out = berth.run(&["exec", &id, "mknod", "/dev-null-copy", "c", "1", "3"]);
    assert_ne!(code(&out), 0, "mknod succeeded in a user namespace");
}

#[test]
fn volumes_are_stored_with_the_ids_the_container_sees() {
    let Some(berth) = with_owned_image() else { return };
    // A new volume is filled from the image, and what container root writes into it is stored as root's.
    let out = berth.ok(&["run", "--rm", "--userns=auto", "-v", "data:/home/alice", "owned", "sh", "-c",
        "touch /home/alice/new && chown 1001 /home/alice/new && stat -c '%u:%g %n' /home/alice /home/alice/file /home/alice/new"]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "1001:1002 /home/alice",
            "1001:1002 /home/alice/file",
            "1001:0 /home/alice/new"
        ]
    );
    let data = berth.root().join("volumes/data/_data");
    let owner = |p: &str| {
        let m = fs::metadata(data.join(p)).expect("stat");
        (m.uid(), m.gid())
    };
    assert_eq!(owner("file"), (1001, 1002));
    assert_eq!(owner("new"), (1001, 0));
    // Shared alike with a container of another range and with one in the host's user namespace.
    let other = berth.ok(&[
        "run",
        "--rm",
        "--userns=auto",
        "-v",
        "data:/home/alice",
        "owned",
        "stat",
        "-c",
        "%u",
        "/home/alice/new",
    ]);
    assert_eq!(other.trim(), "1001");
    let host = berth.ok(&[
        "run",
        "--rm",
        "--userns=host",
        "-v",
        "data:/home/alice",
        "owned",
        "stat",
        "-c",
        "%u",
        "/home/alice/new",
    ]);
    assert_eq!(host.trim(), "1001");
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let dir = berth.dir.path().to_str().expect("utf-8");
    let attached: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(dir) && l.contains("idmapped"))
        .collect();
    assert_eq!(attached, Vec::<&str>::new(), "an idmapped clone stayed attached");
}

#[test]
fn published_ports_and_names_on_a_user_network_work() {
    let Some(berth) = with_owned_image() else { return };
    berth.ok(&["network", "create", "userns-net"]);
    let server = berth
        .ok(&[
            "run",
            "-d",
            "--userns=auto",
            "--network",
            "userns-net",
            "--name",
            "web",
            "-p",
            "127.0.0.1::80",
            "owned",
            "sh",
            "-c",
            "while true; do echo served | nc -l -p 80; done",
        ])
        .trim()
        .to_string();
    let port = berth.ok(&["port", &server, "80"]);
    let port = port.trim().rsplit(':').next().expect("port").to_string();
    let mut answer = String::new();
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(format!("127.0.0.1:{port}")) {
            use std::io::Read;
            let _ = s.read_to_string(&mut answer);
            if !answer.is_empty() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(answer.trim(), "served", "the published port did not answer");
    let out = berth.ok(&[
        "run",
        "--rm",
        "--userns=auto",
        "--network",
        "userns-net",
        "owned",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do nc web 80 </dev/null && exit 0; sleep 0.2; done; exit 1",
    ]);
    assert_eq!(out.trim(), "served");
}

#[test]
fn what_a_user_namespace_cannot_share_is_refused() {
    let Some(berth) = with_owned_image() else { return };
    for (flags, says) in [
        (
            vec!["--userns=auto", "--privileged"],
            "privileged mode is incompatible with user namespaces",
        ),
        (
            vec!["--userns=auto", "--network", "host"],
            "Cannot share the host's network namespace",
        ),
        (vec!["--userns=keep-id"], "invalid --userns"),
        (vec!["--userns=auto:size=0"], "invalid --userns"),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(flags.iter().copied());
        args.extend(["owned", "true"]);
        let out = berth.run(&args);
        assert_eq!(code(&out), 125, "{flags:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
    assert_eq!(berth.ok(&["ps", "-aq"]), "", "a refused container was left");
}

#[test]
fn berths_config_file_makes_auto_the_default() {
    let Some(berth) = with_owned_image() else { return };
    let config = berth.path("config.json");
    fs::write(&config, r#"{"userns": "auto", "userns-pool": "3000000000:262144"}"#).expect("write");
    let run = |args: &[&str]| {
        let out = berth.cmd(args).env("BERTH_CONFIG", &config).output().expect("berth");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let map = run(&["run", "--rm", "owned", "cat", "/proc/self/uid_map"]);
    assert_eq!(map.split_whitespace().collect::<Vec<_>>(), ["0", "3000000000", "65536"]);
    let map = run(&["run", "--rm", "--userns=host", "owned", "cat", "/proc/self/uid_map"]);
    assert_eq!(map.split_whitespace().collect::<Vec<_>>(), ["0", "0", "4294967295"]);
    // The pool holds four ranges of 65536: a fifth container is refused with the fix named.
    for n in 0..4 {
        run(&["create", "--name", &format!("c{n}"), "owned", "true"]);
    }
    let out = berth
        .cmd(&["create", "owned", "true"])
        .env("BERTH_CONFIG", &config)
        .output()
        .expect("berth");
    assert_eq!(code(&out), 125);
    assert!(String::from_utf8_lossy(&out.stderr).contains("userns-pool"));
    // `info` tells the default, the pool and how much of it is held.
    let info = run(&["info", "--format", "{{json .UserNamespaces}} {{json .SecurityOptions}}"]);
    assert!(
        info.contains(r#""Default":"auto","Pool":"3000000000:262144","RangesInUse":4"#),
        "{info}"
    );
    assert!(info.contains("name=userns"), "{info}");
    berth.ok(&["rm", "c0"]);
    assert!(run(&["info"]).contains("Pool: 3000000000:262144 (3 in use)"));
}

#[test]
fn a_data_root_its_root_cannot_reach_is_named_with_the_fix() {
    let Some(berth) = with_owned_image() else { return };
    let dir = berth.dir.path();
    let mode = fs::metadata(dir).expect("stat").permissions().mode();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).expect("chmod");
    let out = berth.run(&["run", "--rm", "--userns=auto", "--network", "none", "owned", "true"]);
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).expect("chmod back");
    assert_eq!(code(&out), 125);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("chmod o+x {}", dir.display())), "{stderr}");
    berth.ok(&["run", "--rm", "--userns=auto", "--network", "none", "owned", "true"]);
}
