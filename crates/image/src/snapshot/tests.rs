use std::collections::BTreeMap;
use std::io::Cursor;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use tar::EntryType as T;

use super::*;
use crate::layer::apply_layer;
use crate::layer::test_support::*;

/// Unmounts when dropped, so a failing test leaves no mount behind. Declare it after the
/// scratch directory so it is dropped first.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        if let Err(e) = unmount(&self.0) {
            eprintln!("cleanup: {e}");
        }
    }
}

fn mounted(target: &Path) -> bool {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let target = target.to_str().unwrap();
    mountinfo.lines().any(|l| l.split(' ').nth(4) == Some(target))
}

macro_rules! require_overlay {
    () => {
        if !overlay_supported() {
            eprintln!("SKIPPED: overlayfs is not available on this machine");
            return;
        }
    };
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A two-layer image: layer 2 deletes a file with a whiteout, makes a directory opaque and
/// changes a file. Returns the layer directories, top-most first, and the expected merged view.
fn two_layer_image(root: &Path) -> (Vec<PathBuf>, BTreeMap<String, String>) {
    let layer1 = tar_of(|b| {
        dir(b, "etc/");
        file(b, "etc/a", b"a1");
        file(b, "etc/b", b"b1");
        dir(b, "opt/");
        file(b, "opt/x", b"x");
        dir(b, "opt/sub/");
        file(b, "opt/sub/y", b"y");
        file(b, "keep", b"keep");
        symlink(b, "link", "etc/b");
    });
    let layer2 = tar_of(|b| {
        dir(b, "etc/");
        raw(b, b"etc/.wh.a", T::Regular, b"", b"");
        file(b, "etc/b", b"b2");
        dir(b, "opt/");
        raw(b, b"opt/.wh..wh..opq", T::Regular, b"", b"");
        file(b, "opt/z", b"z");
        file(b, "new", b"new");
    });
    let mut lowers = Vec::new();
    for (i, bytes) in [layer1, layer2].into_iter().enumerate() {
        let diff = root.join(format!("layers/{i}/diff"));
        fs::create_dir_all(&diff).unwrap();
        apply_layer(Cursor::new(bytes), &diff).unwrap();
        lowers.insert(0, diff);
    }
    let expected = map(&[
        ("etc", "dir 755 0:0"),
        ("etc/b", "file 644 0:0 b2"),
        ("keep", "file 644 0:0 keep"),
        ("link", "symlink -> etc/b"),
        ("new", "file 644 0:0 new"),
        ("opt", "dir 755 0:0"),
        ("opt/z", "file 644 0:0 z"),
    ]);
    (lowers, expected)
}

fn rw_dirs(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (upper, work, merged) = (root.join("c/upper"), root.join("c/work"), root.join("c/merged"));
    for d in [&upper, &work, &merged] {
        fs::create_dir_all(d).unwrap();
    }
    (upper, work, merged)
}

#[test]
fn overlay_of_two_layers_shows_the_merged_view() {
    require_overlay!();
    let tmp = scratch();
    let (lowers, expected) = two_layer_image(tmp.path());
    let (upper, work, merged) = rw_dirs(tmp.path());
    let layers_before: Vec<_> = lowers.iter().map(|l| listing(l)).collect();

    mount_overlay(&lowers, &upper, &work, &merged).unwrap();
    let guard = MountGuard(merged.clone());
    assert!(mounted(&merged));
    assert_eq!(listing(&merged), expected);

    // Writes go to the upper directory; the layers stay as they were.
    fs::write(merged.join("etc/written"), b"w").unwrap();
    fs::remove_file(merged.join("keep")).unwrap();
    fs::write(merged.join("etc/b"), b"b3").unwrap();
    assert_eq!(fs::read(upper.join("etc/written")).unwrap(), b"w");
    assert_eq!(fs::read(upper.join("etc/b")).unwrap(), b"b3");
    let keep = fs::symlink_metadata(upper.join("keep")).unwrap();
    assert!(
        keep.file_type().is_char_device() && keep.rdev() == 0,
        "deletion recorded as a whiteout"
    );
    // No directory redirects (redirect_dir=off): renaming a lower directory is refused with EXDEV,
    // and tools fall back to copying, so the upper directory stays a complete diff.
    let err = fs::rename(merged.join("opt"), merged.join("opt2")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EXDEV));
    let layers_after: Vec<_> = lowers.iter().map(|l| listing(l)).collect();
    assert_eq!(layers_before, layers_after);

    drop(guard);
    assert!(!mounted(&merged));
    assert_eq!(fs::read_dir(&merged).unwrap().count(), 0);
}

