//! `cp - CONTAINER:DEST`: a tar unpacked into a container, every entry created relative to a
//! directory opened inside the container's root (see cp.rs), with the owners [`host_owner`] gives.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use berth_store::IdRange;
use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::cp::{io_err, open_in, Root};
use crate::{Engine, Error, Result};

/// How `copy_into_container` unpacks.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyInOptions {
    /// Keep the archive's owners (`cp -a`, the API's `copyUIDGID`).
    pub keep_owners: bool,
    /// Refuse to put a non-directory where a directory is, or the reverse (the API's
    /// `noOverwriteDirNonDir`, which the docker client always sets).
    pub no_overwrite_dir_non_dir: bool,
}

/// The host owner copy-in gives an entry, each id `None` where it is left as it is: `tar` is the
/// owner the archive names (a pax record's, or its header's; `None` where its field is empty or
/// unreadable, which stands for root, who made the entry), `now` the entry's owner on the host
/// once made (host root's, berth's, when it was just created).
///
/// Without a user namespace (`range` None) the ids are the container's as they are: kept with
/// `keep_owners`, else left to root, which made the entry. In a `--userns` container, kept owners
/// are stored as the host ids of the container's (`base + id`); one the range cannot hold is
/// refused, as dockerd with userns-remap refuses ("Container ID N cannot be mapped to a host ID"),
/// since any other host id would show in the container as the overflow id (nobody), not the owner
/// the archive asked for. Without `keep_owners`, what berth made belongs to the container's root
/// (`base`), as the same copy into a container without a user namespace gives root; an existing
/// entry the container owns keeps its owner.
pub(super) fn host_owner(
    range: Option<IdRange>,
    keep_owners: bool,
    tar: (Option<u64>, Option<u64>),
    now: (u32, u32),
) -> std::result::Result<(Option<u32>, Option<u32>), u64> {
    match (range, keep_owners) {
        (None, false) => Ok((None, None)),
        (None, true) => Ok((
            tar.0.and_then(|id| u32::try_from(id).ok()),
            tar.1.and_then(|id| u32::try_from(id).ok()),
        )),
        (Some(r), true) => {
            let to_host = |id: Option<u64>| {
                let id = id.unwrap_or(0);
                u32::try_from(id).ok().and_then(|id| r.to_host(id)).ok_or(id)
            };
            Ok((Some(to_host(tar.0)?), Some(to_host(tar.1)?)))
        }
        (Some(r), false) => {
            let foreign = |id: u32| id.checked_sub(r.base).is_none_or(|n| n >= r.size);
            Ok((foreign(now.0).then_some(r.base), foreign(now.1).then_some(r.base)))
        }
    }
}

/// The owner a tar entry names: a pax record's `uid`/`gid` over its header's (`None` for a field
/// that is empty or no number).
fn entry_owner<R: Read>(entry: &mut tar::Entry<'_, R>) -> std::io::Result<(Option<u64>, Option<u64>)> {
    let header = entry.header();
    let (mut uid, mut gid) = (header.uid().ok(), header.gid().ok());
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax.flatten() {
            let number = || ext.value().ok().and_then(|v| v.trim().parse::<u64>().ok());
            match ext.key() {
                Ok("uid") => uid = number().or(uid),
                Ok("gid") => gid = number().or(gid),
                _ => {}
            }
        }
    }
    Ok((uid, gid))
}

/// Refuses an owner a `--userns` container's range cannot hold (see [`host_owner`]).
fn out_of_range(range: Option<IdRange>, shown: &str, id: u64) -> Error {
    let size = range.map_or(0, |r| r.size);
    Error::InvalidArgument(format!(
        "cannot copy {shown} with its owner: id {id} cannot be mapped into the container's user namespace \
         (ids 0 to {}); copy without -a (the container's root then owns it), or change the archive's owners",
        size.saturating_sub(1)
    ))
}

