//! Network modes and sysctls.

use super::*;

#[test]
fn network_modes_and_sysctls() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.network = NetworkMode::Host;
    let spec = build_with(&run, &fake_host()).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert!(!linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Network));
    assert!(linux.sysctl().is_none());
    run.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    assert!(build_with(&run, &fake_host())
        .unwrap_err()
        .to_string()
        .contains("host network namespace"));

    run.network = NetworkMode::Path("/run/berth/netns/abc".into());
    run.sysctls.insert("kernel.shmmax".into(), "100000".into());
    run.sysctls.insert("net.ipv4.ping_group_range".into(), "1 1".into());
    let mut host = fake_host();
    host.cgroup2_only = true;
    let spec = build_with(&run, &host).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    let net = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .unwrap();
    assert_eq!(net.path().as_deref(), Some(Path::new("/run/berth/netns/abc")));
    assert!(linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Cgroup));
    let sysctl = linux.sysctl().as_ref().unwrap();
    assert_eq!(sysctl["net.ipv4.ping_group_range"], "1 1", "the user's value wins");
    assert_eq!(sysctl["net.ipv4.ip_forward"], "1");
    assert_eq!(sysctl["kernel.shmmax"], "100000");

    run.sysctls.insert("kernel.panic".into(), "1".into());
    assert!(build_with(&run, &fake_host())
        .unwrap_err()
        .to_string()
        .contains("kernel.panic"));
}
