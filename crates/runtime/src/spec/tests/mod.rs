//! build() against a fake Host and a fake busybox root: helpers, a typical run, the JSON, the process.

mod devices;
mod mounts;
mod namespaces;
mod resources;
mod rlimits;
mod security;

use super::*;
use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, LinuxSeccompAction, Mount, PosixRlimitType};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn fake_host() -> Host {
    Host {
        hard_limits: [("nofile", 20_000u64)].into_iter().collect(),
        can_raise_limits: false,
        bounding: Some((1u64 << 41) - 1),
        cgroup2_only: false,
        cgroup_v1_hierarchies: vec!["cpu,cpuacct".into(), "memory".into(), "systemd".into()],
        swap_limit: true,
        cpus: 2,
        arch: "x86_64".to_string(),
        kernel: (6, 18, 0),
        dev_dir: PathBuf::from("/dev"),
        top_gid: u32::MAX - 1,
        in_user_namespace: false,
    }
}

fn busybox_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n\
         www-data:x:33:33:www-data:/var/www:/bin/false\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("etc/group"),
        "root:x:0:\nwheel:x:10:root\nnogroup:x:65534:\nwww-data:x:33:\n",
    )
    .unwrap();
    dir
}

fn busybox_run(root: &Path) -> RunSpec {
    RunSpec {
        rootfs: root.to_path_buf(),
        args: vec!["sh".into(), "-c".into(), "echo hi".into()],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        hostname: "0123456789ab".into(),
        cgroups_path: "/berth/0123456789ab".into(),
        ..Default::default()
    }
}

fn caps_of(spec: &Spec) -> BTreeSet<String> {
    let caps = spec.process().as_ref().unwrap().capabilities().as_ref().unwrap();
    let names = |set: &Option<Capabilities>| -> BTreeSet<String> {
        set.iter()
            .flatten()
            .map(|c| serde_json::to_value(c).unwrap().as_str().unwrap().to_string())
            .collect()
    };
    let bounding = names(caps.bounding());
    assert_eq!(bounding, names(caps.effective()));
    assert_eq!(bounding, names(caps.permitted()));
    assert!(names(caps.inheritable()).is_empty());
    assert!(names(caps.ambient()).is_empty());
    bounding
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn mount_of<'a>(spec: &'a Spec, dest: &str) -> Option<&'a Mount> {
    spec.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == Path::new(dest))
}

fn options_of(spec: &Spec, dest: &str) -> Vec<String> {
    mount_of(spec, dest).unwrap().options().clone().unwrap_or_default()
}

fn rlimit_of(spec: &Spec, typ: PosixRlimitType) -> Option<(u64, u64)> {
    let process = spec.process().as_ref().unwrap();
    process
        .rlimits()
        .iter()
        .flatten()
        .find(|r| r.typ() == typ)
        .map(|r| (r.soft(), r.hard()))
}

