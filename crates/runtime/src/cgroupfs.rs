//! Removing the cgroup of a container whose processes are all gone, straight from the cgroup filesystems.
//!
//! libcontainer's delete builds a cgroup manager first, and its v1 manager looks each controller's mount point
//! up in /proc/self/mountinfo (two validated procfs reads per controller, about 2 ms of a container's
//! removal here). A container that has exited needs only one `rmdir` per hierarchy; the kernel refuses
//! (EBUSY) while a process is still inside, so a container that still runs is never touched, and the caller
//! falls back to the runtime's own delete, which kills what is left first.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Mount points of every cgroup (v1) and cgroup2 filesystem the calling process sees.
pub fn mount_points() -> io::Result<Vec<PathBuf>> {
    Ok(parse_mount_points(&fs::read_to_string("/proc/self/mountinfo")?))
}

/// The cgroup mount points listed in mountinfo text (proc(5): the fifth field is the mount point, the first
/// field after " - " the filesystem type).
fn parse_mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let fstype = fs.split(' ').next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            mount.split(' ').nth(4).map(unescape_mount_path)
        })
        .collect()
}

/// A mount point field of /proc/*/mountinfo as the path it names: mountinfo writes space, tab,
/// newline and backslash in paths as octal escapes (`\040`).
pub fn unescape_mount_path(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Removes the cgroup `path` (absolute within each hierarchy, e.g. `/berth/<id>`) from every hierarchy in
/// `mounts`. A hierarchy without it is fine; any other failure (EBUSY: processes or child cgroups remain)
/// is returned at once, leaving the rest for the runtime's full delete.
pub fn remove_empty(mounts: &[PathBuf], path: &Path) -> io::Result<()> {
    let Some(relative) = container_relative(path) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a container cgroup path",
        ));
    };
    for mount in mounts {
        match fs::remove_dir(mount.join(relative)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The calling process, moved for a while into a container's cgroup in the v1 hierarchies that carry no
/// controller (`name=systemd`): libcontainer's v1 manager places a container only in the controllers it
/// knows, so its init would stay in the caller's cgroup there, and the bind of that hierarchy into the
/// container would show the host's cgroup (often the root) instead of the container's own, as runc's
/// `name=systemd:/<path>` does. The init inherits the cgroup when it is cloned; drop moves the caller back.
#[derive(Debug, Default)]
pub struct NamedHierarchies {
    /// (hierarchy dir, the caller's own cgroup in it).
    left: Vec<(PathBuf, String)>,
}

impl NamedHierarchies {
    /// Joins `cgroups_path` (absolute within each hierarchy, e.g. `/berth/<id>`) in every named v1 hierarchy the
    /// caller is in, creating it. A hierarchy that cannot be joined is skipped with a warning: the container
    /// still starts, and its own read-only mount of that hierarchy is all it sees of it.
    pub fn join(cgroups_path: &Path) -> NamedHierarchies {
        let mut joined = NamedHierarchies::default();
        // Under a cgroup2 /sys/fs/cgroup (rootless berth's own view) the named hierarchies are not mounted.
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            return joined;
        }
        let Ok(own) = fs::read_to_string("/proc/self/cgroup") else {
            return joined;
        };
        let Some(relative) = container_relative(cgroups_path) else {
            return joined;
        };
        for (name, current) in named_hierarchies(&own) {
            let dir = Path::new("/sys/fs/cgroup").join(name);
            let target = dir.join(relative);
            let moved = fs::create_dir_all(&target)
                .and_then(|()| fs::write(target.join("cgroup.procs"), std::process::id().to_string()));
            match moved {
                Ok(()) => joined.left.push((dir, current.to_string())),
                Err(e) => tracing::warn!(hierarchy = name, error = %e, "cannot place the container in its cgroup"),
            }
        }
        joined
    }
}

impl Drop for NamedHierarchies {
    fn drop(&mut self) {
        for (dir, own) in &self.left {
            let back = dir.join(own.trim_start_matches('/')).join("cgroup.procs");
            if let Err(e) = fs::write(&back, std::process::id().to_string()) {
                tracing::warn!(path = %back.display(), error = %e, "cannot return to the caller's own cgroup");
            }
        }
    }
}

/// (hierarchy name without `name=`, the process's cgroup in it) for each named v1 hierarchy in
/// /proc/PID/cgroup text (`9:name=systemd:/user.slice`), whose mount point is /sys/fs/cgroup/<name>.
fn named_hierarchies(proc_cgroup: &str) -> Vec<(&str, &str)> {
    proc_cgroup
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let name = controllers.strip_prefix("name=")?;
            let plain = !name.is_empty() && !name.contains(['/', ',']) && name != "." && name != "..";
            plain.then_some((name, path))
        })
        .collect()
}

/// `path` without its leading slash, when it is a path below a hierarchy's root.
fn container_relative(path: &Path) -> Option<&Path> {
    let relative = path.strip_prefix("/").unwrap_or(path);
    let below = !relative.as_os_str().is_empty()
        && relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    below.then_some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 24 0:23 / /sys/fs/cgroup rw,relatime shared:8 - tmpfs tmpfs rw,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw,favordynmods
27 25 0:25 / /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup rw,memory
28 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
29 30 0:27 / /mnt/odd\\040dir rw,relatime - cgroup cgroup rw,pids
";

    #[test]
    fn finds_v1_and_v2_hierarchies_only() {
        let points = parse_mount_points(HYBRID);
        let want: Vec<PathBuf> = [
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/cpu,cpuacct",
            "/mnt/odd dir",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(points, want);
    }

    #[test]
    fn named_hierarchies_are_the_ones_without_controllers() {
        let text = "9:name=systemd:/user.slice/x\n8:pids:/\n4:memory:/a\n0::/\n3:name=../evil:/\n";
        assert_eq!(named_hierarchies(text), [("systemd", "/user.slice/x")]);
    }

    #[test]
    fn refuses_paths_that_are_not_below_the_hierarchy() {
        for bad in ["/", "", "/berth/../..", "../x"] {
            assert!(
                remove_empty(&[PathBuf::from("/nonexistent")], Path::new(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn removes_empty_dirs_and_stops_at_a_busy_one() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::create_dir_all(a.join("berth/c1")).unwrap();
        fs::create_dir_all(b.join("berth/c1/child")).unwrap();
        let missing = tmp.path().join("missing");
        // A hierarchy without the cgroup is fine; the empty one goes.
        remove_empty(&[missing, a.clone()], Path::new("/berth/c1")).unwrap();
        assert!(!a.join("berth/c1").exists());
        assert!(a.join("berth").exists());
        // A non-empty one is an error (on cgroupfs: EBUSY), and is left alone.
        assert!(remove_empty(std::slice::from_ref(&b), Path::new("/berth/c1")).is_err());
        assert!(b.join("berth/c1/child").exists());
    }
}
