//! cgroup v2 end to end. The test host binds every controller to cgroup v1, so berth's v2 path runs in a
//! VM instead: Debian's kernel under qemu (software emulation, no network), a host with only the cgroup2
//! hierarchy, berth and busybox in an initramfs (tests/vm/). The guest runs tests/vm/checks.sh and prints
//! "GUEST: key: value" lines on its console, checked here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn kernel_dir() -> PathBuf {
    std::env::var_os("BERTH_TEST_KERNEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/berth-test/kernel"))
}

#[test]
fn limits_pause_and_cleanup_on_a_cgroup_v2_host() {
    let kernel = kernel_dir();
    assert!(
        kernel.join("vmlinuz").exists() && kernel.join("overlay.ko").exists(),
        "no VM kernel in {}: run scripts/vm-kernel.sh (it unpacks Debian's linux-image package there)",
        kernel.display()
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_berth")).parent().expect("binary dir");
    let work = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/boot.sh");
    let out = Command::new(&script)
        .arg(work.path())
        .arg(&kernel)
        .arg(bin)
        .output()
        .expect("run tests/vm/boot.sh (needs qemu-system-x86_64: scripts/vm-kernel.sh)");
    let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let results: HashMap<String, String> = console
        .lines()
        .filter_map(|l| l.split_once("GUEST: ").map(|(_, rest)| rest))
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    let get = |key: &str| {
        results.get(key).cloned().unwrap_or_else(|| {
            panic!(
                "the VM reported no {key:?}\nconsole:\n{console}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    assert_eq!(get("done"), "yes");
    assert!(get("controllers").contains("memory") && get("controllers").contains("pids"));
    assert_eq!(get("hello"), "hi");
    // --memory 32m: the hog is killed by the kernel's OOM killer inside the container.
    assert_eq!(get("hog exit"), "137");
    assert_eq!(get("hog oom"), "true");
    assert_eq!(get("memory.max"), (48u64 << 20).to_string());
    assert_eq!(get("pids.max"), "20");
    assert_eq!(get("cpu.max"), "50000 100000");
    assert_eq!(get("updated memory.max"), (64u64 << 20).to_string());
    assert_eq!(get("updated pids.max"), "30");
    let stats = get("stats");
    assert!(stats.contains("/ 64MiB") && stats.ends_with("pids=1"), "stats: {stats}");
    assert_eq!(get("top"), "1");
    assert_eq!(get("paused"), "paused freeze=1");
    assert_eq!(get("cgroup after rm"), "0");
    let limited: u32 = get("forked with limit").parse().expect("a count");
    assert!(limited < 20, "the pids limit let {limited} children fork");
    assert_eq!(get("forked without"), "100");
    assert_eq!(get("cgroup writes"), "0", "a container wrote its own cgroup");
    assert_eq!(get("containers left"), "0");
    assert_eq!(get("cgroups left"), "0");
}
