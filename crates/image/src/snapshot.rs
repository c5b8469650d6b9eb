//! Views of a stack of layers: overlayfs mounts, and a plain-copy fallback for
//! machines without overlayfs.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{
    self as rmount, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};

use crate::layer::merge_overlay_dir;
use crate::Error;

/// Options of writable overlays. Layers are shared between many overlays, so no inode index ties
/// them to one upper directory; and the upper directory is read back as a layer diff (commit,
/// build), so it must hold complete copies: no directory redirects, no metadata-only copies.
const RW_OPTIONS: &[(&str, &str)] = &[("index", "off"), ("redirect_dir", "off"), ("metacopy", "off")];

/// [`RW_OPTIONS`], but none with `userxattr` (rootless), which refuses them and implies what they
/// ask for: no metacopy, redirects neither made nor followed.
fn rw_options() -> &'static [(&'static str, &'static str)] {
    match crate::layer::in_user_namespace() {
        true => &[],
        false => RW_OPTIONS,
    }
}

/// Longest mount(2) data the kernel accepts: one page, including the terminating NUL.
const MOUNT_DATA_MAX: usize = 4095;

/// Whether the kernel offers overlayfs (and lets this process mount it).
pub fn overlay_supported() -> bool {
    let listed = fs::read_to_string("/proc/filesystems")
        .map(|list| list.lines().any(|l| l.split_whitespace().last() == Some("overlay")))
        .unwrap_or(false);
    // A module that is not loaded yet is loaded on first use, which fsopen triggers.
    listed || rmount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).is_ok()
}

/// Mounts a writable overlayfs at `target`. `lowers` are layer diff directories, top-most
/// first; `upper` and `work` are empty directories on one filesystem. With no lowers, an empty
/// directory `empty-lower` next to `work` stands in (overlayfs needs at least one).
///
/// Any number of lowers works: the layers are passed one by one through the new mount API
/// (Linux 6.8+), falling back to mount(2), where long lists go through `/proc/self/fd` paths.
pub fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<(), Error> {
    mount_overlay_with(lowers, upper, work, target, false)
}

/// [`mount_overlay`], optionally `volatile`: overlayfs then never syncs the upper directory, which makes
/// unmounting after writes ~0.3 ms instead of a journal commit (4-20 ms here). Only for a throwaway upper
/// (`run --rm`): after a crash the kernel refuses to mount that upper again until
/// `work/work/incompat/volatile` is removed.
pub fn mount_overlay_with(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
) -> Result<(), Error> {
    let placeholder;
    let lowers: Vec<&Path> = if lowers.is_empty() {
        let parent = work.parent().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "overlay work directory {} has no parent; pass a work directory inside the container's directory",
                work.display()
            ))
        })?;
        placeholder = parent.join("empty-lower");
        fs::create_dir_all(&placeholder).map_err(|e| Error::io("creating directory", &placeholder, e))?;
        vec![placeholder.as_path()]
    } else {
        lowers.iter().map(PathBuf::as_path).collect()
    };
    mount_layers(&lowers, Some((upper, work, volatile)), target)
}

/// Mounts a read-only view of `lowers` (top-most first) at `target`: an overlay of the lowers,
/// or a read-only bind mount when there is a single one.
pub fn mount_overlay_readonly(lowers: &[PathBuf], target: &Path) -> Result<(), Error> {
    match lowers {
        [] => Err(Error::InvalidArgument(
            "a read-only view needs at least one layer; pass the image's layer directories".to_string(),
        )),
        [only] => {
            let fail = |op, e: Errno| Error::Mount {
                op,
                target: target.to_path_buf(),
                detail: String::new(),
                source: e.into(),
            };
            rmount::mount_bind(only, target).map_err(|e| fail("bind-mounting", e))?;
            if let Err(e) = rmount::mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "") {
                let _ = rmount::unmount(target, UnmountFlags::DETACH);
                return Err(fail("making read-only", e));
            }
            Ok(())
        }
        _ => {
            let lowers: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
            mount_layers(&lowers, None, target)
        }
    }
}

