//! Unpacking a layer tar into an overlayfs lower directory.
//!
//! Every path is resolved against an in-memory map of what this layer has created:
//! the destination starts empty, so the map is the whole truth about it, and no
//! entry is ever created through a symbolic link or outside the destination.
//!
//! What a layer writes is bounded by what it holds. A regular file gets exactly the bytes its entry
//! carries in the stream: the header's size, or the PAX `size` record, which the tar crate honours
//! over the header and which also decides where the next header starts; the data is read from the
//! stream, never made up. Hard links are made with `linkat` and copy nothing. Directories, symbolic
//! links, devices, fifos and whiteouts get no data (whatever their header declares is skipped), and
//! xattrs come from PAX records, which are in the stream themselves. The one tar feature that makes
//! bytes out of nothing, sparse files (GNU 'S' entries, whose holes the tar crate hands out as zeros,
//! and GNU tar's PAX sparse formats), is refused before anything of the entry is written.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Dev, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use super::hash::BackgroundHashingReader;
use super::{decoder, sniff, Applied, BUF_SIZE, OPAQUE_XATTR};
use crate::Error;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// After the whiteout prefix: `.wh..wh..opq` marks an opaque directory.
const OPAQUE_SUFFIX: &[u8] = b".wh..opq";
/// After the whiteout prefix: other `.wh..wh.*` names are AUFS metadata, skipped.
const META_SUFFIX_PREFIX: &[u8] = b".wh.";
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
const AUFS_ROOT_OPAQUE: &[u8] = b".wh..wh..opq";

/// Unpacks one layer tar (plain, gzip or zstd; sniffed) into `dest`, an existing empty
/// directory that becomes an overlayfs lower layer. OCI whiteouts become overlayfs
/// whiteouts: `dir/.wh.name` becomes a character device 0:0 at `dir/name`, and
/// `dir/.wh..wh..opq` becomes the xattr `trusted.overlay.opaque=y` on `dir`.
///
/// Returns the diffID, the sha256 of the whole uncompressed stream including the tar's
/// end blocks and any trailing padding. On error, `dest` is left as it is: the caller
/// removes it.
pub fn apply_layer<R: Read + 'static>(input: R, dest: &Path) -> Result<Applied, Error> {
    let read_err = |source| Error::Read { source };
    let (compression, stream) = sniff(input).map_err(read_err)?;
    let decoded = decoder(compression, stream).map_err(read_err)?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(
        BUF_SIZE,
        BackgroundHashingReader::new(decoded),
    ));

    let mut applier = Applier::new(dest)?;
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        applier.apply(&mut entry)?;
    }
    applier.finish()?;

    // The diffID covers everything after the archive's end marker too.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
    let (diff_id, tar_size) = rest.into_inner().finish().map_err(read_err)?;
    Ok(Applied {
        diff_id,
        tar_size,
        size: applier.size,
    })
}

/// What this layer has put at a path.
enum Node {
    /// A directory, with the mtime to give it once its contents are written
    /// (`None` for directories created only as parents of other entries).
    Dir {
        mtime: Option<Timespec>,
    },
    Symlink,
    /// Regular files, device nodes, fifos, whiteouts.
    Other,
}

/// Metadata from an entry's header and PAX records.
struct Meta {
    uid: Uid,
    gid: Gid,
    mode: Mode,
    mtime: Timespec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Applier {
    dest: PathBuf,
    root: OwnedFd,
    nodes: HashMap<Vec<u8>, Node>,
    root_mtime: Option<Timespec>,
    buf: Vec<u8>,
    size: u64,
    use_openat2: bool,
    xattr_warned: bool,
}

impl Applier {
    fn new(dest: &Path) -> Result<Self, Error> {
        let root = rfs::open(
            dest,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("opening layer directory", dest, e))?;
        Ok(Applier {
            dest: dest.to_path_buf(),
            root,
            nodes: HashMap::new(),
            root_mtime: None,
            buf: vec![0; BUF_SIZE],
            size: 0,
            use_openat2: true,
            xattr_warned: false,
        })
    }

