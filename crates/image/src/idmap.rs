//! Image layers seen through a user namespace's id mapping, without a chowned copy: the groundwork
//! for `--userns=auto` (docs/USERNS-SPIKE.md).
//!
//! Each layer directory is cloned as a detached mount (`open_tree`) and idmapped with the
//! container's user namespace (`mount_setattr`, MOUNT_ATTR_IDMAP, Linux 5.12+); the overlay takes
//! the clones as its lower layers by `/proc/self/fd/N` and keeps its own references, so no idmapped
//! mount is ever attached to the mount table and the clones close right after. The overlay must be
//! mounted from the host's user namespace: mounted inside the container's, overlayfs ignores the
//! `trusted.overlay.opaque` marks of the layers and shows what they hide. The upper and work
//! directories are plain, owned by the range's base id, so what the container writes is stored
//! shifted.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_store::IdRange;
use rustix::mount::OpenTreeFlags;

use crate::Error;

/// The xattr that holds a file's capabilities, whose version 3 names the root id it applies to.
pub const CAPABILITY_XATTR: &str = "security.capability";

/// linux/capability.h: the revision bits of `magic_etc`, and revisions 2 and 3 (3 adds `rootid`).
const VFS_CAP_REVISION_MASK: u32 = 0xFF00_0000;
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;

/// The owner a `--userns` container sees for a file the host sees owned by `uid:gid` (its upper
/// dir, or its layers through an idmapped view): what a tar of its files must say. Without a range
/// the ids are the host's, which is what the container sees.
pub fn to_container_owner(range: Option<IdRange>, uid: u32, gid: u32) -> (u32, u32) {
    match range {
        Some(r) => (r.to_container(uid), r.to_container(gid)),
        None => (uid, gid),
    }
}

/// A `security.capability` value as the container sees it. The host reads the capabilities of a
/// file that a `--userns` container set, or of an image file through an idmapped view, as version
/// 3 with the range's host root id (`base`); the container, and a tar of its files, as version 2
/// (root is its own root). A version 3 value for another id of the range names that id in the
/// container; anything else is kept as it is.
pub fn capability_to_container(range: IdRange, value: &[u8]) -> Vec<u8> {
    let word = |i: usize| {
        value
            .get(i * 4..i * 4 + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let (Some(magic), 24) = (word(0), value.len()) else {
        return value.to_vec();
    };
    if magic & VFS_CAP_REVISION_MASK != VFS_CAP_REVISION_3 {
        return value.to_vec();
    }
    let Some(rootid) = word(5)
        .and_then(|id| id.checked_sub(range.base))
        .filter(|n| *n < range.size)
    else {
        return value.to_vec();
    };
    if rootid == 0 {
        let mut v2 = ((magic & !VFS_CAP_REVISION_MASK) | VFS_CAP_REVISION_2)
            .to_le_bytes()
            .to_vec();
        v2.extend_from_slice(&value[4..20]);
        return v2;
    }
    let mut v3 = value[..20].to_vec();
    v3.extend_from_slice(&rootid.to_le_bytes());
    v3
}

/// `MOUNT_ATTR_IDMAP` from linux/mount.h (not in rustix 1.1).
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// linux/mount.h's `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Whether the kernel has idmapped mounts (mount_setattr(2), Linux 5.12+): asked with a bad fd, it
/// answers EBADF where the call exists and ENOSYS where it does not.
pub fn supported() -> bool {
    // SAFETY: mount_setattr(2) with fd -1 and a null attr fails before reading anything.
    #[allow(unsafe_code)]
    let done = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            std::ptr::null::<MountAttr>(),
            std::mem::size_of::<MountAttr>(),
        )
    };
    done == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
}

