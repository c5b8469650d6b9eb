//! The tar of a COPY or ADD layer: the destination's parents, then each entry, hashed on the way.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use berth_store::{Digest, Hasher};

use super::download::fetch;
use super::sources::Entry;
use crate::{Error, Result};

#[derive(Debug)]
pub(super) struct WrittenLayer {
    pub(super) diff_id: Digest,
    pub(super) size: u64,
    /// sha256 over names, modes, owners and contents (not times): what the cache key uses.
    pub(super) content_hash: String,
}

/// Writes the COPY layer: missing parent directories of `dest`, then the entries.
pub(super) fn write_entries(
    path: &Path,
    dest: &str,
    entries: &[Entry],
    owner: (u64, u64),
    mode: Option<u32>,
) -> Result<WrittenLayer> {
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let file = fs::File::create(path).map_err(|e| io(path, e))?;
    let mut builder = tar::Builder::new(berth_store::HashingWriter::new(std::io::BufWriter::new(file)));
    let mut content = Hasher::new();
    let mut dirs_written: Vec<String> = Vec::new();
    let mut add_dir = |builder: &mut tar::Builder<_>, target: &str, mode: u32, mtime: u64| -> Result<()> {
        let name = target.trim_start_matches('/');
        if name.is_empty() || dirs_written.iter().any(|d| d == name) {
            return Ok(());
        }
        dirs_written.push(name.to_string());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_mtime(mtime);
        h.set_size(0);
        builder
            .append_data(&mut h, format!("{name}/"), std::io::empty())
            .map_err(|e| io(path, e))
    };
    // Parents of the destination (created as Docker does when missing).
    let mut parent = String::new();
    let dest_parts: Vec<&str> = dest.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    let dest_is_file = entries.len() == 1
        && matches!(entries[0], Entry::File { ref target, .. } | Entry::Inline { ref target, .. } | Entry::Download { ref target, .. } if target == dest);
    let keep = if dest_is_file {
        dest_parts.len().saturating_sub(1)
    } else {
        0
    };
    for part in dest_parts.iter().take(keep) {
        parent = format!("{parent}/{part}");
        add_dir(&mut builder, &parent, 0o755, 0)?;
    }
    for entry in entries {
        match entry {
            Entry::Dir { target, source } => {
                let meta = fs::metadata(source).map_err(|e| io(source, e))?;
                let m = mode.unwrap_or(meta.permissions().mode() & 0o7777);
                content.update(format!("D {target} {m:o} {owner:?}\n").as_bytes());
                add_dir(&mut builder, target, m, meta.mtime().max(0) as u64)?;
            }
            Entry::Inline { target, content: bytes } => {
                let m = mode.unwrap_or(0o644);
                content.update(format!("F {target} {m:o} {owner:?} {}\n", bytes.len()).as_bytes());
                content.update(bytes);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(m);
                h.set_uid(owner.0);
                h.set_gid(owner.1);
                h.set_size(bytes.len() as u64);
                h.set_mtime(0);
                builder
                    .append_data(&mut h, target.trim_start_matches('/'), &bytes[..])
                    .map_err(|e| io(path, e))?;
            }
            Entry::Download { target, url, checksum } => {
                let bytes = fetch(url, checksum.as_deref())?;
                content.update(format!("U {target} {url} {owner:?} {}\n", bytes.len()).as_bytes());
                content.update(&bytes);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(mode.unwrap_or(0o600));
                h.set_uid(owner.0);
                h.set_gid(owner.1);
                h.set_size(bytes.len() as u64);
                h.set_mtime(0);
                builder
                    .append_data(&mut h, target.trim_start_matches('/'), &bytes[..])
                    .map_err(|e| io(path, e))?;
            }
            Entry::Archive { target, source } => {
                append_archive(&mut builder, &mut content, target, source, owner)?;
            }
            Entry::File { target, source } => {
                let meta = fs::symlink_metadata(source).map_err(|e| io(source, e))?;
                let name = target.trim_start_matches('/');
                let mut h = tar::Header::new_gnu();
                h.set_uid(owner.0);
                h.set_gid(owner.1);
                h.set_mtime(meta.mtime().max(0) as u64);
                if meta.file_type().is_symlink() {
                    let link = fs::read_link(source).map_err(|e| io(source, e))?;
                    content.update(format!("L {target} {} {owner:?}\n", link.display()).as_bytes());
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    builder.append_link(&mut h, name, &link).map_err(|e| io(path, e))?;
                    continue;
                }
                let m = mode.unwrap_or(meta.permissions().mode() & 0o7777);
                let mut bytes = Vec::new();
                fs::File::open(source)
                    .and_then(|mut f| f.read_to_end(&mut bytes))
                    .map_err(|e| io(source, e))?;
                content.update(format!("F {target} {m:o} {owner:?} {}\n", bytes.len()).as_bytes());
                content.update(&bytes);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(m);
                h.set_size(bytes.len() as u64);
                builder.append_data(&mut h, name, &bytes[..]).map_err(|e| io(path, e))?;
            }
        }
    }
    let hashing = builder.into_inner().map_err(|e| io(path, e))?;
    let (buffered, diff_id, size) = hashing.finish();
    buffered.into_inner().map_err(|e| io(path, e.into_error()))?;
    Ok(WrittenLayer {
        diff_id,
        size,
        content_hash: content.finish().hex().to_string(),
    })
}

