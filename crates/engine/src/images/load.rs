//! `load`: reads archives written by `docker save` (1.10–24 and 25+ layouts),
//! `skopeo copy … docker-archive:` and `… oci-archive:` (OCI image layout).
//!
//! The archive is streamed once: every file goes into the ingest session as
//! it arrives, hashed on the way, because manifest.json usually comes last.
//! Only then are manifests read, digests checked, and missing layers
//! unpacked (in parallel) and committed.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::path::{Component, Path};

use berth_image::layer::decompressed;
use berth_image::spec::{self, media, ArchiveManifest, ImageConfig, Index, Manifest};
use berth_reference::Reference;
use berth_store::{meta, Digest, Ingest, TempBlob};

use super::unpack::{commit_image, layer_media_type, LayerSource};
use crate::error::IoContext;
use crate::events::EventType;
use crate::{time, Engine, Error, Result};

/// An image that a load brought in.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub id: Digest,
    /// Familiar names (`busybox:latest`); empty for an untagged image.
    pub tags: Vec<String>,
    /// Tags that pointed at another image before, with that image's ID.
    pub moved: Vec<(String, Digest)>,
}

impl Loaded {
    /// What `docker load` says about the image, line by line: a tag taken from another image, then
    /// "Loaded image: TAG" for each tag, or "Loaded image ID: ID" for an untagged image.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .moved
            .iter()
            .map(|(tag, old)| {
                format!("The image {tag} already exists, renaming the old one with ID {old} to empty string")
            })
            .collect();
        if self.tags.is_empty() {
            lines.push(format!("Loaded image ID: {}", self.id));
        }
        lines.extend(self.tags.iter().map(|tag| format!("Loaded image: {tag}")));
        lines
    }
}

/// The files of an archive, by normalised path.
struct Files {
    regular: HashMap<String, TempBlob>,
    links: HashMap<String, String>,
}

impl Files {
    fn get(&self, path: &str) -> Result<&TempBlob> {
        let mut path = normalise(path);
        for _ in 0..16 {
            if let Some(blob) = self.regular.get(&path) {
                return Ok(blob);
            }
            match self.links.get(&path) {
                Some(target) => path = target.clone(),
                None => break,
            }
        }
        Err(Error::InvalidArchive(format!(
            "the archive has no file {path:?}, which its manifest names"
        )))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let blob = self.get(path)?;
        std::fs::read(&blob.path).at(&blob.path)
    }

    /// A blob named `blobs/<alg>/<hex>`: its content must have that digest.
    fn blob(&self, digest: &str) -> Result<&TempBlob> {
        let parsed: Digest = digest
            .parse()
            .map_err(|_| Error::InvalidArchive(format!("unsupported or malformed digest {digest:?}")))?;
        let blob = self.get(&format!("blobs/sha256/{}", parsed.hex()))?;
        check_digest(blob, &parsed, digest)?;
        Ok(blob)
    }
}

fn check_digest(blob: &TempBlob, want: &Digest, name: &str) -> Result<()> {
    if blob.digest != *want {
        return Err(Error::InvalidArchive(format!(
            "{name}: content has digest {}, not the {want} its name promises; the archive is corrupt",
            blob.digest
        )));
    }
    Ok(())
}

