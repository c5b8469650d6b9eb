//! Blobs: streaming download with resume and verification, existence checks, cross-repo
//! mounts, monolithic and chunked uploads.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use berth_image::spec::Descriptor;
use berth_store::{Digest, Hasher};
use tracing::{debug, warn};

use crate::auth;
use crate::client::{check_repo, header, Body, Client, Ctx, Req};
use crate::error::{Error, Result};

/// A blob to fetch: its digest and, when known, its size (from a descriptor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: Option<u64>,
}

impl BlobRef {
    pub fn new(digest: Digest, size: Option<u64>) -> Self {
        BlobRef { digest, size }
    }
}

impl TryFrom<&Descriptor> for BlobRef {
    type Error = Error;
    fn try_from(d: &Descriptor) -> Result<Self> {
        let digest = d.digest.parse::<Digest>().map_err(|_| Error::InvalidArgument {
            what: "descriptor digest",
            value: d.digest.clone(),
            reason: "expected sha256: followed by 64 lowercase hex characters".into(),
        })?;
        let size = u64::try_from(d.size).map_err(|_| Error::InvalidArgument {
            what: "descriptor size",
            value: d.size.to_string(),
            reason: "sizes cannot be negative".into(),
        })?;
        Ok(BlobRef {
            digest,
            size: Some(size),
        })
    }
}

/// The result of [`Client::fetch_blob`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedBlob {
    pub digest: Digest,
    pub size: u64,
    /// How many bytes of an earlier partial download were kept.
    pub resumed_from: u64,
    /// Bytes received over the network (retries and restarts included).
    pub transferred: u64,
}

/// Where the bytes of a blob to push come from.
#[derive(Clone, Copy, Debug)]
pub enum BlobSource<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

/// What [`Client::push_blob`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The registry had the blob already (HEAD said so); nothing was sent.
    AlreadyPresent,
    Uploaded,
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `Content-Range: bytes START-END/TOTAL` -> START.
fn content_range_start(v: &str) -> Option<u64> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    rest.split('-').next()?.trim().parse().ok()
}

/// Upload progress `Range: 0-END` -> bytes the registry has (END + 1).
fn upload_range_end(v: &str) -> Option<u64> {
    let v = v.trim().trim_start_matches("bytes=");
    let (_, end) = v.split_once('-')?;
    end.trim().parse::<u64>().ok().map(|e| e + 1)
}

/// Hashes the first `len` bytes of a file.
fn hash_prefix(file: &mut File, len: u64, path: &Path) -> Result<Hasher> {
    let mut hasher = Hasher::new();
    file.seek(SeekFrom::Start(0)).map_err(io_at(path))?;
    let mut buf = vec![0u8; 256 << 10];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).map_err(io_at(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher)
}

