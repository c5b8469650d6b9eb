//! --read-only and the user's tmpfs and bind mounts.

use super::*;

#[test]
fn read_only_root() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.read_only = true;
    run.binds.push(BindMount {
        source: "/tmp".into(),
        destination: "/data".into(),
        read_only: false,
        options: vec![],
    });
    let spec = build_with(&run, &fake_host()).unwrap();
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    // /proc, /dev and friends stay writable, the user's volume too.
    assert!(!options_of(&spec, "/proc").contains(&"ro".to_string()));
    assert!(!options_of(&spec, "/dev/shm").contains(&"ro".to_string()));
    assert!(options_of(&spec, "/sys").contains(&"ro".to_string()));
    assert_eq!(options_of(&spec, "/data"), ["rbind", "rw", "rprivate"]);
}

#[test]
fn user_mounts() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.shm_size = Some(128 << 20);
    run.tmpfs = vec![
        ("/run".into(), String::new()),
        ("/tmp/".into(), "size=64m,mode=1777,exec,size=32m".into()),
        ("/dev/mqueue".into(), "ro".into()),
    ];
    run.binds = vec![
        BindMount {
            source: "/srv/data/sub".into(),
            destination: "/data/sub".into(),
            read_only: true,
            options: vec![],
        },
        BindMount {
            source: "/srv/data".into(),
            destination: "/data".into(),
            read_only: false,
            options: vec!["rslave".into(), "nosuid".into()],
        },
        BindMount {
            source: "/var/lib/berth/containers/x/hosts".into(),
            destination: "/etc/hosts".into(),
            read_only: false,
            options: vec![],
        },
    ];
    let spec = build_with(&run, &fake_host()).unwrap();
    assert_eq!(
        options_of(&spec, "/dev/shm").last().unwrap(),
        &format!("size={}", 128u64 << 20)
    );
    assert_eq!(options_of(&spec, "/run"), ["rw", "noexec", "nosuid", "nodev"]);
    assert_eq!(
        options_of(&spec, "/tmp"),
        ["rw", "exec", "nosuid", "nodev", "size=32m", "mode=1777"]
    );
    // A user mount replaces the default one at the same place.
    let mqueue: Vec<_> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|m| m.destination() == Path::new("/dev/mqueue"))
        .collect();
    assert_eq!(mqueue.len(), 1);
    assert_eq!(mqueue[0].typ().as_deref(), Some("tmpfs"));
    assert_eq!(options_of(&spec, "/dev/mqueue"), ["ro", "noexec", "nosuid", "nodev"]);
    let data = mount_of(&spec, "/data").unwrap();
    assert_eq!(data.typ().as_deref(), Some("bind"));
    assert_eq!(data.source().as_deref(), Some(Path::new("/srv/data")));
    assert_eq!(options_of(&spec, "/data"), ["rbind", "rw", "nosuid", "rslave"]);
    assert_eq!(options_of(&spec, "/data/sub"), ["rbind", "ro", "rprivate"]);
    // Parents before children.
    let order: Vec<String> = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect();
    let pos = |d: &str| order.iter().position(|o| o == d).unwrap();
    assert!(pos("/data") < pos("/data/sub"));
    assert!(pos("/proc") < pos("/run"));

    // A user /dev replaces every default mount below /dev.
    let mut run2 = busybox_run(root.path());
    run2.tmpfs = vec![("/dev".into(), String::new())];
    let spec = build_with(&run2, &fake_host()).unwrap();
    assert!(mount_of(&spec, "/dev/pts").is_none() && mount_of(&spec, "/dev/shm").is_none());

    for (dest, opts) in [("relative", ""), ("/", ""), ("/x", "size=1m,bogus"), ("/x", "uid")] {
        let mut bad = busybox_run(root.path());
        bad.tmpfs = vec![(dest.into(), opts.into())];
        assert!(
            matches!(build_with(&bad, &fake_host()), Err(Error::InvalidArgument(_))),
            "{dest} {opts}"
        );
    }
    let mut dup = busybox_run(root.path());
    dup.tmpfs = vec![("/x".into(), String::new()), ("/x/".into(), String::new())];
    assert!(build_with(&dup, &fake_host())
        .unwrap_err()
        .to_string()
        .contains("duplicate mount point"));
}
