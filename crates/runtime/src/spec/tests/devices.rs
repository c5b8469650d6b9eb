//! --device mappings and the device cgroup rules.

use super::*;

#[test]
fn devices_mapping() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    if !Path::new("/dev/null").exists() {
        eprintln!("SKIP devices_mapping: no /dev/null on this machine");
        return;
    }
    run.devices = vec![Device {
        host: "/dev/null".into(),
        container: "/dev/mynull".into(),
        permissions: "rw".into(),
    }];
    let spec = build_with(&run, &fake_host()).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    let devices = linux.devices().clone().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].path(), Path::new("/dev/mynull"));
    assert_eq!(
        (devices[0].typ(), devices[0].major(), devices[0].minor()),
        (LinuxDeviceType::C, 1, 3)
    );
    let rules = linux.resources().as_ref().unwrap().devices().clone().unwrap();
    assert_eq!(rules.last().unwrap().to_string(), "c 1:3 rw");
    assert!(rules.last().unwrap().allow());

    for (host, perms) in [
        ("/nonexistent-device", "rwm"),
        ("/dev/null", "rwx"),
        ("/dev/null", "rrw"),
        ("relative", "r"),
    ] {
        run.devices = vec![Device {
            host: host.into(),
            container: "/dev/x".into(),
            permissions: perms.into(),
        }];
        assert!(
            matches!(build_with(&run, &fake_host()), Err(Error::InvalidArgument(_))),
            "{host} {perms}"
        );
    }
    let file = root.path().join("etc/passwd");
    run.devices = vec![Device {
        host: file,
        container: "/dev/x".into(),
        permissions: String::new(),
    }];
    assert!(build_with(&run, &fake_host())
        .unwrap_err()
        .to_string()
        .contains("not a device"));
}
