//! `pull`: resolves a reference on its registry, picks the platform's manifest, downloads the config and
//! the missing layers in parallel, unpacks each layer as soon as it has arrived, and records the image,
//! its tag and its repo digest in one commit.
//!
//! Downloads go to `$BERTH_ROOT/downloads/<hex>` (one flocked file per blob), outside any ingest session,
//! so a pull that is killed part-way leaves finished and partial blobs for the next pull to reuse or
//! resume. Under the blob's lock, a pull links the verified download into its own ingest session, and
//! unpacks and commits from that link, so pulls of the same blob side by side never lose a file to each
//! other's commit; after its commit a pull removes the downloads the store now holds. Nothing enters
//! the store unless its digest checked out.

use std::collections::HashMap;
use std::path::PathBuf;

use berth_image::layer::chain_ids;
use berth_image::spec::{media, Descriptor, ImageConfig, Manifest, Platform};
use berth_reference::Reference;
use berth_registry::{BlobRef, Client, ManifestKind, MANIFEST_ACCEPT};
use berth_store::{meta, Digest, FileLock, Ingest, TempBlob};

use super::unpack::{commit_image, unpack_one, LayerSource};
use crate::error::IoContext;
use crate::events::EventType;
use crate::registry::{Credentials, LayerState, Progress, Status};
use crate::{time, Engine, Error, Result};

/// Parallel layer downloads, as Docker's default `max-concurrent-downloads`.
const PARALLEL_DOWNLOADS: usize = 3;

/// What `pull` asks for.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]`; the host's platform when unset.
    pub platform: Option<String>,
    /// `--all-tags`: every tag of the repository.
    pub all_tags: bool,
    /// Credentials for the registry (the API's `X-Registry-Auth`); those of Docker's config.json
    /// when None.
    pub auth: Option<Credentials>,
}

/// One image a pull brought (or found up to date).
#[derive(Clone, Debug, PartialEq)]
pub struct Pulled {
    /// The reference as pulled, in its full form (`docker.io/library/busybox:latest`).
    pub reference: String,
    /// Its repository, in full (`docker.io/library/busybox`).
    pub repository: String,
    pub id: Digest,
    /// The digest the tag resolved to (an index's, for a multi-platform image).
    pub digest: Digest,
    /// False when the image was already there ("Image is up to date").
    pub downloaded: bool,
}

/// The short ID Docker shows for a blob named by a descriptor ("sha256:" and all but 12 hex digits dropped).
pub(crate) fn short_id(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..12.min(hex.len())]
}

fn bad_manifest(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("the registry sent an invalid {what}: {e}"))
}

impl Engine {
    /// `pull NAME[:TAG|@DIGEST]` (or every tag with `all_tags`), ending with Docker's summary lines
    /// (`Digest:`, `Status:`).
    pub fn pull(&self, name: &str, options: &PullOptions, progress: &dyn Progress) -> Result<Vec<Pulled>> {
        let pulled = self.pull_images(name, options, progress)?;
        let Some(last) = pulled.last() else {
            return Err(Error::NotFound(format!("{name}: the repository has no tags")));
        };
        let shown = if options.all_tags {
            Reference::parse(name)?.familiar_name()
        } else {
            progress.status(&Status::Digest(last.digest.clone()));
            super::familiar(&last.reference)
        };
        progress.status(&Status::Pulled {
            reference: shown,
            downloaded: pulled.iter().any(|p| p.downloaded),
        });
        for p in &pulled {
            let reference = super::familiar(&p.reference);
            let repo = reference.rsplit_once(['@', ':']).map_or(reference.as_str(), |(r, _)| r);
            let attributes = [("name".to_string(), repo.to_string())].into();
            self.emit(EventType::Image, "pull", &reference, attributes);
        }
        Ok(pulled)
    }

    fn pull_images(&self, name: &str, options: &PullOptions, progress: &dyn Progress) -> Result<Vec<Pulled>> {
        let given = Reference::parse(name)?;
        let platform = match &options.platform {
            Some(text) => berth_registry::platform::parse_platform(text)?,
            None => berth_image::spec::host_platform(),
        };
        let client = self.registry_client_as(given.domain(), options.auth.as_ref())?;
        if options.all_tags {
            if !given.is_name_only() {
                return Err(Error::InvalidArgument(
                    "tag can't be used with --all-tags/-a: give only the repository name".into(),
                ));
            }
            let tags = client.tags(given.path())?;
            let mut pulled = Vec::new();
            for tag in tags {
                let reference = given.with_tag(&tag)?;
                progress.status(&Status::PullingFrom {
                    tag: tag.clone(),
                    repository: given.path().to_string(),
                });
                pulled.push(self.pull_one(&client, &reference, &platform, progress)?);
            }
            return Ok(pulled);
        }
        if given.is_name_only() {
            progress.status(&Status::UsingDefaultTag);
        }
        let reference = Reference::parse_docker(name)?;
        let shown = reference.tag().or(reference.digest()).unwrap_or("latest");
        progress.status(&Status::PullingFrom {
            tag: shown.to_string(),
            repository: reference.path().to_string(),
        });
        Ok(vec![self.pull_one(&client, &reference, &platform, progress)?])
    }