impl Client {
    /// Downloads a blob into `dest`, resuming what an earlier attempt left there (a ranged
    /// GET; a server that ignores ranges makes it start over), hashing while streaming.
    /// `progress` gets the number of bytes in `dest` so far. At the end the size and
    /// digest are checked; on a mismatch `dest` is removed and the error says so. On a
    /// network failure `dest` is kept for the next attempt to resume.
    pub fn fetch_blob(
        &self,
        repo: &str,
        blob: &BlobRef,
        dest: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<FetchedBlob> {
        check_repo(repo)?;
        let existed = dest.exists();
        let result = self.fetch_blob_into(repo, blob, dest, progress);
        if result.is_err() && !existed && std::fs::metadata(dest).is_ok_and(|m| m.len() == 0) {
            // Nothing to resume from: do not leave an empty file behind.
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    fn fetch_blob_into(
        &self,
        repo: &str,
        blob: &BlobRef,
        dest: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<FetchedBlob> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dest)
            .map_err(io_at(dest))?;
        let mut have = file.metadata().map_err(io_at(dest))?.len();
        if blob.size.is_some_and(|s| have > s) {
            have = 0;
        }
        let mut hasher = hash_prefix(&mut file, have, dest)?;
        if have > 0 && Some(have) == blob.size {
            if hasher.clone().finish() == blob.digest {
                progress(have);
                return Ok(FetchedBlob {
                    digest: blob.digest.clone(),
                    size: have,
                    resumed_from: have,
                    transferred: 0,
                });
            }
            // Complete but wrong: a previous run was fed bad bytes.
            have = 0;
            hasher = Hasher::new();
        }
        file.set_len(have).map_err(io_at(dest))?;
        let resumed_from = have;
        if have > 0 {
            debug!(digest = %blob.digest, have, "resuming blob download");
        }

        let url = self.url(&format!("/v2/{repo}/blobs/{}", blob.digest))?;
        let reference = blob.digest.to_string();
        let mut attempt = 0;
        let mut transferred = 0u64;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            attempt += 1;
            let mut req = Req::new("GET", url.clone(), vec![auth::pull_scope(repo)]);
            if have > 0 {
                req = req.header("Range", format!("bytes={have}-"));
            }
            let resp = self.send(&req, Some(repo))?;
            match resp.status() {
                200 => {
                    if have > 0 {
                        debug!(digest = %blob.digest, "registry ignored the range, starting over");
                        have = 0;
                        hasher = Hasher::new();
                        file.set_len(0).map_err(io_at(dest))?;
                    }
                }
                206 => {
                    let start = header(&resp, "content-range").and_then(|v| content_range_start(&v));
                    if start != Some(have) {
                        // Not the range asked for: start over without one.
                        debug!(digest = %blob.digest, ?start, have, "unexpected content range, starting over");
                        have = 0;
                        hasher = Hasher::new();
                        file.set_len(0).map_err(io_at(dest))?;
                        if attempt >= self.options().retry.max_attempts {
                            return Err(self.protocol(
                                &format!("GET blob {}", blob.digest),
                                "the registry keeps sending a different range than asked for",
                            ));
                        }
                        continue;
                    }
                }
                416 if have > 0 => {
                    // The partial file does not fit what the registry has: start over.
                    have = 0;
                    hasher = Hasher::new();
                    file.set_len(0).map_err(io_at(dest))?;
                    continue;
                }
                _ => {
                    return Err(self.fail(
                        "GET",
                        &url,
                        resp,
                        Ctx {
                            repo: Some(repo),
                            what: "blob",
                            reference: &reference,
                            action: "pull",
                        },
                    ))
                }
            }
            file.seek(SeekFrom::Start(have)).map_err(io_at(dest))?;
            let mut body = resp.into_reader();
            let read_error = loop {
                match body.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => {
                        file.write_all(&buf[..n]).map_err(io_at(dest))?;
                        hasher.update(&buf[..n]);
                        have += n as u64;
                        transferred += n as u64;
                        if let Some(size) = blob.size.filter(|s| have > *s) {
                            drop(file);
                            let _ = std::fs::remove_file(dest);
                            return Err(Error::SizeMismatch {
                                registry: self.registry().into(),
                                repo: repo.into(),
                                digest: blob.digest.clone(),
                                expected: size,
                                actual: have,
                            });
                        }
                        progress(have);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => break Some(e),
                }
            };
            let short = blob.size.is_some_and(|s| have < s);
            match read_error {
                None if !short => break,
                // A dropped connection or stall: keep what we have and ask for the rest.
                Some(e) if attempt < self.options().retry.max_attempts => {
                    warn!(registry = %self.registry(), digest = %blob.digest, have, error = %e, "blob download interrupted, resuming");
                    std::thread::sleep(self.options().retry.backoff(attempt));
                }
                None if attempt < self.options().retry.max_attempts => {
                    warn!(registry = %self.registry(), digest = %blob.digest, have, "blob download ended early, resuming");
                    std::thread::sleep(self.options().retry.backoff(attempt));
                }
                Some(e) => {
                    file.flush().map_err(io_at(dest))?;
                    return Err(self.body_error(&url, e));
                }
                None => {
                    file.flush().map_err(io_at(dest))?;
                    return Err(Error::Transport {
                        registry: self.registry().into(),
                        url: url.clone(),
                        reason: format!(
                            "the registry kept closing the download of {} early ({have} bytes of {})",
                            blob.digest,
                            blob.size.unwrap_or_default()
                        ),
                    });
                }
            }
        }
        file.flush().map_err(io_at(dest))?;
        drop(file);
        let actual = hasher.finish();
        if actual != blob.digest {
            let _ = std::fs::remove_file(dest);
            return Err(Error::DigestMismatch {
                registry: self.registry().into(),
                repo: repo.into(),
                expected: blob.digest.clone(),
                actual,
            });
        }
        Ok(FetchedBlob {
            digest: actual,
            size: have,
            resumed_from,
            transferred,
        })
    }

    /// Whether the registry has a blob in `repo` (HEAD).
    pub fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool> {
        self.blob_exists_scoped(repo, digest, auth::pull_scope(repo))
    }

    /// HEAD with the given scope: pushes check with their push token, so one token
    /// serves the whole push.
    fn blob_exists_scoped(&self, repo: &str, digest: &Digest, scope: String) -> Result<bool> {
        check_repo(repo)?;
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"))?;
        let req = Req::new("HEAD", url, vec![scope]);
        let resp = self.send(&req, Some(repo))?;
        match resp.status() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.fail(
                "HEAD",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "blob",
                    reference: &digest.to_string(),
                    action: "pull",
                },
            )),
        }
    }

    /// Asks the registry to link a blob from `from_repo` into `repo` without uploading
    /// it. Returns false when it did not (the caller then pushes the blob).
    pub fn mount_blob(&self, repo: &str, digest: &Digest, from_repo: &str) -> Result<bool> {
        check_repo(repo)?;
        check_repo(from_repo)?;
        let mut url = self.absolute(&format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from_repo);
        let req = Req::new(
            "POST",
            url.to_string(),
            vec![auth::push_scope(repo), auth::pull_scope(from_repo)],
        )
        .header("Content-Length", "0");
        let resp = self.send(&req, Some(repo))?;
        match resp.status() {
            201 => Ok(true),
            202 => {
                // The registry started an ordinary upload instead; give it back.
                if let Some(loc) = header(&resp, "location") {
                    if let Ok(u) = self.absolute(&loc) {
                        let cancel = Req::new("DELETE", u.to_string(), vec![auth::push_scope(repo)]).no_retry();
                        let _ = self.send(&cancel, Some(repo));
                    }
                }
                Ok(false)
            }
            _ => Err(self.fail(
                "POST",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "blob",
                    reference: &digest.to_string(),
                    action: "push",
                },
            )),
        }
    }

    fn source_len(&self, source: BlobSource<'_>, size: u64) -> Result<()> {
        let actual = match source {
            BlobSource::Bytes(b) => b.len() as u64,
            BlobSource::File(p) => std::fs::metadata(p).map_err(io_at(p))?.len(),
        };
        if actual != size {
            return Err(Error::InvalidArgument {
                what: "blob size",
                value: size.to_string(),
                reason: format!("the content to push has {actual} bytes"),
            });
        }
        Ok(())
    }

    fn body_of<'a>(source: BlobSource<'a>, offset: u64, len: u64) -> Body<'a> {
        match source {
            BlobSource::Bytes(b) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
                let end = usize::try_from(offset + len).unwrap_or(usize::MAX).min(b.len());
                Body::Bytes(&b[start..end])
            }
            BlobSource::File(path) => Body::File { path, offset, len },
        }
    }

    /// POST /blobs/uploads/ -> the upload URL.
    fn start_upload(&self, repo: &str, digest: &Digest) -> Result<url::Url> {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        let req = Req::new("POST", url, vec![auth::push_scope(repo)]).header("Content-Length", "0");
        let resp = self.send(&req, Some(repo))?;
        if resp.status() != 202 {
            return Err(self.fail(
                "POST",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "upload",
                    reference: &digest.to_string(),
                    action: "push",
                },
            ));
        }
        let loc = header(&resp, "location")
            .ok_or_else(|| self.protocol("starting an upload", "202 Accepted without a Location header"))?;
        self.absolute(&loc)
    }

    fn finish_upload(
        &self,
        repo: &str,
        digest: &Digest,
        mut location: url::Url,
        body: Body<'_>,
        len: u64,
        report: Option<&dyn Fn(u64)>,
    ) -> Result<()> {
        location.query_pairs_mut().append_pair("digest", &digest.to_string());
        let req = Req::new("PUT", location.to_string(), vec![auth::push_scope(repo)])
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", len.to_string())
            .body(body)
            .progress(report, 0)
            .no_retry();
        let resp = self.send(&req, Some(repo))?;
        if resp.status() != 201 && resp.status() != 204 && resp.status() != 200 {
            return Err(self.fail(
                "PUT",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "upload",
                    reference: &digest.to_string(),
                    action: "push",
                },
            ));
        }
        if let Some(h) = header(&resp, "docker-content-digest").and_then(|h| h.parse::<Digest>().ok()) {
            if &h != digest {
                return Err(Error::DigestMismatch {
                    registry: self.registry().into(),
                    repo: repo.into(),
                    expected: digest.clone(),
                    actual: h,
                });
            }
        }
        Ok(())
    }

    /// Retries a whole upload (a failed PUT leaves the upload session unusable).
    fn with_upload_retries(&self, mut f: impl FnMut() -> Result<()>) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match f() {
                Err(e) if e.is_transient() && attempt < self.options().retry.max_attempts => {
                    warn!(registry = %self.registry(), error = %e, attempt, "upload failed, starting it again");
                    std::thread::sleep(self.options().retry.backoff(attempt));
                }
                other => return other,
            }
        }
    }

    /// Uploads a blob in one request (POST, then PUT with the content and digest),
    /// unless HEAD shows the registry has it. `progress` gets the bytes sent so far.
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: BlobSource<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<PushOutcome> {
        check_repo(repo)?;
        self.source_len(source, size)?;
        if self.blob_exists_scoped(repo, digest, auth::push_scope(repo))? {
            progress(size);
            return Ok(PushOutcome::AlreadyPresent);
        }
        let progress = RefCell::new(progress);
        let report = |n: u64| (*progress.borrow_mut())(n);
        self.with_upload_retries(|| {
            let location = self.start_upload(repo, digest)?;
            report(0);
            self.finish_upload(
                repo,
                digest,
                location,
                Self::body_of(source, 0, size),
                size,
                Some(&report),
            )
        })?;
        Ok(PushOutcome::Uploaded)
    }

    /// Uploads a blob in chunks of `chunk_size` bytes (PATCH with Content-Range, then a
    /// closing PUT with the digest), unless HEAD shows the registry has it. A chunk that
    /// fails is resumed from what the registry reports it has.
    pub fn push_blob_chunked(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: BlobSource<'_>,
        chunk_size: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<PushOutcome> {
        check_repo(repo)?;
        if chunk_size == 0 {
            return Err(Error::InvalidArgument {
                what: "chunk size",
                value: "0".into(),
                reason: "chunks need at least one byte".into(),
            });
        }
        self.source_len(source, size)?;
        if self.blob_exists_scoped(repo, digest, auth::push_scope(repo))? {
            progress(size);
            return Ok(PushOutcome::AlreadyPresent);
        }
        let progress = RefCell::new(progress);
        let report = |n: u64| (*progress.borrow_mut())(n);
        self.with_upload_retries(|| {
            let mut location = self.start_upload(repo, digest)?;
            let mut offset = 0u64;
            let mut failures = 0;
            report(0);
            while offset < size {
                let len = chunk_size.min(size - offset);
                let req = Req::new("PATCH", location.to_string(), vec![auth::push_scope(repo)])
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{}-{}", offset, offset + len - 1))
                    .header("Content-Length", len.to_string())
                    .body(Self::body_of(source, offset, len))
                    .progress(Some(&report), offset)
                    .no_retry();
                let result = self.send(&req, Some(repo));
                let resp = match result {
                    Ok(r) if r.status() == 202 => r,
                    Ok(r) if r.status() >= 500 || r.status() == 429 => {
                        let e = self.status_error("PATCH", &req.url, r);
                        failures += 1;
                        offset = self.resume_offset(repo, &mut location, e, failures)?;
                        continue;
                    }
                    Ok(r) => {
                        return Err(self.fail(
                            "PATCH",
                            &req.url,
                            r,
                            Ctx {
                                repo: Some(repo),
                                what: "upload",
                                reference: &digest.to_string(),
                                action: "push",
                            },
                        ))
                    }
                    Err(e) if e.is_transient() => {
                        failures += 1;
                        offset = self.resume_offset(repo, &mut location, e, failures)?;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let end = header(&resp, "range").and_then(|r| upload_range_end(&r));
                if let Some(loc) = header(&resp, "location") {
                    location = self.absolute(&loc)?;
                }
                offset = match end {
                    Some(e) if e <= offset + len => e,
                    Some(e) => {
                        return Err(self.protocol(
                            "a chunked upload",
                            &format!("the registry claims {e} bytes after {} were sent", offset + len),
                        ))
                    }
                    None => offset + len,
                };
                report(offset);
            }
            self.finish_upload(repo, digest, location.clone(), Body::Empty, 0, None)
        })?;
        Ok(PushOutcome::Uploaded)
    }

    /// After a failed chunk: asks the registry how much of the upload it has (GET on the
    /// upload URL) so the next chunk starts there.
    fn resume_offset(&self, repo: &str, location: &mut url::Url, cause: Error, failures: u32) -> Result<u64> {
        if failures >= self.options().retry.max_attempts {
            return Err(cause);
        }
        warn!(registry = %self.registry(), error = %cause, "chunk upload failed, asking the registry where to resume");
        std::thread::sleep(self.options().retry.backoff(failures));
        let req = Req::new("GET", location.to_string(), vec![auth::push_scope(repo)]);
        let resp = self.send(&req, Some(repo))?;
        if resp.status() != 204 && resp.status() != 200 {
            // The session is gone: the outer retry starts a new upload.
            return Err(cause);
        }
        if let Some(loc) = header(&resp, "location") {
            *location = self.absolute(&loc)?;
        }
        match header(&resp, "range").and_then(|r| upload_range_end(&r)) {
            // distribution says "0-0" both for nothing and for one byte: start afresh.
            Some(1) | None => Err(cause),
            Some(end) => Ok(end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes */200"), None);
        assert_eq!(upload_range_end("0-99"), Some(100));
        assert_eq!(upload_range_end("bytes=0-0"), Some(1));
        assert_eq!(upload_range_end("junk"), None);
    }

    #[test]
    fn blob_refs_from_descriptors() {
        let mut d = Descriptor {
            media_type: "x".into(),
            digest: Digest::of(b"a").to_string(),
            size: 1,
            urls: None,
            annotations: None,
            platform: None,
        };
        assert_eq!(BlobRef::try_from(&d).unwrap().size, Some(1));
        d.size = -1;
        assert!(BlobRef::try_from(&d).is_err());
        d.digest = "md5:00".into();
        assert!(BlobRef::try_from(&d).is_err());
    }
}