/// Unmounts `target`; a target that is not mounted (or does not exist) is fine. A busy mount
/// is detached lazily.
pub fn unmount(target: &Path) -> Result<(), Error> {
    let fail = |e: Errno| Error::Mount {
        op: "unmounting",
        target: target.to_path_buf(),
        detail: String::new(),
        source: e.into(),
    };
    match rmount::unmount(target, UnmountFlags::NOFOLLOW) {
        Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::BUSY) => match rmount::unmount(target, UnmountFlags::NOFOLLOW | UnmountFlags::DETACH) {
            Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(fail(e)),
        },
        Err(e) => Err(fail(e)),
    }
}

/// Plain-copy fallback where overlayfs is missing: materialises the merged view of `lowers`
/// (top-most first) into `target` by merging each layer, bottom-most first.
pub fn copy_view(lowers: &[PathBuf], target: &Path) -> Result<(), Error> {
    fs::create_dir_all(target).map_err(|e| Error::io("creating directory", target, e))?;
    for lower in lowers.iter().rev() {
        merge_overlay_dir(lower, target)?;
    }
    Ok(())
}

fn mount_layers(lowers: &[&Path], upper: Option<(&Path, &Path, bool)>, target: &Path) -> Result<(), Error> {
    match mount_new_api(lowers, upper, target) {
        Ok(()) => Ok(()),
        Err(NewApi::Unsupported) => {
            tracing::debug!("overlay lowerdir+ unsupported (Linux < 6.8), using mount(2)");
            mount_legacy(lowers, upper, target)
        }
        Err(NewApi::Failed(e)) => Err(e),
    }
}

enum NewApi {
    /// The kernel lacks fsopen or overlayfs's `lowerdir+` (or refused the options for a reason mount(2) will
    /// report): use mount(2).
    Unsupported,
    Failed(Error),
}

