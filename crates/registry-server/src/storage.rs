//! The registry's files under `--root`:
//!
//! ```text
//! blobs/sha256/<hex>                                  content, immutable, named by its digest
//! repositories/<name>/_layers/<hex>                   link: the blob is part of <name>
//! repositories/<name>/_manifests/revisions/<hex>      link: a manifest of <name>; holds its media type
//! repositories/<name>/_manifests/tags/<tag>           holds the digest the tag points at
//! repositories/<name>/_referrers/<subject>/<hex>      descriptor (JSON) of a manifest whose subject is <subject>
//! uploads/<uuid>/data, uploads/<uuid>/repo            an upload session: bytes so far, owning repository
//! tmp/                                                temporary files, renamed into place when complete
//! ```
//!
//! Every file is written to tmp/ (same file system), fsynced, then renamed
//! into place, so readers see a whole file or none. Blobs are named by
//! content: two uploads of the same blob racing to rename write the same
//! bytes, and either one winning is correct. Repository directories are
//! made only of validated names whose components never start with `_`, so
//! they cannot collide with the `_layers`/`_manifests`/`_referrers` dirs.
//!
//! Nothing is garbage collected: deleting a blob or manifest removes the
//! repository's link; the content under blobs/ stays.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use berth_store::Digest;

use crate::error::{At, Result};

pub struct Storage {
    root: PathBuf,
}

