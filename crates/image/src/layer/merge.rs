//! Merging an overlay-format layer directory onto a plain tree: the plain-copy
//! snapshotter, and flattening layers.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, Timespec, Timestamps, CWD};

use super::OPAQUE_XATTR;
use crate::Error;

/// Merges an overlay-format layer directory (as `apply_layer` produces) onto a plain tree `dest`:
/// character-device 0:0 whiteouts delete the path in `dest`, opaque directories first empty the
/// directory in `dest`, and everything else is copied keeping owner, mode, times, xattrs (except
/// `trusted.overlay.*`), symbolic links, hard links within the layer and device nodes.
/// `dest` is created when missing.
pub fn merge_overlay_dir(layer_dir: &Path, dest: &Path) -> Result<(), Error> {
    let src_meta = fs::symlink_metadata(layer_dir).map_err(|e| Error::io("reading", layer_dir, e))?;
    if !src_meta.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "layer directory {} is not a directory; pass the layer's diff directory",
            layer_dir.display()
        )));
    }
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::InvalidArgument(format!(
                "merge target {} is not a directory; pass a directory",
                dest.display()
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(|e| Error::io("creating directory", dest, e))?
        }
        Err(e) => return Err(Error::io("reading", dest, e)),
    }
    let mut merger = Merger::default();
    merger.copy_meta(layer_dir, dest, &src_meta, true)?;
    merger.merge_dir(layer_dir, dest)?;
    set_times(dest, &src_meta)
}

#[derive(Default)]
struct Merger {
    /// (device, inode) of multiply-linked layer files -> where the first copy went.
    links: HashMap<(u64, u64), std::path::PathBuf>,
    xattr_warned: bool,
}

impl Merger {
    fn merge_dir(&mut self, src: &Path, dst: &Path) -> Result<(), Error> {
        let entries = fs::read_dir(src).map_err(|e| Error::io("reading directory", src, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("reading directory", src, e))?;
            let s = entry.path();
            let d = dst.join(entry.file_name());
            // DirEntry::metadata does not follow symbolic links.
            let sm = entry.metadata().map_err(|e| Error::io("reading", &s, e))?;
            let existing = lstat(&d)?;
            let ft = sm.file_type();

            if ft.is_char_device() && sm.rdev() == 0 {
                if let Some(em) = existing {
                    remove(&d, &em)?;
                }
                continue;
            }

            if ft.is_dir() {
                let opaque = matches!(xattr::get(&s, OPAQUE_XATTR), Ok(Some(v)) if v == b"y");
                let kept = match existing {
                    Some(em) if em.is_dir() => {
                        if opaque {
                            empty_dir(&d)?;
                        }
                        true
                    }
                    Some(em) => {
                        remove(&d, &em)?;
                        false
                    }
                    None => false,
                };
                if !kept {
                    fs::create_dir(&d).map_err(|e| Error::io("creating directory", &d, e))?;
                }
                self.copy_meta(&s, &d, &sm, kept)?;
                self.merge_dir(&s, &d)?;
                set_times(&d, &sm)?;
                continue;
            }

            if let Some(em) = existing {
                remove(&d, &em)?;
            }
            let key = (sm.dev(), sm.ino());
            if sm.nlink() > 1 {
                if let Some(first) = self.links.get(&key) {
                    fs::hard_link(first, &d).map_err(|e| Error::io("creating hard link", &d, e))?;
                    continue;
                }
            }
            if ft.is_file() {
                let mut from = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&s)
                    .map_err(|e| Error::io("opening", &s, e))?;
                let mut to: File = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&d)
                    .map_err(|e| Error::io("creating", &d, e))?;
                io::copy(&mut from, &mut to).map_err(|e| Error::io("copying to", &d, e))?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&s).map_err(|e| Error::io("reading symbolic link", &s, e))?;
                std::os::unix::fs::symlink(&target, &d).map_err(|e| Error::io("creating symbolic link", &d, e))?;
            } else {
                rfs::mknodat(
                    CWD,
                    &d,
                    FileType::from_raw_mode(sm.mode()),
                    Mode::from_raw_mode(0o600),
                    sm.rdev(),
                )
                .map_err(|e| Error::io("creating device node", &d, e))?;
            }
            self.copy_meta(&s, &d, &sm, false)?;
            set_times(&d, &sm)?;
            if sm.nlink() > 1 {
                self.links.insert(key, d);
            }
        }
        Ok(())
    }

    /// Owner, xattrs and mode (times are separate: directories get theirs after their contents).
    /// On a directory that was already there (`kept`), xattrs the layer's directory lacks are removed.
    fn copy_meta(&mut self, src: &Path, dst: &Path, sm: &Metadata, kept: bool) -> Result<(), Error> {
        std::os::unix::fs::lchown(dst, Some(sm.uid()), Some(sm.gid()))
            .map_err(|e| Error::io("changing owner of", dst, e))?;
        let names: Vec<_> = match xattr::list(src) {
            Ok(names) => names
                .filter(|n| !n.as_bytes().starts_with(super::overlay_xattr_prefix().as_bytes()))
                .collect(),
            Err(e) if unsupported(&e) => Vec::new(),
            Err(e) => return Err(Error::io("listing extended attributes of", src, e)),
        };
        if kept {
            if let Ok(old) = xattr::list(dst) {
                for name in old.filter(|n| !names.contains(n)) {
                    if let Err(e) = xattr::remove(dst, &name) {
                        if !unsupported(&e) {
                            return Err(Error::io("removing extended attribute from", dst, e));
                        }
                    }
                }
            }
        }
        for name in &names {
            let value = match xattr::get(src, name) {
                Ok(Some(v)) => v,
                Ok(None) => continue,
                Err(e) => return Err(Error::io("reading extended attribute of", src, e)),
            };
            if let Err(e) = xattr::set(dst, name, &value) {
                if !unsupported(&e) {
                    return Err(Error::io("setting extended attribute on", dst, e));
                }
                if !self.xattr_warned {
                    self.xattr_warned = true;
                    tracing::warn!(path = %dst.display(), xattr = %OsStr::to_string_lossy(name),
                        "extended attribute not supported here, dropped (further ones are dropped silently)");
                }
            }
        }
        if !sm.file_type().is_symlink() {
            fs::set_permissions(dst, fs::Permissions::from_mode(sm.mode() & 0o7777))
                .map_err(|e| Error::io("setting mode of", dst, e))?;
        }
        Ok(())
    }
}

fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::EPERM))
}

fn lstat(p: &Path) -> Result<Option<Metadata>, Error> {
    match fs::symlink_metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading", p, e)),
    }
}

fn remove(p: &Path, m: &Metadata) -> Result<(), Error> {
    let r = if m.is_dir() {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    };
    r.map_err(|e| Error::io("removing", p, e))
}

fn empty_dir(p: &Path) -> Result<(), Error> {
    for entry in fs::read_dir(p).map_err(|e| Error::io("reading directory", p, e))? {
        let entry = entry.map_err(|e| Error::io("reading directory", p, e))?;
        let child = entry.path();
        let m = entry.metadata().map_err(|e| Error::io("reading", &child, e))?;
        remove(&child, &m)?;
    }
    Ok(())
}

fn set_times(p: &Path, m: &Metadata) -> Result<(), Error> {
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: m.atime(),
            tv_nsec: m.atime_nsec(),
        },
        last_modification: Timespec {
            tv_sec: m.mtime(),
            tv_nsec: m.mtime_nsec(),
        },
    };
    rfs::utimensat(CWD, p, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Error::io("setting times of", p, e))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use tar::EntryType as T;

    use super::*;
    use crate::layer::apply_layer;
    use crate::layer::test_support::*;

    #[test]
    fn merges_an_overlay_layer_onto_a_plain_tree() {
        let tmp = scratch();
        let layer = tmp.path().join("layer");
        fs::create_dir(&layer).unwrap();
        let bytes = tar_of(|b| {
            raw(b, b".wh.gone", T::Regular, b"", b"");
            raw(b, b".wh.a", T::Regular, b"", b"");
            raw(b, b".wh.never-existed", T::Regular, b"", b"");
            dir(b, "opq");
            raw(b, b"opq/.wh..wh..opq", T::Regular, b"", b"");
            file(b, "opq/new", b"new");
            file(b, "dirtofile", b"was a dir");
            dir(b, "filetodir");
            file(b, "filetodir/x", b"x");
            let mut h = raw_header(b"owned", T::Regular, b"", 2);
            h.set_uid(123);
            h.set_gid(456);
            h.set_mode(0o4711);
            h.set_mtime(1_234_567_890);
            h.set_cksum();
            b.append(&h, &b"ok"[..]).unwrap();
            b.append_pax_extensions([("SCHILY.xattr.user.tag", &b"v"[..])]).unwrap();
            file(b, "tagged", b"t");
            file(b, "h1", b"linked");
            hardlink(b, "h2", "h1");
            symlink(b, "sym", "/does/not/matter");
            let mut h = raw_header(b"null", T::Char, b"", 0);
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
            dir(b, "keepdir");
            file(b, "keepdir/added", b"added");
        });
        apply_layer(Cursor::new(bytes), &layer).unwrap();

        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("gone"), b"old").unwrap();
        fs::create_dir_all(dest.join("a/b")).unwrap();
        fs::write(dest.join("a/b/c"), b"deep").unwrap();
        fs::create_dir(dest.join("opq")).unwrap();
        fs::write(dest.join("opq/old"), b"hidden").unwrap();
        fs::create_dir(dest.join("dirtofile")).unwrap();
        fs::write(dest.join("dirtofile/child"), b"c").unwrap();
        fs::write(dest.join("filetodir"), b"f").unwrap();
        fs::write(dest.join("keep"), b"keep").unwrap();
        fs::create_dir(dest.join("keepdir")).unwrap();
        fs::write(dest.join("keepdir/old"), b"still here").unwrap();
        std::os::unix::fs::symlink("/elsewhere", dest.join("sym")).unwrap();

        merge_overlay_dir(&layer, &dest).unwrap();

        let got = listing(&dest);
        let expected: Vec<(&str, &str)> = vec![
            ("dirtofile", "file 644 0:0 was a dir"),
            ("filetodir", "dir 755 0:0"),
            ("filetodir/x", "file 644 0:0 x"),
            ("h1", "file 644 0:0 linked"),
            ("h2", "file 644 0:0 linked"),
            ("keep", "file 644 0:0 keep"),
            ("keepdir", "dir 755 0:0"),
            ("keepdir/added", "file 644 0:0 added"),
            ("keepdir/old", "file 644 0:0 still here"),
            ("null", "char 259"),
            ("opq", "dir 755 0:0"),
            ("opq/new", "file 644 0:0 new"),
            ("owned", "file 4711 123:456 ok"),
            ("sym", "symlink -> /does/not/matter"),
            ("tagged", "file 644 0:0 t"),
        ];
        let expected: std::collections::BTreeMap<String, String> = expected
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, expected);

        let h1 = fs::symlink_metadata(dest.join("h1")).unwrap();
        assert_eq!(fs::symlink_metadata(dest.join("h2")).unwrap().ino(), h1.ino());
        assert_eq!(fs::symlink_metadata(dest.join("owned")).unwrap().mtime(), 1_234_567_890);
        assert_eq!(fs::symlink_metadata(dest.join("opq")).unwrap().mtime(), 1_600_000_000);
        assert_eq!(
            xattr::get(dest.join("tagged"), "user.tag").unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(xattr::get(dest.join("opq"), OPAQUE_XATTR).unwrap(), None);
        // The layer is left as it was.
        assert!(fs::symlink_metadata(layer.join("gone"))
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn refuses_non_directories() {
        let tmp = scratch();
        fs::write(tmp.path().join("file"), b"x").unwrap();
        let err = merge_overlay_dir(&tmp.path().join("file"), &tmp.path().join("d")).unwrap_err();
        assert_eq!(err.kind(), berth_store::ErrorKind::InvalidArgument);
        let err = merge_overlay_dir(tmp.path(), &tmp.path().join("file")).unwrap_err();
        assert_eq!(err.kind(), berth_store::ErrorKind::InvalidArgument);
    }
}
