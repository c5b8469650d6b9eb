//! `cp`: files between a container and the host. Every path inside the
//! container is resolved within the container's root (openat2 with
//! RESOLVE_IN_ROOT): a symlink in the container never leads out to the
//! host, for reading or for writing (the CVE-2018-15664 and CVE-2019-14271
//! class). A running container is reached through /proc/PID/root, so its
//! volumes are included; a stopped one through an overlay view of its own.
//! Below SRC, copy-out reads through file descriptors only (cp_walk.rs).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::Container;
use crate::{Engine, Error, Result};

/// The container's root as a directory fd, and what to undo afterwards.
struct Root {
    fd: OwnedFd,
    view: Option<PathBuf>,
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Some(view) = &self.view {
            let _ = berth_image::snapshot::unmount(view);
            let _ = fs::remove_dir(view);
        }
    }
}

fn io_err(path: &str, e: impl Into<std::io::Error>) -> Error {
    Error::Stream {
        context: format!("copying {path}"),
        source: e.into(),
    }
}

/// Opens `path` inside the root (never leaving it), with `flags`.
fn open_in(root: &Root, path: &str, flags: OFlags) -> std::result::Result<OwnedFd, rustix::io::Errno> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    rustix::fs::openat2(
        &root.fd,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
}

/// A directory name in `dir` for one call's view of a container (`cp-PID-N`): calls in one
/// process (the API server's requests) never share one, so none unmounts another's.
pub(super) fn private_view(dir: &Path, what: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{what}-{}-{n}", std::process::id()))
}

/// How `copy_into_container` unpacks.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyInOptions {
    /// Keep the archive's owners (`cp -a`, the API's `copyUIDGID`).
    pub keep_owners: bool,
    /// Refuse to put a non-directory where a directory is, or the reverse (the API's
    /// `noOverwriteDirNonDir`, which the docker client always sets).
    pub no_overwrite_dir_non_dir: bool,
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
    fn cp_root(&self, c: &Container, writable: bool) -> Result<Root> {
        if c.row.state.is_live() {
            let path = format!("/proc/{}/root", c.row.pid);
            let fd = rustix::fs::open(&path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| io_err(&path, e))?;
            return Ok(Root { fd, view: None });
        }
        let dir = self.container_dir(c.id());
        let view = private_view(&dir, "cp");
        fs::create_dir_all(&view).map_err(|e| Error::Io {
            path: view.clone(),
            source: e,
        })?;
        let id: berth_store::Digest = c.row.image_id.parse()?;
        let record = berth_store::meta::get_image(&*self.store().db()?, &id)?
            .ok_or_else(|| Error::NoSuchImage(c.config.image.clone()))?;
        let lowers: Vec<PathBuf> = record.layers.iter().rev().map(|l| self.store().layer_diff(l)).collect();
        let mounted = if writable {
            berth_image::snapshot::mount_overlay(&lowers, &dir.join("upper"), &dir.join("work"), &view)
        } else {
            let mut all = vec![dir.join("upper")];
            all.extend(lowers);
            berth_image::snapshot::mount_overlay_readonly(&all, &view)
        };
        if let Err(e) = mounted {
            let _ = fs::remove_dir(&view);
            return Err(e.into());
        }
        let fd = rustix::fs::open(&view, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io_err(&view.display().to_string(), e))?;
        Ok(Root { fd, view: Some(view) })
    }

    /// `cp CONTAINER:SRC -`: a tar of SRC (named by its last component, or
    /// its contents when SRC ends in `/.`) written to `out`.
    pub fn copy_from_container<W: Write>(&self, name: &str, src: &str, follow: bool, out: W) -> Result<()> {
        let c = self.container(name)?;
        let root = self.cp_root(&c, false)?;
        let flags = if follow {
            OFlags::PATH
        } else {
            OFlags::PATH | OFlags::NOFOLLOW
        };
        let fd = open_in(&root, src, flags).map_err(|e| match e {
            rustix::io::Errno::NOENT => Error::NotFound(format!("Could not find the file {src} in container {name}")),
            other => io_err(src, other),
        })?;
        let contents_only = src.ends_with("/.");
        let base = Path::new(src.trim_end_matches("/.").trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| ".".into());
        // `SRC/.` is a directory's contents: entries without a prefix (SRC
        // itself is `./`); otherwise everything is under SRC's last name.
        let name_in_tar = if contents_only {
            PathBuf::from("./")
        } else {
            PathBuf::from(&base)
        };
        let mut builder = tar::Builder::new(out);
        let result = super::cp_walk::append_tree(&mut builder, fd, &name_in_tar);
        result.and_then(|_| builder.finish()).map_err(|e| io_err(src, e))
    }

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
        let root = self.cp_root(&c, true)?;
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
                    if options.keep_owners {
                        let (uid, gid) = owner(&header);
                        let _ = rustix::fs::fchown(file.as_fd(), uid, gid);
                    }
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
            if options.keep_owners {
                let (uid, gid) = owner(&header);
                let _ = rustix::fs::chownat(&parent_fd, &*file_name, uid, gid, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
            }
        }
        Ok(())
    }
}