#[test]
fn copy_view_matches_the_overlay() {
    let tmp = scratch();
    let (lowers, expected) = two_layer_image(tmp.path());
    let target = tmp.path().join("view");
    copy_view(&lowers, &target).unwrap();
    assert_eq!(listing(&target), expected);

    if overlay_supported() {
        let merged = tmp.path().join("ro");
        fs::create_dir(&merged).unwrap();
        mount_overlay_readonly(&lowers, &merged).unwrap();
        let _guard = MountGuard(merged.clone());
        assert_eq!(listing(&merged), listing(&target));
    }
}

/// Tiny layers at 100-character paths: far more than mount(2)'s one page of options.
fn many_layers(root: &Path, count: usize) -> Vec<PathBuf> {
    let mut lowers = Vec::new();
    for i in 0..count {
        let diff = root.join(format!("layers/{:064x}/diff", i * 7919 + 1));
        fs::create_dir_all(&diff).unwrap();
        fs::write(diff.join(format!("f{i}")), i.to_string()).unwrap();
        fs::write(diff.join("shared"), i.to_string()).unwrap();
        lowers.push(diff);
    }
    let joined: usize = lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(
        joined > 2 * MOUNT_DATA_MAX,
        "the test must exceed mount(2)'s limit ({joined} bytes)"
    );
    lowers
}

fn check_many(merged: &Path, count: usize) {
    for i in 0..count {
        assert_eq!(fs::read_to_string(merged.join(format!("f{i}"))).unwrap(), i.to_string());
    }
    // lowers[0] is the top-most layer.
    assert_eq!(fs::read_to_string(merged.join("shared")).unwrap(), "0");
    assert_eq!(fs::read_dir(merged).unwrap().count(), count + 1);
}

#[test]
fn overlay_of_150_layers() {
    require_overlay!();
    let tmp = scratch();
    let lowers = many_layers(tmp.path(), 150);
    let (upper, work, merged) = rw_dirs(tmp.path());
    mount_overlay(&lowers, &upper, &work, &merged).unwrap();
    let _guard = MountGuard(merged.clone());
    check_many(&merged, 150);
    fs::write(merged.join("shared"), "top").unwrap();
    assert_eq!(fs::read_to_string(upper.join("shared")).unwrap(), "top");
}

/// The mount options of `target` as /proc/self/mounts lists them.
fn mount_options(target: &Path) -> Option<String> {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    let target = target.to_str().unwrap();
    mounts.lines().find_map(|l| {
        let fields: Vec<&str> = l.split(' ').collect();
        (fields.get(1) == Some(&target)).then(|| fields.get(3).unwrap_or(&"").to_string())
    })
}

/// Linux 6.x lists the option as `fsync=volatile`, older kernels as `volatile`.
fn is_volatile(options: &str) -> bool {
    options.split(',').any(|o| o == "volatile" || o == "fsync=volatile")
}

