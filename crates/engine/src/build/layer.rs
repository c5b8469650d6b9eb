//! The tar of a COPY or ADD layer: the destination's parents, then each entry, hashed on the way.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use berth_store::{Digest, Hasher};

use super::download::download;
use super::sources::Entry;
use crate::{Error, Result};

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
                let bytes = download(url)?;
                if let Some(want) = checksum {
                    let got = Digest::of(&bytes).to_string();
                    if *want != got {
                        return Err(Error::InvalidArgument(format!(
                            "ADD {url}: the content has digest {got}, not the {want} --checksum asks for"
                        )));
                    }
                }
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