    fn path(&self, rel: &[u8]) -> PathBuf {
        self.dest.join(OsStr::from_bytes(rel))
    }

    fn err(&self, op: &'static str, rel: &[u8], e: impl Into<io::Error>) -> Error {
        Error::io(op, self.path(rel), e)
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), Error> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        if kind.is_gnu_sparse() {
            return Err(Error::SparseEntry {
                entry: String::from_utf8_lossy(&raw).into_owned(),
            });
        }
        if let Some(name) = pax_sparse_name(entry)? {
            return Err(Error::SparseEntry {
                entry: String::from_utf8_lossy(name.as_deref().unwrap_or(&raw)).into_owned(),
            });
        }
        let rel = normalize(&raw).map_err(|reason| Error::entry(&raw, reason))?;
        // AUFS metadata at the root (`.wh..wh.plnk/`, `.wh..wh.aufs`, ...) is not content.
        let first = rel.split(|&b| b == b'/').next().unwrap_or_default();
        if first.starts_with(AUFS_META_PREFIX) && rel != AUFS_ROOT_OPAQUE {
            tracing::debug!(entry = %String::from_utf8_lossy(&raw), "skipping AUFS metadata entry");
            return Ok(());
        }
        if let Some(hidden) = basename(&rel).strip_prefix(WHITEOUT_PREFIX) {
            let hidden = hidden.to_vec();
            return self.whiteout(&raw, &rel, &hidden);
        }
        let meta = read_meta(entry, &raw)?;
        use tar::EntryType as T;
        match kind {
            T::Directory => self.dir(&raw, rel, &meta),
            T::Regular | T::Continuous => self.file(entry, &raw, rel, &meta),
            T::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                self.symlink(&raw, rel, &target, &meta)
            }
            T::Link => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                self.hardlink(&raw, rel, &target)
            }
            T::Char | T::Block | T::Fifo => {
                let (file_type, dev) = match kind {
                    T::Fifo => (FileType::Fifo, 0),
                    _ => {
                        let h = entry.header();
                        let major = h
                            .device_major()
                            .map_err(|e| Error::entry(&raw, format!("bad device major: {e}")))?;
                        let minor = h
                            .device_minor()
                            .map_err(|e| Error::entry(&raw, format!("bad device minor: {e}")))?;
                        let ft = if kind == T::Char {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (ft, rfs::makedev(major.unwrap_or(0), minor.unwrap_or(0)))
                    }
                };
                self.special(&raw, rel, file_type, dev, &meta)
            }
            other => {
                tracing::warn!(entry = %String::from_utf8_lossy(&raw), kind = ?other, "skipping layer entry of unsupported type");
                Ok(())
            }
        }
    }

    /// Makes sure every parent of `rel` is a directory of this layer, creating missing ones.
    fn ensure_parents(&mut self, raw: &[u8], rel: &[u8]) -> Result<(), Error> {
        for (i, &b) in rel.iter().enumerate() {
            if b == b'/' {
                self.ensure_dir(raw, &rel[..i])?;
            }
        }
        Ok(())
    }

    /// Makes sure `rel` itself (whose parents are already checked) is a directory.
    fn ensure_dir(&mut self, raw: &[u8], rel: &[u8]) -> Result<(), Error> {
        if rel.is_empty() {
            return Ok(());
        }
        match self.nodes.get(rel) {
            Some(Node::Dir { .. }) => Ok(()),
            Some(Node::Symlink) => Err(Error::entry(
                raw,
                format!(
                    "path goes through the symbolic link {:?}, which could point outside the layer; \
                     refusing the layer, use a trusted image",
                    String::from_utf8_lossy(rel)
                ),
            )),
            Some(Node::Other) => Err(Error::entry(
                raw,
                format!(
                    "{:?} is not a directory but the entry is inside it; the layer tar is malformed",
                    String::from_utf8_lossy(rel)
                ),
            )),
            None => {
                rfs::mkdirat(&self.root, rel, Mode::from_raw_mode(0o755))
                    .map_err(|e| self.err("creating directory", rel, e))?;
                // The umask may have cut bits off the mode.
                rfs::chmodat(&self.root, rel, Mode::from_raw_mode(0o755), AtFlags::empty())
                    .map_err(|e| self.err("setting mode of", rel, e))?;
                self.nodes.insert(rel.to_vec(), Node::Dir { mtime: None });
                Ok(())
            }
        }
    }

    /// Gets `rel` ready for a new entry: parents exist, and anything in the way is removed
    /// (an existing directory is kept when `want_dir`). Returns whether a directory was kept.
    fn prepare(&mut self, raw: &[u8], rel: &[u8], want_dir: bool) -> Result<bool, Error> {
        if rel.is_empty() {
            return Err(Error::entry(
                raw,
                "the layer root can only be a directory; the layer tar is malformed",
            ));
        }
        self.ensure_parents(raw, rel)?;
        match self.nodes.get(rel) {
            None => Ok(false),
            Some(Node::Dir { .. }) if want_dir => Ok(true),
            Some(Node::Dir { .. }) => {
                let path = self.path(rel);
                std::fs::remove_dir_all(&path).map_err(|e| Error::io("removing", &path, e))?;
                self.nodes
                    .retain(|k, _| !(k.starts_with(rel) && (k.len() == rel.len() || k[rel.len()] == b'/')));
                Ok(false)
            }
            Some(_) => {
                rfs::unlinkat(&self.root, rel, AtFlags::empty()).map_err(|e| self.err("removing", rel, e))?;
                self.nodes.remove(rel);
                Ok(false)
            }
        }
    }

    fn whiteout(&mut self, raw: &[u8], rel: &[u8], hidden: &[u8]) -> Result<(), Error> {
        let parent = parent_of(rel);
        if hidden == OPAQUE_SUFFIX {
            self.ensure_parents(raw, parent)?;
            self.ensure_dir(raw, parent)?;
            let r = if parent.is_empty() {
                rfs::fsetxattr(&self.root, OPAQUE_XATTR.name(), b"y", rfs::XattrFlags::empty())
            } else {
                rfs::lsetxattr(self.path(parent), OPAQUE_XATTR.name(), b"y", rfs::XattrFlags::empty())
            };
            return r.map_err(|e| self.err("marking opaque (needs trusted xattrs, run as root)", parent, e));
        }
        if hidden.starts_with(META_SUFFIX_PREFIX) {
            tracing::debug!(entry = %String::from_utf8_lossy(raw), "skipping AUFS metadata entry");
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(Error::entry(
                raw,
                "whiteout does not name a file in its directory; the layer tar is malformed",
            ));
        }
        let mut target = parent.to_vec();
        if !target.is_empty() {
            target.push(b'/');
        }
        target.extend_from_slice(hidden);
        self.prepare(raw, &target, false)?;
        rfs::mknodat(
            &self.root,
            &target,
            FileType::CharacterDevice,
            Mode::empty(),
            rfs::makedev(0, 0),
        )
        .map_err(|e| self.err("creating whiteout", &target, e))?;
        self.nodes.insert(target, Node::Other);
        Ok(())
    }

    fn dir(&mut self, raw: &[u8], rel: Vec<u8>, meta: &Meta) -> Result<(), Error> {
        if rel.is_empty() {
            rfs::fchown(&self.root, Some(meta.uid), Some(meta.gid))
                .map_err(|e| self.err("changing owner of", &rel, e))?;
            for (name, value) in &meta.xattrs {
                let r = rfs::fsetxattr(&self.root, name.as_slice(), value, rfs::XattrFlags::empty());
                self.xattr_result(r, &rel, name)?;
            }
            rfs::fchmod(&self.root, meta.mode).map_err(|e| self.err("setting mode of", &rel, e))?;
            self.root_mtime = Some(meta.mtime);
            return Ok(());
        }
        if !self.prepare(raw, &rel, true)? {
            rfs::mkdirat(&self.root, &rel, Mode::from_raw_mode(0o700))
                .map_err(|e| self.err("creating directory", &rel, e))?;
        }
        self.path_meta(&rel, meta, true)?;
        self.nodes.insert(
            rel,
            Node::Dir {
                mtime: Some(meta.mtime),
            },
        );
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &[u8],
        rel: Vec<u8>,
        meta: &Meta,
    ) -> Result<(), Error> {
        self.prepare(raw, &rel, false)?;
        let fd = self.create(&rel)?;
        let mut file = File::from(fd);
        loop {
            let mut filled = 0;
            while filled < self.buf.len() {
                match entry.read(&mut self.buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => return Err(Error::Read { source }),
                }
            }
            if filled == 0 {
                break;
            }
            file.write_all(&self.buf[..filled])
                .map_err(|e| Error::io("writing", self.dest.join(OsStr::from_bytes(&rel)), e))?;
            self.size += filled as u64;
            if filled < self.buf.len() {
                break;
            }
        }
        rfs::fchown(&file, Some(meta.uid), Some(meta.gid)).map_err(|e| self.err("changing owner of", &rel, e))?;
        for (name, value) in &meta.xattrs {
            let r = rfs::fsetxattr(&file, name.as_slice(), value, rfs::XattrFlags::empty());
            self.xattr_result(r, &rel, name)?;
        }
        rfs::fchmod(&file, meta.mode).map_err(|e| self.err("setting mode of", &rel, e))?;
        rfs::futimens(&file, &times(meta.mtime)).map_err(|e| self.err("setting times of", &rel, e))?;
        self.nodes.insert(rel, Node::Other);
        Ok(())
    }

    /// Creates a new regular file, never through a symbolic link and never over an existing entry.
    fn create(&mut self, rel: &[u8]) -> Result<OwnedFd, Error> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o600);
        if self.use_openat2 {
            let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rfs::openat2(&self.root, rel, flags, mode, resolve) {
                Ok(fd) => return Ok(fd),
                Err(Errno::NOSYS) => self.use_openat2 = false,
                Err(e) => return Err(self.err("creating", rel, e)),
            }
        }
        rfs::openat(&self.root, rel, flags, mode).map_err(|e| self.err("creating", rel, e))
    }

    fn symlink(&mut self, raw: &[u8], rel: Vec<u8>, target: &[u8], meta: &Meta) -> Result<(), Error> {
        if target.is_empty() || target.contains(&0) {
            return Err(Error::entry(
                raw,
                "symbolic link has an empty or invalid target; the layer tar is malformed",
            ));
        }
        self.prepare(raw, &rel, false)?;
        rfs::symlinkat(target, &self.root, &rel).map_err(|e| self.err("creating symbolic link", &rel, e))?;
        self.path_meta(&rel, meta, false)?;
        self.nodes.insert(rel, Node::Symlink);
        Ok(())
    }

    fn hardlink(&mut self, raw: &[u8], rel: Vec<u8>, target: &[u8]) -> Result<(), Error> {
        let refuse = |why: &str| {
            Error::entry(
                raw,
                format!("hard link target {:?} {why}", String::from_utf8_lossy(target)),
            )
        };
        let target = normalize(target).map_err(|_| {
            refuse("leaves the layer or is malformed; refusing a link that could point outside it, use a trusted image")
        })?;
        // The target and all its parents must be things this layer created, with no symbolic link on the way.
        for (i, &b) in target.iter().enumerate() {
            if b == b'/' {
                match self.nodes.get(&target[..i]) {
                    Some(Node::Dir { .. }) => {}
                    Some(Node::Symlink) => {
                        return Err(refuse(
                            "goes through a symbolic link; refusing a link that could point outside the layer",
                        ))
                    }
                    _ => {
                        return Err(refuse(
                            "does not exist earlier in this layer; the layer tar is malformed",
                        ))
                    }
                }
            }
        }
        let kind = match self.nodes.get(&target) {
            Some(Node::Other) => Node::Other,
            Some(Node::Symlink) => Node::Symlink,
            Some(Node::Dir { .. }) => return Err(refuse("is a directory; the layer tar is malformed")),
            None => {
                return Err(refuse(
                    "does not exist earlier in this layer; the layer tar is malformed",
                ))
            }
        };
        if target == rel {
            return Ok(());
        }
        if target.starts_with(&rel) && target.get(rel.len()) == Some(&b'/') {
            return Err(refuse(
                "is inside the entry it would replace; the layer tar is malformed",
            ));
        }
        self.prepare(raw, &rel, false)?;
        rfs::linkat(&self.root, &target, &self.root, &rel, AtFlags::empty())
            .map_err(|e| self.err("creating hard link", &rel, e))?;
        self.nodes.insert(rel, kind);
        Ok(())
    }

    fn special(&mut self, raw: &[u8], rel: Vec<u8>, file_type: FileType, dev: Dev, meta: &Meta) -> Result<(), Error> {
        self.prepare(raw, &rel, false)?;
        rfs::mknodat(&self.root, &rel, file_type, Mode::from_raw_mode(0o600), dev)
            .map_err(|e| self.err("creating device node", &rel, e))?;
        self.path_meta(&rel, meta, true)?;
        rfs::utimensat(&self.root, &rel, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err("setting times of", &rel, e))?;
        self.nodes.insert(rel, Node::Other);
        Ok(())
    }

    /// Owner, xattrs and (when `chmod`) mode of a non-regular entry, by path without following it.
    /// Symbolic links get their times here too; directories get them at the end.
    fn path_meta(&mut self, rel: &[u8], meta: &Meta, chmod: bool) -> Result<(), Error> {
        rfs::chownat(
            &self.root,
            rel,
            Some(meta.uid),
            Some(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.err("changing owner of", rel, e))?;
        if !meta.xattrs.is_empty() {
            let path = self.path(rel);
            for (name, value) in &meta.xattrs {
                let r = rfs::lsetxattr(&path, name.as_slice(), value, rfs::XattrFlags::empty());
                self.xattr_result(r, rel, name)?;
            }
        }
        if chmod {
            rfs::chmodat(&self.root, rel, meta.mode, AtFlags::empty())
                .map_err(|e| self.err("setting mode of", rel, e))?;
        } else {
            rfs::utimensat(&self.root, rel, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| self.err("setting times of", rel, e))?;
        }
        Ok(())
    }

    /// Filesystems without xattr support, and namespaces the kernel refuses on some file types
    /// (`user.*` on symbolic links), lose the attribute with a warning, as Docker does.
    fn xattr_result(&mut self, r: rustix::io::Result<()>, rel: &[u8], name: &[u8]) -> Result<(), Error> {
        match r {
            Ok(()) => Ok(()),
            Err(Errno::OPNOTSUPP) | Err(Errno::PERM) => {
                if !self.xattr_warned {
                    self.xattr_warned = true;
                    tracing::warn!(
                        path = %self.path(rel).display(),
                        xattr = %String::from_utf8_lossy(name),
                        "extended attribute not supported here, dropped (further ones are dropped silently)"
                    );
                }
                Ok(())
            }
            Err(e) => Err(self.err("setting extended attribute on", rel, e)),
        }
    }

    /// Directory times go last, once nothing more is created inside them.
    fn finish(&mut self) -> Result<(), Error> {
        for (rel, node) in &self.nodes {
            if let Node::Dir { mtime: Some(t) } = node {
                rfs::utimensat(&self.root, rel, &times(*t), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| self.err("setting times of", rel, e))?;
            }
        }
        if let Some(t) = self.root_mtime {
            rfs::futimens(&self.root, &times(t)).map_err(|e| self.err("setting times of", b"", e))?;
        }
        Ok(())
    }
}