    fn pull_one(
        &self,
        client: &Client,
        reference: &Reference,
        platform: &Platform,
        progress: &dyn Progress,
    ) -> Result<Pulled> {
        let repo = reference.path();
        let wanted = reference.digest().or(reference.tag()).unwrap_or("latest");
        let top = client.get_manifest(repo, wanted, MANIFEST_ACCEPT)?;
        let image_manifest = match berth_registry::manifest_kind(&top.media_type) {
            Some(ManifestKind::Index) => {
                let chosen = berth_registry::select_manifest_from_bytes(&top.bytes, platform)?;
                let m = client.get_manifest(repo, &chosen.digest, MANIFEST_ACCEPT)?;
                if berth_registry::manifest_kind(&m.media_type) != Some(ManifestKind::Image) {
                    return Err(bad_manifest(
                        "index",
                        format!("its entry {} is not an image manifest", chosen.digest),
                    ));
                }
                m
            }
            Some(ManifestKind::Image) => top.clone(),
            None => {
                return Err(Error::InvalidArgument(format!(
                    "unsupported manifest media type {:?} for {reference}",
                    top.media_type
                )))
            }
        };
        let manifest: Manifest =
            serde_json::from_slice(&image_manifest.bytes).map_err(|e| bad_manifest("image manifest", e))?;
        let config_digest: Digest = manifest
            .config
            .digest
            .parse()
            .map_err(|e| bad_manifest("image manifest", e))?;

        let downloads = self.layout().downloads();
        std::fs::create_dir_all(&downloads).at(&downloads)?;
        let ingest = self.store().ingest()?;
        let config_blob = fetch(client, repo, &manifest.config, &downloads, &ingest, &mut |_| {})?;
        let config_bytes = std::fs::read(&config_blob.path).at(&config_blob.path)?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| bad_manifest("image config", e))?;
        let diff_ids: Vec<Digest> = config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| d.parse().map_err(|e| bad_manifest("image config", e)))
            .collect::<Result<_>>()?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(bad_manifest(
                "image",
                format!(
                    "its manifest lists {} layers but its config {} diff IDs",
                    manifest.layers.len(),
                    diff_ids.len()
                ),
            ));
        }
        let chains = chain_ids(&diff_ids);
        let complete = |chain: &Digest| -> Result<bool> {
            Ok(meta::get_layer(&*self.store().db()?, chain)?.is_some() && self.store().layer_path(chain).exists())
        };

        // Already here: only the names are recorded again.
        let present = meta::get_image(&*self.store().db()?, &config_digest)?.is_some();
        let all_layers = chains
            .iter()
            .map(complete)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .all(|c| c);
        let mut sources = Vec::new();
        let mut unpacked = Vec::new();
        if !(present && all_layers) {
            (sources, unpacked) =
                self.download_layers(client, repo, &manifest.layers, &diff_ids, &chains, &ingest, progress)?;
        }
        ingest.stage_temp(&config_blob, &manifest.config.media_type)?;
        let manifest_blob = ingest.write_temp(&mut &image_manifest.bytes[..])?;
        ingest.stage_temp(&manifest_blob, &image_manifest.media_type)?;
        let name = reference.name();
        let now = time::now();
        let repo_digest = format!("{name}@{}", top.digest);
        let record = |tx: &berth_store::rusqlite::Transaction, size: u64| -> Result<()> {
            meta::insert_image(
                tx,
                &meta::Image {
                    id: config_digest.clone(),
                    size,
                    created: config.created.clone(),
                    parent: None,
                    manifest_digest: Some(image_manifest.digest.clone()),
                    added_at: now.clone(),
                    layers: chains.clone(),
                    tags: Vec::new(),
                    repo_digests: Vec::new(),
                },
            )?;
            if reference.digest().is_none() {
                meta::set_tag(tx, &reference.to_string(), &config_digest, &now)?;
            }
            meta::add_repo_digest(tx, &repo_digest, &config_digest)?;
            Ok(())
        };
        if present && all_layers {
            self.store().commit(&ingest, &chains, |tx| {
                let size = meta::get_image(tx, &config_digest)?.map_or(0, |i| i.size);
                record(tx, size)
            })?;
        } else {
            commit_image(self.store(), &ingest, &sources, unpacked, |tx, prepared| {
                record(tx, prepared.size)
            })?;
        }
        let fetched = sources.iter().map(|s| &s.blob.digest).chain([&config_digest]);
        forget_downloads(self, &downloads, fetched);
        Ok(Pulled {
            reference: reference.to_string(),
            repository: reference.name(),
            id: config_digest,
            digest: top.digest,
            downloaded: !(present && all_layers),
        })
    }

    /// Downloads the layers the store lacks (three at a time), unpacking each as it arrives; returns every
    /// layer as a source for the commit, and the rows of those it unpacked.
    #[allow(clippy::too_many_arguments)]
    fn download_layers(
        &self,
        client: &Client,
        repo: &str,
        layers: &[Descriptor],
        diff_ids: &[Digest],
        chains: &[Digest],
        ingest: &Ingest<'_>,
        progress: &dyn Progress,
    ) -> Result<(Vec<LayerSource>, Vec<meta::Layer>)> {
        let downloads = self.layout().downloads();
        let mut todo = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            let digest: Digest = layer.digest.parse().map_err(|e| bad_manifest("image manifest", e))?;
            let have = meta::get_layer(&*self.store().db()?, &chains[i])?.is_some()
                && self.store().layer_path(&chains[i]).exists();
            if have {
                progress.layer(digest.short(), LayerState::AlreadyExists);
            } else {
                progress.layer(digest.short(), LayerState::Waiting);
                todo.push(i);
            }
        }
        let downloaded = crate::parallel::map(&todo, PARALLEL_DOWNLOADS, |&i| {
            let layer = &layers[i];
            let id = short_id(&layer.digest);
            let total = layer.size.max(0) as u64;
            let blob = fetch(client, repo, layer, &downloads, ingest, &mut |done| {
                progress.layer(id, LayerState::Downloading { done, total })
            })?;
            progress.layer(id, LayerState::Verifying);
            progress.layer(id, LayerState::DownloadComplete);
            progress.layer(id, LayerState::Extracting);
            let source = LayerSource {
                blob: blob.clone(),
                media_type: layer_media_type(layer),
                diff_id: diff_ids[i].clone(),
            };
            let parent = (i > 0).then(|| chains[i - 1].clone());
            let row = unpack_one(ingest, &source, &chains[i], parent)?;
            progress.layer(id, LayerState::PullComplete);
            Ok((blob, row))
        })?;
        let mut fetched: HashMap<usize, TempBlob> = HashMap::new();
        let mut rows = Vec::new();
        for (&i, (blob, row)) in todo.iter().zip(downloaded) {
            fetched.insert(i, blob);
            rows.push(row);
        }
        let mut sources = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            let blob = match fetched.remove(&i) {
                Some(b) => b,
                // Already in the store: the commit only checks it is still there.
                None => existing_blob(self, layer)?,
            };
            sources.push(LayerSource {
                blob,
                media_type: layer_media_type(layer),
                diff_id: diff_ids[i].clone(),
            });
        }
        Ok((sources, rows))
    }
}

