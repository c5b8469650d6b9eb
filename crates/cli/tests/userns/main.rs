//! `--userns=auto` and rootless berth (issue 18): containers whose root is an unprivileged range of host
//! ids, with the real kernel (user namespaces, idmapped mounts, overlayfs), each test with its own data root.

#[path = "../common/mod.rs"]
mod common;

mod containers;
mod data;
mod rootless;

use common::Berth;

/// The host id container id 0 maps to in process `pid`'s user namespace, from its uid_map (one line,
/// "0 BASE SIZE"); also checks that the gid map is the same.
fn mapped_base(pid: &str) -> (u32, u32) {
    let read = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}")).expect("id map");
    let uid_map = read("uid_map");
    assert_eq!(uid_map, read("gid_map"), "users and groups map alike");
    let fields: Vec<u32> = uid_map
        .split_whitespace()
        .map(|f| f.parse().expect("a number"))
        .collect();
    assert_eq!(fields.len(), 3, "one line: {uid_map}");
    assert_eq!(fields[0], 0);
    (fields[1], fields[2])
}

/// The host pid of a running container's init.
fn pid_of(berth: &Berth, id: &str) -> String {
    berth.ok(&["inspect", "-f", "{{.State.Pid}}", id]).trim().to_string()
}
