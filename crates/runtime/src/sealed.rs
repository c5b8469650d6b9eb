//! The berth binary that container processes start from, sealed against writes.
//!
//! libcontainer makes a container's processes as clones of the calling process, so until each one
//! executes the container's program, `/proc/PID/exe` of a process inside the container is the berth
//! binary on the host. A container process allowed to ptrace it (`--cap-add SYS_PTRACE`) can open
//! that link, wait until no process runs the binary any more, reopen it for writing, and so replace
//! the program root runs next as `berth` (CVE-2019-5736). A process that starts container processes
//! therefore first executes itself again from a view of its binary that cannot be written: a
//! detached, read-only overlayfs mount of the binary's directory (nothing copied, nothing left in
//! any mount table), or, where overlayfs cannot be mounted, a write-sealed memfd copy.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags, SealFlags, StatVfsMountFlags};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};

use crate::Error;

/// The path of the binary a sealed process was sealed from: what children spawned by name (the
/// shim, a monitor) run. Inherited by every descendant.
const ORIGIN_VAR: &str = "BERTH_SEALED_FROM";
/// The pid of a process executing itself sealed, seen by the same process after the exec: if it
/// is still not sealed, it stops instead of trying again for ever. The sealed process removes it,
/// since its pid lives on through later execs (the monitor's hand-over to the shim and back).
const SEALING_VAR: &str = "BERTH_SEALING_PID";

/// Whether this process runs from a binary that cannot be written through `/proc/self/exe`: a
/// write-sealed memfd, or a file on a read-only mount.
pub fn is_sealed() -> bool {
    static SEALED: OnceLock<bool> = OnceLock::new();
    *SEALED.get_or_init(|| File::open("/proc/self/exe").is_ok_and(|exe| cannot_be_written(&exe)))
}

fn cannot_be_written(file: &File) -> bool {
    if rustix::fs::fcntl_get_seals(file).is_ok_and(|seals| seals.contains(SealFlags::WRITE)) {
        return true;
    }
    rustix::fs::fstatvfs(file).is_ok_and(|st| st.f_flag.contains(StatVfsMountFlags::RDONLY))
}

/// Returns when this process runs sealed; otherwise executes this binary again, sealed, with the
/// same arguments and environment, and returns only the error that kept it from doing so. Call it
/// first thing in `main`, before any thread or state exists.
pub fn ensure_sealed() -> Result<(), Error> {
    let me = std::process::id();
    let sealing = std::env::var_os(SEALING_VAR).is_some_and(|pid| pid.to_str() == Some(&me.to_string()));
    if is_sealed() {
        if sealing {
            // Single-threaded: this runs first thing in main.
            std::env::remove_var(SEALING_VAR);
        }
        return Ok(());
    }
    if sealing {
        return Err(Error::Unsealed(
            "it was executed again from a read-only view of itself, yet is still writable".into(),
        ));
    }
    let failed = |e: io::Error| Error::Unsealed(format!("cannot make a read-only view of it: {e}"));
    let exe = std::env::current_exe().map_err(failed)?;
    let running = File::open("/proc/self/exe").map_err(failed)?;
    let argv: Vec<CString> = std::env::args_os().map(c_string).collect();
    let envp: Vec<CString> = std::env::vars_os()
        .filter(|(key, _)| key != ORIGIN_VAR && key != SEALING_VAR)
        .chain([
            (ORIGIN_VAR.into(), exe.clone().into_os_string()),
            (SEALING_VAR.into(), me.to_string().into()),
        ])
        .map(|(key, value)| {
            let mut entry = key;
            entry.push("=");
            entry.push(value);
            c_string(entry)
        })
        .collect();
    let view = match overlay_view(&exe, &running) {
        Ok(view) => view,
        Err(e) => {
            tracing::debug!(error = %e, "no read-only overlay of the berth binary; sealing a copy in memory");
            sealed_copy(running).map_err(failed)?
        }
    };
    Err(failed(execute(&view, &argv, &envp)))
}

/// The path of the binary this process was sealed from, or of the one it runs: what to execute to
/// start another berth process, or to find the files installed beside it.
pub fn original_exe() -> io::Result<PathBuf> {
    match std::env::var_os(ORIGIN_VAR) {
        Some(path) if is_sealed() => Ok(PathBuf::from(path)),
        _ => std::env::current_exe(),
    }
}

