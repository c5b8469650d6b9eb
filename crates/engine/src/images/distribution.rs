//! What a registry holds under a reference, without pulling it: the descriptor the reference resolves
//! to and the platforms it serves (Docker's `DistributionInspect`, behind `/distribution/{name}/json`).

use berth_image::spec::{ImageConfig, Index, Manifest, Platform};
use berth_reference::Reference;
use berth_registry::{BlobRef, ManifestKind, MANIFEST_ACCEPT};
use berth_store::Digest;
use serde::Serialize;

use crate::registry::Credentials;
use crate::{Engine, Error, Result};

/// The descriptor a reference resolves to, with Docker's (OCI's) field names.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistributionDescriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// Docker's DistributionInspect.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistributionInspect {
    #[serde(rename = "Descriptor")]
    pub descriptor: DistributionDescriptor,
    /// Every platform of an index; the image's own (from its config) for a single manifest.
    #[serde(rename = "Platforms")]
    pub platforms: Vec<Platform>,
}

fn invalid(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("the registry sent an invalid {what}: {e}"))
}

impl Engine {
    /// Resolves `name` (`busybox`, `host:5000/app:v1`, `app@sha256:…`) on its registry.
    pub fn distribution(&self, name: &str, auth: Option<&Credentials>) -> Result<DistributionInspect> {
        let reference = Reference::parse_docker(name)?;
        let client = self.registry_client_as(reference.domain(), auth)?;
        let repo = reference.path();
        let wanted = reference.digest().or(reference.tag()).unwrap_or("latest");
        let top = client.get_manifest(repo, wanted, MANIFEST_ACCEPT)?;
        let platforms = match berth_registry::manifest_kind(&top.media_type) {
            Some(ManifestKind::Index) => {
                let index: Index = serde_json::from_slice(&top.bytes).map_err(|e| invalid("index", e))?;
                index.manifests.into_iter().filter_map(|m| m.platform).collect()
            }
            Some(ManifestKind::Image) => {
                let manifest: Manifest =
                    serde_json::from_slice(&top.bytes).map_err(|e| invalid("image manifest", e))?;
                let digest: Digest = manifest
                    .config
                    .digest
                    .parse()
                    .map_err(|e| invalid("image manifest", e))?;
                let size = u64::try_from(manifest.config.size).ok();
                // A config is small; a temporary file holds it while it is checked.
                let dir = tempfile::tempdir()
                    .map_err(|e| Error::Internal(format!("making a directory for an image config: {e}")))?;
                let path = dir.path().join("config");
                client.fetch_blob(repo, &BlobRef::new(digest, size), &path, &mut |_| {})?;
                let bytes = std::fs::read(&path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let config: ImageConfig = serde_json::from_slice(&bytes).map_err(|e| invalid("image config", e))?;
                vec![Platform {
                    architecture: config.architecture,
                    os: config.os,
                    os_version: config.os_version,
                    variant: config.variant,
                }]
            }
            None => {
                return Err(Error::InvalidArgument(format!(
                    "unsupported manifest media type {:?} for {name}",
                    top.media_type
                )))
            }
        };
        Ok(DistributionInspect {
            descriptor: DistributionDescriptor {
                media_type: top.media_type,
                size: top.bytes.len() as u64,
                digest: top.digest,
            },
            platforms,
        })
    }
}
