//! Layer tars: compression sniffing, unpacking into overlayfs lower directories
//! (OCI whiteouts become overlayfs whiteouts), diffIDs and chainIDs, and merging
//! overlay-format layer directories into a plain tree.

mod apply;
pub mod diff;
mod hash;
mod merge;

use std::io::{self, BufReader, Read};

use berth_store::Digest;

pub use apply::apply_layer;
pub use merge::merge_overlay_dir;

/// Buffer size for reading layer streams.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// Whether this process is in a user namespace other than the host's (rootless berth). There
/// overlayfs keeps its marks in `user.overlay.*` xattrs (mounted with `userxattr`), since setting
/// `trusted.*` ones needs root on the host; so the layers of a rootless data root carry those.
pub fn in_user_namespace() -> bool {
    static INSIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSIDE.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map")
            .map(|map| map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
            .unwrap_or(false)
    })
}

/// The prefix of the xattrs overlayfs reads here (see [`in_user_namespace`]).
pub fn overlay_xattr_prefix() -> &'static str {
    match in_user_namespace() {
        true => "user.overlay.",
        false => "trusted.overlay.",
    }
}

/// The xattr overlayfs reads to hide lower layers' contents of a directory: `trusted.overlay.opaque`,
/// or `user.overlay.opaque` in a user namespace.
pub struct OpaqueXattr;

impl OpaqueXattr {
    pub fn name(&self) -> &'static str {
        match in_user_namespace() {
            true => "user.overlay.opaque",
            false => "trusted.overlay.opaque",
        }
    }
}

impl AsRef<std::ffi::OsStr> for OpaqueXattr {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.name().as_ref()
    }
}

pub const OPAQUE_XATTR: OpaqueXattr = OpaqueXattr;

/// Compression of a layer stream, recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Recognises gzip (`1f 8b`) and zstd (`28 b5 2f fd`) streams by their first bytes;
/// anything else is taken to be a plain tar.
pub fn sniff_compression(prefix: &[u8]) -> Compression {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The result of unpacking one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// sha256 of the whole uncompressed stream.
    pub diff_id: Digest,
    /// Bytes of the uncompressed stream (the size of the layer tar).
    pub tar_size: u64,
    /// Bytes of regular-file content written.
    pub size: u64,
}

/// A reader that yields the first bytes it was given back before the rest of the stream.
type Sniffed<R> = io::Chain<io::Take<io::Cursor<[u8; 4]>>, R>;

/// Reads up to four bytes to recognise the compression, and returns a reader that replays them.
fn sniff<R: Read>(mut r: R) -> io::Result<(Compression, Sniffed<R>)> {
    let mut prefix = [0u8; 4];
    let mut n = 0;
    while n < prefix.len() {
        match r.read(&mut prefix[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let compression = sniff_compression(&prefix[..n]);
    Ok((compression, io::Cursor::new(prefix).take(n as u64).chain(r)))
}

/// Wraps a sniffed stream in its decoder. Plain streams are returned unbuffered.
fn decoder<R: Read + 'static>(compression: Compression, stream: Sniffed<R>) -> io::Result<Box<dyn Read>> {
    Ok(match compression {
        Compression::None => Box::new(stream),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(
            BUF_SIZE, stream,
        ))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(
            BUF_SIZE, stream,
        ))?),
    })
}

/// Returns a reader of the uncompressed content of `r`, which may be a plain,
/// gzip or zstd stream (recognised by its magic bytes).
pub fn decompressed<R: Read + 'static>(r: R) -> io::Result<Box<dyn Read>> {
    let (compression, stream) = sniff(r)?;
    match compression {
        Compression::None => Ok(Box::new(BufReader::with_capacity(BUF_SIZE, stream))),
        c => decoder(c, stream),
    }
}

