//! `save`: one archive that Docker and OCI tools both read, as Docker 25+
//! writes it: blobs/sha256/* (configs, uncompressed layers, OCI manifests),
//! index.json and oci-layout for OCI tools, manifest.json and repositories
//! for Docker's loader and skopeo's docker-archive transport.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};

use berth_image::layer::decompressed;
use berth_image::spec::{self, media, ArchiveManifest, Descriptor, Index, Manifest};
use berth_reference::Reference;
use berth_store::{meta, Digest};
use serde_json::json;

use super::Image;
use crate::error::IoContext;
use crate::events::EventType;
use crate::{Engine, Error, Result};

/// Writes a ustar stream; file contents go through `io::copy`, which the
/// standard library turns into copy_file_range/splice when `W` is a file,
/// pipe or socket.
struct TarOut<W: Write> {
    out: W,
    mtime: u64,
}

impl<W: Write> TarOut<W> {
    fn header(&mut self, path: &str, size: u64, kind: tar::EntryType) -> io::Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_path(path)?;
        header.set_size(size);
        header.set_entry_type(kind);
        header.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_mtime(self.mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        self.out.write_all(header.as_bytes())
    }

    fn dir(&mut self, path: &str) -> io::Result<()> {
        self.header(path, 0, tar::EntryType::Directory)
    }

    fn bytes(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.header(path, bytes.len() as u64, tar::EntryType::Regular)?;
        self.out.write_all(bytes)?;
        self.pad(bytes.len() as u64)
    }

    /// A file whose content must be exactly `size` bytes.
    fn stream(&mut self, path: &str, size: u64, content: &mut dyn Read) -> io::Result<()> {
        self.header(path, size, tar::EntryType::Regular)?;
        let copied = io::copy(&mut content.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path}: expected {size} bytes, the store had {copied}"),
            ));
        }
        self.pad(size)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Where a tag of a saved image came from.
struct Selected {
    image: Image,
    tags: Vec<Reference>,
}

impl Engine {
    /// Resolves `save` arguments: a name without a tag takes every tag of
    /// that repository, as `docker save busybox` does; an ID takes no tag.
    fn select_for_save(&self, names: &[String]) -> Result<Vec<Selected>> {
        let mut selected: Vec<Selected> = Vec::new();
        for name in names {
            let image = self.image(name)?;
            let mut tags = Vec::new();
            if let Ok(reference) = Reference::parse(name) {
                if reference.digest().is_none() && !super::is_reference_to_id(name, image.id()) {
                    match reference.tag() {
                        Some(_) => tags.push(Reference::parse_docker(name)?),
                        None => {
                            let repo = reference.name();
                            for image in self.images()? {
                                for tag in &image.record.tags {
                                    let r = Reference::parse(tag)?;
                                    if r.name() == repo {
                                        push_selected(&mut selected, image.clone(), vec![r]);
                                    }
                                }
                            }
                            continue;
                        }
                    }
                }
            }
            push_selected(&mut selected, image, tags);
        }
        Ok(selected)
    }

    /// `save -o PATH IMAGE…`: the archive appears at `path` complete, or not at all; a save that fails or
    /// is killed leaves no file behind (an unnamed file until it is complete).
    pub fn save_to_path(&self, names: &[String], path: &std::path::Path) -> Result<()> {
        let mut file = crate::whole_file::WholeFile::create(path)?;
        self.save(names, file.file())?;
        file.finish()
    }

    /// `save IMAGE…`: writes the archive to `out`, which it returns.
    pub fn save<W: Write>(&self, names: &[String], out: W) -> Result<W> {
        let out = self.save_images(names, out)?;
        for name in names {
            self.emit(
                EventType::Image,
                "save",
                name,
                [("name".to_string(), name.clone())].into(),
            );
        }
        Ok(out)
    }