#[test]
fn volatile_overlay_skips_syncs_and_says_so() {
    require_overlay!();
    let tmp = scratch();
    let lowers = many_layers(tmp.path(), 90);
    for volatile in [false, true] {
        let (upper, work, merged) = rw_dirs(&tmp.path().join(volatile.to_string()));
        mount_overlay_with(&lowers, &upper, &work, &merged, volatile).unwrap();
        let guard = MountGuard(merged.clone());
        let options = mount_options(&merged).expect("the overlay is mounted");
        assert_eq!(is_volatile(&options), volatile, "{options}");
        fs::write(merged.join("new"), "x").unwrap();
        assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "x");
        drop(guard);
        // The same legacy option string, as kernels before 6.8 get it.
        let lowers: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
        let (upper2, work2, merged2) = rw_dirs(&tmp.path().join(format!("legacy-{volatile}")));
        mount_legacy(&lowers, Some((&upper2, &work2, volatile)), &merged2).unwrap();
        let _guard = MountGuard(merged2.clone());
        let options = mount_options(&merged2).expect("the overlay is mounted");
        assert_eq!(is_volatile(&options), volatile, "{options}");
    }
}

#[test]
fn mount2_fallback_handles_150_layers() {
    require_overlay!();
    let tmp = scratch();
    let lowers = many_layers(tmp.path(), 150);
    let lowers: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
    let (upper, work, merged) = rw_dirs(tmp.path());
    mount_legacy(&lowers, Some((&upper, &work, false)), &merged).unwrap();
    let _guard = MountGuard(merged.clone());
    check_many(&merged, 150);

    // Short lists use the plain paths, including ones the option syntax reserves characters of.
    let odd = tmp.path().join("odd,name:with=chars");
    fs::create_dir(&odd).unwrap();
    fs::write(odd.join("odd"), "o").unwrap();
    let merged2 = tmp.path().join("m2");
    fs::create_dir(&merged2).unwrap();
    mount_legacy(&[odd.as_path(), lowers[0]], None, &merged2).unwrap();
    let _guard2 = MountGuard(merged2.clone());
    assert_eq!(fs::read_to_string(merged2.join("odd")).unwrap(), "o");
    assert_eq!(fs::read_to_string(merged2.join("f0")).unwrap(), "0");
}

#[test]
fn readonly_views_refuse_writes() {
    require_overlay!();
    let tmp = scratch();
    let (lowers, expected) = two_layer_image(tmp.path());
    for (name, lowers) in [("two", lowers.clone()), ("one", lowers[1..].to_vec())] {
        let target = tmp.path().join(name);
        fs::create_dir(&target).unwrap();
        mount_overlay_readonly(&lowers, &target).unwrap();
        let _guard = MountGuard(target.clone());
        let err = fs::write(target.join("nope"), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{name}");
        if name == "two" {
            assert_eq!(listing(&target), expected);
        } else {
            assert_eq!(listing(&target), listing(&lowers[0]));
        }
    }
    let err = mount_overlay_readonly(&[], &tmp.path().join("two")).unwrap_err();
    assert_eq!(err.kind(), berth_store::ErrorKind::InvalidArgument);
}

#[test]
fn overlay_without_layers() {
    require_overlay!();
    let tmp = scratch();
    let (upper, work, merged) = rw_dirs(tmp.path());
    mount_overlay(&[], &upper, &work, &merged).unwrap();
    let _guard = MountGuard(merged.clone());
    assert_eq!(fs::read_dir(&merged).unwrap().count(), 0);
    fs::write(merged.join("x"), b"x").unwrap();
    assert_eq!(fs::read(upper.join("x")).unwrap(), b"x");
    assert!(tmp.path().join("c/empty-lower").is_dir());
}

#[test]
fn mount_errors_say_what_failed() {
    require_overlay!();
    let tmp = scratch();
    let (upper, work, merged) = rw_dirs(tmp.path());
    let missing = tmp.path().join("no-such-layer");
    let err = mount_overlay(std::slice::from_ref(&missing), &upper, &work, &merged).unwrap_err();
    assert_eq!(err.kind(), berth_store::ErrorKind::Internal);
    let message = err.to_string();
    assert!(message.contains("no-such-layer"), "{message}");
    assert!(!mounted(&merged));
}

#[test]
fn unmount_tolerates_what_is_not_mounted() {
    let tmp = scratch();
    unmount(tmp.path()).unwrap();
    unmount(&tmp.path().join("missing")).unwrap();
}
