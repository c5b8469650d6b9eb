//! The Docker SDK for Python (Debian's python3-docker or PyPI's docker) against `berth serve`:
//! the script beside this file runs, streams logs, execs, attaches, waits and removes.

use std::process::Command;

use crate::{said, serve_busybox};

#[test]
fn the_python_sdk_runs_streams_execs_and_attaches() {
    let has_sdk = Command::new("python3")
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        eprintln!("SKIPPED: the Docker SDK for Python is not installed (scripts/deps.sh installs python3-docker)");
        return;
    }
    let Some((_berth, server)) = serve_busybox() else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/serve_containers/sdk.py");
    let out = Command::new("timeout")
        .args(["120", "python3", script])
        .arg(server.socket())
        .output()
        .expect("python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("sdk ok"),
        "{}\nserver log:\n{}",
        said(&out),
        server.log_text()
    );
}
