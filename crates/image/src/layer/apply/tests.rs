use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Write as _};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_store::{Digest, ErrorKind};
use sha2::Digest as _;
use tar::EntryType as T;

use super::*;
use crate::layer::sniff_compression;
use crate::layer::test_support::*;

fn apply_bytes(bytes: &[u8], dest: &Path) -> Result<Applied, Error> {
    apply_layer(Cursor::new(bytes.to_vec()), dest)
}

fn fresh_dest(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    fs::create_dir(&d).unwrap();
    d
}

fn sha256_digest(bytes: &[u8]) -> Digest {
    Digest::from_hex(&hex::encode(sha2::Sha256::digest(bytes))).unwrap()
}

fn mtime(p: &Path) -> (i64, i64) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.mtime(), m.mtime_nsec())
}

#[test]
fn unpacks_every_kind_of_entry() {
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let bytes = tar_of(|b| {
        let mut h = raw_header(b"./", T::Directory, b"", 0);
        h.set_mode(0o751);
        h.set_mtime(1_500_000_000);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();

        let mut h = raw_header(b"./etc/", T::Directory, b"", 0);
        h.set_mode(0o2775);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_400_000_000);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();

        let mut h = raw_header(b"etc/su", T::Regular, b"", 5);
        h.set_mode(0o4755);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_300_000_000);
        h.set_cksum();
        b.append(&h, &b"hello"[..]).unwrap();

        b.append_pax_extensions([
            ("SCHILY.xattr.user.note", &b"hi there"[..]),
            ("SCHILY.xattr.trusted.berth", &b"t"[..]),
            ("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..]),
            ("mtime", &b"1300000000.25"[..]),
            ("uid", &b"3000000"[..]),
        ])
        .unwrap();
        file(b, "etc/x", b"xattrs");

        let mut h = raw_header(b"etc/abs", T::Symlink, b"/etc/passwd", 0);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_200_000_000);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        symlink(b, "etc/rel", "../etc/su");
        symlink(b, "etc/dangling", "../../../../nowhere");
        hardlink(b, "etc/hard", "./etc/su");

        let mut h = raw_header(b"dev/null", T::Char, b"", 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_mode(0o666);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let mut h = raw_header(b"dev/loop0", T::Block, b"", 0);
        h.set_device_major(7).unwrap();
        h.set_device_minor(0).unwrap();
        h.set_mode(0o660);
        h.set_gid(6);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let mut h = raw_header(b"run/fifo", T::Fifo, b"", 0);
        h.set_mode(0o620);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();

        // A directory after its contents; a directory twice.
        file(b, "late/child", b"c");
        let mut h = raw_header(b"late/", T::Directory, b"", 0);
        h.set_mode(0o711);
        h.set_mtime(1_100_000_000);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let mut h = raw_header(b"twice", T::Directory, b"", 0);
        h.set_mode(0o700);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        file(b, "twice/inside", b"i");
        let mut h = raw_header(b"twice/", T::Directory, b"", 0);
        h.set_mode(0o750);
        h.set_uid(5);
        h.set_mtime(1_000_000_000);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();

        // The same file twice: the later one wins.
        file(b, "f", b"one");
        file(b, "f", b"two");

        // Long names: GNU long name and PAX path.
        let long = format!("long/{}/file", "x".repeat(150));
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o600);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, &long, &b"long"[..]).unwrap();
        let pax_path = format!("pax/{}/name", "y".repeat(120));
        b.append_pax_extensions([("path", pax_path.as_bytes())]).unwrap();
        file(b, "placeholder", b"pax");

        let mut h = raw_header(b"big", T::Regular, b"", big.len() as u64);
        h.set_cksum();
        b.append(&h, &big[..]).unwrap();
    });

    let tmp = scratch();
    let dest = fresh_dest(tmp.path(), "diff");
    let applied = apply_bytes(&bytes, &dest).unwrap();
    assert_eq!(applied.diff_id, sha256_digest(&bytes));
    assert_eq!(applied.size, 5 + 6 + 1 + 1 + 3 + 3 + 4 + 3 + big.len() as u64);

    let m = fs::metadata(&dest).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o751);
    assert_eq!(mtime(&dest), (1_500_000_000, 0));

    let etc = dest.join("etc");
    let m = fs::symlink_metadata(&etc).unwrap();
    assert!(m.is_dir());
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o2775, 1000, 1001));
    assert_eq!(mtime(&etc), (1_400_000_000, 0));

    let su = etc.join("su");
    let m = fs::symlink_metadata(&su).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.gid()),
        (0o4755, 1000, 1001),
        "setuid kept after chown"
    );
    assert_eq!(fs::read(&su).unwrap(), b"hello");
    assert_eq!(mtime(&su), (1_300_000_000, 0));
    assert_eq!(m.nlink(), 2);
    assert_eq!(fs::symlink_metadata(etc.join("hard")).unwrap().ino(), m.ino());

    let x = etc.join("x");
    assert_eq!(xattr::get(&x, "user.note").unwrap().as_deref(), Some(&b"hi there"[..]));
    assert_eq!(xattr::get(&x, "trusted.berth").unwrap().as_deref(), Some(&b"t"[..]));
    assert_eq!(
        xattr::get(&x, OPAQUE_XATTR).unwrap(),
        None,
        "overlay xattrs from tars are dropped"
    );
    assert_eq!(mtime(&x), (1_300_000_000, 250_000_000));
    assert_eq!(fs::symlink_metadata(&x).unwrap().uid(), 3_000_000, "PAX uid");

    let abs = etc.join("abs");
    assert_eq!(fs::read_link(&abs).unwrap(), Path::new("/etc/passwd"));
    let m = fs::symlink_metadata(&abs).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
    assert_eq!(mtime(&abs), (1_200_000_000, 0));
    assert_eq!(fs::read_link(etc.join("rel")).unwrap(), Path::new("../etc/su"));
    assert_eq!(
        fs::read_link(etc.join("dangling")).unwrap(),
        Path::new("../../../../nowhere")
    );

    let m = fs::symlink_metadata(dest.join("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!((m.rdev(), m.mode() & 0o7777), (rustix::fs::makedev(1, 3), 0o666));
    let m = fs::symlink_metadata(dest.join("dev/loop0")).unwrap();
    assert!(m.file_type().is_block_device());
    assert_eq!(
        (m.rdev(), m.mode() & 0o7777, m.gid()),
        (rustix::fs::makedev(7, 0), 0o660, 6)
    );
    let m = fs::symlink_metadata(dest.join("run/fifo")).unwrap();
    assert!(m.file_type().is_fifo());
    assert_eq!(m.mode() & 0o7777, 0o620);
    // Parents created on the way are plain 0755 directories.
    assert_eq!(fs::metadata(dest.join("run")).unwrap().mode() & 0o7777, 0o755);

    let late = dest.join("late");
    assert_eq!(fs::metadata(&late).unwrap().mode() & 0o7777, 0o711);
    assert_eq!(mtime(&late), (1_100_000_000, 0));
    assert_eq!(fs::read(late.join("child")).unwrap(), b"c");
    let twice = dest.join("twice");
    let m = fs::metadata(&twice).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o750, 5));
    assert_eq!(mtime(&twice), (1_000_000_000, 0));
    assert_eq!(
        fs::read(twice.join("inside")).unwrap(),
        b"i",
        "a repeated directory keeps its contents"
    );

    assert_eq!(fs::read(dest.join("f")).unwrap(), b"two");
    assert_eq!(
        fs::read(dest.join(format!("long/{}/file", "x".repeat(150)))).unwrap(),
        b"long"
    );
    assert_eq!(
        fs::read(dest.join(format!("pax/{}/name", "y".repeat(120)))).unwrap(),
        b"pax"
    );
    assert!(!dest.join("placeholder").exists());
    assert_eq!(fs::read(dest.join("big")).unwrap(), big);
}

