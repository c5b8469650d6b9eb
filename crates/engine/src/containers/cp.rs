//! `cp`: files between a container and the host. Every path inside the
//! container is resolved within the container's root (openat2 with
//! RESOLVE_IN_ROOT): a symlink in the container never leads out to the
//! host, for reading or for writing (the CVE-2018-15664 and CVE-2019-14271
//! class). A running container is reached through /proc/PID/root, so its
//! volumes are included; a stopped one through an overlay view of its own.
//! Below SRC, copy-out reads through file descriptors only (cp_walk.rs);
//! copy-in is cp_in.rs.
//!
//! A `--userns` container's root, either way, shows every file with the
//! host's (shifted) id: /proc/PID/root does, and so does the view of a
//! stopped one (view.rs). Copy-out writes the ids the container sees,
//! copy-in stores the host's ids for the container's, so a tar through
//! `cp` is the same whether the container has a user namespace or not.

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use berth_store::IdRange;
use rustix::fs::{Mode, OFlags, ResolveFlags};

pub use super::cp_in::CopyInOptions;
use super::Container;
use crate::{Engine, Error, Result};

/// The container's root as a directory fd, and what to undo afterwards.
pub(super) struct Root {
    pub(super) fd: OwnedFd,
    view: Option<PathBuf>,
    /// The container's id range when it has a user namespace: its files show the host's ids.
    pub(super) ids: Option<IdRange>,
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Some(view) = &self.view {
            let _ = berth_image::snapshot::unmount(view);
            let _ = fs::remove_dir(view);
        }
    }
}

pub(super) fn io_err(path: &str, e: impl Into<std::io::Error>) -> Error {
    Error::Stream {
        context: format!("copying {path}"),
        source: e.into(),
    }
}

/// Opens `path` inside the root (never leaving it), with `flags`.
pub(super) fn open_in(root: &Root, path: &str, flags: OFlags) -> std::result::Result<OwnedFd, rustix::io::Errno> {
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

impl Engine {
    pub(super) fn cp_root(&self, c: &Container, writable: bool) -> Result<Root> {
        let ids = c.config.host.id_range;
        if c.row.state.is_live() {
            let path = format!("/proc/{}/root", c.row.pid);
            let fd = rustix::fs::open(&path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| io_err(&path, e))?;
            return Ok(Root { fd, view: None, ids });
        }
        let dir = self.container_dir(c.id());
        let view = super::view::private_view(&dir, "cp");
        fs::create_dir_all(&view).map_err(|e| Error::Io {
            path: view.clone(),
            source: e,
        })?;
        if let Err(e) = self.mount_view(c, &view, writable) {
            let _ = fs::remove_dir(&view);
            return Err(e);
        }
        match rustix::fs::open(&view, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => Ok(Root {
                fd,
                view: Some(view),
                ids,
            }),
            Err(e) => {
                let _ = berth_image::snapshot::unmount(&view);
                let _ = fs::remove_dir(&view);
                Err(io_err("the container's view", e))
            }
        }
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
        let result = super::cp_walk::append_tree(&mut builder, fd, &name_in_tar, root.ids);
        result.and_then(|_| builder.finish()).map_err(|e| io_err(src, e))
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