/// A detached clone of the directory `dir`, its ids mapped through `userns` (a user namespace fd):
/// a file owned by id N on disk shows as owned by whatever N maps to in that namespace's parent.
pub fn idmapped_clone(dir: &Path, userns: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        dir,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: mount_setattr(2) reads `attr` (a live, properly laid out struct mount_attr, whose size
    // is passed) and the empty C string; `tree` is an open mount fd that outlives the call.
    #[allow(unsafe_code)]
    let done = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(tree)
}

/// Mounts at `target` an overlay of `lowers` (top-most first), each seen through `userns`'s
/// mapping, with `upper` and `work` as they are (the caller owns them to the range's base id).
/// Call it from the host's user namespace.
pub fn mount_overlay_idmapped(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
    userns: BorrowedFd<'_>,
) -> Result<(), Error> {
    let clones = lowers
        .iter()
        .map(|dir| idmapped_clone(dir, userns).map_err(|e| Error::io("idmapping layer", dir, e)))
        .collect::<Result<Vec<OwnedFd>, Error>>()?;
    let through: Vec<PathBuf> = clones
        .iter()
        .map(|fd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())))
        .collect();
    crate::snapshot::mount_overlay_with(&through, upper, work, target, volatile)
    // The clones close here: the overlay holds its own references to them.
}

/// Mounts at `target` a read-only overlay of `upper` (a container's upper dir, as it is) over
/// `lowers` (top-most first) seen through `userns`'s mapping: the view a `--userns` container has
/// of its root, with every id the host's (shifted) one. Call it from the host's user namespace.
pub fn mount_readonly_idmapped(
    upper: &Path,
    lowers: &[PathBuf],
    target: &Path,
    userns: BorrowedFd<'_>,
) -> Result<(), Error> {
    let clones = lowers
        .iter()
        .map(|dir| idmapped_clone(dir, userns).map_err(|e| Error::io("idmapping layer", dir, e)))
        .collect::<Result<Vec<OwnedFd>, Error>>()?;
    let mut all = vec![upper.to_path_buf()];
    all.extend(
        clones
            .iter()
            .map(|fd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))),
    );
    crate::snapshot::mount_overlay_readonly(&all, target)
    // The clones close here: the overlay holds its own references to them.
}

