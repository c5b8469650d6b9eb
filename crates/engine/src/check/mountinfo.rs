//! Mount points from /proc/self/mountinfo: a check never removes a directory with something mounted
//! under it (removing through a mount deletes what the mount shows, and the directory stays busy).

use std::path::{Path, PathBuf};

/// Mount points at or under `dir`, as this process sees them.
pub(super) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    // mountinfo shows canonical paths; the root may be named through a symlink.
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mount_points(&text)
        .into_iter()
        .filter(|p| p.starts_with(&dir))
        .collect()
}

/// The mount point of every line (proc(5): the fifth field).
fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(berth_runtime::cgroupfs::unescape_mount_path))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_read_and_unescaped() {
        let text = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    90 22 0:50 / /var/lib/berth/containers/ab\\040c/merged rw - overlay overlay rw,lowerdir=x\n";
        assert_eq!(
            mount_points(text),
            [
                PathBuf::from("/"),
                PathBuf::from("/var/lib/berth/containers/ab c/merged")
            ]
        );
    }
}
