//! `push`: uploads an image's layers (skipping those the registry has, mounting those another of its
//! repositories has), its config, then its manifest under the tag, and records the repo digest.
//!
//! An image that came from a registry is pushed with the very manifest it came with, so its digest stays
//! the same everywhere; an image made here (import, commit, load) gets a Docker schema2 manifest, or an OCI
//! one when a layer is zstd-compressed (schema2 has no zstd). Its plain tar layers are gzipped first, as
//! Docker does, once: the layer keeps the gzip blob for later pushes.

use berth_image::spec::{media, Descriptor, Manifest};
use berth_reference::Reference;
use berth_registry::{BlobSource, Client, PushOutcome};
use berth_store::{meta, Digest};

use super::pull::short_id;
use crate::events::EventType;
use crate::registry::{Credentials, LayerState, Progress, Status};
use crate::{Engine, Error, Result};

/// Parallel layer uploads, as Docker's default `max-concurrent-uploads` (5) on a small machine.
const PARALLEL_UPLOADS: usize = 3;

/// One tag a push sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Pushed {
    /// The repository, in full (`docker.io/library/busybox`).
    pub repository: String,
    pub tag: String,
    pub digest: Digest,
    /// Bytes of the manifest.
    pub size: usize,
}

/// What `push` asks for.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// `--all-tags`: every local tag of the repository.
    pub all_tags: bool,
    /// Credentials for the registry (the API's `X-Registry-Auth`); those of Docker's config.json
    /// when None.
    pub auth: Option<Credentials>,
}

/// A blob to send: digest, size, media type.
struct Blob {
    digest: Digest,
    size: u64,
    media_type: String,
}

impl Engine {
    /// `push NAME[:TAG]` (or every local tag of the repository with `all_tags`).
    pub fn push(&self, name: &str, options: &PushOptions, progress: &dyn Progress) -> Result<Vec<Pushed>> {
        let pushed = self.push_images(name, options, progress)?;
        for p in &pushed {
            let attributes = [("name".to_string(), p.tag.clone())].into();
            self.emit(EventType::Image, "push", &p.tag, attributes);
        }
        Ok(pushed)
    }

    fn push_images(&self, name: &str, options: &PushOptions, progress: &dyn Progress) -> Result<Vec<Pushed>> {
        let given = Reference::parse(name)?;
        let tags: Vec<Reference> = if options.all_tags {
            if !given.is_name_only() {
                return Err(Error::InvalidArgument(
                    "tag can't be used with --all-tags/-a: give only the repository name".into(),
                ));
            }
            let prefix = format!("{}:", given.name());
            let mut tags: Vec<Reference> = meta::list_images(&*self.store().db()?)?
                .into_iter()
                .flat_map(|i| i.tags)
                .filter(|t| t.starts_with(&prefix))
                .filter_map(|t| Reference::parse(&t).ok())
                .collect();
            tags.sort_by_key(|t| t.to_string());
            if tags.is_empty() {
                return Err(Error::NoSuchImage(format!(
                    "An image does not exist locally with the tag: {}",
                    given.familiar_name()
                )));
            }
            tags
        } else {
            if given.is_name_only() {
                progress.status(&Status::UsingDefaultTag);
            }
            vec![Reference::parse_docker(name)?]
        };
        if let Some(d) = tags.iter().find_map(|t| t.digest()) {
            return Err(Error::InvalidArgument(format!(
                "cannot push a digest reference ({d}): push a tag"
            )));
        }
        progress.status(&Status::PushRefersTo {
            repository: given.name(),
        });
        let client = self.registry_client_as(given.domain(), options.auth.as_ref())?;
        let mut pushed = Vec::new();
        for reference in &tags {
            pushed.push(self.push_one(&client, reference, progress)?);
        }
        Ok(pushed)
    }

