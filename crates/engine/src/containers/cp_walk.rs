//! `cp CONTAINER:SRC`'s walk: a tree inside a container read into a tar
//! through file descriptors only. A running container can rename, swap or
//! replace anything under SRC while it is read, so no path the walk builds
//! is ever handed back to the kernel to resolve: each entry is opened from
//! its parent directory's fd with O_PATH|O_NOFOLLOW, its type comes from
//! fstat of that fd, and a file or directory is reopened from that same fd
//! (never by name again). A symlink swapped in is copied as a symlink; it is
//! never followed, so it can never lead to the host's files (the
//! CVE-2018-15664 class). Device nodes are recorded, never opened.
//! A `--userns` container's files are described with the ids it sees.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_store::IdRange;
use rustix::fs::{FileType, Mode, OFlags, Stat};

/// A directory being read: its fd, its name in the tar, and the names of
/// the entries still to copy (last first).
struct Open {
    fd: OwnedFd,
    name: PathBuf,
    pending: Vec<OsString>,
}

/// Appends the entry `top` (an O_PATH fd, not followed) as `name`, and,
/// when it is a directory, everything below it. `ids`: the container's range, when the files
/// carry the host's ids for its own.
pub(super) fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    top: OwnedFd,
    name: &Path,
    ids: Option<IdRange>,
) -> io::Result<()> {
    let mut walk = Walk {
        builder,
        first_names: HashMap::new(),
        ids,
    };
    let mut stack: Vec<Open> = Vec::new();
    stack.extend(walk.append(top, name)?);
    while let Some(dir) = stack.last_mut() {
        let Some(child) = dir.pending.pop() else {
            stack.pop();
            continue;
        };
        let fd = match rustix::fs::openat(
            &dir.fd,
            &*child,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            // Removed since its directory was read: as if it was never there.
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        let name = child_name(&dir.name, &child);
        stack.extend(walk.append(fd, &name)?);
    }
    Ok(())
}

/// `dir/child`, where the contents of SRC (`./`) have no prefix.
fn child_name(dir: &Path, child: &OsString) -> PathBuf {
    if matches!(dir.as_os_str().as_bytes(), b"." | b"./") {
        PathBuf::from(child)
    } else {
        dir.join(child)
    }
}

struct Walk<'a, W: Write> {
    builder: &'a mut tar::Builder<W>,
    /// The tar name of the first entry seen of each (device, inode) that has
    /// several names, so later names become hard links to it.
    first_names: HashMap<(u64, u64), PathBuf>,
    ids: Option<IdRange>,
}

impl<W: Write> Walk<'_, W> {
    /// Appends one entry; returns it opened for reading when it is a
    /// directory whose entries come next.
    fn append(&mut self, fd: OwnedFd, name: &Path) -> io::Result<Option<Open>> {
        let st = rustix::fs::fstat(&fd)?;
        let kind = FileType::from_raw_mode(st.st_mode);
        let mut h = header(&st, self.ids);
        if kind != FileType::Directory && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.first_names.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                self.builder.append_link(&mut h, name, first)?;
                return Ok(None);
            }
            self.first_names.insert(key, name.to_path_buf());
        }
        match kind {
            FileType::Directory => {
                // "." from the O_PATH fd is that very directory, whatever its name now leads to.
                let dir = rustix::fs::openat(
                    &fd,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let mut pending = Vec::new();
                for entry in rustix::fs::Dir::read_from(&dir)? {
                    let entry = entry?;
                    let child = entry.file_name().to_bytes();
                    if child != b"." && child != b".." {
                        pending.push(OsString::from(std::ffi::OsStr::from_bytes(child)));
                    }
                }
                // Sorted, last first: the same tree gives the same archive.
                pending.sort_unstable_by(|a, b| b.cmp(a));
                h.set_entry_type(tar::EntryType::Directory);
                self.builder.append_data(&mut h, name, io::empty())?;
                Ok(Some(Open {
                    fd: dir,
                    name: name.to_path_buf(),
                    pending,
                }))
            }
            FileType::RegularFile => {
                let file = reopen(&fd, &st)?;
                let size = rustix::fs::fstat(&file)?.st_size.max(0) as u64;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(size);
                if let Some(caps) = capability(&file, self.ids) {
                    let value: &[u8] = &caps;
                    self.builder
                        .append_pax_extensions([("SCHILY.xattr.security.capability", value)])?;
                }
                // Exactly `size` bytes, however the file changes while it is read,
                // or the archive would not parse.
                let data = std::fs::File::from(file).take(size).chain(io::repeat(0)).take(size);
                self.builder.append_data(&mut h, name, data)?;
                Ok(None)
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(&fd, "", Vec::new())?;
                h.set_entry_type(tar::EntryType::Symlink);
                self.builder
                    .append_link(&mut h, name, Path::new(std::ffi::OsStr::from_bytes(target.to_bytes())))?;
                Ok(None)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                h.set_entry_type(match kind {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                if kind != FileType::Fifo {
                    h.set_device_major(rustix::fs::major(st.st_rdev))?;
                    h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                }
                self.builder.append_data(&mut h, name, io::empty())?;
                Ok(None)
            }
            // A socket has no form in a tar (Docker leaves them out too).
            _ => Ok(None),
        }
    }
}

/// A GNU header with an entry's mode, owner (as the container sees it) and modification time.
fn header(st: &Stat, ids: Option<IdRange>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    let (uid, gid) = berth_image::idmap::to_container_owner(ids, st.st_uid, st.st_gid);
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// The regular file an O_PATH fd holds, opened for reading. Its magic link
/// in /proc/self/fd leads to that very inode: nothing is looked up by name,
/// so a file swapped in since (a device, a link to the host) is never opened.
fn reopen(fd: &OwnedFd, st: &Stat) -> io::Result<OwnedFd> {
    let magic = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let file = rustix::fs::open(
        magic.as_str(),
        OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let again = rustix::fs::fstat(&file)?;
    if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) {
        return Err(io::Error::other(
            "a file changed while it was opened; pause the container and copy again",
        ));
    }
    Ok(file)
}

/// A file's file capabilities, which Docker's archives carry too, as the container sees them.
fn capability(file: &OwnedFd, ids: Option<IdRange>) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    let n = rustix::fs::fgetxattr(file, berth_image::idmap::CAPABILITY_XATTR, &mut buf[..]).ok()?;
    let value = buf.get(..n)?;
    Some(match ids {
        Some(ids) => berth_image::idmap::capability_to_container(ids, value),
        None => value.to_vec(),
    })
}