#[test]
fn typical_busybox_run() {
    let root = busybox_root();
    let spec = build_with(&busybox_run(root.path()), &fake_host()).unwrap();
    assert_eq!(spec.version(), OCI_VERSION);
    assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
    let rootspec = spec.root().as_ref().unwrap();
    assert_eq!(rootspec.path(), root.path());
    assert_eq!(rootspec.readonly(), Some(false));

    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.args().as_deref().unwrap(), ["sh", "-c", "echo hi"]);
    assert_eq!(
        process.env().as_deref().unwrap(),
        [
            format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=0123456789ab".to_string(),
            "HOME=/root".to_string()
        ]
    );
    assert_eq!(process.cwd(), Path::new("/"));
    assert_eq!(process.terminal(), Some(false));
    assert_eq!(process.no_new_privileges(), None);
    assert_eq!((process.user().uid(), process.user().gid()), (0, 0));
    assert_eq!(process.user().additional_gids().as_deref(), Some(&[10][..]));

    let mut expected = set(&default_capabilities());
    assert_eq!(caps_of(&spec), expected);
    assert!(!expected.contains("CAP_NET_RAW"));
    assert_eq!(expected.len(), 13);
    expected.insert("CAP_NET_RAW".into());
    assert_eq!(
        expected,
        set(&[
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FSETID",
            "CAP_FOWNER",
            "CAP_MKNOD",
            "CAP_NET_RAW",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETFCAP",
            "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_CHROOT",
            "CAP_KILL",
            "CAP_AUDIT_WRITE"
        ]),
        "Docker's default set"
    );

    // Docker's mounts, in Docker's order.
    let mounts = spec.mounts().as_ref().unwrap();
    let summary: Vec<(String, String, String)> = mounts
        .iter()
        .map(|m| {
            (
                m.destination().display().to_string(),
                m.typ().clone().unwrap(),
                m.options().as_ref().unwrap().join(","),
            )
        })
        .collect();
    let expect = |d: &str, t: &str, o: &str| (d.to_string(), t.to_string(), o.to_string());
    assert_eq!(
        summary,
        vec![
            expect("/proc", "proc", "nosuid,noexec,nodev"),
            expect("/dev", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"),
            expect(
                "/dev/pts",
                "devpts",
                "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"
            ),
            expect("/sys", "sysfs", "nosuid,noexec,nodev,ro"),
            expect("/sys/fs/cgroup", "cgroup", "ro,nosuid,noexec,nodev"),
            expect("/dev/mqueue", "mqueue", "nosuid,noexec,nodev"),
            expect("/dev/shm", "tmpfs", "nosuid,noexec,nodev,mode=1777,size=65536k"),
        ]
    );
    assert_eq!(
        mount_of(&spec, "/dev/shm").unwrap().source().as_deref(),
        Some(Path::new("shm"))
    );

    let linux = spec.linux().as_ref().unwrap();
    let ns: Vec<(LinuxNamespaceType, Option<PathBuf>)> = linux
        .namespaces()
        .iter()
        .flatten()
        .map(|n| (n.typ(), n.path().clone()))
        .collect();
    use LinuxNamespaceType::*;
    assert_eq!(
        ns,
        vec![(Mount, None), (Network, None), (Uts, None), (Pid, None), (Ipc, None)]
    );
    assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new("/berth/0123456789ab")));
    assert_eq!(linux.masked_paths().as_deref().unwrap(), MASKED_PATHS);
    assert!(linux
        .masked_paths()
        .as_ref()
        .unwrap()
        .contains(&"/proc/kcore".to_string()));
    assert_eq!(
        linux.readonly_paths().as_deref().unwrap(),
        [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/cpu,cpuacct",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/systemd",
        ]
    );
    let sysctl = linux.sysctl().as_ref().unwrap();
    assert_eq!(
        sysctl.get("net.ipv4.ping_group_range").map(String::as_str),
        Some("0 2147483647")
    );
    assert_eq!(
        sysctl.get("net.ipv4.ip_unprivileged_port_start").map(String::as_str),
        Some("0")
    );
    assert!(linux.devices().is_none());

    // Device cgroup: deny all first, then the standard devices.
    let rules = linux.resources().as_ref().unwrap().devices().as_ref().unwrap();
    let text: Vec<String> = rules
        .iter()
        .map(|r| format!("{} {r}", if r.allow() { "allow" } else { "deny" }))
        .collect();
    assert_eq!(text[0], "deny a *:* rwm");
    for want in [
        "allow c *:* m",
        "allow b *:* m",
        "allow c 1:3 rwm",
        "allow c 1:5 rwm",
        "allow c 1:7 rwm",
        "allow c 1:8 rwm",
        "allow c 1:9 rwm",
        "allow c 5:0 rwm",
        "allow c 5:1 rwm",
        "allow c 5:2 rwm",
        "allow c 136:* rwm",
    ] {
        assert!(text.contains(&want.to_string()), "{want} in {text:?}");
    }
    assert!(linux.resources().as_ref().unwrap().memory().is_none());

    // nofile: Docker's 1048576 would be above this host's hard limit of 20000.
    assert_eq!(rlimit_of(&spec, PosixRlimitType::RlimitNofile), Some((20_000, 20_000)));
    let mut big = fake_host();
    big.hard_limits.insert("nofile", 4_000_000);
    let spec_big = build_with(&busybox_run(root.path()), &big).unwrap();
    assert_eq!(
        rlimit_of(&spec_big, PosixRlimitType::RlimitNofile),
        Some((1_048_576, 1_048_576))
    );

    // Seccomp: Docker's default profile, for these capabilities.
    let seccomp = linux.seccomp().as_ref().unwrap();
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    let allowed = |name: &str| {
        seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActAllow && r.names().iter().any(|n| n == name))
    };
    assert!(allowed("read"));
    assert!(!allowed("mount"));
}