impl Engine {
    /// Removes what interrupted pulls left in `downloads/` (nothing that a running pull holds), lock files
    /// included (removed while held, which `FileLock` allows for); returns the bytes freed.
    pub fn prune_downloads(&self) -> Result<u64> {
        let dir = self.layout().downloads();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mut freed = 0;
        for entry in entries.flatten() {
            let Some(hex) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".lock"))
                .map(String::from)
            else {
                continue;
            };
            // A pull downloading this blob holds the lock: leave it be.
            let Ok(Some(_lock)) = FileLock::try_exclusive(&entry.path()) else {
                continue;
            };
            let blob = dir.join(&hex);
            freed += std::fs::metadata(&blob).map_or(0, |m| m.len());
            let _ = std::fs::remove_file(&blob);
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(freed)
    }

    /// Bytes in `downloads/`: blobs interrupted pulls left, and those running pulls are fetching.
    pub fn downloads_usage(&self) -> u64 {
        downloaded_files(&self.layout().downloads()).map(|(_, size)| size).sum()
    }
}

/// (name, size) of each download in `dir`, lock files aside.
fn downloaded_files(dir: &std::path::Path) -> impl Iterator<Item = (String, u64)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let meta = entry.metadata().ok()?;
            (!name.ends_with(".lock") && meta.is_file()).then_some((name, meta.len()))
        })
}

