//! Capabilities, --privileged, the read-only cgroup mounts and seccomp modes.

use super::*;
use crate::spec::security::CAP_SYS_RESOURCE;

#[test]
fn cap_add_and_drop() {
    let root = busybox_root();
    let host = fake_host();
    let mut run = busybox_run(root.path());
    run.cap_add = vec!["net_admin".into(), "CAP_SYS_PTRACE".into()];
    run.cap_drop = vec!["MKNOD".into(), "cap_chown".into()];
    let caps = caps_of(&build_with(&run, &host).unwrap());
    let mut expected = set(&default_capabilities());
    expected.remove("CAP_MKNOD");
    expected.remove("CAP_CHOWN");
    expected.insert("CAP_NET_ADMIN".into());
    expected.insert("CAP_SYS_PTRACE".into());
    assert_eq!(caps, expected);

    // --cap-add NET_RAW brings raw sockets back.
    run.cap_add = vec!["NET_RAW".into()];
    run.cap_drop.clear();
    assert!(caps_of(&build_with(&run, &host).unwrap()).contains("CAP_NET_RAW"));

    // ALL, minus what is dropped.
    run.cap_add = vec!["all".into()];
    run.cap_drop = vec!["SYS_ADMIN".into()];
    let caps = caps_of(&build_with(&run, &host).unwrap());
    assert_eq!(caps.len(), 40);
    assert!(!caps.contains("CAP_SYS_ADMIN") && caps.contains("CAP_NET_RAW") && caps.contains("CAP_BPF"));
    // With CAP_SYS_ADMIN (from ALL), seccomp allows mount.
    run.cap_drop.clear();
    let spec = build_with(&run, &host).unwrap();
    let seccomp = spec.linux().as_ref().unwrap().seccomp().clone().unwrap();
    assert!(seccomp
        .syscalls()
        .iter()
        .flatten()
        .any(|r| r.names().iter().any(|n| n == "mount")));

    // Drop ALL, keep only what is added.
    run.cap_add = vec!["KILL".into()];
    run.cap_drop = vec!["ALL".into()];
    assert_eq!(caps_of(&build_with(&run, &host).unwrap()), set(&["CAP_KILL"]));
    run.cap_add.clear();
    assert!(caps_of(&build_with(&run, &host).unwrap()).is_empty());

    // Unknown names are refused.
    run.cap_add = vec!["NET_MAGIC".into()];
    let err = build_with(&run, &host).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(_)) && err.to_string().contains("CAP_NET_MAGIC"),
        "{err}"
    );
    run.cap_add.clear();
    run.cap_drop = vec!["bogus".into()];
    assert!(matches!(build_with(&run, &host), Err(Error::InvalidArgument(_))));

    // A capability berth does not hold: ALL leaves it out, asking for it is an error.
    let mut limited = fake_host();
    limited.bounding = Some(((1u64 << 41) - 1) & !(1 << CAP_SYS_RESOURCE));
    run.cap_drop.clear();
    run.cap_add = vec!["ALL".into()];
    assert!(!caps_of(&build_with(&run, &limited).unwrap()).contains("CAP_SYS_RESOURCE"));
    run.cap_add = vec!["SYS_RESOURCE".into()];
    assert!(build_with(&run, &limited)
        .unwrap_err()
        .to_string()
        .contains("CAP_SYS_RESOURCE"));
}

#[test]
fn cgroup_mounts_are_read_only_unless_the_user_mounts_there() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    let readonly = |run: &RunSpec| {
        let spec = build_with(run, &fake_host()).unwrap();
        spec.linux().as_ref().unwrap().readonly_paths().clone().unwrap()
    };
    assert!(readonly(&run).contains(&"/sys/fs/cgroup/systemd".to_string()));
    run.tmpfs = vec![("/sys/fs/cgroup/".into(), String::new())];
    let paths = readonly(&run);
    assert!(!paths.iter().any(|p| p.starts_with("/sys")), "{paths:?}");
}

#[test]
fn privileged() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.privileged = true;
    run.cap_drop = vec!["ALL".into()]; // ignored, as by Docker
    let mut host = fake_host();
    host.bounding = Some(((1u64 << 41) - 1) & !(1 << CAP_SYS_RESOURCE));
    let spec = build_with(&run, &host).unwrap();
    let caps = caps_of(&spec);
    assert_eq!(caps.len(), 40);
    assert!(caps.contains("CAP_SYS_ADMIN") && !caps.contains("CAP_SYS_RESOURCE"));
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux.seccomp().is_none());
    assert!(linux.masked_paths().is_none());
    assert!(linux.readonly_paths().is_none());
    assert_eq!(options_of(&spec, "/sys"), ["nosuid", "noexec", "nodev"]);
    assert_eq!(options_of(&spec, "/sys/fs/cgroup"), ["nosuid", "noexec", "nodev"]);
    let rules = linux.resources().as_ref().unwrap().devices().clone().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].to_string(), "a *:* rwm");
    assert!(rules[0].allow());
    // Host devices: /dev/null is there as c 1:3; no pts, no console.
    let devices = linux.devices().clone().unwrap_or_default();
    let null = devices.iter().find(|d| d.path() == Path::new("/dev/null"));
    if Path::new("/dev/null").exists() {
        let null = null.expect("/dev/null among the host devices");
        assert_eq!((null.typ(), null.major(), null.minor()), (LinuxDeviceType::C, 1, 3));
    }
    assert!(!devices
        .iter()
        .any(|d| d.path().starts_with("/dev/pts") || d.path() == Path::new("/dev/console")));
}

#[test]
fn seccomp_modes() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.seccomp = SeccompMode::Unconfined;
    assert!(build_with(&run, &fake_host())
        .unwrap()
        .linux()
        .as_ref()
        .unwrap()
        .seccomp()
        .is_none());
    let profile = root.path().join("profile.json");
    fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    run.seccomp = SeccompMode::Profile(profile.clone());
    let spec = build_with(&run, &fake_host()).unwrap();
    let s = spec.linux().as_ref().unwrap().seccomp().clone().unwrap();
    assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
    fs::write(&profile, "{").unwrap();
    assert!(matches!(build_with(&run, &fake_host()), Err(Error::Seccomp { .. })));
}