/// With owners kept in a `--userns` container: the whole archive copied to an unnamed file in
/// `dir`, every entry's owner checked, so that an archive with an owner the range cannot hold is
/// refused before anything is written. Returns the file, rewound.
fn spool_checked(input: &mut dyn Read, range: IdRange, dir: &Path) -> Result<File> {
    let mut file = tempfile::tempfile_in(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    std::io::copy(input, &mut file).map_err(|e| io_err("the archive", e))?;
    file.rewind().map_err(|e| io_err("the archive", e))?;
    {
        let mut tar = tar::Archive::new(&mut file);
        for entry in tar.entries().map_err(|e| io_err("the archive", e))? {
            let mut entry = entry.map_err(|e| io_err("the archive", e))?;
            let shown = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
            let owner = entry_owner(&mut entry).map_err(|e| io_err(&shown, e))?;
            host_owner(Some(range), true, owner, (0, 0)).map_err(|id| out_of_range(Some(range), &shown, id))?;
        }
    }
    file.rewind().map_err(|e| io_err("the archive", e))?;
    Ok(file)
}

/// Gives the entry `fd` names the owner [`host_owner`] decides for it.
fn set_owner(
    root: &Root,
    options: CopyInOptions,
    tar: (Option<u64>, Option<u64>),
    target: Target<'_>,
    shown: &str,
) -> Result<()> {
    let st = match target {
        Target::Fd(fd) => rustix::fs::fstat(fd),
        Target::At(parent, name) => rustix::fs::statat(parent, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW),
    };
    let now = st.map(|st| (st.st_uid, st.st_gid)).unwrap_or((0, 0));
    let (uid, gid) =
        host_owner(root.ids, options.keep_owners, tar, now).map_err(|id| out_of_range(root.ids, shown, id))?;
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    let (uid, gid) = (uid.map(rustix::fs::Uid::from_raw), gid.map(rustix::fs::Gid::from_raw));
    let chowned = match target {
        Target::Fd(fd) => rustix::fs::fchown(fd, uid, gid),
        Target::At(parent, name) => rustix::fs::chownat(parent, name, uid, gid, rustix::fs::AtFlags::SYMLINK_NOFOLLOW),
    };
    // In a --userns container the owner is what makes the entry the container's: a failure is one.
    match (chowned, root.ids) {
        (Err(e), Some(_)) => Err(io_err(shown, e)),
        _ => Ok(()),
    }
}

/// While it lives, this thread creates files as `id` (its filesystem uid and gid), capabilities
/// kept (SECBIT_NO_SETUID_FIXUP, so that it may still chown what it makes to any id and write any
/// directory, as root does): what copy-in makes in a `--userns` container is its root's from the
/// start, in its upper dir (`base`) and through its volumes' idmapped mounts (0 on disk) alike.
/// Filesystem ids and secure bits belong to the calling thread only; dropping restores both.
struct CreateAs {
    fsuid: libc::c_int,
    fsgid: libc::c_int,
    securebits: libc::c_int,
}

impl CreateAs {
    fn new(id: u32) -> std::io::Result<CreateAs> {
        // SAFETY: prctl(PR_GET_SECUREBITS) reads no memory and returns this thread's bits or -1.
        #[allow(unsafe_code)]
        let securebits = unsafe { libc::prctl(libc::PR_GET_SECUREBITS) };
        if securebits < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let keep = (securebits | libc::SECBIT_NO_SETUID_FIXUP) as libc::c_ulong;
        // SAFETY: sets this thread's secure bits from an integer; no memory is passed.
        #[allow(unsafe_code)]
        if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, keep) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: setfsuid and setfsgid take integers and change this thread's credentials only
        // (glibc does not broadcast them to other threads); each returns the previous id.
        #[allow(unsafe_code)]
        let (fsgid, fsuid) = unsafe { (libc::setfsgid(id), libc::setfsuid(id)) };
        Ok(CreateAs {
            fsuid,
            fsgid,
            securebits,
        })
    }
}

impl Drop for CreateAs {
    fn drop(&mut self) {
        // SAFETY: as in new: this thread's own credentials, from integers.
        #[allow(unsafe_code)]
        unsafe {
            libc::setfsuid(self.fsuid as libc::uid_t);
            libc::setfsgid(self.fsgid as libc::gid_t);
            libc::prctl(libc::PR_SET_SECUREBITS, self.securebits as libc::c_ulong);
        }
    }
}

/// An entry copy-in made: by its open fd, or by name in its parent.
#[derive(Clone, Copy)]
enum Target<'a> {
    Fd(&'a OwnedFd),
    At(&'a OwnedFd, &'a OsStr),
}

