//! Facts about the host that `info` and `version` report: read once, from the kernel and /etc, by
//! [`Host::probe`]; tests build one by hand.

use std::path::Path;

/// The host as `info` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// uname's release.
    pub kernel_version: String,
    /// os-release's PRETTY_NAME, or "Linux".
    pub operating_system: String,
    /// uname's machine (x86_64), as dockerd's Architecture.
    pub machine: String,
    /// uname's nodename.
    pub name: String,
    pub ncpu: usize,
    /// Bytes of memory.
    pub mem_total: u64,
    /// "1" or "2": "2" when the unified hierarchy is mounted alone at /sys/fs/cgroup.
    pub cgroup_version: String,
    /// Whether the kernel has overlayfs (the storage driver); without it berth copies layers.
    pub overlay: bool,
}

impl Host {
    pub fn probe() -> Host {
        let uname = rustix::system::uname();
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        Host {
            kernel_version: uname.release().to_string_lossy().into_owned(),
            operating_system: std::fs::read_to_string("/etc/os-release")
                .ok()
                .and_then(|text| pretty_name(&text))
                .unwrap_or_else(|| "Linux".into()),
            machine: uname.machine().to_string_lossy().into_owned(),
            name: uname.nodename().to_string_lossy().into_owned(),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| mem_total(&text))
                .unwrap_or(0),
            cgroup_version: if unified { "2" } else { "1" }.into(),
            overlay: berth_image::snapshot::overlay_supported(),
        }
    }
}

/// PRETTY_NAME from an os-release file.
fn pretty_name(os_release: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}

/// MemTotal from /proc/meminfo, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let kb = l.strip_prefix("MemTotal:")?.trim().trim_end_matches("kB").trim();
        kb.parse::<u64>().ok()?.checked_mul(1024)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_os_release_and_meminfo() {
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\n";
        assert_eq!(pretty_name(os).as_deref(), Some("Debian GNU/Linux 13 (trixie)"));
        assert_eq!(pretty_name("ID=alpine\n"), None);
        let meminfo = "MemTotal:       16314612 kB\nMemFree:         1234 kB\n";
        assert_eq!(mem_total(meminfo), Some(16314612 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
    }
}
