//! End-to-end attacks on berth's isolation (issue 13): each module tries, as a
//! hostile image or container would, one way out of the box, and asserts that
//! it fails. Every test drives the real `berth` binary against real kernel
//! features, with its own data root and run root.

#[path = "../common/mod.rs"]
mod common;

mod cgroups;
mod copy_out;
mod exe;
mod layers;
mod logs;
mod read_only;

/// Compiles C `source` into a static program `dir/name` (busybox images have no libc to link against).
fn static_program(dir: &std::path::Path, name: &str, source: &str) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.c"));
    std::fs::write(&file, source).expect("write the C source");
    let binary = dir.join(name);
    let status = std::process::Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&binary)
        .arg(&file)
        .status()
        .expect("run gcc");
    assert!(status.success(), "gcc -static failed (libc6-dev's libc.a missing?)");
    binary
}