/// OCI chainIDs of a stack of layers, bottom-most first:
/// `chain[0] = diff[0]`, `chain[n] = sha256(chain[n-1] + " " + diff[n])`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => Digest::of(format!("{parent} {diff}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the layer and snapshot tests.

    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::Path;

    /// Builds a tar in memory.
    pub fn tar_of(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        f(&mut b);
        b.into_inner().expect("finishing test tar")
    }

    /// A header with typical metadata whose name and link name are written verbatim, bypassing the
    /// tar crate's own checks (for malicious entries). Names must fit in 100 bytes. The caller
    /// adjusts it and calls `set_cksum`.
    pub fn raw_header(name: &[u8], kind: tar::EntryType, link: &[u8], size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
        old.linkname = [0; 100];
        old.linkname[..link.len()].copy_from_slice(link);
        h
    }

    /// Appends an entry built by `raw_header`.
    pub fn raw(b: &mut tar::Builder<Vec<u8>>, name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) {
        let mut h = raw_header(name, kind, link, data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("append raw entry");
    }

    pub fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        raw(b, name.as_bytes(), tar::EntryType::Regular, b"", data);
    }

    pub fn dir(b: &mut tar::Builder<Vec<u8>>, name: &str) {
        raw(b, name.as_bytes(), tar::EntryType::Directory, b"", b"");
    }

    pub fn symlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
        raw(b, name.as_bytes(), tar::EntryType::Symlink, target.as_bytes(), b"");
    }

    pub fn hardlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
        raw(b, name.as_bytes(), tar::EntryType::Link, target.as_bytes(), b"");
    }

    /// A scratch directory on /tmp (ext4 here: trusted xattrs, whiteouts and overlay work).
    pub fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("berth-image-test-")
            .tempdir_in("/tmp")
            .expect("creating a scratch directory")
    }

    /// A description of every entry under `root` (not the root itself), for comparing trees.
    pub fn listing(root: &Path) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk(root, root, &mut out);
        out
    }

    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
            let m = fs::symlink_metadata(&p).expect("lstat");
            let ft = m.file_type();
            let perm = m.mode() & 0o7777;
            let desc = if ft.is_dir() {
                walk(root, &p, out);
                format!("dir {perm:o} {}:{}", m.uid(), m.gid())
            } else if ft.is_symlink() {
                format!("symlink -> {}", fs::read_link(&p).expect("readlink").display())
            } else if ft.is_file() {
                let data = fs::read(&p).expect("read");
                format!(
                    "file {perm:o} {}:{} {}",
                    m.uid(),
                    m.gid(),
                    String::from_utf8_lossy(&data)
                )
            } else if ft.is_char_device() {
                format!("char {}", m.rdev())
            } else if ft.is_block_device() {
                format!("block {}", m.rdev())
            } else if ft.is_fifo() {
                format!("fifo {perm:o}")
            } else {
                "other".to_string()
            };
            out.insert(rel, desc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn sniffs_magic_bytes() {
        assert_eq!(sniff_compression(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(sniff_compression(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(sniff_compression(b"etc/"), Compression::None);
        assert_eq!(sniff_compression(&[0x1f]), Compression::None);
        assert_eq!(sniff_compression(&[]), Compression::None);
    }

    /// A reader that hands out one byte per call, to check that sniffing does not rely on full reads.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 >= self.0.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn decompresses_all_formats() {
        let plain = b"hello layer, hello layer, hello layer".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 3).unwrap();
        for input in [plain.clone(), gz, zst] {
            let mut out = Vec::new();
            decompressed(Trickle(input, 0)).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, plain);
        }
        let mut out = Vec::new();
        decompressed(&b"ab"[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab");
    }

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        assert!(chain_ids(&[]).is_empty());
        let a = Digest::of(b"layer a");
        let b = Digest::of(b"layer b");
        let c = Digest::of(b"layer c");
        assert_eq!(chain_ids(std::slice::from_ref(&a)), vec![a.clone()]);

        let text = format!("sha256:{} sha256:{}", a.hex(), b.hex());
        let ab = Digest::from_hex(&hex::encode(sha2::Sha256::digest(text.as_bytes()))).unwrap();
        let text = format!("sha256:{} sha256:{}", ab.hex(), c.hex());
        let abc = Digest::from_hex(&hex::encode(sha2::Sha256::digest(text.as_bytes()))).unwrap();
        assert_eq!(chain_ids(&[a.clone(), b, c]), vec![a, ab, abc]);
    }

    #[test]
    fn chain_id_of_a_known_pair() {
        // Worked out with `printf 'sha256:<a> sha256:<b>' | sha256sum`.
        let a: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        let b: Digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            .parse()
            .unwrap();
        let ids = chain_ids(&[a.clone(), b]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1].to_string(), KNOWN_PAIR);
    }

    const KNOWN_PAIR: &str = "sha256:4b87186f13a401ec4724eb47471de50a8c78f1cf9673b8fbdcca65b3875a4e55";
}
