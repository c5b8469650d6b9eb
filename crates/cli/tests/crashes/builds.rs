//! A build killed (the CLI alone) while a RUN step runs: the step's container is killed and removed
//! by the commands that notice its owner is gone, with its mounts, cgroups and network link (they
//! stayed: 22 mounts, 51 cgroups and 11 veths after 40 kills).

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::with_busybox;

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