fn times(t: Timespec) -> Timestamps {
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// `a/b/c` -> `c`; `c` -> `c`.
fn basename(rel: &[u8]) -> &[u8] {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => &rel[i + 1..],
        None => rel,
    }
}

/// `a/b/c` -> `a/b`; `c` -> ``.
fn parent_of(rel: &[u8]) -> &[u8] {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => &rel[..i],
        None => b"",
    }
}

/// Turns an entry name into a clean relative path (`./a//b/` -> `a/b`; the root is empty),
/// refusing `..`. A leading `/` means the layer's root, as Docker reads it
/// (umoci, for one, names the root entry `/`): it never leads outside.
fn normalize(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(raw.len());
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                return Err("path has a \"..\" component; refusing an image that could write outside its layer, use a trusted image")
            }
            c if c.contains(&0) => return Err("path contains a NUL byte; the layer tar is malformed"),
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(out)
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, raw: &[u8]) -> Result<Meta, Error> {
    let h = entry.header();
    let bad = |field: &str, e: io::Error| {
        Error::entry(
            raw,
            format!("bad {field} in the tar header ({e}); the layer tar is malformed"),
        )
    };
    let id = |field: &str, v: u64| match u32::try_from(v) {
        Ok(v) if v != u32::MAX => Ok(v),
        _ => Err(Error::entry(
            raw,
            format!("{field} {v} is out of range; the layer tar is malformed"),
        )),
    };
    // An empty numeric field (all NULs or spaces) reads as 0, as Go's archive/tar does.
    let old = h.as_old();
    let blank = |field: &[u8]| field.iter().all(|&b| b == 0 || b == b' ');
    let number = |field: &str, raw_field: &[u8], v: io::Result<u64>| match v {
        Err(_) if blank(raw_field) => Ok(0),
        other => other.map_err(|e| bad(field, e)),
    };
    let uid = Uid::from_raw(id("uid", number("uid", &old.uid, h.uid())?)?);
    let gid = Gid::from_raw(id("gid", number("gid", &old.gid, h.gid())?)?);
    let mode = Mode::from_bits_retain(number("mode", &old.mode, h.mode().map(u64::from))? as u32 & 0o7777);
    let secs = number("mtime", &old.mtime, h.mtime())?;
    let mut mtime = Timespec {
        tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(records) = entry.pax_extensions().map_err(|source| Error::Read { source })? {
        for record in records {
            let record =
                record.map_err(|e| Error::entry(raw, format!("bad PAX record ({e}); the layer tar is malformed")))?;
            let key = record.key_bytes();
            if key == b"mtime" {
                if let Some(t) = parse_pax_time(record.value_bytes()) {
                    mtime = t;
                }
            } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                if name.starts_with(super::overlay_xattr_prefix().as_bytes()) {
                    tracing::warn!(entry = %String::from_utf8_lossy(raw), xattr = %String::from_utf8_lossy(name),
                        "ignoring an overlayfs xattr in a layer tar");
                    continue;
                }
                if name.is_empty() || name.contains(&0) {
                    return Err(Error::entry(
                        raw,
                        "bad xattr name in a PAX record; the layer tar is malformed",
                    ));
                }
                xattrs.push((name.to_vec(), record.value_bytes().to_vec()));
            }
        }
    }
    Ok(Meta {
        uid,
        gid,
        mode,
        mtime,
        xattrs,
    })
}

/// Whether the entry's PAX records describe a GNU sparse file (formats 0.0, 0.1 and 1.0 all use
/// `GNU.sparse.*` keys); inside, the name format 1.0 records (its header names a placeholder path).
fn pax_sparse_name<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Option<Option<Vec<u8>>>, Error> {
    let Some(records) = entry.pax_extensions().map_err(|source| Error::Read { source })? else {
        return Ok(None);
    };
    let mut sparse = None;
    for record in records.flatten() {
        let key = record.key_bytes();
        if key == b"GNU.sparse.name" {
            sparse = Some(Some(record.value_bytes().to_vec()));
        } else if key.starts_with(b"GNU.sparse.") && sparse.is_none() {
            sparse = Some(None);
        }
    }
    Ok(sparse)
}

/// Parses a PAX time (`1700000000.123456789`, possibly negative); `None` when malformed.
fn parse_pax_time(value: &[u8]) -> Option<Timespec> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(d - b'0') * 10i64.pow(8 - i as u32);
    }
    Some(if !negative {
        Timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        }
    } else if nanos == 0 {
        Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - nanos,
        }
    })
}

#[cfg(test)]
mod tests;