/// `a/./b/`, `./a/b` → `a/b`; `..` is kept so it never matches a stored name.
fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Resolves a symlink target in the archive relative to the link's directory.
fn link_target(link: &str, target: &Path) -> String {
    let base = Path::new(link).parent().unwrap_or(Path::new(""));
    let joined = if target.is_absolute() {
        target.to_path_buf()
    } else {
        base.join(target)
    };
    let mut out: Vec<String> = Vec::new();
    for c in joined.components() {
        match c {
            Component::Normal(p) => out.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.join("/")
}

struct ImagePlan {
    config: TempBlob,
    config_media_type: &'static str,
    layers: Vec<LayerSource>,
    tags: Vec<Reference>,
}

impl Engine {
    /// `load`: every image of the archive on `input` (plain, gzip or zstd).
    pub fn load(&self, input: Box<dyn Read>) -> Result<Vec<Loaded>> {
        let loaded = self.load_images(input)?;
        for l in &loaded {
            let id = l.id.to_string();
            let name = l.tags.first().cloned().unwrap_or_else(|| id.clone());
            self.emit(EventType::Image, "load", &id, [("name".to_string(), name)].into());
        }
        Ok(loaded)
    }

    fn load_images(&self, input: Box<dyn Read>) -> Result<Vec<Loaded>> {
        let ingest = self.store.ingest()?;
        let files = read_archive(&ingest, input)?;
        let plans = if files.regular.contains_key("manifest.json") || files.links.contains_key("manifest.json") {
            docker_plans(&files)?
        } else if files.regular.contains_key("index.json") {
            oci_plans(&files)?
        } else if files.regular.contains_key("repositories") {
            return Err(Error::InvalidArchive(
                "this is a pre-1.10 docker archive (no manifest.json); load it into a newer docker and save it again"
                    .into(),
            ));
        } else {
            return Err(Error::InvalidArchive(
                "no manifest.json or index.json in the archive; is it from `docker save` or an OCI archive?".into(),
            ));
        };
        let mut loaded = Vec::new();
        for plan in plans {
            loaded.push(self.commit_plan(&ingest, plan)?);
        }
        Ok(loaded)
    }

    fn commit_plan(&self, ingest: &Ingest<'_>, plan: ImagePlan) -> Result<Loaded> {
        let config: ImageConfig = parse_json(&plan.config, "image config")?;
        let id = plan.config.digest.clone();
        ingest.stage_temp(&plan.config, plan.config_media_type)?;
        let now = time::now();
        commit_image(&self.store, ingest, &plan.layers, Vec::new(), |tx, prepared| {
            meta::insert_image(
                tx,
                &meta::Image {
                    id: id.clone(),
                    size: prepared.size,
                    created: config.created.clone(),
                    parent: None,
                    manifest_digest: None,
                    added_at: now.clone(),
                    layers: prepared.chain_ids.clone(),
                    tags: Vec::new(),
                    repo_digests: Vec::new(),
                },
            )?;
            let mut loaded = Loaded {
                id: id.clone(),
                tags: Vec::new(),
                moved: Vec::new(),
            };
            for tag in &plan.tags {
                if let Some(old) = meta::set_tag(tx, &tag.to_string(), &id, &now)? {
                    loaded.moved.push((tag.familiar_string(), old));
                }
                loaded.tags.push(tag.familiar_string());
            }
            Ok(loaded)
        })
    }
}

/// Streams the archive into the ingest session.
fn read_archive(ingest: &Ingest<'_>, input: Box<dyn Read>) -> Result<Files> {
    let input = decompressed(BufReader::with_capacity(1 << 20, input)).reading("the archive")?;
    let mut archive = tar::Archive::new(input);
    let mut files = Files {
        regular: HashMap::new(),
        links: HashMap::new(),
    };
    let corrupt = |e: io::Error| Error::InvalidArchive(format!("the archive is truncated or corrupt: {e}"));
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let blob = ingest.write_temp(&mut entry).map_err(|e| match e {
                    berth_store::Error::Io { source, .. } if source.kind() != io::ErrorKind::StorageFull => {
                        corrupt(source)
                    }
                    other => other.into(),
                })?;
                files.regular.insert(path, blob);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let Some(target) = entry.link_name().map_err(corrupt)? else {
                    continue;
                };
                let target = if entry.header().entry_type() == tar::EntryType::Link {
                    normalise(&target.to_string_lossy())
                } else {
                    link_target(&path, &target)
                };
                files.links.insert(path, target);
            }
            _ => {}
        }
    }
    if files.regular.is_empty() {
        return Err(Error::InvalidArchive("the archive is empty".into()));
    }
    Ok(files)
}

fn parse_json<T: serde::de::DeserializeOwned>(blob: &TempBlob, what: &str) -> Result<T> {
    let bytes = std::fs::read(&blob.path).at(&blob.path)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::InvalidArchive(format!("{what} is not valid: {e}")))
}

fn diff_ids(config: &ImageConfig) -> Result<Vec<Digest>> {
    config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| {
            d.parse()
                .map_err(|_| Error::InvalidArchive(format!("image config has a malformed diff ID {d:?}")))
        })
        .collect()
}

/// If `path` names its content (`blobs/sha256/<hex>`, `<hex>.json`), the content must match.
fn check_named(blob: &TempBlob, path: &str) -> Result<()> {
    let norm = normalise(path);
    let hex = norm
        .strip_prefix("blobs/sha256/")
        .or_else(|| norm.strip_suffix(".json"))
        .filter(|h| berth_reference::is_full_hex_id(h));
    if let Some(hex) = hex {
        if let Ok(want) = Digest::from_hex(hex) {
            check_digest(blob, &want, path)?;
        }
    }
    Ok(())
}