#[test]
fn later_entries_replace_earlier_ones() {
    let bytes = tar_of(|b| {
        dir(b, "d");
        file(b, "d/old", b"old");
        file(b, "d", b"now a file");
        file(b, "e", b"a file");
        dir(b, "e");
        file(b, "e/inside", b"x");
        symlink(b, "s", "/etc");
        dir(b, "s");
        file(b, "s/ok", b"fine");
        file(b, "l", b"target");
        hardlink(b, "l2", "l");
        file(b, "l2", b"separate");
        hardlink(b, "self", "l");
        hardlink(b, "self", "self");
    });
    let tmp = scratch();
    let dest = fresh_dest(tmp.path(), "diff");
    apply_bytes(&bytes, &dest).unwrap();
    assert_eq!(fs::read(dest.join("d")).unwrap(), b"now a file");
    assert_eq!(fs::read(dest.join("e/inside")).unwrap(), b"x");
    assert!(fs::symlink_metadata(dest.join("s")).unwrap().is_dir());
    assert_eq!(fs::read(dest.join("s/ok")).unwrap(), b"fine");
    assert_eq!(fs::read(dest.join("l")).unwrap(), b"target");
    assert_eq!(fs::read(dest.join("l2")).unwrap(), b"separate");
    assert_eq!(fs::read(dest.join("self")).unwrap(), b"target");
}

