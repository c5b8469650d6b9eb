//! Resource limits: --ulimit, the host's hard limits, parsing.

use super::*;

#[test]
fn ulimits() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.ulimits = vec![
        parse_ulimit("nofile=1024:2048").unwrap(),
        parse_ulimit("nproc=512").unwrap(),
    ];
    let spec = build_with(&run, &fake_host()).unwrap();
    assert_eq!(rlimit_of(&spec, PosixRlimitType::RlimitNofile), Some((1024, 2048)));
    assert_eq!(rlimit_of(&spec, PosixRlimitType::RlimitNproc), Some((512, 512)));
    assert_eq!(spec.process().as_ref().unwrap().rlimits().as_ref().unwrap().len(), 2);

    // Above the host's hard limit: a clear error, not a runtime failure.
    run.ulimits = vec![parse_ulimit("nofile=30000:30000").unwrap()];
    let err = build_with(&run, &fake_host()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    let msg = err.to_string();
    assert!(
        msg.contains("nofile") && msg.contains("30000") && msg.contains("20000"),
        "{msg}"
    );
    // With CAP_SYS_RESOURCE berth could raise it.
    let mut strong = fake_host();
    strong.can_raise_limits = true;
    assert!(build_with(&run, &strong).is_ok());
    // Exactly the host limit is fine.
    run.ulimits = vec![parse_ulimit("nofile=20000").unwrap()];
    let spec = build_with(&run, &fake_host()).unwrap();
    assert_eq!(rlimit_of(&spec, PosixRlimitType::RlimitNofile), Some((20_000, 20_000)));
    // Soft above hard, built by hand.
    run.ulimits = vec![Ulimit {
        name: "core".into(),
        soft: 10,
        hard: 5,
    }];
    assert!(build_with(&run, &fake_host()).is_err());
}

#[test]
fn host_limits_of_this_process() {
    // The real probe: whatever this machine's nofile hard limit is, the default never exceeds it.
    let root = busybox_root();
    let spec = build(&busybox_run(root.path())).unwrap();
    let (soft, hard) = rlimit_of(&spec, PosixRlimitType::RlimitNofile).unwrap();
    assert_eq!(soft, hard);
    assert!(hard <= DEFAULT_NOFILE);
    if let Some(host) = host_hard_limit("nofile") {
        assert!(hard <= host);
        let host_caps = Host::probe();
        if !host_caps.can_raise_limits {
            let mut run = busybox_run(root.path());
            run.ulimits = vec![Ulimit {
                name: "nofile".into(),
                soft: host + 1,
                hard: host + 1,
            }];
            let err = build(&run).unwrap_err().to_string();
            assert!(err.contains("nofile") && err.contains(&host.to_string()), "{err}");
        } else {
            eprintln!("SKIP part of host_limits_of_this_process: berth holds CAP_SYS_RESOURCE here");
        }
    }
    assert_eq!(host_hard_limit("bogus"), None);
}

#[test]
fn ulimit_values() {
    assert_eq!(
        parse_ulimit("nofile=1024:2048").unwrap(),
        Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 2048
        }
    );
    assert_eq!(
        parse_ulimit("nproc=512").unwrap(),
        Ulimit {
            name: "nproc".into(),
            soft: 512,
            hard: 512
        }
    );
    assert_eq!(
        parse_ulimit("core=-1").unwrap(),
        Ulimit {
            name: "core".into(),
            soft: u64::MAX,
            hard: u64::MAX
        }
    );
    assert_eq!(parse_ulimit("core=0:-1").unwrap().hard, u64::MAX);
    for (bad, needle) in [
        ("nofile", "invalid ulimit argument"),
        ("bogus=1", "invalid ulimit type: bogus"),
        ("as=1", "invalid ulimit type"),
        ("nofile=1:2:3", "too many limit value arguments"),
        (
            "nofile=2048:1024",
            "soft limit must be less than or equal to hard limit: 2048 > 1024",
        ),
        ("nofile=abc", "invalid ulimit value"),
        ("nofile=-5", "invalid ulimit value"),
        ("nofile=", "invalid ulimit value"),
        ("nofile=-1:100", "unlimited > 100"),
    ] {
        let err = parse_ulimit(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert!(err.to_string().contains(needle), "{bad}: {err}");
    }
}
