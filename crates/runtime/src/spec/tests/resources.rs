//! cgroup resources, and parsing --memory and --cpus.

use super::*;

#[test]
fn resources_mapping() {
    let root = busybox_root();
    let mut run = busybox_run(root.path());
    run.resources = Resources {
        memory: Some(parse_memory("32m").unwrap()),
        memory_reservation: Some(parse_memory("16m").unwrap()),
        nano_cpus: Some(parse_cpus("1.5").unwrap()),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0-1".into()),
        pids_limit: Some(100),
        ..Default::default()
    };
    let spec = build_with(&run, &fake_host()).unwrap();
    let res = spec.linux().as_ref().unwrap().resources().clone().unwrap();
    let mem = res.memory().unwrap();
    assert_eq!(mem.limit(), Some(32 << 20));
    assert_eq!(mem.swap(), Some(64 << 20), "docker's default: as much swap as memory");
    assert_eq!(mem.reservation(), Some(16 << 20));
    assert_eq!(mem.disable_oom_killer(), None);
    let cpu = res.cpu().clone().unwrap();
    assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
    assert_eq!(cpu.shares(), Some(512));
    assert_eq!(cpu.cpus().as_deref(), Some("0-1"));
    assert_eq!(res.pids().unwrap().limit(), 100);

    run.resources = Resources {
        memory: Some(64 << 20),
        memory_swap: Some(-1),
        oom_kill_disable: true,
        pids_limit: Some(-1),
        ..Default::default()
    };
    let spec = build_with(&run, &fake_host()).unwrap();
    let res = spec.linux().as_ref().unwrap().resources().clone().unwrap();
    assert_eq!(res.memory().unwrap().swap(), Some(-1));
    assert_eq!(res.memory().unwrap().disable_oom_killer(), Some(true));
    assert!(res.pids().is_none() && res.cpu().is_none());

    // Without swap accounting, no swap limit is written.
    let mut no_swap = fake_host();
    no_swap.swap_limit = false;
    run.resources = Resources {
        memory: Some(64 << 20),
        memory_swap: Some(128 << 20),
        ..Default::default()
    };
    let spec = build_with(&run, &no_swap).unwrap();
    assert_eq!(
        spec.linux()
            .as_ref()
            .unwrap()
            .resources()
            .as_ref()
            .unwrap()
            .memory()
            .unwrap()
            .swap(),
        None
    );

    let bad = |r: Resources, needle: &str| {
        let mut run = busybox_run(root.path());
        run.resources = r;
        let err = build_with(&run, &fake_host()).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)) && err.to_string().contains(needle),
            "{err}"
        );
    };
    bad(
        Resources {
            memory: Some(1 << 20),
            ..Default::default()
        },
        "6MB",
    );
    bad(
        Resources {
            memory: Some(64 << 20),
            memory_swap: Some(32 << 20),
            ..Default::default()
        },
        "memoryswap",
    );
    bad(
        Resources {
            memory_swap: Some(64 << 20),
            ..Default::default()
        },
        "memory limit",
    );
    bad(
        Resources {
            memory: Some(16 << 20),
            memory_reservation: Some(32 << 20),
            ..Default::default()
        },
        "reservation",
    );
    bad(
        Resources {
            nano_cpus: Some(3_000_000_000),
            ..Default::default()
        },
        "only 2 CPUs",
    );
    bad(
        Resources {
            nano_cpus: Some(1_000_000),
            ..Default::default()
        },
        "0.01",
    );
    bad(
        Resources {
            cpuset_cpus: Some("1-0".into()),
            ..Default::default()
        },
        "cpuset",
    );
    bad(
        Resources {
            cpuset_cpus: Some("a".into()),
            ..Default::default()
        },
        "cpuset",
    );
}

#[test]
fn memory_values() {
    assert_eq!(parse_memory("32m").unwrap(), 32 << 20);
    assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
    assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
    assert_eq!(parse_memory("512k").unwrap(), 512 << 10);
    assert_eq!(parse_memory("1024b").unwrap(), 1024);
    assert_eq!(parse_memory("1024").unwrap(), 1024);
    assert_eq!(parse_memory("1.5g").unwrap(), 3 << 29);
    assert_eq!(parse_memory("64MiB").unwrap(), 64 << 20);
    assert_eq!(parse_memory("64mb").unwrap(), 64 << 20);
    assert_eq!(parse_memory("10 KB").unwrap(), 10 << 10);
    assert_eq!(parse_memory("2t").unwrap(), 2 << 40);
    assert_eq!(parse_memory_swap("-1").unwrap(), -1);
    assert_eq!(parse_memory_swap("1g").unwrap(), 1 << 30);
    for bad in ["abc", "", "-1", "1x", "1kk", "1mbb", "m", "1.2.3m", "99999999p"] {
        let err = parse_memory(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad}");
    }
    assert_eq!(parse_memory("abc").unwrap_err().to_string(), "invalid size: 'abc'");
    assert_eq!(parse_memory("1x").unwrap_err().to_string(), "invalid suffix: 'x'");
}

#[test]
fn cpu_values() {
    assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
    assert_eq!(parse_cpus("2").unwrap(), 2_000_000_000);
    assert_eq!(parse_cpus("0.01").unwrap(), 10_000_000);
    assert_eq!(parse_cpus(".5").unwrap(), 500_000_000);
    assert_eq!(parse_cpus("3/2").unwrap(), 1_500_000_000);
    assert_eq!(parse_cpus("0").unwrap(), 0);
    assert_eq!(parse_cpus("0.1234567890").unwrap(), 123_456_789);
    for bad in ["-1", "-0.5", "NaN", "nan", "inf", "abc", "", "1.5.2", "1/0", "1e3"] {
        assert!(matches!(parse_cpus(bad), Err(Error::InvalidArgument(_))), "{bad}");
    }
    assert_eq!(
        parse_cpus("0.0000000001").unwrap_err().to_string(),
        "value is too precise"
    );
    assert!(parse_cpus("99999999999999999999").is_err());
}
