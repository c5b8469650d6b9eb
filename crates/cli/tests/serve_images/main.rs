//! Images and builds through `berth serve`, driven by real clients: the docker CLI (the machine's
//! current one and Debian's 20.10, with the classic builder), curl, raw HTTP for clients that leave
//! half-way, and the Docker SDK for Python. Images come from busybox-static imported here and go
//! through `berth registry serve` on loopback; no test needs the internet. Each test has its own
//! data root, run root, socket and registry.

#[path = "../common/mod.rs"]
mod common;

mod archives;
mod build;
mod cp;
mod disconnects;
mod pull_push;
mod python;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Berth, ServedRegistry};

/// Whether docker and curl are here (the tests say so and skip otherwise).
fn have_clients() -> bool {
    common::need("docker") && common::need("curl")
}

/// `berth registry serve` on a free loopback port, its root in `berth`'s directory, with an
/// htpasswd file when asked; stopped on drop.
fn registry(berth: &Berth, htpasswd: Option<&Path>) -> ServedRegistry {
    ServedRegistry::start_with(berth, &berth.path("registry"), htpasswd)
}

/// A data root with busybox imported, which pushed it to `registry` as `test/busybox:1`; returns the
/// root and the manifest digest the push reported.
fn source_in(registry: &ServedRegistry, source: &Berth) -> String {
    let name = format!("{}/test/busybox:1", registry.host());
    source.ok(&["tag", "busybox", &name]);
    let out = source.ok(&["push", &name]);
    out.lines()
        .find_map(|l| l.strip_prefix("1: digest: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest line in {out}"))
        .to_string()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The JSON lines of a stream body.
fn json_lines(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect()
}

/// Waits up to `limit` for `done`.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

/// A context directory: a multi-step Dockerfile with a build arg, a RUN step, a COPY of the
/// context, and a .dockerignore that keeps `secret.txt` out.
fn context_dir(berth: &Berth) -> std::path::PathBuf {
    let dir = berth.path("context");
    std::fs::create_dir_all(&dir).expect("context dir");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nARG GREETING=hello\nCOPY . /ctx/\n\
         RUN echo \"$GREETING from run\" > /greeting && ls /ctx > /listing\nCMD [\"cat\", \"/greeting\"]\n",
    )
    .expect("Dockerfile");
    std::fs::write(dir.join("kept.txt"), "kept\n").expect("file");
    std::fs::write(dir.join("secret.txt"), "secret\n").expect("file");
    std::fs::write(dir.join(".dockerignore"), "secret.txt\n").expect(".dockerignore");
    dir
}

/// A tar of `files` (name, content), as a client sends a build context.
fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, text.as_bytes())
            .expect("tar entry");
    }
    builder.into_inner().expect("tar")
}

/// `berth system check` finds nothing wrong.
fn check_clean(berth: &Berth) {
    let out = berth.run(&["system", "check"]);
    assert!(out.status.success(), "system check: {}{}", stdout(&out), stderr(&out));
    berth.assert_consistent();
}