fn mount_new_api(lowers: &[&Path], upper: Option<(&Path, &Path, bool)>, target: &Path) -> Result<(), NewApi> {
    let fs = match rmount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => fd,
        Err(Errno::NOSYS) => return Err(NewApi::Unsupported),
        Err(e) => return Err(NewApi::Failed(mount_error(target, "opening overlayfs", None, e))),
    };
    let fail = |what: String, e: Errno| NewApi::Failed(mount_error(target, &what, Some(&fs), e));
    rmount::fsconfig_set_string(&fs, "source", "overlay").map_err(|e| fail("setting source".into(), e))?;
    for (i, lower) in lowers.iter().enumerate() {
        match rmount::fsconfig_set_string(&fs, "lowerdir+", *lower) {
            Ok(()) => {}
            Err(Errno::INVAL) if i == 0 => return Err(NewApi::Unsupported),
            Err(e) => return Err(fail(format!("adding layer {}", lower.display()), e)),
        }
    }
    if crate::layer::in_user_namespace() {
        rmount::fsconfig_set_flag(&fs, "userxattr").map_err(|e| fail("setting userxattr".into(), e))?;
    }
    if let Some((upper, work, volatile)) = upper {
        rmount::fsconfig_set_string(&fs, "upperdir", upper)
            .map_err(|e| fail(format!("setting upper directory {}", upper.display()), e))?;
        rmount::fsconfig_set_string(&fs, "workdir", work)
            .map_err(|e| fail(format!("setting work directory {}", work.display()), e))?;
        for (key, value) in rw_options() {
            rmount::fsconfig_set_string(&fs, *key, *value).map_err(|e| fail(format!("setting {key}={value}"), e))?;
        }
        if volatile {
            rmount::fsconfig_set_flag(&fs, "volatile").map_err(|e| fail("setting volatile".into(), e))?;
        }
    }
    match rmount::fsconfig_create(&fs) {
        Ok(()) => {}
        Err(Errno::INVAL) => {
            // Before Linux 6.5 overlayfs takes options through the legacy adapter, which accepts any key,
            // parses them only here and logs nothing to the context: `lowerdir+` is refused at this point.
            let log = kernel_log(&fs);
            if log.is_empty() {
                return Err(NewApi::Unsupported);
            }
            return Err(NewApi::Failed(logged_mount_error(
                target,
                "creating the overlay",
                &log,
                Errno::INVAL,
            )));
        }
        Err(e) => return Err(fail("creating the overlay".into(), e)),
    }
    let attrs = if upper.is_none() {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mnt = rmount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(|e| fail("mounting".into(), e))?;
    rmount::move_mount(mnt.as_fd(), "", CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        .map_err(|e| fail("attaching the mount".into(), e))
}

/// The mount(2) way: one option string, at most a page long. When the plain paths do not fit,
/// or contain characters the option syntax reserves, they are passed as `/proc/self/fd/N` of
/// directories held open for the call.
fn mount_legacy(lowers: &[&Path], upper: Option<(&Path, &Path, bool)>, target: &Path) -> Result<(), Error> {
    let mut held: Vec<OwnedFd> = Vec::new();
    let mut data = legacy_options(lowers, upper, false, &mut held)?;
    if data.len() > MOUNT_DATA_MAX {
        held.clear();
        data = legacy_options(lowers, upper, true, &mut held)?;
    }
    if data.len() > MOUNT_DATA_MAX {
        return Err(Error::InvalidArgument(format!(
            "{} layers are too many for mount(2) on this kernel; upgrade to Linux 6.8 or later for deep images",
            lowers.len()
        )));
    }
    let data = CString::new(data).map_err(|_| Error::InvalidArgument("overlay path contains a NUL byte".into()))?;
    let flags = if upper.is_none() {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    let mut r = rmount::mount("overlay", target, "overlay", flags, data.as_c_str());
    if r == Err(Errno::INVAL) && upper.is_some() {
        // Kernels older than 4.19 lack some of the options: mount with their defaults.
        let bare = data
            .to_bytes()
            .split(|&b| b == b',')
            .take(3)
            .collect::<Vec<_>>()
            .join(&b',');
        if let Ok(bare) = CString::new(bare) {
            r = rmount::mount("overlay", target, "overlay", flags, bare.as_c_str());
        }
    }
    drop(held);
    r.map_err(|e| mount_error(target, "mounting overlay", None, e))
}

fn legacy_options(
    lowers: &[&Path],
    upper: Option<(&Path, &Path, bool)>,
    force_fd: bool,
    held: &mut Vec<OwnedFd>,
) -> Result<String, Error> {
    let mut data = String::from("lowerdir=");
    for (i, lower) in lowers.iter().enumerate() {
        if i > 0 {
            data.push(':');
        }
        data.push_str(&option_path(lower, force_fd, held)?);
    }
    if crate::layer::in_user_namespace() {
        // Rootless: overlayfs reads its marks from user.overlay.* xattrs (see layer::in_user_namespace).
        data.push_str(",userxattr");
    }
    if let Some((upper, work, volatile)) = upper {
        data.push_str(",upperdir=");
        data.push_str(&option_path(upper, false, held)?);
        data.push_str(",workdir=");
        data.push_str(&option_path(work, false, held)?);
        for (key, value) in rw_options() {
            data.push_str(&format!(",{key}={value}"));
        }
        if volatile {
            data.push_str(",volatile");
        }
    }
    Ok(data)
}

/// A path as it can appear in overlay's mount options.
fn option_path(p: &Path, force_fd: bool, held: &mut Vec<OwnedFd>) -> Result<String, Error> {
    if !force_fd {
        if let Some(s) = p.to_str() {
            if !s.is_empty() && !s.contains([',', ':', '\\', '=']) {
                return Ok(s.to_string());
            }
        }
    }
    let fd = rfs::open(p, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io("opening layer directory", p, e))?;
    let name = format!("/proc/self/fd/{}", fd.as_raw_fd());
    held.push(fd);
    Ok(name)
}

fn mount_error(target: &Path, what: &str, fs: Option<&OwnedFd>, e: Errno) -> Error {
    logged_mount_error(target, what, &fs.map(kernel_log).unwrap_or_default(), e)
}

fn logged_mount_error(target: &Path, what: &str, log: &str, e: Errno) -> Error {
    let mut detail = format!(" ({what})");
    if !log.is_empty() {
        detail.push_str(": kernel says: ");
        detail.push_str(log);
    }
    detail.push_str("; check that the layer, upper and work directories exist, upper and work are on one filesystem, and the work directory is empty");
    Error::Mount {
        op: "mounting overlay at",
        target: target.to_path_buf(),
        detail,
        source: e.into(),
    }
}

/// The messages the kernel queued on a filesystem context (`e overlay: ...`).
fn kernel_log(fs: &OwnedFd) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..16 {
        match rustix::io::read(fs, &mut buf) {
            Ok(n) if n > 0 => out.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string()),
            _ => break,
        }
    }
    out.join("; ")
}

#[cfg(test)]
mod tests;
