//! The other direction: a container's overlayfs upper directory back into an
//! OCI layer tar (overlay whiteouts become `.wh.` entries, opaque
//! directories `.wh..wh..opq`), a plain tree into a tar (export), and the
//! A/C/D change list `docker diff` prints.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_store::{Digest, HashingWriter, IdRange};

use super::OPAQUE_XATTR;
use crate::error::Error;

/// What `write_tar` produced.
#[derive(Debug, Clone)]
pub struct Written {
    /// sha256 of the tar stream: the layer's diff ID.
    pub diff_id: Digest,
    /// Bytes of the tar stream.
    pub tar_size: u64,
    /// Bytes of regular-file content in it.
    pub size: u64,
}

/// How to read a tree: an overlay upper dir (whiteouts and opaque markers
/// mean something) or a plain tree (an export of a merged view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    OverlayUpper,
    Plain,
}

/// Writes `root` as a tar to `out`, entries in sorted order, keeping owners,
/// modes, times, xattrs (but overlayfs's own), hard links, symlinks, devices.
pub fn write_tar<W: Write>(root: &Path, source: Source, out: W) -> Result<Written, Error> {
    write_tar_shifted(root, source, None, out)
}

/// [`write_tar`] of a tree that holds a `--userns` container's files as the host stores them
/// (`ids`: its range): each entry's owner, and the root id of a file capability, is written as
/// the container sees it ([`crate::idmap::to_container_owner`]), so the tar is the one the same
/// container without a user namespace would give.
pub fn write_tar_shifted<W: Write>(
    root: &Path,
    source: Source,
    ids: Option<IdRange>,
    out: W,
) -> Result<Written, Error> {
    let mut builder = tar::Builder::new(HashingWriter::new(out));
    builder.follow_symlinks(false);
    let mut state = Walk {
        source,
        ids,
        links: HashMap::new(),
        size: 0,
    };
    state.walk(root, Path::new(""), &mut builder)?;
    let hashing = builder
        .into_inner()
        .map_err(|e| Error::io("finishing", root.to_path_buf(), e))?;
    let (mut inner, diff_id, tar_size) = hashing.finish();
    inner
        .flush()
        .map_err(|e| Error::io("flushing", root.to_path_buf(), e))?;
    Ok(Written {
        diff_id,
        tar_size,
        size: state.size,
    })
}

struct Walk {
    source: Source,
    /// The range of the container whose files these are, if it has one.
    ids: Option<IdRange>,
    /// (dev, inode) -> the first path written, for hard links.
    links: HashMap<(u64, u64), PathBuf>,
    size: u64,
}

/// Mount points the runtime creates in a container's root (for /proc, /sys,
/// /dev, the files berth binds in, the init): like Docker's init layer, they
/// are not changes the user made, so diff and commit leave them out while
/// they are empty placeholders.
const MOUNT_POINTS: &[&str] = &[
    "dev",
    "dev/pts",
    "dev/shm",
    "dev/mqueue",
    "dev/console",
    "proc",
    "sys",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "etc/mtab",
    "sbin/docker-init",
    ".dockerenv",
];

