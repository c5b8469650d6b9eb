//! `build` end to end: Dockerfiles built on the real engine (RUN steps run in containers), the build
//! cache, multi-stage builds, and bad input.

#[path = "../common/mod.rs"]
mod common;

mod cache;
mod contexts;
mod copying;
mod failures;
mod instructions;
mod run_steps;
mod stages;

use std::path::{Path, PathBuf};

use common::*;

/// A build context in the test's directory with these files.
fn context(berth: &Berth, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = berth.path(name);
    for (path, content) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
        std::fs::write(&file, content).expect("write");
    }
    dir
}

fn build(berth: &Berth, dir: &Path, tag: &str) -> String {
    berth.ok(&["build", "-t", tag, dir.to_str().expect("path")])
}
