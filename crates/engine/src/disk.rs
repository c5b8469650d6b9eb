//! Disk usage of directory trees, for `system df`, `ps -s` and the prunes' reclaimed space.

use std::fs;

/// Bytes of regular files under `dir`, not following symlinks.
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
