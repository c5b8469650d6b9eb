//! Checking pushed manifests: they must parse as the media type they declare,
//! and what they reference must already be in the repository.

use std::collections::BTreeMap;

use berth_image::spec::{media, Descriptor};
use berth_store::Digest;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};

const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
const OCI_NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

/// The fields of a manifest or index the registry looks at.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<u32>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// A manifest that parsed as its media type.
#[derive(Debug)]
pub struct Checked {
    pub media_type: String,
    /// Blobs that must be in the repository (config, layers), with sizes.
    pub blobs: Vec<(Digest, u64)>,
    /// Manifests an index names, which must be in the repository.
    pub manifests: Vec<Digest>,
    pub subject: Option<Digest>,
    /// What the referrers API reports: `artifactType`, else the config's media type.
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Checked {
    /// The descriptor the referrers API lists for this manifest.
    pub fn referrer_descriptor(&self, digest: &Digest, size: usize) -> Value {
        let mut d = json!({ "mediaType": self.media_type, "digest": digest.to_string(), "size": size });
        if let Some(t) = &self.artifact_type {
            d["artifactType"] = json!(t);
        }
        if let Some(a) = &self.annotations {
            d["annotations"] = json!(a);
        }
        d
    }
}

/// Parses a pushed manifest. `content_type` is the request's Content-Type;
/// without one, the manifest's own `mediaType` decides.
pub fn check(bytes: &[u8], content_type: Option<&str>) -> Result<Checked> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| Error::ManifestInvalid(format!("not valid JSON: {e}")))?;
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "application/octet-stream");
    let media_type = match (header, raw.media_type.as_deref()) {
        (Some(h), Some(m)) if h != m => {
            return Err(Error::ManifestInvalid(format!(
                "Content-Type {h} differs from the manifest's mediaType {m}"
            )))
        }
        (Some(h), _) => h.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => {
            return Err(Error::ManifestInvalid(
                "no media type: send a Content-Type header or a mediaType field".into(),
            ))
        }
    };
    if media_type == DOCKER_SCHEMA1 || media_type == DOCKER_SCHEMA1_SIGNED {
        return Err(Error::ManifestInvalid(
            "Docker schema 1 manifests are not supported: push schema 2 or OCI".into(),
        ));
    }
    if raw.schema_version != Some(2) {
        return Err(Error::ManifestInvalid(format!(
            "schemaVersion must be 2, not {:?}",
            raw.schema_version
        )));
    }
    let subject = raw.subject.as_ref().map(descriptor_digest).transpose()?;
    match media_type.as_str() {
        media::OCI_MANIFEST | media::DOCKER_MANIFEST => {
            let (Some(config), Some(layers)) = (&raw.config, &raw.layers) else {
                return Err(Error::ManifestInvalid(format!("{media_type} needs config and layers")));
            };
            if raw.manifests.is_some() {
                return Err(Error::ManifestInvalid(format!("{media_type} has no manifests field")));
            }
            let mut blobs = vec![(descriptor_digest(config)?, descriptor_size(config)?)];
            for layer in layers {
                let foreign = layer.media_type == media::DOCKER_FOREIGN_LAYER
                    || layer.media_type.starts_with(OCI_NONDISTRIBUTABLE_PREFIX);
                // Foreign layers live at their URLs, not in registries.
                if foreign && layer.urls.as_ref().is_some_and(|u| !u.is_empty()) {
                    descriptor_digest(layer)?;
                    continue;
                }
                blobs.push((descriptor_digest(layer)?, descriptor_size(layer)?));
            }
            let artifact_type = raw.artifact_type.clone().or_else(|| Some(config.media_type.clone()));
            Ok(Checked {
                media_type,
                blobs,
                manifests: Vec::new(),
                subject,
                artifact_type,
                annotations: raw.annotations,
            })
        }
        media::OCI_INDEX | media::DOCKER_MANIFEST_LIST => {
            let Some(children) = &raw.manifests else {
                return Err(Error::ManifestInvalid(format!("{media_type} needs a manifests list")));
            };
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(Error::ManifestInvalid(format!("{media_type} has no config or layers")));
            }
            let manifests = children.iter().map(descriptor_digest).collect::<Result<_>>()?;
            for child in children {
                descriptor_size(child)?;
            }
            Ok(Checked {
                media_type,
                blobs: Vec::new(),
                manifests,
                subject,
                artifact_type: raw.artifact_type,
                annotations: raw.annotations,
            })
        }
        other => Err(Error::ManifestInvalid(format!(
            "unsupported manifest media type {other:?}: push an OCI manifest or index, or a Docker schema 2 manifest or manifest list"
        ))),
    }
}

