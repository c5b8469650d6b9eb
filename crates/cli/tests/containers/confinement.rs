//! What a container may do: memory and pids limits, capabilities, seccomp (and the precompiled
//! filter), a read-only root, and cgroups on a cgroup2-only view.

use crate::common::*;
use crate::stdout;

#[test]
fn limits_and_confinement() {
    let Some(berth) = with_busybox() else { return };
    // A memory hog dies inside the container only.
    let out = berth.run(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\000' a); echo survived",
    ]);
    assert_eq!(code(&out), 137, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        berth.ok(&["inspect", "--format", "{{.State.OOMKilled}}", "hog"]).trim(),
        "true"
    );
    berth.ok(&["rm", "hog"]);
    // A fork bomb is contained by the pids limit: each child that got forked
    // says so, and busybox sh gives up at the first fork the kernel refuses.
    let out = berth.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 100); do (echo forked; exec sleep 5) & done; wait",
    ]);
    let forked = stdout(&out).matches("forked").count();
    assert!(forked < 20, "pids limit not applied: {forked} children forked");
    // The control: without the limit all 100 fork.
    let free = berth.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 100); do (echo forked; exec sleep 1) & done; wait",
    ]);
    assert_eq!(stdout(&free).matches("forked").count(), 100);
    assert!(String::from_utf8_lossy(&out.stderr).contains("can't fork"));
    // Default capabilities deny mount and raw sockets.
    let mount = berth.run(&["run", "--rm", "busybox", "mount", "-t", "tmpfs", "none", "/mnt"]);
    assert_ne!(code(&mount), 0, "mount must be denied");
    let raw = berth.run(&["run", "--rm", "busybox", "sh", "-c", "ping -c 1 -W 1 127.0.0.1 2>&1"]);
    let text = stdout(&raw);
    assert!(
        !text.contains("1 packets received"),
        "raw sockets must be denied: {text}"
    );
    // --read-only denies writes outside tmpfs.
    let ro = berth.run(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /scratch/ok && touch /denied",
    ]);
    assert_ne!(code(&ro), 0);
    assert!(
        String::from_utf8_lossy(&ro.stderr).contains("Read-only"),
        "{}",
        String::from_utf8_lossy(&ro.stderr)
    );
}