/// A layer's media type as the store records it (foreign layers are kept as plain gzip layers).
fn layer_media_type(layer: &Descriptor) -> String {
    match layer.media_type.as_str() {
        media::DOCKER_FOREIGN_LAYER => media::DOCKER_LAYER_GZIP.to_string(),
        other => other.to_string(),
    }
}

/// A layer blob that is already in the store, as a source for `commit_image` (which skips its unpack).
fn existing_blob(engine: &Engine, layer: &Descriptor) -> Result<TempBlob> {
    let digest: Digest = layer.digest.parse().map_err(|e| bad_manifest("image manifest", e))?;
    Ok(TempBlob {
        path: engine.store().blob_path(&digest),
        digest,
        size: layer.size.max(0) as u64,
    })
}

/// Downloads one blob into `downloads/<hex>` (resuming what is there), under a lock so that two pulls
/// never write the same file, and returns the pull's own link to it in `ingest`: once the lock is let
/// go, another pull's commit may move the download into the store.
fn fetch(
    client: &Client,
    repo: &str,
    descriptor: &Descriptor,
    downloads: &std::path::Path,
    ingest: &Ingest<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<TempBlob> {
    let blob = BlobRef::try_from(descriptor)?;
    let path: PathBuf = downloads.join(blob.digest.hex());
    let _lock = FileLock::exclusive(&downloads.join(format!("{}.lock", blob.digest.hex())))?;
    // Committed by another pull while this one waited for the lock.
    if let Some(stored) = ingest.blob_path(&blob.digest) {
        let size = std::fs::metadata(&stored).at(&stored)?.len();
        let stored = TempBlob {
            path: stored,
            digest: blob.digest.clone(),
            size,
        };
        return Ok(ingest.link_temp(&stored)?);
    }
    let urls = descriptor.urls.as_deref().unwrap_or_default();
    let downloaded = match client.fetch_blob(repo, &blob, &path, progress) {
        Ok(fetched) => TempBlob {
            path,
            digest: fetched.digest,
            size: fetched.size,
        },
        // A foreign (non-distributable) layer the registry does not have: from its URLs, as Docker does.
        Err(e) if e.kind() == crate::ErrorKind::NotFound && !urls.is_empty() => {
            fetch_foreign(urls, &blob, &path, progress)?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(ingest.link_temp(&downloaded)?)
}

/// After a commit: removes the downloads of blobs now in the store (another link to each) and their lock
/// files, skipping any a running pull holds.
fn forget_downloads<'a>(engine: &Engine, downloads: &std::path::Path, digests: impl Iterator<Item = &'a Digest>) {
    for digest in digests {
        if !engine.store().has_blob(digest) {
            continue;
        }
        let lock_path = downloads.join(format!("{}.lock", digest.hex()));
        if let Ok(Some(_lock)) = FileLock::try_exclusive(&lock_path) {
            let _ = std::fs::remove_file(downloads.join(digest.hex()));
            let _ = std::fs::remove_file(&lock_path);
        }
    }
}

/// Downloads a foreign layer from the first of its URLs that serves the right bytes.
fn fetch_foreign(
    urls: &[String],
    blob: &BlobRef,
    path: &std::path::Path,
    progress: &mut dyn FnMut(u64),
) -> Result<TempBlob> {
    let mut last = String::from("no usable URL");
    for url in urls
        .iter()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
    {
        match download_checked(url, blob, path, progress) {
            Ok(size) => {
                return Ok(TempBlob {
                    path: path.to_path_buf(),
                    digest: blob.digest.clone(),
                    size,
                })
            }
            Err(e) => last = format!("{url}: {e}"),
        }
    }
    Err(Error::InvalidArgument(format!(
        "foreign layer {} is not in the registry and could not be fetched from its URLs ({last})",
        blob.digest
    )))
}

fn download_checked(
    url: &str,
    blob: &BlobRef,
    path: &std::path::Path,
    progress: &mut dyn FnMut(u64),
) -> std::result::Result<u64, String> {
    use std::io::{Read, Write};
    let response = ureq::get(url)
        .timeout(std::time::Duration::from_secs(300))
        .call()
        .map_err(|e| e.to_string())?;
    let mut reader = response.into_reader();
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut writer = berth_store::HashingWriter::new(std::io::BufWriter::new(file));
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        writer.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        done += n as u64;
        progress(done);
    }
    let (buffered, digest, size) = writer.finish();
    buffered.into_inner().map_err(|e| e.to_string())?;
    if digest != blob.digest || blob.size.is_some_and(|s| s != size) {
        let _ = std::fs::remove_file(path);
        return Err(format!(
            "content has digest {digest} ({size} bytes), not {}",
            blob.digest
        ));
    }
    Ok(size)
}