fn docker_plans(files: &Files) -> Result<Vec<ImagePlan>> {
    let manifest: Vec<ArchiveManifest> = serde_json::from_slice(&files.read("manifest.json")?)
        .map_err(|e| Error::InvalidArchive(format!("manifest.json is not valid: {e}")))?;
    if manifest.is_empty() {
        return Err(Error::InvalidArchive("manifest.json lists no images".into()));
    }
    let mut plans = Vec::new();
    for entry in manifest {
        let config_blob = files.get(&entry.config)?.clone();
        check_named(&config_blob, &entry.config)?;
        let config: ImageConfig = parse_json(&config_blob, &format!("image config {}", entry.config))?;
        let diff_ids = diff_ids(&config)?;
        if diff_ids.len() != entry.layers.len() {
            return Err(Error::InvalidArchive(format!(
                "manifest.json lists {} layers for {}, but its config has {} diff IDs",
                entry.layers.len(),
                entry.config,
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(diff_ids) {
            let blob = files.get(path)?.clone();
            check_named(&blob, path)?;
            let media_type = layer_media_type(&blob)?.to_string();
            layers.push(LayerSource {
                blob,
                media_type,
                diff_id,
            });
        }
        let tags = entry
            .repo_tags
            .iter()
            .map(|t| {
                Reference::parse_docker(t).map_err(|e| Error::InvalidArchive(format!("manifest.json tag {t:?}: {e}")))
            })
            .collect::<Result<_>>()?;
        plans.push(ImagePlan {
            config: config_blob,
            config_media_type: media::DOCKER_CONFIG,
            layers,
            tags,
        });
    }
    Ok(plans)
}

fn oci_plans(files: &Files) -> Result<Vec<ImagePlan>> {
    let index: Index = serde_json::from_slice(&files.read("index.json")?)
        .map_err(|e| Error::InvalidArchive(format!("index.json is not valid: {e}")))?;
    let mut plans: Vec<ImagePlan> = Vec::new();
    for descriptor in &index.manifests {
        let Some(manifest_descriptor) = pick_manifest(files, descriptor, 0)? else {
            continue;
        };
        let manifest_blob = files.blob(&manifest_descriptor.digest)?;
        let manifest: Manifest = parse_json(manifest_blob, "image manifest")?;
        let config_blob = files.blob(&manifest.config.digest)?.clone();
        let config: ImageConfig = parse_json(&config_blob, "image config")?;
        let diff_ids = diff_ids(&config)?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(Error::InvalidArchive(format!(
                "manifest {} has {} layers, but its config has {} diff IDs",
                manifest_descriptor.digest,
                manifest.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in manifest.layers.iter().zip(diff_ids) {
            let blob = files.blob(&layer.digest)?.clone();
            layers.push(LayerSource {
                blob,
                media_type: layer.media_type.clone(),
                diff_id,
            });
        }
        let annotations = descriptor.annotations.clone().unwrap_or_default();
        let name = annotations.get(spec::ANNOTATION_IMAGE_NAME).or_else(|| {
            annotations
                .get(spec::ANNOTATION_REF_NAME)
                .filter(|n| n.contains(['/', ':']))
        });
        let tags: Vec<Reference> = name.and_then(|n| Reference::parse_docker(n).ok()).into_iter().collect();
        // Docker writes one index entry per tag of the same image: merge them.
        if let Some(plan) = plans.iter_mut().find(|p| p.config.digest == config_blob.digest) {
            plan.tags.extend(tags);
            continue;
        }
        plans.push(ImagePlan {
            config: config_blob,
            config_media_type: media::OCI_CONFIG,
            layers,
            tags,
        });
    }
    if plans.is_empty() {
        return Err(Error::InvalidArchive(format!(
            "index.json has no image for {}/{}",
            spec::host_platform().os,
            spec::host_platform().architecture
        )));
    }
    Ok(plans)
}

/// Follows nested indexes to the manifest for this machine's platform.
fn pick_manifest(files: &Files, descriptor: &spec::Descriptor, depth: usize) -> Result<Option<spec::Descriptor>> {
    let is_index = matches!(
        descriptor.media_type.as_str(),
        media::OCI_INDEX | media::DOCKER_MANIFEST_LIST
    );
    if !is_index {
        return Ok(Some(descriptor.clone()));
    }
    if depth > 4 {
        return Err(Error::InvalidArchive("indexes nested too deeply".into()));
    }
    let index: Index = parse_json(files.blob(&descriptor.digest)?, "image index")?;
    let host = spec::host_platform();
    for child in &index.manifests {
        let matches = child
            .platform
            .as_ref()
            .is_none_or(|p| p.os == host.os && p.architecture == host.architecture);
        if matches {
            if let Some(found) = pick_manifest(files, child, depth + 1)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}