    fn push_one(&self, client: &Client, reference: &Reference, progress: &dyn Progress) -> Result<Pushed> {
        let repo = reference.path();
        let tag = reference.tag().unwrap_or("latest").to_string();
        let id = meta::resolve_tag(&*self.store().db()?, &reference.to_string())?.ok_or_else(|| {
            Error::NoSuchImage(format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_name()
            ))
        })?;
        let image = meta::get_image(&*self.store().db()?, &id)?.ok_or_else(|| Error::NoSuchImage(id.to_string()))?;
        let mut layers = self.layer_blobs(&image)?;
        // Reach the registry (and pass its auth) before any work that changes the store.
        client.blob_exists(repo, &image.id)?;
        if self.stored_manifest(&image, &layers).is_none() {
            self.compress_plain_layers(&image, progress)?;
            layers = self.layer_blobs(&image)?;
        }
        let (manifest_type, manifest_bytes) = self.manifest_for(&image, &layers)?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::InvalidArgument(format!("the manifest of image {id} does not parse: {e}")))?;

        // Other repositories of the same registry that hold this image: blobs can be mounted from there.
        let mount_from: Vec<String> = image
            .repo_digests
            .iter()
            .chain(&image.tags)
            .filter_map(|n| Reference::parse(n).ok())
            .filter(|r| r.domain() == reference.domain() && r.path() != repo)
            .map(|r| r.path().to_string())
            .collect();

        // Layers as the manifest lists them (foreign ones stay where they are, as Docker does).
        let to_send: Vec<&Descriptor> = manifest
            .layers
            .iter()
            .filter(|l| !berth_registry::is_foreign_layer(l))
            .collect();
        for layer in &to_send {
            progress.layer(short_id(&layer.digest), LayerState::Preparing);
        }
        crate::parallel::map(&to_send, PARALLEL_UPLOADS, |layer| {
            self.send_blob(client, repo, layer, &mount_from, progress)
        })?;
        let config_digest: Digest = manifest.config.digest.parse()?;
        let config_path = self.store().blob_path(&config_digest);
        client.push_blob(
            repo,
            &config_digest,
            manifest.config.size.max(0) as u64,
            BlobSource::File(&config_path),
            &mut |_| {},
        )?;
        let digest = client.put_manifest(repo, &tag, &manifest_type, &manifest_bytes)?;
        let repo_digest = format!("{}@{digest}", reference.name());
        self.store().write(|tx| {
            meta::add_repo_digest(tx, &repo_digest, &id)?;
            Ok::<_, Error>(())
        })?;
        progress.status(&Status::PushedTag {
            tag: tag.clone(),
            digest: digest.clone(),
            size: manifest_bytes.len(),
        });
        Ok(Pushed {
            repository: reference.name(),
            tag,
            digest,
            size: manifest_bytes.len(),
        })
    }

    fn send_blob(
        &self,
        client: &Client,
        repo: &str,
        layer: &Descriptor,
        mount_from: &[String],
        progress: &dyn Progress,
    ) -> Result<()> {
        let id = short_id(&layer.digest);
        let digest: Digest = layer.digest.parse()?;
        let size = layer.size.max(0) as u64;
        if client.blob_exists(repo, &digest)? {
            progress.layer(id, LayerState::LayerExists);
            return Ok(());
        }
        for from in mount_from {
            if client.mount_blob(repo, &digest, from)? {
                progress.layer(id, LayerState::Mounted { from: from.to_string() });
                return Ok(());
            }
        }
        let path = self.store().blob_path(&digest);
        if !path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "layer blob {digest} is not in the store: this image cannot be pushed"
            )));
        }
        let outcome = client.push_blob(repo, &digest, size, BlobSource::File(&path), &mut |done| {
            progress.layer(id, LayerState::Pushing { done, total: size })
        })?;
        progress.layer(
            id,
            match outcome {
                PushOutcome::AlreadyPresent => LayerState::LayerExists,
                _ => LayerState::Pushed,
            },
        );
        Ok(())
    }

    /// The blobs of an image's layers, bottom first.
    fn layer_blobs(&self, image: &meta::Image) -> Result<Vec<Blob>> {
        let mut layers = Vec::new();
        for chain in &image.layers {
            let layer = meta::get_layer(&*self.store().db()?, chain)?
                .ok_or_else(|| Error::InvalidArgument(format!("image {} lacks its layer {chain}", image.id)))?;
            layers.push(Blob {
                digest: layer.blob_digest,
                size: layer.blob_size,
                media_type: layer.blob_media_type,
            });
        }
        Ok(layers)
    }

    /// The manifest the image came with, if it still describes it: (media type, bytes).
    fn stored_manifest(&self, image: &meta::Image, layers: &[Blob]) -> Option<(String, Vec<u8>)> {
        let bytes = self.store().read_blob(image.manifest_digest.as_ref()?).ok()?;
        let m = serde_json::from_slice::<Manifest>(&bytes).ok()?;
        let same_layers = m.layers.len() == layers.len()
            && m.layers
                .iter()
                .zip(layers)
                .all(|(d, l)| d.digest == l.digest.to_string());
        (m.config.digest == image.id.to_string() && same_layers).then(|| {
            (
                m.media_type.clone().unwrap_or_else(|| media::OCI_MANIFEST.to_string()),
                bytes,
            )
        })
    }

    /// Gzips the image's plain tar layers into new blobs (in parallel) and points the layers at them.
    fn compress_plain_layers(&self, image: &meta::Image, progress: &dyn Progress) -> Result<()> {
        let mut plain = Vec::new();
        for chain in &image.layers {
            if let Some(layer) = meta::get_layer(&*self.store().db()?, chain)? {
                if matches!(layer.blob_media_type.as_str(), media::OCI_LAYER | media::DOCKER_LAYER) {
                    plain.push(layer);
                }
            }
        }
        crate::parallel::map(&plain, crate::parallel::cores(), |layer| {
            progress.layer(layer.blob_digest.short(), LayerState::Preparing);
            self.gzip_layer(layer)
        })?;
        Ok(())
    }

    fn gzip_layer(&self, layer: &meta::Layer) -> Result<()> {
        let ingest = self.store().ingest()?;
        let source = self.store().open_blob(&layer.blob_digest)?;
        // gzip's fastest level: close to disk speed, and within a few percent of the default level's size
        // on the already-dense content of most layers.
        let mut encoder = flate2::read::GzEncoder::new(std::io::BufReader::new(source), flate2::Compression::fast());
        let temp = ingest.write_temp(&mut encoder)?;
        let media_type = if layer.blob_media_type == media::OCI_LAYER {
            media::OCI_LAYER_GZIP
        } else {
            media::DOCKER_LAYER_GZIP
        };
        ingest.stage_temp(&temp, media_type)?;
        self.store().commit(&ingest, &[], |tx| {
            meta::set_layer_blob(tx, &layer.chain_id, &temp.digest, media_type, temp.size)?;
            Ok::<_, Error>(())
        })
    }

    /// The manifest to push: the one the image came with, else a new one.
    fn manifest_for(&self, image: &meta::Image, layers: &[Blob]) -> Result<(String, Vec<u8>)> {
        if let Some(stored) = self.stored_manifest(image, layers) {
            return Ok(stored);
        }
        let config_size = self.store().read_blob(&image.id)?.len() as i64;
        let oci = layers.iter().any(|l| {
            l.media_type.ends_with("zstd") || l.media_type.starts_with("application/vnd.oci.image.layer.v1.tar+zstd")
        });
        let layer_type = |l: &Blob| -> String {
            if oci {
                return l.media_type.clone();
            }
            match l.media_type.as_str() {
                media::OCI_LAYER | media::DOCKER_LAYER => media::DOCKER_LAYER.to_string(),
                media::OCI_LAYER_GZIP | media::DOCKER_LAYER_GZIP => media::DOCKER_LAYER_GZIP.to_string(),
                other => other.to_string(),
            }
        };
        let (manifest_type, config_type) = if oci {
            (media::OCI_MANIFEST, media::OCI_CONFIG)
        } else {
            (media::DOCKER_MANIFEST, media::DOCKER_CONFIG)
        };
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(manifest_type.to_string()),
            config: descriptor(config_type.to_string(), &image.id, config_size),
            layers: layers
                .iter()
                .map(|l| descriptor(layer_type(l), &l.digest, l.size as i64))
                .collect(),
            annotations: None,
        };
        let bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::InvalidArgument(format!("writing the manifest: {e}")))?;
        Ok((manifest_type.to_string(), bytes))
    }
}

fn descriptor(media_type: String, digest: &Digest, size: i64) -> Descriptor {
    Descriptor {
        media_type,
        digest: digest.to_string(),
        size,
        urls: None,
        annotations: None,
        platform: None,
    }
}