#[test]
fn oci_json() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.tty = true;
    run.resources.memory = Some(64 << 20);
    let spec = build_with(&run, &fake_host()).unwrap();
    let text = serde_json::to_string(&spec).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["ociVersion"], OCI_VERSION);
    assert_eq!(json["root"]["path"], root.path().to_str().unwrap());
    assert_eq!(json["process"]["terminal"], true);
    assert_eq!(json["process"]["user"]["uid"], 0);
    assert_eq!(json["process"]["cwd"], "/");
    assert_eq!(json["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
    assert_eq!(json["process"]["rlimits"][0]["hard"], 20000);
    assert!(json["process"]["capabilities"]["bounding"]
        .as_array()
        .unwrap()
        .contains(&"CAP_CHOWN".into()));
    assert_eq!(json["process"]["capabilities"]["inheritable"], serde_json::json!([]));
    assert_eq!(json["mounts"][0]["destination"], "/proc");
    assert_eq!(json["mounts"][0]["type"], "proc");
    assert_eq!(json["linux"]["namespaces"][0]["type"], "mount");
    assert_eq!(json["linux"]["namespaces"][1]["type"], "network");
    assert_eq!(json["linux"]["cgroupsPath"], "/berth/0123456789ab");
    assert_eq!(json["linux"]["resources"]["memory"]["limit"], 64 << 20);
    assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], false);
    assert_eq!(json["linux"]["resources"]["devices"][0]["access"], "rwm");
    assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["linux"]["maskedPaths"][0], "/proc/asound");
    assert!(json["linux"]["readonlyPaths"].is_array());
    assert!(json.get("annotations").is_none());
    let env = json["process"]["env"].as_array().unwrap();
    assert!(env.contains(&"TERM=xterm".into()));
    // And it reads back as the same spec.
    let back: Spec = serde_json::from_str(&text).unwrap();
    assert_eq!(back, spec);
}

#[test]
fn env_rules() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.tty = true;
    run.user = "www-data".into();
    run.env = vec![
        "FOO=bar".into(),
        "HOSTNAME=custom".into(),
        "TERM".into(),
        "NOPE".into(),
        "FOO=baz".into(),
    ];
    let spec = build_with(&run, &fake_host()).unwrap();
    let env = spec.process().as_ref().unwrap().env().clone().unwrap();
    assert_eq!(
        env,
        [
            format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=custom".into(),
            "FOO=baz".into(),
            "HOME=/var/www".into()
        ]
    );
    let user = spec.process().as_ref().unwrap().user();
    assert_eq!((user.uid(), user.gid()), (33, 33));

    run.env.push("HOME=/elsewhere".into());
    let spec = build_with(&run, &fake_host()).unwrap();
    let env = spec.process().as_ref().unwrap().env().clone().unwrap();
    assert!(env.contains(&"HOME=/elsewhere".to_string()) && !env.contains(&"HOME=/var/www".to_string()));

    run.user = "nosuchuser".into();
    assert!(matches!(build_with(&run, &fake_host()), Err(Error::UnknownUser(_))));
}

#[test]
fn process_checks() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.cwd = "relative".into();
    assert!(build_with(&run, &fake_host())
        .unwrap_err()
        .to_string()
        .contains("absolute path"));
    run.cwd = "/work".into();
    let spec = build_with(&run, &fake_host()).unwrap();
    assert_eq!(spec.process().as_ref().unwrap().cwd(), Path::new("/work"));
    run.args.clear();
    assert!(matches!(build_with(&run, &fake_host()), Err(Error::InvalidArgument(_))));
    let mut run = busybox_run(root.path());
    run.oom_score_adj = Some(500);
    let spec = build_with(&run, &fake_host()).unwrap();
    assert_eq!(spec.process().as_ref().unwrap().oom_score_adj(), Some(500));
    run.oom_score_adj = Some(1001);
    assert!(build_with(&run, &fake_host()).is_err());
    let mut run = busybox_run(root.path());
    run.no_new_privileges = true;
    let spec = build_with(&run, &fake_host()).unwrap();
    assert_eq!(spec.process().as_ref().unwrap().no_new_privileges(), Some(true));
}
