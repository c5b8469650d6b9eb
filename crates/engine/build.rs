//! Builds berth-init (init/berth-init.rs) as a static executable that berth
//! embeds and bind-mounts into containers run with `--init`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=init/berth-init.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .args(["-C", "target-feature=+crt-static", "--crate-name", "berth_init"])
        .arg("init/berth-init.rs")
        .arg("-o")
        .arg(out.join("berth-init"))
        .status()
        .expect("running rustc for berth-init");
    assert!(status.success(), "building berth-init failed");
}