#[test]
fn compressed_layers_have_the_plain_diff_id() {
    let mut plain = tar_of(|b| {
        dir(b, "usr/");
        file(b, "usr/a", b"aaaa");
        file(b, "usr/b", &[7u8; 70_000]);
        symlink(b, "usr/c", "a");
    });
    // Trailing padding after the end blocks belongs to the diffID too.
    plain.extend_from_slice(&[0u8; 4096]);
    let expected = sha256_digest(&plain);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    assert_ne!(sniff_compression(&gz), sniff_compression(&zst));

    let tmp = scratch();
    let mut views = Vec::new();
    for (name, input) in [("plain", &plain), ("gzip", &gz), ("zstd", &zst)] {
        let dest = fresh_dest(tmp.path(), name);
        let applied = apply_bytes(input, &dest).unwrap();
        assert_eq!(applied.diff_id, expected, "{name}");
        assert_eq!(applied.size, 70_004, "{name}");
        views.push(listing(&dest));
    }
    assert_eq!(views[0], views[1]);
    assert_eq!(views[0], views[2]);
    assert_eq!(views[0].len(), 4);
}

#[test]
fn oci_whiteouts_become_overlay_whiteouts() {
    let bytes = tar_of(|b| {
        dir(b, "a/");
        raw(b, b"a/.wh.gone", T::Regular, b"", b"");
        raw(b, b"a/.wh..wh..opq", T::Regular, b"", b"");
        file(b, "a/kept", b"k");
        raw(b, b".wh.topgone", T::Regular, b"", b"");
        raw(b, b".wh..wh.plnk", T::Directory, b"", b"");
        raw(b, b".wh..wh.plnk/123", T::Regular, b"", b"");
        raw(b, b"b/c/.wh..wh..opq", T::Regular, b"", b"");
        raw(b, b"./.wh..wh..opq", T::Regular, b"", b"");
        file(b, "w", b"replaced by a whiteout");
        raw(b, b".wh.w", T::Regular, b"", b"");
    });
    let tmp = scratch();
    let dest = fresh_dest(tmp.path(), "diff");
    let applied = apply_bytes(&bytes, &dest).unwrap();
    assert_eq!(applied.diff_id, sha256_digest(&bytes));

    let is_whiteout = |p: &Path| {
        let m = fs::symlink_metadata(p).unwrap();
        m.file_type().is_char_device() && m.rdev() == 0
    };
    assert!(is_whiteout(&dest.join("a/gone")));
    assert!(is_whiteout(&dest.join("topgone")));
    assert!(is_whiteout(&dest.join("w")));
    let opaque = |p: &Path| xattr::get(p, OPAQUE_XATTR).unwrap();
    assert_eq!(opaque(&dest.join("a")).as_deref(), Some(&b"y"[..]));
    assert_eq!(opaque(&dest.join("b/c")).as_deref(), Some(&b"y"[..]));
    assert_eq!(opaque(&dest.join("b")), None);
    assert_eq!(opaque(&dest).as_deref(), Some(&b"y"[..]));
    assert_eq!(fs::read(dest.join("a/kept")).unwrap(), b"k");

    let names: Vec<String> = listing(&dest).into_keys().collect();
    assert!(names.iter().all(|n| !n.contains(".wh.")), "{names:?}");
    assert_eq!(names, ["a", "a/gone", "a/kept", "b", "b/c", "topgone", "w"]);
}