/// Copies a local tar's members under `target` (ADD's auto-extraction); members that climb out are refused.
fn append_archive<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    content: &mut Hasher,
    target: &str,
    source: &Path,
    owner: (u64, u64),
) -> Result<()> {
    let bad = |e: std::io::Error| {
        Error::InvalidArgument(format!("ADD {}: not a readable tar archive: {e}", source.display()))
    };
    let file = fs::File::open(source).map_err(bad)?;
    let stream = berth_image::layer::decompressed(file).map_err(bad)?;
    let mut archive = tar::Archive::new(stream);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let inner = entry.path().map_err(bad)?.into_owned();
        let mut rel = PathBuf::new();
        for c in inner.components() {
            match c {
                Component::Normal(p) => rel.push(p),
                Component::ParentDir => {
                    return Err(Error::InvalidArgument(format!(
                        "ADD {}: archive member {} leaves the destination",
                        source.display(),
                        inner.display()
                    )))
                }
                _ => {}
            }
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        let name = format!("{}/{}", target.trim_matches('/'), rel.display())
            .trim_start_matches('/')
            .to_string();
        let mut header = entry.header().clone();
        if owner != (0, 0) {
            // --chown applies to extracted files too; otherwise they keep the archive's owners.
            header.set_uid(owner.0);
            header.set_gid(owner.1);
        }
        let link = entry.link_name().map_err(bad)?.map(|l| l.into_owned());
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(bad)?;
        content.update(format!("A {name} {:?} {}\n", header.mode().ok(), bytes.len()).as_bytes());
        content.update(&bytes);
        let written = match (header.entry_type(), link) {
            (tar::EntryType::Link, Some(link)) => {
                // Hard links point at members, which moved under the destination too.
                let moved = format!("{}/{}", target.trim_matches('/'), link.display());
                builder.append_link(&mut header, &name, moved.trim_start_matches('/'))
            }
            (tar::EntryType::Symlink, Some(link)) => builder.append_link(&mut header, &name, &link),
            _ => builder.append_data(&mut header, &name, &bytes[..]),
        };
        written.map_err(|e| Error::Io {
            path: source.to_path_buf(),
            source: e,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::symlink;
    use std::time::{Duration, SystemTime};

    use super::*;

    /// One member of a written tar, as the tests look at it.
    #[derive(Debug, PartialEq)]
    struct Member {
        path: String,
        kind: char,
        mode: u32,
        owner: (u64, u64),
        mtime: u64,
        link: Option<String>,
        content: Vec<u8>,
    }

    fn members(path: &Path) -> Vec<Member> {
        let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
        let mut found = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header().clone();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Regular => 'f',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                other => panic!("unexpected entry type {other:?}"),
            };
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            found.push(Member {
                path: entry.path().unwrap().display().to_string(),
                kind,
                mode: h.mode().unwrap(),
                owner: (h.uid().unwrap(), h.gid().unwrap()),
                mtime: h.mtime().unwrap(),
                link: entry.link_name().unwrap().map(|l| l.display().to_string()),
                content,
            });
        }
        found
    }

    fn paths(path: &Path) -> Vec<(String, char)> {
        members(path).into_iter().map(|m| (m.path, m.kind)).collect()
    }

    fn file(dir: &Path, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn set_mtime(path: &Path, secs: u64) {
        let f = fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn a_file_destination_gets_its_parents_then_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let source = file(dir.path(), "a.txt", b"hi", 0o640);
        set_mtime(&source, 1_000_000);
        let tar = dir.path().join("layer.tar");
        let entries = [Entry::File {
            target: "/app/conf/a.conf".into(),
            source,
        }];
        let written = write_entries(&tar, "/app/conf/a.conf", &entries, (1000, 50), None).unwrap();
        let found = members(&tar);
        assert_eq!(
            found
                .iter()
                .map(|m| (m.path.as_str(), m.kind, m.mode, m.owner))
                .collect::<Vec<_>>(),
            [
                ("app/", 'd', 0o755, (1000, 50)),
                ("app/conf/", 'd', 0o755, (1000, 50)),
                ("app/conf/a.conf", 'f', 0o640, (1000, 50)),
            ]
        );
        assert_eq!(found[2].content, b"hi");
        assert_eq!(found[2].mtime, 1_000_000);
        // The layer's identity is the tar's sha256 and size.
        let bytes = fs::read(&tar).unwrap();
        assert_eq!(written.diff_id, Digest::of(&bytes));
        assert_eq!(written.size, bytes.len() as u64);
    }

    #[test]
    fn a_directory_destination_gets_only_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir(&tree).unwrap();
        let a = file(&tree, "a", b"A", 0o644);
        let tar = dir.path().join("layer.tar");
        let entries = [
            Entry::Dir {
                target: "/srv/app".into(),
                source: tree.clone(),
            },
            Entry::File {
                target: "/srv/app/a".into(),
                source: a,
            },
        ];
        write_entries(&tar, "/srv/app", &entries, (0, 0), None).unwrap();
        assert_eq!(
            paths(&tar),
            [("srv/app/".to_string(), 'd'), ("srv/app/a".to_string(), 'f')]
        );
    }

    #[test]
    fn chmod_applies_to_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir(&tree).unwrap();
        let a = file(&tree, "a", b"A", 0o600);
        let tar = dir.path().join("layer.tar");
        let entries = [
            Entry::Dir {
                target: "/x".into(),
                source: tree,
            },
            Entry::File {
                target: "/x/a".into(),
                source: a,
            },
            Entry::Inline {
                target: "/x/b".into(),
                content: b"B".to_vec(),
            },
        ];
        write_entries(&tar, "/x", &entries, (0, 0), Some(0o751)).unwrap();
        let modes: Vec<u32> = members(&tar).iter().map(|m| m.mode).collect();
        assert_eq!(modes, [0o751, 0o751, 0o751]);
    }

    #[test]
    fn inline_files_are_0644_at_time_zero() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("layer.tar");
        let entries = [Entry::Inline {
            target: "/etc/motd".into(),
            content: b"hello\n".to_vec(),
        }];
        write_entries(&tar, "/etc/motd", &entries, (0, 0), None).unwrap();
        let found = members(&tar);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].path.as_str(), found[0].kind), ("etc/", 'd'));
        let motd = &found[1];
        assert_eq!((motd.path.as_str(), motd.mode, motd.mtime), ("etc/motd", 0o644, 0));
        assert_eq!(motd.content, b"hello\n");
    }

    #[test]
    fn symlinks_are_copied_as_links() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        symlink("../target/file", &link).unwrap();
        let tar = dir.path().join("layer.tar");
        let entries = [Entry::File {
            target: "/l".into(),
            source: link,
        }];
        write_entries(&tar, "/l", &entries, (0, 0), Some(0o600)).unwrap();
        let found = members(&tar);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].kind, found[0].mode), ('l', 0o777));
        assert_eq!(found[0].link.as_deref(), Some("../target/file"));
    }

    #[test]
    fn the_content_hash_ignores_times_but_not_content_modes_or_owners() {
        let dir = tempfile::tempdir().unwrap();
        let source = file(dir.path(), "a", b"same", 0o644);
        let tar = dir.path().join("layer.tar");
        let entries = [Entry::File {
            target: "/a".into(),
            source: source.clone(),
        }];
        set_mtime(&source, 1);
        let first = write_entries(&tar, "/a", &entries, (0, 0), None).unwrap();
        set_mtime(&source, 2);
        let touched = write_entries(&tar, "/a", &entries, (0, 0), None).unwrap();
        assert_eq!(first.content_hash, touched.content_hash);
        assert_ne!(first.diff_id, touched.diff_id);

        let chowned = write_entries(&tar, "/a", &entries, (1, 1), None).unwrap();
        let chmoded = write_entries(&tar, "/a", &entries, (0, 0), Some(0o600)).unwrap();
        fs::write(&source, b"else").unwrap();
        let edited = write_entries(&tar, "/a", &entries, (0, 0), None).unwrap();
        let moved = [Entry::File {
            target: "/b".into(),
            source,
        }];
        let renamed = write_entries(&tar, "/b", &moved, (0, 0), None).unwrap();
        let hashes = [first, chowned, chmoded, edited, renamed].map(|w| w.content_hash);
        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    /// A gzip tar with a file, a hard link to it and a symlink, owned by 7:7.
    fn archive(dir: &Path) -> PathBuf {
        let path = dir.join("bundle.tar.gz");
        let gz = flate2::write::GzEncoder::new(fs::File::create(&path).unwrap(), flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o640);
        h.set_uid(7);
        h.set_gid(7);
        h.set_size(3);
        b.append_data(&mut h, "./pkg/bin.sh", &b"run"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_mode(0o640);
        h.set_uid(7);
        h.set_gid(7);
        h.set_size(0);
        b.append_link(&mut h, "pkg/again.sh", "pkg/bin.sh").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_uid(7);
        h.set_gid(7);
        h.set_size(0);
        b.append_link(&mut h, "pkg/latest", "bin.sh").unwrap();
        b.into_inner().unwrap().finish().unwrap().flush().unwrap();
        path
    }

    #[test]
    fn archives_land_under_the_destination_with_their_links_moved() {
        let dir = tempfile::tempdir().unwrap();
        let source = archive(dir.path());
        let tar = dir.path().join("layer.tar");
        let entries = [Entry::Archive {
            target: "/opt/".into(),
            source: source.clone(),
        }];
        write_entries(&tar, "/opt/", &entries, (0, 0), None).unwrap();
        let found = members(&tar);
        let summary: Vec<_> = found
            .iter()
            .map(|m| (m.path.as_str(), m.kind, m.link.as_deref(), m.owner))
            .collect();
        assert_eq!(
            summary,
            [
                ("opt/pkg/bin.sh", 'f', None, (7, 7)),
                ("opt/pkg/again.sh", 'h', Some("opt/pkg/bin.sh"), (7, 7)),
                ("opt/pkg/latest", 'l', Some("bin.sh"), (7, 7)),
            ]
        );
        assert_eq!(found[0].content, b"run");
        assert_eq!(found[0].mode, 0o640);

        // --chown applies to extracted members too.
        write_entries(&tar, "/opt/", &entries, (1, 2), None).unwrap();
        assert!(members(&tar).iter().all(|m| m.owner == (1, 2)));
    }

    #[test]
    fn archive_members_that_climb_out_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("evil.tar");
        let mut b = tar::Builder::new(fs::File::create(&source).unwrap());
        let mut h = tar::Header::new_old();
        let name = b"../escape";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(1);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.into_inner().unwrap().flush().unwrap();
        let tar = dir.path().join("layer.tar");
        let entries = [Entry::Archive {
            target: "/".into(),
            source,
        }];
        let err = write_entries(&tar, "/", &entries, (0, 0), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("archive member ../escape leaves the destination"), "{err}");
    }

    #[test]
    fn downloads_are_0600_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("layer.tar");
        let url = super::super::download::tests::serve_once(200, b"hello");
        let entries = [Entry::Download {
            target: "/d/hello.txt".into(),
            url,
            checksum: Some(Digest::of(b"hello").to_string()),
        }];
        write_entries(&tar, "/d/hello.txt", &entries, (3, 4), None).unwrap();
        let found = members(&tar);
        let last = found.last().unwrap();
        assert_eq!(
            (last.path.as_str(), last.mode, last.owner),
            ("d/hello.txt", 0o600, (3, 4))
        );
        assert_eq!(last.content, b"hello");

        let url = super::super::download::tests::serve_once(200, b"tampered");
        let entries = [Entry::Download {
            target: "/d/hello.txt".into(),
            url,
            checksum: Some(Digest::of(b"hello").to_string()),
        }];
        let err = write_entries(&tar, "/d/hello.txt", &entries, (0, 0), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--checksum asks for"), "{err}");
    }
}