/// With `noOverwriteDirNonDir`: whether `name` in `parent` is a directory where the entry is
/// not, or the reverse (Docker's texts).
fn refuse_dir_swap(parent: &OwnedFd, name: &OsStr, entry_is_dir: bool, shown: &str) -> Result<()> {
    let Ok(st) = rustix::fs::statat(parent, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) else {
        return Ok(());
    };
    let there_is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
    match (there_is_dir, entry_is_dir) {
        (true, false) => Err(Error::InvalidArgument(format!(
            "cannot overwrite directory {shown:?} with non-directory"
        ))),
        (false, true) => Err(Error::InvalidArgument(format!(
            "cannot overwrite non-directory {shown:?} with directory"
        ))),
        _ => Ok(()),
    }
}

impl Engine {
    /// `cp - CONTAINER:DEST` and `cp SRC CONTAINER:DEST`: unpacks a tar into
    /// the directory DEST inside the container; every entry is created
    /// relative to a directory opened inside the root, never through a
    /// symlink that leaves it. A hard link names a regular file inside DEST;
    /// a file written onto a symlink lands on the link's target, resolved
    /// inside the root. See [`CopyInOptions`] for owners and replacing directories.
    pub fn copy_into_container(
        &self,
        name: &str,
        dest: &str,
        options: CopyInOptions,
        input: &mut dyn Read,
    ) -> Result<()> {
        let c = self.container(name)?;
        let mut spooled;
        let input: &mut dyn Read = match c.config.host.id_range {
            Some(range) if options.keep_owners => {
                spooled = spool_checked(input, range, &self.container_dir(c.id()))?;
                &mut spooled
            }
            _ => input,
        };
        let root = self.cp_root(&c, true)?;
        // A --userns container's entries are made by its root: host root's own id has no mapping in
        // the idmapped mounts of its volumes, where creating a file as host root fails (EOVERFLOW).
        let _made_as = match root.ids {
            Some(range) => Some(CreateAs::new(range.base).map_err(|e| io_err(dest, e))?),
            None => None,
        };
        let dest_fd = open_in(&root, dest, OFlags::PATH | OFlags::DIRECTORY).map_err(|e| match e {
            rustix::io::Errno::NOENT => Error::NotFound(format!("Could not find the file {dest} in container {name}")),
            rustix::io::Errno::NOTDIR => Error::InvalidArgument(format!("{dest} is not a directory in the container")),
            other => io_err(dest, other),
        })?;
        let mut tar = tar::Archive::new(input);
        let entries = tar.entries().map_err(|e| io_err(dest, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| io_err(dest, e))?;
            let path = entry.path().map_err(|e| io_err(dest, e))?.into_owned();
            if path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(Error::InvalidArgument(format!(
                    "refusing {}: the archive names a path outside its directory",
                    path.display()
                )));
            }
            let rel = path.strip_prefix("/").unwrap_or(&path);
            let (parent, file_name) = match (rel.parent(), rel.file_name()) {
                (Some(p), Some(n)) => (p.to_path_buf(), n.to_os_string()),
                _ => continue,
            };
            // The parent, resolved inside the container's root from DEST.
            let parent_rel = parent.to_string_lossy();
            let parent_fd = if parent_rel.is_empty() {
                rustix::io::dup(&dest_fd).map_err(|e| io_err(dest, e))?
            } else {
                rustix::fs::openat2(
                    &dest_fd,
                    &*parent_rel,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::IN_ROOT,
                )
                .map_err(|e| io_err(&parent_rel, e))?
            };
            let header = entry.header().clone();
            let owner = entry_owner(&mut entry).map_err(|e| io_err(dest, e))?;
            let mode = Mode::from_raw_mode(header.mode().unwrap_or(0o644) & 0o7777);
            let shown = path.display().to_string();
            let kind = header.entry_type();
            let handled = matches!(
                kind,
                tar::EntryType::Directory
                    | tar::EntryType::Symlink
                    | tar::EntryType::Regular
                    | tar::EntryType::Continuous
                    | tar::EntryType::Link
            );
            if handled && options.no_overwrite_dir_non_dir {
                refuse_dir_swap(&parent_fd, &file_name, kind == tar::EntryType::Directory, &shown)?;
            }
            match kind {
                tar::EntryType::Directory => match rustix::fs::mkdirat(&parent_fd, &*file_name, mode) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(io_err(&shown, e)),
                },
                tar::EntryType::Symlink => {
                    let target = entry.link_name().map_err(|e| io_err(&shown, e))?.unwrap_or_default();
                    let _ = rustix::fs::unlinkat(&parent_fd, &*file_name, rustix::fs::AtFlags::empty());
                    rustix::fs::symlinkat(&*target, &parent_fd, &*file_name).map_err(|e| io_err(&shown, e))?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let in_root = Path::new("/").join(dest.trim_start_matches('/')).join(rel);
                    let file = create_file(&root, &parent_fd, &file_name, &in_root, mode, &shown)?;
                    let mut file = File::from(file);
                    std::io::copy(&mut entry, &mut file).map_err(|e| io_err(&shown, e))?;
                    let _ = rustix::fs::fchmod(file.as_fd(), mode);
                    let file = OwnedFd::from(file);
                    set_owner(&root, options, owner, Target::Fd(&file), &shown)?;
                    continue;
                }
                tar::EntryType::Link => {
                    let target = entry.link_name().map_err(|e| io_err(&shown, e))?.unwrap_or_default();
                    let source = link_source(&dest_fd, &target, &shown)?;
                    let st = rustix::fs::fstat(&source).map_err(|e| io_err(&shown, e))?;
                    let here = rustix::fs::statat(&parent_fd, &*file_name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
                    if here.is_ok_and(|h| (h.st_dev, h.st_ino) == (st.st_dev, st.st_ino)) {
                        // Already that file (a link to itself, or copied twice): unlinking would lose it.
                        continue;
                    }
                    let _ = rustix::fs::unlinkat(&parent_fd, &*file_name, rustix::fs::AtFlags::empty());
                    // The O_PATH fd's magic link names that very file: nothing is resolved by name again.
                    let magic = format!("/proc/self/fd/{}", source.as_raw_fd());
                    rustix::fs::linkat(
                        rustix::fs::CWD,
                        magic.as_str(),
                        &parent_fd,
                        &*file_name,
                        rustix::fs::AtFlags::SYMLINK_FOLLOW,
                    )
                    .map_err(|e| io_err(&shown, e))?;
                    // Owner and mode belong to the file it names, already set.
                    continue;
                }
                _ => continue,
            }
            set_owner(&root, options, owner, Target::At(&parent_fd, &file_name), &shown)?;
        }
        Ok(())
    }
}

