//! `cp`: files between a container and the host. Every path inside the
//! container is resolved within the container's root (openat2 with
//! RESOLVE_IN_ROOT): a symlink in the container never leads out to the
//! host, for reading or for writing (the CVE-2018-15664 and CVE-2019-14271
//! class). A running container is reached through /proc/PID/root, so its
//! volumes are included; a stopped one through an overlay view of its own.

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

/// A path that reaches an fd's file (its magic link, resolved by the kernel).
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/.", fd.as_raw_fd()))
}

impl Engine {
    fn cp_root(&self, c: &Container, writable: bool) -> Result<Root> {
        if c.row.state == "running" || c.row.state == "paused" {
            let path = format!("/proc/{}/root", c.row.pid);
            let fd = rustix::fs::open(&path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| io_err(&path, e))?;
            return Ok(Root { fd, view: None });
        }
        let dir = self.container_dir(c.id());
        let view = dir.join(format!("cp-{}", std::process::id()));
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
            rustix::io::Errno::NOENT => {
                Error::InvalidArgument(format!("Could not find the file {src} in container {name}"))
            }
            other => io_err(src, other),
        })?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| io_err(src, e))?;
        let is_dir = rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory;
        let contents_only = src.ends_with("/.");
        let base = Path::new(src.trim_end_matches("/.").trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| ".".into());
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        let source = fd_path(&fd);
        let result = if is_dir {
            let name_in_tar = if contents_only {
                PathBuf::from(".")
            } else {
                PathBuf::from(&base)
            };
            builder.append_dir_all(&name_in_tar, &source)
        } else if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Symlink {
            // A symlink copied as itself: its target is only text.
            let target = rustix::fs::readlinkat(&fd, "", Vec::new()).map_err(|e| io_err(src, e))?;
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            builder.append_link(&mut h, &base, Path::new(&*target.to_string_lossy()))
        } else {
            // Reopening the O_PATH fd's magic link gives the same file.
            let magic = format!("/proc/self/fd/{}", fd.as_raw_fd());
            let file = rustix::fs::open(&magic, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| io_err(src, e))?;
            let mut file = File::from(file);
            builder.append_file(&base, &mut file)
        };
        result.and_then(|_| builder.finish()).map_err(|e| io_err(src, e))
    }

    /// `cp - CONTAINER:DEST` and `cp SRC CONTAINER:DEST`: unpacks a tar into
    /// the directory DEST inside the container; every entry is created
    /// relative to a directory opened inside the root, never through a
    /// symlink that leaves it. With `archive`, owners are kept.
    pub fn copy_into_container(&self, name: &str, dest: &str, archive: bool, input: &mut dyn Read) -> Result<()> {
        let c = self.container(name)?;
        let root = self.cp_root(&c, true)?;
        let dest_fd = open_in(&root, dest, OFlags::PATH | OFlags::DIRECTORY).map_err(|e| match e {
            rustix::io::Errno::NOENT => {
                Error::InvalidArgument(format!("Could not find the file {dest} in container {name}"))
            }
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
            match header.entry_type() {
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
                    let open = |fd: &OwnedFd| {
                        rustix::fs::openat(
                            fd,
                            &*file_name,
                            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            mode,
                        )
                    };
                    // Never write through a symlink that is there: replace it.
                    let file = match open(&parent_fd) {
                        Err(rustix::io::Errno::LOOP) => {
                            let _ = rustix::fs::unlinkat(&parent_fd, &*file_name, rustix::fs::AtFlags::empty());
                            open(&parent_fd)
                        }
                        other => other,
                    }
                    .map_err(|e| io_err(&shown, e))?;
                    let mut file = File::from(file);
                    std::io::copy(&mut entry, &mut file).map_err(|e| io_err(&shown, e))?;
                    let _ = rustix::fs::fchmod(file.as_fd(), mode);
                }
                _ => continue,
            }
            if archive {
                let uid = header
                    .uid()
                    .ok()
                    .and_then(|u| u32::try_from(u).ok())
                    .map(rustix::fs::Uid::from_raw);
                let gid = header
                    .gid()
                    .ok()
                    .and_then(|g| u32::try_from(g).ok())
                    .map(rustix::fs::Gid::from_raw);
                let _ = rustix::fs::chownat(&parent_fd, &*file_name, uid, gid, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
            }
        }
        Ok(())
    }
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