    fn save_images<W: Write>(&self, names: &[String], out: W) -> Result<W> {
        let selected = self.select_for_save(names)?;
        let mtime = selected
            .iter()
            .filter_map(|s| s.image.config.created.as_deref())
            .filter_map(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp().max(0) as u64)
            .max()
            .unwrap_or(0);
        let mut tar = TarOut { out, mtime };
        let wrote = |e: io::Error| Error::Stream {
            context: "writing the archive".into(),
            source: e,
        };
        tar.dir("blobs/").map_err(wrote)?;
        tar.dir("blobs/sha256/").map_err(wrote)?;
        let mut written: HashSet<Digest> = HashSet::new();
        let mut index = Vec::new();
        let mut docker_manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for Selected { image, tags } in &selected {
            let config_bytes = self.store.read_blob(image.id())?;
            if written.insert(image.id().clone()) {
                tar.bytes(&blob_path(image.id()), &config_bytes).map_err(wrote)?;
            }
            let mut layer_descriptors = Vec::new();
            let mut layer_paths = Vec::new();
            for chain in &image.record.layers {
                let layer = meta::get_layer(&*self.store.db()?, chain)?
                    .ok_or_else(|| Error::InvalidArchive(format!("layer {chain} is missing from the store")))?;
                if written.insert(layer.diff_id.clone()) {
                    self.write_layer(&mut tar, &layer).map_err(|e| match e {
                        Error::Stream { source, .. } => wrote(source),
                        other => other,
                    })?;
                }
                layer_descriptors.push(Descriptor {
                    media_type: media::OCI_LAYER.into(),
                    digest: layer.diff_id.to_string(),
                    size: layer.diff_size as i64,
                    urls: None,
                    annotations: None,
                    platform: None,
                });
                layer_paths.push(blob_path(&layer.diff_id));
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(media::OCI_MANIFEST.into()),
                config: Descriptor {
                    media_type: media::OCI_CONFIG.into(),
                    digest: image.id().to_string(),
                    size: config_bytes.len() as i64,
                    urls: None,
                    annotations: None,
                    platform: None,
                },
                layers: layer_descriptors,
                annotations: None,
            };
            let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::InvalidArchive(e.to_string()))?;
            let manifest_digest = Digest::of(&manifest_bytes);
            if written.insert(manifest_digest.clone()) {
                tar.bytes(&blob_path(&manifest_digest), &manifest_bytes)
                    .map_err(wrote)?;
            }
            let descriptor = |annotations: Option<BTreeMap<String, String>>| Descriptor {
                media_type: media::OCI_MANIFEST.into(),
                digest: manifest_digest.to_string(),
                size: manifest_bytes.len() as i64,
                urls: None,
                annotations,
                platform: None,
            };
            if tags.is_empty() {
                index.push(descriptor(None));
            }
            for tag in tags {
                let tag_name = tag.tag().unwrap_or("latest").to_string();
                index.push(descriptor(Some(BTreeMap::from([
                    (spec::ANNOTATION_IMAGE_NAME.to_string(), tag.to_string()),
                    (spec::ANNOTATION_REF_NAME.to_string(), tag_name.clone()),
                ]))));
                if let Some(top) = layer_paths.last() {
                    let hex = top.trim_start_matches("blobs/sha256/").to_string();
                    repositories
                        .entry(tag.familiar_name())
                        .or_default()
                        .insert(tag_name, hex);
                }
            }
            docker_manifest.push(ArchiveManifest {
                config: blob_path(image.id()),
                repo_tags: tags.iter().map(|t| t.familiar_string()).collect(),
                layers: layer_paths,
                layer_sources: None,
            });
        }
        let index = Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests: index,
            annotations: None,
        };
        tar.bytes("index.json", &to_json(&index)).map_err(wrote)?;
        tar.bytes("manifest.json", &to_json(&docker_manifest)).map_err(wrote)?;
        tar.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(wrote)?;
        tar.bytes("repositories", &to_json(&json!(repositories)))
            .map_err(wrote)?;
        tar.finish().map_err(wrote)
    }

    /// A layer as an uncompressed tar blob named by its diff ID.
    fn write_layer<W: Write>(&self, tar: &mut TarOut<W>, layer: &meta::Layer) -> Result<()> {
        let path = self.store.blob_path(&layer.blob_digest);
        let file = self.store.open_blob(&layer.blob_digest)?;
        let name = blob_path(&layer.diff_id);
        let stream = |e: io::Error| Error::Stream {
            context: format!("writing layer {}", layer.diff_id),
            source: e,
        };
        if layer.blob_digest == layer.diff_id {
            let mut file = file;
            tar.stream(&name, layer.diff_size, &mut file).map_err(stream)?;
        } else {
            let mut plain = decompressed(io::BufReader::with_capacity(1 << 20, file)).at(&path)?;
            tar.stream(&name, layer.diff_size, &mut plain).map_err(stream)?;
        }
        Ok(())
    }
}

fn push_selected(selected: &mut Vec<Selected>, image: Image, tags: Vec<Reference>) {
    if let Some(existing) = selected.iter_mut().find(|s| s.image.id() == image.id()) {
        for tag in tags {
            if !existing.tags.contains(&tag) {
                existing.tags.push(tag);
            }
        }
    } else {
        selected.push(Selected { image, tags });
    }
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Compact JSON of our own types, which always serialise.
fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