impl Storage {
    pub fn open(root: &Path) -> Result<Storage> {
        for dir in ["blobs/sha256", "repositories", "uploads", "tmp"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).at(&path)?;
        }
        let storage = Storage {
            root: root.to_path_buf(),
        };
        storage.clear_tmp();
        Ok(storage)
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join("repositories").join(repo)
    }

    fn layer_link(&self, repo: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(repo).join("_layers").join(digest.hex())
    }

    fn revision_link(&self, repo: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(repo).join("_manifests/revisions").join(digest.hex())
    }

    fn tags_dir(&self, repo: &str) -> PathBuf {
        self.repo_dir(repo).join("_manifests/tags")
    }

    fn referrers_dir(&self, repo: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(repo).join("_referrers").join(subject.hex())
    }

    /// A fresh path in tmp/ for a file that will be renamed into place.
    pub fn temp_path(&self) -> PathBuf {
        self.root.join("tmp").join(format!("{:032x}", rand::random::<u128>()))
    }

    /// Writes `bytes` to `path` all at once or not at all.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let temp = self.temp_path();
        let result = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            rename_into(&temp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.at(path)
    }

    /// Moves a complete, fsynced temporary file into blobs/ under its digest.
    pub fn commit_blob(&self, temp: &Path, digest: &Digest) -> Result<()> {
        let target = self.blob_path(digest);
        let result = rename_into(temp, &target);
        if result.is_err() {
            let _ = fs::remove_file(temp);
        }
        result.at(&target)
    }

    /// The size of a blob `repo` may read, if it may.
    pub fn blob_in_repo(&self, repo: &str, digest: &Digest) -> Option<u64> {
        if !self.layer_link(repo, digest).is_file() {
            return None;
        }
        fs::metadata(self.blob_path(digest))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    pub fn link_blob(&self, repo: &str, digest: &Digest) -> Result<()> {
        self.write_atomic(&self.layer_link(repo, digest), digest.to_string().as_bytes())
    }

    /// Removes `repo`'s link to a blob; false if it had none.
    pub fn unlink_blob(&self, repo: &str, digest: &Digest) -> Result<bool> {
        remove_file(&self.layer_link(repo, digest))
    }

    /// Stores a validated manifest: content, revision link, then the tag (so a
    /// tag never points at a manifest that is not there) and the referrer entry.
    pub fn put_manifest(
        &self,
        repo: &str,
        digest: &Digest,
        bytes: &[u8],
        media_type: &str,
        tag: Option<&str>,
        referrer: Option<(&Digest, &serde_json::Value)>,
    ) -> Result<()> {
        let blob = self.blob_path(digest);
        if !blob.is_file() {
            self.write_atomic(&blob, bytes)?;
        }
        self.write_atomic(&self.revision_link(repo, digest), media_type.as_bytes())?;
        if let Some((subject, descriptor)) = referrer {
            let path = self.referrers_dir(repo, subject).join(digest.hex());
            self.write_atomic(&path, descriptor.to_string().as_bytes())?;
        }
        if let Some(tag) = tag {
            self.write_atomic(&self.tags_dir(repo).join(tag), digest.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// The media type of a manifest of `repo`, if it has it.
    pub fn manifest_media_type(&self, repo: &str, digest: &Digest) -> Result<Option<String>> {
        let path = self.revision_link(repo, digest);
        match fs::read_to_string(&path) {
            Ok(media_type) if self.blob_path(digest).is_file() => Ok(Some(media_type)),
            Ok(_) => Ok(None),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e).at(path),
        }
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        fs::read(&path).at(path)
    }

    /// The digest a tag points at.
    pub fn tag(&self, repo: &str, tag: &str) -> Result<Option<Digest>> {
        let path = self.tags_dir(repo).join(tag);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(text.trim().parse().ok()),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e).at(path),
        }
    }

    pub fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        remove_file(&self.tags_dir(repo).join(tag))
    }

    /// Removes a manifest from `repo`, with every tag pointing at it and its
    /// referrer entry. `subject` is the manifest's subject, if it has one.
    pub fn delete_manifest(&self, repo: &str, digest: &Digest, subject: Option<&Digest>) -> Result<bool> {
        if let Some(tags) = self.tags(repo)? {
            for tag in tags {
                if self.tag(repo, &tag)?.as_ref() == Some(digest) {
                    self.delete_tag(repo, &tag)?;
                }
            }
        }
        if let Some(subject) = subject {
            remove_file(&self.referrers_dir(repo, subject).join(digest.hex()))?;
        }
        remove_file(&self.revision_link(repo, digest))
    }

    pub fn repo_exists(&self, repo: &str) -> bool {
        let dir = self.repo_dir(repo);
        dir.join("_manifests").is_dir() || dir.join("_layers").is_dir()
    }

    /// Tags of `repo`, sorted; None if the repository is unknown.
    pub fn tags(&self, repo: &str) -> Result<Option<Vec<String>>> {
        if !self.repo_exists(repo) {
            return Ok(None);
        }
        let mut tags = list_names(&self.tags_dir(repo))?;
        tags.retain(|t| crate::names::check_tag(t).is_ok());
        tags.sort();
        Ok(Some(tags))
    }

    /// Repositories that hold at least one manifest, sorted.
    pub fn repositories(&self) -> Result<Vec<String>> {
        let mut repos = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(prefix) = pending.pop() {
            let dir = self.root.join("repositories").join(&prefix);
            for name in list_names(&dir)? {
                if name.starts_with('_') {
                    continue;
                }
                let full = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                let path = self.repo_dir(&full);
                if !path.is_dir() {
                    continue;
                }
                if !list_names(&path.join("_manifests/revisions"))?.is_empty() {
                    repos.push(full.clone());
                }
                pending.push(full);
            }
        }
        repos.sort();
        Ok(repos)
    }

    /// Descriptors of the manifests of `repo` whose subject is `subject`.
    pub fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<serde_json::Value>> {
        let dir = self.referrers_dir(repo, subject);
        let mut out = Vec::new();
        let mut names = list_names(&dir)?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let Ok(digest) = Digest::from_hex(&name) else { continue };
            // Skip entries whose manifest was deleted by a racing request.
            if self.manifest_media_type(repo, &digest)?.is_none() {
                continue;
            }
            let text = match fs::read(&path) {
                Ok(text) => text,
                Err(e) if is_missing(&e) => continue,
                Err(e) => return Err(e).at(path),
            };
            if let Ok(value) = serde_json::from_slice(&text) {
                out.push(value);
            }
        }
        Ok(out)
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    /// Removes temporary files older than a day: left by a crash, as live
    /// ones are renamed within one request.
    fn clear_tmp(&self) {
        clear_older_than(&self.root.join("tmp"), Duration::from_secs(24 * 3600));
    }

    /// Names of the entries under uploads/: session ids, and whatever else
    /// a crash or a hand left there.
    pub fn upload_entries(&self) -> Vec<String> {
        list_names(&self.uploads_dir()).unwrap_or_default()
    }

    /// How many upload sessions are open.
    pub fn upload_count(&self) -> Result<usize> {
        let dir = self.uploads_dir();
        Ok(fs::read_dir(&dir).at(&dir)?.count())
    }

    /// Whether an entry under uploads/ saw no activity for longer than
    /// `age`. A session's activity is its data file's mtime, which every
    /// chunk moves; an entry without one is judged by its own mtime.
    pub fn upload_idle(&self, name: &str, age: Duration) -> bool {
        let entry = self.uploads_dir().join(name);
        let modified = fs::metadata(entry.join("data"))
            .or_else(|_| fs::symlink_metadata(&entry))
            .and_then(|m| m.modified());
        match modified {
            Ok(t) => SystemTime::now().duration_since(t).is_ok_and(|idle| idle > age),
            Err(_) => false,
        }
    }

    /// Removes an entry under uploads/ and everything in it.
    pub fn remove_upload(&self, name: &str) -> Result<()> {
        let path = self.uploads_dir().join(name);
        let removed = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(e) => Err(e),
        };
        match removed {
            Err(e) if !is_missing(&e) => Err(e).at(path),
            _ => Ok(()),
        }
    }
}

fn clear_older_than(dir: &Path, age: Duration) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|d| d > age);
        if old {
            let path = entry.path();
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// Renames a complete file into place, creating the parent, and makes the
/// rename durable.
fn rename_into(temp: &Path, target: &Path) -> io::Result<()> {
    let parent = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    fs::rename(temp, target)?;
    File::open(parent)?.sync_all()
}

fn remove_file(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if is_missing(&e) => Ok(false),
        Err(e) => Err(e).at(path),
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// Entry names of a directory; empty if it does not exist.
fn list_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e).at(dir),
    };
    Ok(entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect())
}
