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