/// An empty mount point, or a directory holding nothing but those (like
/// /sbin made only for /sbin/docker-init).
fn is_placeholder(path: &Path, rel: &Path) -> bool {
    let rel_str = rel.to_string_lossy();
    let rel_str = rel_str.trim_start_matches('/');
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    if meta.is_file() {
        return meta.len() == 0 && MOUNT_POINTS.contains(&rel_str);
    }
    if !meta.is_dir() {
        return false;
    }
    let Ok(entries) = fs::read_dir(path) else { return false };
    let mut any = false;
    for e in entries.flatten() {
        any = true;
        if !is_placeholder(&e.path(), &rel.join(e.file_name())) {
            return false;
        }
    }
    // An empty dir counts only if it is a mount point itself; a dir of placeholders always.
    any || MOUNT_POINTS.contains(&rel_str)
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    matches!(xattr::get(path, OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

impl Walk {
    fn walk<W: Write>(&mut self, dir: &Path, rel: &Path, b: &mut tar::Builder<W>) -> Result<(), Error> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(|e| Error::io("reading", dir.to_path_buf(), e))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let rel_path = rel.join(&name);
            let meta = fs::symlink_metadata(&path).map_err(|e| Error::io("reading", path.clone(), e))?;
            if self.source == Source::OverlayUpper && is_placeholder(&path, &rel_path) {
                continue;
            }
            if self.source == Source::OverlayUpper && is_whiteout(&meta) {
                let mut wh_name = std::ffi::OsString::from(".wh.");
                wh_name.push(&name);
                let mut h = marker_header(&meta);
                b.append_data(&mut h, rel.join(wh_name), io::empty())
                    .map_err(|e| Error::io("writing", path.clone(), e))?;
                continue;
            }
            self.entry(&path, &rel_path, &meta, b)?;
            if meta.is_dir() {
                if self.source == Source::OverlayUpper && is_opaque(&path) {
                    let mut h = marker_header(&meta);
                    b.append_data(&mut h, rel_path.join(".wh..wh..opq"), io::empty())
                        .map_err(|e| Error::io("writing", path.clone(), e))?;
                }
                self.walk(&path, &rel_path, b)?;
            }
        }
        Ok(())
    }

    fn entry<W: Write>(
        &mut self,
        path: &Path,
        rel: &Path,
        meta: &fs::Metadata,
        b: &mut tar::Builder<W>,
    ) -> Result<(), Error> {
        let io_err = |e| Error::io("writing", path.to_path_buf(), e);
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
        let (uid, gid) = crate::idmap::to_container_owner(self.ids, meta.uid(), meta.gid());
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        let ids = self.ids;
        let xattrs: Vec<(String, Vec<u8>)> = xattr::list(path)
            .map(|names| {
                names
                    .filter_map(|n| {
                        let n = n.to_string_lossy().into_owned();
                        if n.starts_with(super::overlay_xattr_prefix()) {
                            return None;
                        }
                        xattr::get(path, &n).ok().flatten().map(|v| {
                            let v = match ids {
                                Some(ids) if n == crate::idmap::CAPABILITY_XATTR => {
                                    crate::idmap::capability_to_container(ids, &v)
                                }
                                _ => v,
                            };
                            (format!("SCHILY.xattr.{n}"), v)
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !xattrs.is_empty() {
            b.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(io_err)?;
        }
        let ft = meta.file_type();
        if ft.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                return b.append_link(&mut h, rel, first).map_err(io_err);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(|e| Error::io("reading", path.to_path_buf(), e))?;
            h.set_size(0);
            return b.append_link(&mut h, rel, target).map_err(io_err);
        }
        if ft.is_file() {
            let file = fs::File::open(path).map_err(|e| Error::io("reading", path.to_path_buf(), e))?;
            self.size += meta.len();
            return b.append_data(&mut h, rel, file).map_err(io_err);
        }
        if ft.is_dir() {
            h.set_size(0);
            return b.append_data(&mut h, rel, io::empty()).map_err(io_err);
        }
        // Devices and fifos: the header carries everything. `set_metadata_in_mode` leaves device
        // numbers at 0, which would turn every device into 0:0, an overlayfs whiteout once unpacked.
        if ft.is_char_device() || ft.is_block_device() {
            let dev = meta.rdev();
            h.set_device_major(rustix::fs::major(dev)).map_err(io_err)?;
            h.set_device_minor(rustix::fs::minor(dev)).map_err(io_err)?;
        }
        h.set_size(0);
        b.append_data(&mut h, rel, io::empty()).map_err(io_err)
    }
}

/// An empty, root-owned regular file: the header for whiteout markers.
fn marker_header(meta: &fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// One line of `docker diff`: kind ('A' added, 'C' changed, 'D' deleted)
/// and the absolute path in the container.
pub type Change = (char, String);

/// The changes an overlay upper dir makes over its lower layers (top-most
/// first), sorted by path, as `docker diff` prints them.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>, Error> {
    let mut out = Vec::new();
    collect(upper, Path::new("/"), lowers, &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    lowers
        .iter()
        .any(|l| fs::symlink_metadata(l.join(rel)).is_ok_and(|m| !is_whiteout(&m)))
}

fn collect(dir: &Path, rel: &Path, lowers: &[PathBuf], out: &mut Vec<Change>) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("reading", dir.to_path_buf(), e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let rel_path = rel.join(entry.file_name());
        let meta = fs::symlink_metadata(&path).map_err(|e| Error::io("reading", path.clone(), e))?;
        let shown = rel_path.to_string_lossy().into_owned();
        if is_placeholder(&path, &rel_path) {
            continue;
        }
        if is_whiteout(&meta) {
            out.push(('D', shown));
            continue;
        }
        let existed = in_lowers(lowers, &rel_path);
        out.push((if existed { 'C' } else { 'A' }, shown));
        if meta.is_dir() {
            if existed && is_opaque(&path) {
                // An opaque directory hides everything the lowers had in it.
                for lower in lowers {
                    let below = lower.join(rel_path.strip_prefix("/").unwrap_or(&rel_path));
                    if let Ok(hidden) = fs::read_dir(&below) {
                        for h in hidden.flatten() {
                            if !path.join(h.file_name()).exists() {
                                out.push(('D', rel_path.join(h.file_name()).to_string_lossy().into_owned()));
                            }
                        }
                    }
                }
            }
            collect(&path, &rel_path, lowers, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::apply_layer;

    #[test]
    fn a_userns_containers_upper_dir_is_written_with_its_own_ids() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: giving files other owners needs root");
            return;
        }
        let ids = IdRange {
            base: 3_000_000,
            size: 65536,
        };
        let tmp = tempfile::tempdir().unwrap();
        let upper = tmp.path().join("upper");
        fs::create_dir_all(upper.join("home/app")).unwrap();
        fs::write(upper.join("home/app/file"), b"f").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.join("home/gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        for (path, uid, gid) in [
            ("home", ids.base, ids.base),
            ("home/app", ids.base + 1000, ids.base + 1000),
            ("home/app/file", ids.base + 1000, ids.base + 2000),
            // Host root's own file: no id of the container's (it sees nobody).
            ("home/gone", 0, 0),
        ] {
            std::os::unix::fs::lchown(upper.join(path), Some(uid), Some(gid)).unwrap();
        }
        let owners = |ids: Option<IdRange>| -> Vec<String> {
            let mut tar = Vec::new();
            write_tar_shifted(&upper, Source::OverlayUpper, ids, &mut tar).unwrap();
            tar::Archive::new(&tar[..])
                .entries()
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let h = e.header();
                    format!(
                        "{} {}:{}",
                        e.path().unwrap().display(),
                        h.uid().unwrap(),
                        h.gid().unwrap()
                    )
                })
                .collect()
        };
        assert_eq!(
            owners(Some(ids)),
            [
                "home 0:0",
                "home/app 1000:1000",
                "home/app/file 1000:2000",
                "home/.wh.gone 0:0"
            ]
        );
        assert_eq!(owners(None)[1], "home/app 3001000:3001000");
    }

    #[test]
    fn upper_dir_roundtrips_through_a_layer_tar() {
        let tmp = tempfile::tempdir().unwrap();
        let lower = tmp.path().join("lower");
        let upper = tmp.path().join("upper");
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::write(lower.join("etc/keep"), b"keep").unwrap();
        fs::write(lower.join("etc/gone"), b"gone").unwrap();
        fs::create_dir_all(lower.join("data/old")).unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/keep"), b"changed").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.join("etc/gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        fs::create_dir_all(upper.join("data")).unwrap();
        xattr::set(upper.join("data"), OPAQUE_XATTR, b"y").unwrap();
        fs::write(upper.join("data/new"), b"new").unwrap();
        fs::hard_link(upper.join("data/new"), upper.join("data/new-link")).unwrap();
        std::os::unix::fs::symlink("/etc/keep", upper.join("link")).unwrap();
        // What the runtime leaves: empty mount points, which are no change.
        for d in ["proc", "sys", "dev", "sbin"] {
            fs::create_dir_all(upper.join(d)).unwrap();
        }
        for f in ["etc/hostname", "sbin/docker-init"] {
            fs::write(upper.join(f), b"").unwrap();
        }

        let changes = changes(&upper, std::slice::from_ref(&lower)).unwrap();
        let text: Vec<String> = changes.iter().map(|(k, p)| format!("{k} {p}")).collect();
        assert_eq!(
            text,
            vec![
                "C /data",
                "A /data/new",
                "A /data/new-link",
                "D /data/old",
                "C /etc",
                "D /etc/gone",
                "C /etc/keep",
                "A /link"
            ]
        );

        let mut tar = Vec::new();
        let written = write_tar(&upper, Source::OverlayUpper, &mut tar).unwrap();
        assert_eq!(written.diff_id, Digest::of(&tar));
        assert_eq!(written.tar_size, tar.len() as u64);
        let mut names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.contains(&"etc/.wh.gone".to_string()), "{names:?}");
        assert!(names.contains(&"data/.wh..wh..opq".to_string()), "{names:?}");
        // Applying it again gives the same overlay-form layer.
        let again = tmp.path().join("again");
        fs::create_dir(&again).unwrap();
        let applied = apply_layer(std::io::Cursor::new(tar.clone()), &again).unwrap();
        assert_eq!(applied.diff_id, written.diff_id);
        assert!(is_whiteout(&fs::symlink_metadata(again.join("etc/gone")).unwrap()));
        assert!(is_opaque(&again.join("data")));
        assert_eq!(fs::read(again.join("etc/keep")).unwrap(), b"changed");
        let a = fs::metadata(again.join("data/new")).unwrap();
        let b = fs::metadata(again.join("data/new-link")).unwrap();
        assert_eq!(a.ino(), b.ino(), "hard links stay links");
        assert_eq!(fs::read_link(again.join("link")).unwrap(), PathBuf::from("/etc/keep"));
    }

    #[test]
    fn device_numbers_roundtrip() {
        use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir(&tree).unwrap();
        mknodat(
            CWD,
            tree.join("null"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            makedev(1, 3),
        )
        .unwrap();
        mknodat(
            CWD,
            tree.join("loop"),
            FileType::BlockDevice,
            Mode::from_raw_mode(0o660),
            makedev(7, 300),
        )
        .unwrap();
        // A high major and minor, beyond the old 8-bit ones.
        mknodat(
            CWD,
            tree.join("big"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o600),
            makedev(511, 70000),
        )
        .unwrap();
        for source in [Source::Plain, Source::OverlayUpper] {
            let mut tar = Vec::new();
            write_tar(&tree, source, &mut tar).unwrap();
            let mut seen = Vec::new();
            for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
                let entry = entry.unwrap();
                let h = entry.header();
                seen.push((
                    entry.path().unwrap().to_string_lossy().into_owned(),
                    h.entry_type(),
                    h.device_major().unwrap(),
                    h.device_minor().unwrap(),
                ));
            }
            use tar::EntryType as T;
            assert_eq!(
                seen,
                vec![
                    ("big".to_string(), T::Char, Some(511), Some(70000)),
                    ("loop".to_string(), T::Block, Some(7), Some(300)),
                    ("null".to_string(), T::Char, Some(1), Some(3)),
                ],
                "{source:?}"
            );
            let again = tmp.path().join(format!("{source:?}"));
            fs::create_dir(&again).unwrap();
            apply_layer(std::io::Cursor::new(tar), &again).unwrap();
            for (name, want) in [
                ("null", makedev(1, 3)),
                ("loop", makedev(7, 300)),
                ("big", makedev(511, 70000)),
            ] {
                let m = fs::symlink_metadata(again.join(name)).unwrap();
                assert_eq!(m.rdev(), want, "{source:?} {name}");
                assert!(!is_whiteout(&m), "{source:?} {name} must not turn into a whiteout");
            }
            assert!(fs::symlink_metadata(again.join("loop"))
                .unwrap()
                .file_type()
                .is_block_device());
        }
    }
}