/// A scratch root with `dest` (the layer directory) and `sentinel` (something outside it).
struct Escape {
    tmp: tempfile::TempDir,
}

impl Escape {
    fn new() -> Self {
        let tmp = scratch();
        fs::create_dir(tmp.path().join("dest")).unwrap();
        fs::create_dir(tmp.path().join("sentinel")).unwrap();
        fs::write(tmp.path().join("sentinel/target"), b"keep").unwrap();
        Escape { tmp }
    }
    fn dest(&self) -> PathBuf {
        self.tmp.path().join("dest")
    }
    fn sentinel(&self) -> String {
        self.tmp.path().join("sentinel").to_str().unwrap().to_string()
    }
    fn state(&self) -> (BTreeMap<String, String>, Vec<String>, u64) {
        let top: Vec<String> = {
            let mut v: Vec<String> = fs::read_dir(self.tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let target = fs::symlink_metadata(self.tmp.path().join("sentinel/target")).unwrap();
        (listing(&self.tmp.path().join("sentinel")), top, target.nlink())
    }
}

#[test]
fn refuses_entries_that_escape() {
    type Build = Box<dyn Fn(&mut tar::Builder<Vec<u8>>, &str)>;
    let cases: Vec<(&str, &str, Build)> = vec![
        (
            "dotdot",
            "../sentinel/pwned",
            Box::new(|b, _| file(b, "../sentinel/pwned", b"x")),
        ),
        (
            "dotdot inside",
            "a/../../sentinel/pwned",
            Box::new(|b, _| file(b, "a/../../sentinel/pwned", b"x")),
        ),
        ("dotdot dir", "..", Box::new(|b, _| dir(b, ".."))),
        (
            "symlink parent absolute",
            "evil/pwned",
            Box::new(|b, s| {
                symlink(b, "evil", s);
                file(b, "evil/pwned", b"x");
            }),
        ),
        (
            "symlink parent relative",
            "evil/pwned",
            Box::new(|b, _| {
                symlink(b, "evil", "../sentinel");
                file(b, "evil/pwned", b"x");
            }),
        ),
        (
            "symlink parent up",
            "evil/x",
            Box::new(|b, _| {
                symlink(b, "evil", "../..");
                dir(b, "evil/x");
            }),
        ),
        (
            "symlink grandparent",
            "d/evil/sub/pwned",
            Box::new(|b, _| {
                dir(b, "d");
                symlink(b, "d/evil", "../../sentinel");
                file(b, "d/evil/sub/pwned", b"x");
            }),
        ),
        (
            "symlink parent of device",
            "evil/dev",
            Box::new(|b, _| {
                symlink(b, "evil", "../sentinel");
                raw(b, b"evil/dev", T::Fifo, b"", b"");
            }),
        ),
        (
            "symlink parent of symlink",
            "evil/link",
            Box::new(|b, _| {
                symlink(b, "evil", "../sentinel");
                symlink(b, "evil/link", "x");
            }),
        ),
        (
            "hardlink dotdot",
            "h",
            Box::new(|b, _| hardlink(b, "h", "../sentinel/target")),
        ),
        (
            "hardlink etc passwd",
            "h",
            Box::new(|b, _| hardlink(b, "h", "../../etc/passwd")),
        ),
        (
            "hardlink absolute",
            "h",
            Box::new(|b, s| hardlink(b, "h", &format!("{s}/target"))),
        ),
        (
            "hardlink through symlink dir",
            "h",
            Box::new(|b, _| {
                dir(b, "d");
                file(b, "d/f", b"f");
                symlink(b, "s", "d");
                hardlink(b, "h", "s/f");
            }),
        ),
        (
            "hardlink through escaping symlink",
            "h",
            Box::new(|b, _| {
                symlink(b, "s", "../sentinel");
                hardlink(b, "h", "s/target");
            }),
        ),
        (
            "hardlink after parent became symlink",
            "h",
            Box::new(|b, s| {
                dir(b, "a");
                file(b, "a/target", b"mine");
                symlink(b, "a", s);
                hardlink(b, "h", "a/target");
            }),
        ),
        ("hardlink missing", "h", Box::new(|b, _| hardlink(b, "h", "missing"))),
        (
            "hardlink to dir",
            "h",
            Box::new(|b, _| {
                dir(b, "d");
                hardlink(b, "h", "d");
            }),
        ),
        (
            "hardlink over its own parent",
            "d",
            Box::new(|b, _| {
                dir(b, "d");
                file(b, "d/f", b"f");
                hardlink(b, "d", "d/f");
            }),
        ),
        (
            "whiteout dotdot dir",
            "../sentinel/.wh.target",
            Box::new(|b, _| raw(b, b"../sentinel/.wh.target", T::Regular, b"", b"")),
        ),
        (
            "whiteout of dotdot",
            "a/.wh...",
            Box::new(|b, _| raw(b, b"a/.wh...", T::Regular, b"", b"")),
        ),
        (
            "whiteout of dot",
            "a/.wh..",
            Box::new(|b, _| raw(b, b"a/.wh..", T::Regular, b"", b"")),
        ),
        (
            "whiteout empty",
            ".wh.",
            Box::new(|b, _| raw(b, b".wh.", T::Regular, b"", b"")),
        ),
        (
            "whiteout through symlink",
            "evil/.wh.target",
            Box::new(|b, _| {
                symlink(b, "evil", "../sentinel");
                raw(b, b"evil/.wh.target", T::Regular, b"", b"");
            }),
        ),
        (
            "opaque through symlink",
            "evil/.wh..wh..opq",
            Box::new(|b, s| {
                symlink(b, "evil", s);
                raw(b, b"evil/.wh..wh..opq", T::Regular, b"", b"");
            }),
        ),
        (
            "file under file",
            "a/b",
            Box::new(|b, _| {
                file(b, "a", b"x");
                file(b, "a/b", b"x");
            }),
        ),
        (
            "root as file",
            "./",
            Box::new(|b, _| raw(b, b"./", T::Regular, b"", b"")),
        ),
    ];

    for (label, entry, build) in cases {
        let e = Escape::new();
        let before = e.state();
        let sentinel = e.sentinel();
        let bytes = tar_of(|b| build(b, &sentinel));
        let err = apply_bytes(&bytes, &e.dest()).expect_err(label);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{label}: {err}");
        let shown = entry.replace("$S", &sentinel);
        let message = err.to_string();
        assert!(message.contains(&format!("{:?}", shown)), "{label}: {message}");
        assert_eq!(e.state(), before, "{label}: something outside the layer changed");
    }
}

#[test]
fn refuses_garbage_and_truncated_streams() {
    let tmp = scratch();
    let garbage = b"this is not a tar archive at all. ".repeat(40);
    let err = apply_bytes(&garbage, &fresh_dest(tmp.path(), "garbage")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    let plain = tar_of(|b| file(b, "f", &[1u8; 100_000]));
    let truncated = &plain[..plain.len() / 2];
    let err = apply_bytes(truncated, &fresh_dest(tmp.path(), "truncated")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let err = apply_bytes(&gz[..gz.len() / 2], &fresh_dest(tmp.path(), "gz")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    let err = apply_bytes(b"", &tmp.path().join("missing")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
}

#[test]
fn empty_stream_is_an_empty_layer() {
    let tmp = scratch();
    let dest = fresh_dest(tmp.path(), "diff");
    let applied = apply_bytes(b"", &dest).unwrap();
    assert_eq!(applied.diff_id, Digest::of(b""));
    let applied = apply_bytes(&[0u8; 1024], &dest).unwrap();
    assert_eq!(applied.diff_id, Digest::of(&[0u8; 1024]));
    assert_eq!(fs::read_dir(&dest).unwrap().count(), 0);
}

#[test]
fn absolute_names_stay_inside_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = fresh_dest(tmp.path(), "dest");
    let bytes = tar_of(|b| {
        raw(b, b"/", T::Directory, b"", b"");
        raw(b, b"/etc/", T::Directory, b"", b"");
        file(b, "etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
        raw(b, b"/etc/passwd-link", T::Link, b"/etc/passwd", b"");
    });
    apply_bytes(&bytes, &dest).unwrap();
    let target = fs::metadata(dest.join("etc/passwd")).unwrap();
    assert_eq!(fs::metadata(dest.join("etc/passwd-link")).unwrap().ino(), target.ino());
}

#[test]
fn normalizes_names() {
    assert_eq!(normalize(b"./a//b/").unwrap(), b"a/b");
    assert_eq!(normalize(b"a/./b").unwrap(), b"a/b");
    assert_eq!(normalize(b"./").unwrap(), b"");
    assert_eq!(normalize(b".").unwrap(), b"");
    assert_eq!(normalize(b"..a/b..").unwrap(), b"..a/b..");
    assert_eq!(normalize(b"/a").unwrap(), b"a");
    assert_eq!(normalize(b"/").unwrap(), b"");
    assert!(normalize(b"a/../b").is_err());
    assert!(normalize(b"..").is_err());
    assert!(normalize(b"a/\0").is_err());
}

#[test]
fn parses_pax_times() {
    let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec, t.tv_nsec));
    assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
    assert_eq!(t("1700000000.5"), Some((1_700_000_000, 500_000_000)));
    assert_eq!(t("1.123456789123"), Some((1, 123_456_789)));
    assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
    assert_eq!(t("-3"), Some((-3, 0)));
    assert_eq!(t(""), None);
    assert_eq!(t("abc"), None);
    assert_eq!(t("1.2x"), None);
}

/// Everything under `root` (not following links, each inode once): bytes of regular-file content and
/// bytes allocated on disk.
fn usage(root: &Path) -> (u64, u64) {
    fn walk(dir: &Path, seen: &mut std::collections::HashSet<u64>, total: &mut (u64, u64)) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let m = fs::symlink_metadata(&path).unwrap();
            if m.is_dir() {
                walk(&path, seen, total);
            } else if m.is_file() && seen.insert(m.ino()) {
                *total = (total.0 + m.len(), total.1 + m.blocks() * 512);
            }
        }
    }
    let mut total = (0, 0);
    walk(root, &mut std::collections::HashSet::new(), &mut total);
    total
}

/// An old GNU sparse entry ('S') of `real` bytes holding `data` at its end.
fn gnu_sparse(b: &mut tar::Builder<Vec<u8>>, name: &[u8], real: u64, data: &[u8]) {
    let mut h = raw_header(name, T::GNUSparse, b"", data.len() as u64);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.set_real_size(real);
    gnu.sparse[0].set_offset(real - data.len() as u64);
    gnu.sparse[0].set_length(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
fn refuses_gnu_sparse_entries_before_writing_them() {
    const REAL: u64 = 64 << 20;
    let tmp = scratch();
    // First in the layer: the layer directory stays empty.
    let first = tar_of(|b| {
        gnu_sparse(b, b"big", REAL, &[7u8; 512]);
        file(b, "after", b"x");
    });
    assert!(first.len() < 4096, "the tar is small: {}", first.len());
    let dest = fresh_dest(tmp.path(), "first");
    let err = apply_bytes(&first, &dest).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let message = err.to_string();
    assert!(message.contains("\"big\""), "names the entry: {message}");
    assert!(message.contains("sparse"), "{message}");
    assert!(message.contains("rebuild"), "says what to do: {message}");
    assert_eq!(
        fs::read_dir(&dest).unwrap().count(),
        0,
        "nothing is left in the layer directory"
    );

    // After other entries: those stay (the caller removes the directory), the sparse one is never made.
    let later = tar_of(|b| {
        file(b, "before", b"kept");
        gnu_sparse(b, b"dir/big", REAL, &[7u8; 512]);
    });
    let dest = fresh_dest(tmp.path(), "later");
    let err = apply_bytes(&later, &dest).unwrap_err();
    assert!(err.to_string().contains("\"dir/big\""), "{err}");
    assert!(!dest.join("dir/big").exists());
    let (len, blocks) = usage(&dest);
    assert!(
        len <= later.len() as u64 && blocks < 1 << 20,
        "wrote {len} bytes, {blocks} on disk"
    );
}

#[test]
fn refuses_pax_sparse_entries() {
    // GNU tar's PAX formats 0.0, 0.1 and 1.0: a regular entry whose records describe the holes.
    type Records = Vec<(&'static str, &'static [u8])>;
    let formats: Vec<(&str, Records)> = vec![
        (
            "0.0",
            vec![
                ("GNU.sparse.size", b"1073741824"),
                ("GNU.sparse.numblocks", b"1"),
                ("GNU.sparse.offset", b"1073741312"),
                ("GNU.sparse.numbytes", b"512"),
            ],
        ),
        (
            "0.1",
            vec![
                ("GNU.sparse.size", b"1073741824"),
                ("GNU.sparse.numblocks", b"1"),
                ("GNU.sparse.map", b"1073741312,512"),
            ],
        ),
        (
            "1.0",
            vec![
                ("GNU.sparse.major", b"1"),
                ("GNU.sparse.minor", b"0"),
                ("GNU.sparse.name", b"holes"),
                ("GNU.sparse.realsize", b"1073741824"),
            ],
        ),
    ];
    let tmp = scratch();
    for (version, records) in formats {
        let bytes = tar_of(|b| {
            b.append_pax_extensions(records.iter().copied()).unwrap();
            file(b, "GNUSparseFile.0/holes", &[7u8; 512]);
        });
        let dest = fresh_dest(tmp.path(), version);
        let err = apply_bytes(&bytes, &dest).expect_err(version);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{version}: {err}");
        assert!(err.to_string().contains("sparse"), "{version}: {err}");
        assert!(err.to_string().contains("holes\""), "{version} names the entry: {err}");
        assert_eq!(fs::read_dir(&dest).unwrap().count(), 0, "{version}: nothing is left");
    }
}

#[test]
fn writes_no_more_than_the_stream_holds() {
    // A PAX size record overrides the header's (the tar crate honours it), hard links share data
    // instead of copying it, and a directory's or device's declared data is skipped, not written.
    let payload = [5u8; 1000];
    let bytes = tar_of(|b| {
        b.append_pax_extensions([("size", &b"1000"[..])]).unwrap();
        let mut h = raw_header(b"f", T::Regular, b"", 0);
        h.set_cksum();
        b.append(&h, &payload[..]).unwrap();
        for i in 0..50 {
            hardlink(b, &format!("link{i}"), "f");
        }
        raw(b, b"d/", T::Directory, b"", &[9u8; 4096]);
        raw(b, b"fifo", T::Fifo, b"", &[9u8; 4096]);
        file(b, "g", b"tail");
    });
    let tmp = scratch();
    let dest = fresh_dest(tmp.path(), "diff");
    let applied = apply_bytes(&bytes, &dest).unwrap();
    assert_eq!(fs::read(dest.join("f")).unwrap(), payload);
    assert_eq!(fs::read(dest.join("g")).unwrap(), b"tail");
    assert_eq!(applied.size, 1004, "only regular-file data counts");
    let (_, blocks) = usage(&dest);
    assert!(blocks <= 3 * 4096, "hard links share one copy: {blocks} bytes on disk");
}