/// The binary, opened (O_PATH) through a detached overlayfs mount of its directory with no upper
/// layer, mounted read-only: overlayfs refuses every write to it, and the mount goes away with the
/// last process that runs from it. Without an upper layer overlayfs needs two lower ones, and
/// refuses overlapping ones: the second is an empty, detached tmpfs.
fn overlay_view(exe: &Path, running: &File) -> io::Result<OwnedFd> {
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no directory"));
    };
    let dir = dir.as_os_str().as_bytes();
    // ':' and ',' separate overlayfs options and layers; such a directory takes the copy instead.
    if dir.iter().any(|b| matches!(b, b':' | b',' | b'\\')) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a directory overlayfs cannot name",
        ));
    }
    let empty = detached_mount("tmpfs", &[("mode", "0555"), ("size", "4k")])?;
    let empty = format!(":/proc/self/fd/{}", empty.as_raw_fd());
    let layers = [dir, empty.as_bytes()].concat();
    let mount = detached_mount("overlay", &[("lowerdir", OsStr::from_bytes(&layers))])?;
    let view = rustix::fs::openat(
        &mount,
        name,
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )?;
    // The path may name another file by now (an upgrade renamed a new binary over it).
    let (seen, ran) = (rustix::fs::fstat(&view)?, rustix::fs::fstat(running)?);
    if (seen.st_ino, seen.st_size, seen.st_mtime) != (ran.st_ino, ran.st_size, ran.st_mtime) {
        return Err(io::Error::other("the binary's path names another file now"));
    }
    Ok(view)
}

/// A new `fstype` filesystem with these options, mounted read-only and attached nowhere.
fn detached_mount<V: AsRef<OsStr>>(fstype: &str, options: &[(&str, V)]) -> io::Result<OwnedFd> {
    let fs = rustix::mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    for (key, value) in options {
        rustix::mount::fsconfig_set_string(&fs, *key, value.as_ref())?;
    }
    rustix::mount::fsconfig_create(&fs)?;
    let attrs =
        MountAttrFlags::MOUNT_ATTR_RDONLY | MountAttrFlags::MOUNT_ATTR_NODEV | MountAttrFlags::MOUNT_ATTR_NOSUID;
    Ok(rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?)
}

/// A memfd holding a copy of the running binary, sealed so that nothing can write, grow or shrink it.
fn sealed_copy(mut running: File) -> io::Result<OwnedFd> {
    use rustix::fs::MemfdFlags;
    let memfd = rustix::fs::memfd_create("berth", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut copy = File::from(memfd);
    io::copy(&mut running, &mut copy)?;
    let seals = SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE;
    rustix::fs::fcntl_add_seals(&copy, seals)?;
    Ok(copy.into())
}

/// execveat(fd, "", AT_EMPTY_PATH); returns only on failure.
#[allow(unsafe_code)]
fn execute(file: &impl AsFd, argv: &[CString], envp: &[CString]) -> io::Error {
    let pointers = |strings: &[CString]| -> Vec<*mut libc::c_char> {
        strings
            .iter()
            .map(|s| s.as_ptr().cast_mut())
            .chain([std::ptr::null_mut()])
            .collect()
    };
    let (argv, envp) = (pointers(argv), pointers(envp));
    // SAFETY: argv and envp are null-terminated arrays of pointers to NUL-terminated strings that
    // outlive the call (execveat does not write through them; libc's signature is only wider), and the path is an empty C string used with AT_EMPTY_PATH on a valid fd.
    unsafe {
        libc::execveat(
            file.as_fd().as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    io::Error::last_os_error()
}

/// An argument or environment entry as a C string; an interior NUL (which exec could not pass
/// either) ends it there.
fn c_string(value: impl Into<OsString>) -> CString {
    let mut bytes = value.into().into_vec();
    if let Some(nul) = bytes.iter().position(|b| *b == 0) {
        bytes.truncate(nul);
    }
    CString::new(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_copy_cannot_be_written_or_resized() {
        let copy = sealed_copy(File::open("/proc/self/exe").expect("open exe")).expect("copy");
        let file = File::from(copy);
        assert!(cannot_be_written(&file));
        // Opening for writing works on a memfd; every write fails.
        let mut reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .expect("reopen");
        assert!(
            io::Write::write(&mut reopened, b"x").is_err(),
            "a write to a sealed memfd landed"
        );
        assert!(rustix::fs::ftruncate(&reopened, 0).is_err());
    }

    #[test]
    fn the_overlay_view_is_the_running_binary_and_read_only() {
        let exe = std::env::current_exe().expect("exe");
        let running = File::open("/proc/self/exe").expect("open exe");
        let view = match overlay_view(&exe, &running) {
            Ok(view) => view,
            // Mounting needs CAP_SYS_ADMIN; the e2e test covers the real binary as root.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return,
            Err(e) => panic!("overlay view: {e}"),
        };
        let path = format!("/proc/self/fd/{}", view.as_raw_fd());
        let opened = File::open(&path).expect("open through the view");
        assert!(cannot_be_written(&opened));
        let error = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect_err("writable");
        assert_eq!(error.raw_os_error(), Some(libc::EROFS), "{error}");
        let (a, b) = (
            rustix::fs::fstat(&opened).expect("stat"),
            rustix::fs::fstat(&running).expect("stat"),
        );
        assert_eq!((a.st_ino, a.st_size), (b.st_ino, b.st_size));
    }
}