/// The file `name` in `parent` opened for writing from the start: created
/// when missing, truncated when a regular file, written at its target
/// (inside the container's root, `in_root` being the entry's path there)
/// when a symlink, as Docker does. A device, pipe or socket there is
/// replaced, never opened: its node could reach the host's devices.
fn create_file(
    root: &Root,
    parent: &OwnedFd,
    name: &OsStr,
    in_root: &Path,
    mode: Mode,
    shown: &str,
) -> Result<OwnedFd> {
    // A name the container keeps replacing is tried a few times, then given up.
    for _ in 0..3 {
        let existing = match rustix::fs::openat(
            parent,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                let created = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    mode,
                );
                match created {
                    Err(rustix::io::Errno::EXIST) => continue,
                    other => return other.map_err(|e| io_err(shown, e)),
                }
            }
            Err(e) => return Err(io_err(shown, e)),
        };
        let st = rustix::fs::fstat(&existing).map_err(|e| io_err(shown, e))?;
        match rustix::fs::FileType::from_raw_mode(st.st_mode) {
            rustix::fs::FileType::RegularFile => return reopen_for_write(&existing, shown),
            rustix::fs::FileType::Symlink => return create_through_link(root, in_root, mode, shown),
            rustix::fs::FileType::Directory => {
                return Err(Error::InvalidArgument(format!(
                    "cannot overwrite directory {shown} with a file in the container"
                )))
            }
            _ => {
                rustix::fs::unlinkat(parent, name, rustix::fs::AtFlags::empty()).map_err(|e| io_err(shown, e))?;
            }
        }
    }
    Err(Error::InvalidArgument(format!(
        "{shown} kept changing in the container while it was written; pause the container and copy again"
    )))
}

/// The regular file an O_PATH fd holds, opened for writing and truncated;
/// its magic link leads to that very inode, whatever its name means now.
fn reopen_for_write(fd: &OwnedFd, shown: &str) -> Result<OwnedFd> {
    let magic = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::open(
        magic.as_str(),
        OFlags::WRONLY | OFlags::TRUNC | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(shown, e))
}

