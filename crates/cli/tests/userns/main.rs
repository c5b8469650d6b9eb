//! End-to-end: `--userns=auto` containers through the real binary, with a busybox image and the
//! kernel's user namespaces and idmapped mounts.

#[path = "../common/mod.rs"]
mod common;

mod data;