/// The subject a stored manifest names, for cleaning up on delete.
pub fn subject_of(bytes: &[u8]) -> Option<Digest> {
    let raw: Raw = serde_json::from_slice(bytes).ok()?;
    raw.subject?.digest.parse().ok()
}

fn descriptor_digest(d: &Descriptor) -> Result<Digest> {
    d.digest
        .parse()
        .map_err(|_| Error::ManifestInvalid(format!("descriptor digest {:?} is not a sha256 digest", d.digest)))
}

fn descriptor_size(d: &Descriptor) -> Result<u64> {
    u64::try_from(d.size).map_err(|_| Error::ManifestInvalid(format!("descriptor {} has a negative size", d.digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(s: &str) -> String {
        Digest::of(s.as_bytes()).to_string()
    }

    #[test]
    fn oci_manifest_with_subject() {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "artifactType": "application/x-sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest("{}"), "size": 2},
            "layers": [{"mediaType": "application/x", "digest": digest("l"), "size": 1}],
            "subject": {"mediaType": media::OCI_MANIFEST, "digest": digest("s"), "size": 9},
        });
        let c = check(m.to_string().as_bytes(), None).unwrap();
        assert_eq!(c.media_type, media::OCI_MANIFEST);
        assert_eq!(c.blobs.len(), 2);
        assert_eq!(c.subject, Some(Digest::of(b"s")));
        assert_eq!(c.artifact_type.as_deref(), Some("application/x-sig"));
    }

    #[test]
    fn media_type_rules() {
        let m = json!({
            "schemaVersion": 2,
            "config": {"mediaType": media::OCI_CONFIG, "digest": digest("c"), "size": 1},
            "layers": [],
        })
        .to_string();
        // The header decides when the manifest has no mediaType field.
        let c = check(m.as_bytes(), Some(media::OCI_MANIFEST)).unwrap();
        assert_eq!(c.artifact_type.as_deref(), Some(media::OCI_CONFIG));
        assert!(check(m.as_bytes(), None).is_err());
        assert!(check(m.as_bytes(), Some("application/x-unknown")).is_err());
        assert!(check(m.as_bytes(), Some(DOCKER_SCHEMA1)).is_err());
        // Parsed as an index, a manifest lacks `manifests`.
        assert!(check(m.as_bytes(), Some(media::OCI_INDEX)).is_err());
        assert!(check(b"not json", Some(media::OCI_MANIFEST)).is_err());
        let with_type = json!({
            "schemaVersion": 2, "mediaType": media::DOCKER_MANIFEST,
            "config": {"mediaType": media::DOCKER_CONFIG, "digest": digest("c"), "size": 1},
            "layers": [],
        })
        .to_string();
        assert!(check(with_type.as_bytes(), Some(media::OCI_MANIFEST)).is_err());
        assert!(check(with_type.as_bytes(), Some(media::DOCKER_MANIFEST)).is_ok());
    }

    #[test]
    fn bad_descriptors() {
        for (digest, size) in [("sha256:zz", 1), ("sha512:aa", 1), (digest("c").as_str(), -1)] {
            let m = json!({
                "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
                "config": {"mediaType": media::OCI_CONFIG, "digest": digest, "size": size},
                "layers": [],
            });
            assert!(check(m.to_string().as_bytes(), None).is_err(), "{digest} {size}");
        }
    }

    #[test]
    fn index_children() {
        let m = json!({
            "schemaVersion": 2, "mediaType": media::DOCKER_MANIFEST_LIST,
            "manifests": [{"mediaType": media::DOCKER_MANIFEST, "digest": digest("a"), "size": 3,
                           "platform": {"architecture": "amd64", "os": "linux"}}],
        });
        let c = check(m.to_string().as_bytes(), None).unwrap();
        assert_eq!(c.manifests, vec![Digest::of(b"a")]);
        assert!(c.blobs.is_empty());
    }
}