/// Writes at a symlink's target, resolved by the kernel inside the
/// container's root (an absolute target, or `..` past the top, stays in it).
fn create_through_link(root: &Root, in_root: &Path, mode: Mode, shown: &str) -> Result<OwnedFd> {
    let not_a_file = || {
        Error::InvalidArgument(format!(
            "refusing to write {shown}: its symlink leads to something other than a file in the container"
        ))
    };
    let rel = in_root.strip_prefix("/").unwrap_or(in_root);
    match rustix::fs::openat2(
        &root.fd,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    ) {
        Ok(target) => {
            let st = rustix::fs::fstat(&target).map_err(|e| io_err(shown, e))?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
                return Err(not_a_file());
            }
            reopen_for_write(&target, shown)
        }
        Err(rustix::io::Errno::NOENT) => {
            // A dangling link: O_CREAT follows it and makes its target. Not
            // truncated, and never written, until fstat says a new node there
            // is a regular file (O_NONBLOCK: a pipe swapped in cannot block).
            let file = rustix::fs::openat2(
                &root.fd,
                rel,
                OFlags::WRONLY | OFlags::CREATE | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
                mode,
                ResolveFlags::IN_ROOT,
            )
            .map_err(|e| io_err(shown, e))?;
            let st = rustix::fs::fstat(&file).map_err(|e| io_err(shown, e))?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
                return Err(not_a_file());
            }
            rustix::fs::ftruncate(&file, 0).map_err(|e| io_err(shown, e))?;
            Ok(file)
        }
        Err(e) => Err(io_err(shown, e)),
    }
}

/// A hard link's target: a regular file inside the destination (the
/// archive's own earlier entry or one already there), as an O_PATH fd.
/// Resolved with DEST as the root, so neither `..` nor a symlink leaves it.
fn link_source(dest: &OwnedFd, target: &Path, shown: &str) -> Result<OwnedFd> {
    let refuse =
        |why: &str| Error::InvalidArgument(format!("refusing hard link {shown} to {}: {why}", target.display()));
    if target
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(refuse("the target is outside the archive's directory"));
    }
    let rel = target.strip_prefix("/").unwrap_or(target);
    let (Some(dir), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(refuse("the target names no file"));
    };
    let dir_fd = if dir.as_os_str().is_empty() {
        rustix::io::dup(dest).map_err(|e| io_err(shown, e))?
    } else {
        rustix::fs::openat2(
            dest,
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR => refuse("the target is not in the destination"),
            other => io_err(shown, other),
        })?
    };
    let fd = rustix::fs::openat(
        &dir_fd,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::NOENT => refuse("the target is not in the destination"),
        other => io_err(shown, other),
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io_err(shown, e))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(refuse("the target is not a regular file"));
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: IdRange = IdRange {
        base: 2_000_000,
        size: 65536,
    };

    #[test]
    fn kept_owners_are_stored_as_the_ranges_host_ids() {
        assert_eq!(
            host_owner(Some(RANGE), true, (Some(1000), Some(0)), (0, 0)),
            Ok((Some(2_001_000), Some(2_000_000)))
        );
        // An owner the range cannot hold is refused, whichever id it is.
        assert_eq!(
            host_owner(Some(RANGE), true, (Some(65536), Some(0)), (0, 0)),
            Err(65536)
        );
        assert_eq!(
            host_owner(Some(RANGE), true, (Some(0), Some(4_000_000_000)), (0, 0)),
            Err(4_000_000_000)
        );
        assert_eq!(
            host_owner(Some(RANGE), true, (Some(u64::MAX), Some(0)), (0, 0)),
            Err(u64::MAX)
        );
        // An owner the archive leaves empty is root's.
        assert_eq!(
            host_owner(Some(RANGE), true, (None, Some(3)), (0, 0)),
            Ok((Some(RANGE.base), Some(RANGE.base + 3)))
        );
    }

    #[test]
    fn without_kept_owners_what_berth_made_is_the_containers_root() {
        // Just made by host root: the container's root.
        assert_eq!(
            host_owner(Some(RANGE), false, (Some(1000), Some(1000)), (0, 0)),
            Ok((Some(RANGE.base), Some(RANGE.base)))
        );
        // Already there, the container's: left as it is.
        assert_eq!(
            host_owner(Some(RANGE), false, (Some(1000), Some(1000)), (2_000_007, 2_000_000)),
            Ok((None, None))
        );
    }

    #[test]
    fn without_a_user_namespace_ids_are_the_archives() {
        assert_eq!(
            host_owner(None, true, (Some(1000), Some(7)), (0, 0)),
            Ok((Some(1000), Some(7)))
        );
        assert_eq!(host_owner(None, true, (Some(u64::MAX), None), (0, 0)), Ok((None, None)));
        assert_eq!(host_owner(None, false, (Some(1000), Some(7)), (0, 0)), Ok((None, None)));
    }
}