#[test]
fn capabilities_privileged_and_seccomp_options() {
    let Some(berth) = with_busybox() else { return };
    let mount = "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo mounted";
    assert_ne!(code(&berth.run(&["run", "--rm", "busybox", "sh", "-c", mount])), 0);
    assert_eq!(
        berth
            .ok(&["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", mount])
            .trim(),
        "mounted"
    );
    assert_eq!(
        berth
            .ok(&["run", "--rm", "--privileged", "busybox", "sh", "-c", mount])
            .trim(),
        "mounted"
    );
    // Dropping a default capability takes it away.
    let chown = berth.run(&["run", "--rm", "busybox", "chown", "1:1", "/tmp"]);
    assert_eq!(code(&chown), 0, "{}", String::from_utf8_lossy(&chown.stderr));
    assert_ne!(
        code(&berth.run(&["run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "1:1", "/tmp"])),
        0
    );
    assert_ne!(
        code(&berth.run(&["run", "--rm", "--cap-drop", "ALL", "busybox", "chown", "1:1", "/tmp"])),
        0
    );
    // Seccomp: the default profile is on; unconfined and a custom profile are honoured.
    let seccomp = "grep Seccomp: /proc/self/status";
    assert!(berth.ok(&["run", "--rm", "busybox", "sh", "-c", seccomp]).contains('2'));
    let off = berth.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "sh",
        "-c",
        seccomp,
    ]);
    assert!(off.trim().ends_with('0'), "{off}");
    let profile = berth.path("deny-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .expect("write profile");
    let custom = format!("seccomp={}", profile.display());
    assert_ne!(
        code(&berth.run(&["run", "--rm", "--security-opt", &custom, "busybox", "mkdir", "/tmp/x"])),
        0
    );
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--security-opt", &custom, "busybox", "true"])),
        0
    );
    let bad = berth.run(&["run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true"]);
    assert_eq!(code(&bad), 125);
}

/// The status lines of a process that say what it may do: capability sets, seccomp, no_new_privs.
fn privileges(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(":\t"))
        .filter(|(k, _)| k.starts_with("Cap") || k.starts_with("Seccomp") || *k == "NoNewPrivs")
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn precompiled_seccomp_leaves_exactly_the_requested_privileges() {
    // berth loads the compiled filter itself just before the exec, borrowing CAP_SYS_ADMIN (and CAP_SETPCAP)
    // for that moment: the workload must see exactly the requested capabilities, the filter, and no
    // no_new_privs, in run and in exec, as root and as another user.
    let Some(berth) = with_busybox() else { return };
    let status = "cat /proc/self/status";
    // Docker's default set without NET_RAW: chown, dac_override, fowner, fsetid, kill, setgid, setuid,
    // setpcap, net_bind_service, sys_chroot, mknod, audit_write, setfcap.
    let defaults = "00000000a80405fb";
    let root = privileges(&berth.ok(&["run", "--rm", "busybox", "sh", "-c", status]));
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(root[set], defaults, "{set}: {root:?}");
    }
    assert_eq!(root["CapInh"], "0000000000000000", "{root:?}");
    assert_eq!(root["CapAmb"], "0000000000000000", "{root:?}");
    assert_eq!(root["Seccomp"], "2", "{root:?}");
    assert_eq!(
        root["Seccomp_filters"], "1",
        "one filter, not ours and libcontainer's: {root:?}"
    );
    assert_eq!(root["NoNewPrivs"], "0", "{root:?}");

    let user = privileges(&berth.ok(&["run", "--rm", "-u", "1000", "busybox", "sh", "-c", status]));
    assert_eq!(user["CapEff"], "0000000000000000", "{user:?}");
    assert_eq!(user["CapPrm"], "0000000000000000", "{user:?}");
    assert_eq!(user["CapBnd"], defaults, "{user:?}");
    assert_eq!(user["Seccomp"], "2", "{user:?}");
    assert_eq!(user["NoNewPrivs"], "0", "{user:?}");

    // Without CAP_SETPCAP of its own the container still ends up without the borrowed pair.
    let none = privileges(&berth.ok(&["run", "--rm", "--cap-drop", "ALL", "busybox", "sh", "-c", status]));
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(none[set], "0000000000000000", "{set}: {none:?}");
    }
    assert_eq!(none["Seccomp"], "2", "{none:?}");
    // Asked for, CAP_SYS_ADMIN stays (bit 21).
    let admin = privileges(&berth.ok(&["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", status]));
    assert_eq!(admin["CapEff"], "00000000a82405fb", "{admin:?}");
    assert_eq!(admin["Seccomp"], "2", "{admin:?}");
    // no-new-privileges needs no borrowing at all.
    let nnp = privileges(&berth.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sh",
        "-c",
        status,
    ]));
    assert_eq!(nnp["CapEff"], defaults, "{nnp:?}");
    assert_eq!(
        (nnp["Seccomp"].as_str(), nnp["NoNewPrivs"].as_str()),
        ("2", "1"),
        "{nnp:?}"
    );

    // exec'd processes get the same treatment.
    let id = berth.ok(&["run", "-d", "busybox", "sleep", "60"]);
    let id = id.trim();
    let exec = privileges(&berth.ok(&["exec", id, "sh", "-c", status]));
    assert_eq!(exec["CapEff"], defaults, "{exec:?}");
    assert_eq!(exec["CapBnd"], defaults, "{exec:?}");
    assert_eq!(exec["Seccomp"], "2", "{exec:?}");
    assert_eq!(exec["Seccomp_filters"], "1", "{exec:?}");
    let exec_user = privileges(&berth.ok(&["exec", "-u", "1000", id, "sh", "-c", status]));
    assert_eq!(exec_user["CapEff"], "0000000000000000", "{exec_user:?}");
    assert_eq!(exec_user["Seccomp"], "2", "{exec_user:?}");
    // And the filter is the default profile's: mount is refused in exec too.
    assert_ne!(
        code(&berth.run(&["exec", id, "mount", "-t", "tmpfs", "none", "/mnt"])),
        0
    );
    berth.ok(&["rm", "-f", id]);
}

#[test]
fn runs_on_a_cgroup2_only_view() {
    let Some(berth) = with_busybox() else { return };
    if !need("unshare") {
        return;
    }
    // A private mount namespace where /sys/fs/cgroup is a plain cgroup2
    // mount, as on a host without cgroup v1: berth takes the v2 paths there.
    let script = format!(
        "umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && \
         BERTH_ROOT={root} BERTH_RUNROOT={run} {bin} run --rm busybox cat /proc/self/cgroup",
        root = berth.root().display(),
        run = berth.dir.path().join("run").display(),
        bin = env!("CARGO_BIN_EXE_berth"),
    );
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // On cgroup v2 the container gets a cgroup namespace of its own.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().last(), Some("0::/"));
}
