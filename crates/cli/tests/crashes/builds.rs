//! A build killed (the CLI alone) while a RUN step runs: the step's container is killed and removed
//! by the commands that notice its owner is gone, with its mounts, cgroups and network link (they
//! stayed: 22 mounts, 51 cgroups and 11 veths after 40 kills).

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::with_busybox;
use crate::kill_at_random_as;

#[test]
fn a_killed_builds_step_container_goes() {
    let Some(berth) = with_busybox() else { return };
    let context = berth.path("ctx");
    fs::create_dir_all(&context).expect("mkdir");
    fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN sleep 5 && echo done > /x\n",
    )
    .expect("Dockerfile");
    for round in 0..3 {
        let mut build = berth
            .cmd(&["build", "--no-cache", "-t", "killed:1", &context.to_string_lossy()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn build");
        // Wait for the step's container to run, then kill the build alone.
        let deadline = Instant::now() + Duration::from_secs(20);
        let id = loop {
            let ids = berth.ok(&["ps", "-q", "--no-trunc"]);
            if let Some(id) = ids.lines().next() {
                break id.to_string();
            }
            assert!(Instant::now() < deadline, "round {round}: the RUN step never started");
            std::thread::sleep(Duration::from_millis(20));
        };
        build.kill().expect("kill the build");
        let _ = build.wait();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !berth.ok(&["ps", "-a", "-q"]).trim().is_empty() {
            assert!(Instant::now() < deadline, "round {round}: the step's container stays");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(
            !mounts.contains(&id),
            "round {round}: a mount of the step's container is left"
        );
        assert!(
            !Path::new(&format!("/sys/fs/cgroup/pids/berth/{id}")).exists(),
            "round {round}: cgroup left"
        );
        assert!(!berth.root().join("containers").join(&id).exists());
        // Its host-side veth (named vb + the id's first 10 characters + the endpoint's number).
        let links: Vec<String> = fs::read_dir("/sys/class/net")
            .map(|d| d.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        let veth = format!("vb{}", &id[..10]);
        assert!(
            !links.iter().any(|l| l.starts_with(&veth)),
            "round {round}: the step's veth is left: {links:?}"
        );
    }
    // The image was never made.
    assert!(berth.ok(&["images", "-q", "killed:1"]).trim().is_empty());
}

/// `build` killed at random moments, the CLI alone or its whole process tree (the step's monitor and
/// container too), 10 times: the step's container goes once a command notices, nothing of it is left
/// on the host, and the build succeeds when repeated.
#[test]
fn killed_builds_leave_nothing_and_build_again() {
    let Some(berth) = with_busybox() else { return };
    let context = berth.path("ctx");
    fs::create_dir_all(&context).expect("mkdir");
    fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN sleep 0.2 && echo one > /one\nRUN echo two > /two\n",
    )
    .expect("Dockerfile");
    let build = ["build", "--no-cache", "-q", "-t", "again:1", &context.to_string_lossy()];
    for round in 0..10 {
        let kill = crate::kill_mode(round);
        let what = format!("{kill:?} round {round}");
        kill_at_random_as(kill, berth.cmd(&build), Duration::from_millis(600));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !berth.ok(&["ps", "-a", "-q"]).trim().is_empty() {
            if Instant::now() > deadline {
                let ps = berth.ok(&["ps", "-a", "--no-trunc"]);
                let procs = std::process::Command::new("ps")
                    .args(["-eo", "pid,ppid,stat,etimes,args"])
                    .output()
                    .expect("ps");
                panic!(
                    "{what}: a step's container stays:\n{ps}\n{}",
                    String::from_utf8_lossy(&procs.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let left = crate::mounts_of_test(&berth);
        assert!(left.is_empty(), "{what}: mounts left: {left:?}");
        // Per-container state (the runtime keeps caches in dot-directories beside it).
        let runtime: Vec<String> = fs::read_dir(berth.path("run").join("runtime"))
            .map(|d| d.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        let runtime: Vec<&String> = runtime.iter().filter(|n| !n.starts_with('.')).collect();
        assert!(runtime.is_empty(), "{what}: runtime state left: {runtime:?}");
        crate::assert_checked(&berth, &what);
        berth.ok(&build);
        assert_eq!(
            berth.ok(&["run", "--rm", "again:1", "cat", "/one", "/two"]),
            "one\ntwo\n"
        );
        let listed = berth.ok(&["ps", "-a", "--no-trunc"]);
        assert_eq!(listed.lines().count(), 1, "{what}: {listed}");
        berth.ok(&["rmi", "again:1"]);
    }
}