/// The owner a tar header names, when it fits.
fn owner(header: &tar::Header) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    let uid = header.uid().ok().and_then(|u| u32::try_from(u).ok());
    let gid = header.gid().ok().and_then(|g| u32::try_from(g).ok());
    (uid.map(rustix::fs::Uid::from_raw), gid.map(rustix::fs::Gid::from_raw))
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

/// What a path in a container is, for `cp`'s naming rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PathKind {
    Missing,
    File,
    Dir,
}

impl Engine {
    /// Whether `path` exists in the container and is a directory (resolved
    /// inside the root, following symlinks within it).
    pub fn container_path_kind(&self, name: &str, path: &str) -> Result<PathKind> {
        let c = self.container(name)?;
        let root = self.cp_root(&c, false)?;
        Ok(match open_in(&root, path, OFlags::PATH) {
            Ok(fd) => match rustix::fs::fstat(&fd) {
                Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory => {
                    PathKind::Dir
                }
                _ => PathKind::File,
            },
            Err(_) => PathKind::Missing,
        })
    }
}

/// Docker's `ContainerPathStat`, which the archive endpoints send base64-encoded in the
/// `X-Docker-Container-Path-Stat` header: what the path is, without following a last symlink.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits: the permission bits and Go's type bits (a directory is 1<<31).
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` for a `st_mode`.
fn go_file_mode(st_mode: u32) -> u32 {
    use rustix::fs::FileType;
    let kind = match FileType::from_raw_mode(st_mode) {
        FileType::Directory => 1 << 31,
        FileType::Symlink => 1 << 27,
        FileType::BlockDevice => 1 << 26,
        FileType::CharacterDevice => (1 << 26) | (1 << 21),
        FileType::Fifo => 1 << 25,
        FileType::Socket => 1 << 24,
        _ => 0,
    };
    let special = [(0o4000, 1 << 23), (0o2000, 1 << 22), (0o1000, 1 << 20)]
        .iter()
        .filter(|(bit, _)| st_mode & bit != 0)
        .fold(0, |acc, (_, go)| acc | go);
    kind | special | (st_mode & 0o777)
}

impl Engine {
    /// `HEAD /containers/{id}/archive`: what `path` is in the container, resolved inside its root.
    pub fn stat_container_path(&self, name: &str, path: &str) -> Result<PathStat> {
        let c = self.container(name)?;
        let root = self.cp_root(&c, false)?;
        let fd = open_in(&root, path, OFlags::PATH | OFlags::NOFOLLOW).map_err(|e| match e {
            rustix::io::Errno::NOENT => Error::NotFound(format!("Could not find the file {path} in container {name}")),
            other => io_err(path, other),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_err(path, e))?;
        let link_target = if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink {
            rustix::fs::readlinkat(&fd, "", Vec::new())
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let name = Path::new(path.trim_end_matches('/'))
            .file_name()
            .map_or_else(|| "/".to_string(), |n| n.to_string_lossy().into_owned());
        let mtime = chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_default();
        Ok(PathStat {
            name,
            size: st.st_size,
            mode: go_file_mode(st.st_mode),
            mtime,
            link_target,
        })
    }
}

#[cfg(test)]
mod stat_tests {
    use super::go_file_mode;

    #[test]
    fn modes_carry_gos_type_bits() {
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_file_mode(0o041777), (1 << 31) | (1 << 20) | 0o777);
    }
}