/// A user namespace mapping ids 0..size to host ids base..base+size, held by its fd: made by a
/// child that unshares one and is gone once the namespace is open. The test's own; berth makes its
/// namespaces with `berth_runtime::userns::create`, which this crate sits below.
#[cfg(test)]
fn user_namespace(base: u32, size: u32) -> io::Result<OwnedFd> {
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new("/bin/sh");
    child.args(["-c", "read _"]).stdin(std::process::Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and makes one unshare call, which is
    // async-signal-safe; NEWUSER unshares no fd table, so unshare_unsafe's caveat does not apply.
    #[allow(unsafe_code)]
    unsafe {
        child.pre_exec(|| rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER).map_err(Into::into));
    }
    let mut child = child.spawn()?;
    let pid = child.id();
    let map = format!("0 {base} {size}\n");
    let opened = std::fs::write(format!("/proc/{pid}/uid_map"), &map)
        .and_then(|_| std::fs::write(format!("/proc/{pid}/gid_map"), &map))
        .and_then(|_| std::fs::File::open(format!("/proc/{pid}/ns/user")));
    // The child's stdin closes: it ends, and the namespace lives on through our fd.
    drop(child.stdin.take());
    let _ = child.wait();
    Ok(OwnedFd::from(opened?))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn mounts() -> usize {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|m| m.lines().count())
            .unwrap_or(0)
    }

    const RANGE: IdRange = IdRange {
        base: 2_000_000,
        size: 65536,
    };

    #[test]
    fn owners_shift_down_to_the_containers_ids() {
        assert_eq!(to_container_owner(Some(RANGE), 2_001_000, 2_000_000), (1000, 0));
        // Host ids the range does not hold show as the overflow id, as inside the container.
        assert_eq!(to_container_owner(Some(RANGE), 0, 2_065_536), (65534, 65534));
        assert_eq!(to_container_owner(None, 2_001_000, 7), (2_001_000, 7));
    }

    fn v3(magic_low: u32, rootid: u32) -> Vec<u8> {
        let mut v = (VFS_CAP_REVISION_3 | magic_low).to_le_bytes().to_vec();
        for word in [0x2000u32, 0, 1, 0] {
            v.extend_from_slice(&word.to_le_bytes());
        }
        v.extend_from_slice(&rootid.to_le_bytes());
        v
    }

    #[test]
    fn capabilities_of_the_ranges_root_become_plain_ones() {
        let v2 = capability_to_container(RANGE, &v3(1, RANGE.base));
        assert_eq!(v2.len(), 20);
        assert_eq!(u32::from_le_bytes(v2[..4].try_into().unwrap()), VFS_CAP_REVISION_2 | 1);
        assert_eq!(&v2[4..], &v3(1, 0)[4..20]);
        // Another id of the range keeps version 3, with the container's id.
        assert_eq!(capability_to_container(RANGE, &v3(0, RANGE.base + 5)), v3(0, 5));
        // Outside the range, version 2, or garbage: kept as they are.
        for kept in [
            v3(0, 7),
            v3(0, RANGE.base + RANGE.size),
            v3(1, 0)[..20].to_vec(),
            vec![1, 2, 3],
        ] {
            assert_eq!(capability_to_container(RANGE, &kept), kept);
        }
    }

    #[test]
    fn layers_show_their_files_shifted_without_a_copy_and_opaque_dirs_still_hide() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: idmapped mounts need root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (lower, top) = (dir.path().join("lower"), dir.path().join("top"));
        for d in [lower.join("etc"), lower.join("home/user"), top.join("etc")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(lower.join("etc/hosts"), "h").unwrap();
        std::fs::write(lower.join("home/user/file"), "f").unwrap();
        std::os::unix::fs::chown(lower.join("home/user/file"), Some(1000), Some(1000)).unwrap();
        std::fs::write(top.join("etc/only-in-top"), "t").unwrap();
        // The top layer's etc replaces the lower's whole (an opaque directory, as layers mark them).
        rustix::fs::setxattr(
            top.join("etc"),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let (upper, work, merged) = (
            dir.path().join("upper"),
            dir.path().join("work"),
            dir.path().join("merged"),
        );
        for d in [&upper, &work, &merged] {
            std::fs::create_dir(d).unwrap();
        }
        let base = 300_000;
        for d in [&upper, &work] {
            std::os::unix::fs::chown(d, Some(base), Some(base)).unwrap();
        }
        let userns = match user_namespace(base, 65536) {
            Ok(fd) => fd,
            Err(e) => {
                eprintln!("skipped: no user namespace here ({e})");
                return;
            }
        };
        let before = mounts();
        mount_overlay_idmapped(
            &[top.clone(), lower.clone()],
            &upper,
            &work,
            &merged,
            true,
            userns.as_fd(),
        )
        .expect("an overlay over idmapped layers");
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // One new mount: the overlay, no idmapped clone left attached.
            assert_eq!(mounts(), before + 1);
            let owner = |p: &str| {
                let m = std::fs::metadata(merged.join(p)).unwrap();
                (m.uid(), m.gid())
            };
            assert_eq!(owner("home/user/file"), (base + 1000, base + 1000));
            assert_eq!(owner("home"), (base, base));
            let etc: Vec<String> = std::fs::read_dir(merged.join("etc"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(etc, ["only-in-top"], "the opaque directory did not hide the lower one");
            // On disk the layers stay as they were: nothing was chowned.
            assert_eq!(std::fs::metadata(lower.join("home/user/file")).unwrap().uid(), 1000);
        }));
        let unmounted = crate::snapshot::unmount(&merged);
        if let Err(panic) = checked {
            std::panic::resume_unwind(panic);
        }
        unmounted.unwrap();
        assert_eq!(mounts(), before);
    }
}
