//! Media types: which manifests berth understands, and what a layer blob is.

use berth_image::spec::{media, Descriptor};

/// The `Accept` list for manifests: Docker schema2 and OCI, single and multi-platform.
pub const MANIFEST_ACCEPT: &[&str] = &[
    media::OCI_INDEX,
    media::DOCKER_MANIFEST_LIST,
    media::OCI_MANIFEST,
    media::DOCKER_MANIFEST,
];

/// OCI's non-distributable layers (deprecated in image-spec 1.1, still found in Windows images).
pub const OCI_LAYER_NONDISTRIBUTABLE: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const OCI_LAYER_NONDISTRIBUTABLE_ZSTD: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
/// Docker's foreign layer, uncompressed variant (rare, but a valid media type).
pub const DOCKER_FOREIGN_LAYER_PLAIN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";

/// What a manifest document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    /// A single-platform image manifest (OCI or Docker schema2).
    Image,
    /// A multi-platform index (OCI index or Docker manifest list).
    Index,
}

/// Classifies a manifest media type; `None` for types berth does not handle.
pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        media::OCI_MANIFEST | media::DOCKER_MANIFEST => Some(ManifestKind::Image),
        media::OCI_INDEX | media::DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The compression of a layer media type; `None` when it is not a layer type berth knows.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        media::OCI_LAYER | media::DOCKER_LAYER | OCI_LAYER_NONDISTRIBUTABLE | DOCKER_FOREIGN_LAYER_PLAIN => {
            Some(Compression::None)
        }
        media::OCI_LAYER_GZIP
        | media::DOCKER_LAYER_GZIP
        | media::DOCKER_FOREIGN_LAYER
        | OCI_LAYER_NONDISTRIBUTABLE_GZIP => Some(Compression::Gzip),
        media::OCI_LAYER_ZSTD | OCI_LAYER_NONDISTRIBUTABLE_ZSTD => Some(Compression::Zstd),
        _ => None,
    }
}

/// True for layers a registry does not hold (Docker foreign layers, OCI non-distributable
/// layers): they are fetched from their `urls`, and Docker does not push them.
pub fn is_foreign_layer(desc: &Descriptor) -> bool {
    matches!(
        desc.media_type.as_str(),
        media::DOCKER_FOREIGN_LAYER
            | DOCKER_FOREIGN_LAYER_PLAIN
            | OCI_LAYER_NONDISTRIBUTABLE
            | OCI_LAYER_NONDISTRIBUTABLE_GZIP
            | OCI_LAYER_NONDISTRIBUTABLE_ZSTD
    )
}

/// Works out a manifest's media type when the registry's Content-Type is missing or
/// generic: the document's own `mediaType`, else its shape (OCI allows leaving it out).
pub(crate) fn sniff_manifest_type(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Some(mt.to_string());
    }
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        return Some("application/vnd.docker.distribution.manifest.v1+json".into());
    }
    if v.get("manifests").is_some() {
        return Some(media::OCI_INDEX.into());
    }
    if v.get("config").is_some() && v.get("layers").is_some() {
        return Some(media::OCI_MANIFEST.into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(mt: &str) -> Descriptor {
        Descriptor {
            media_type: mt.into(),
            digest: "sha256:00".into(),
            size: 1,
            urls: None,
            annotations: None,
            platform: None,
        }
    }

    #[test]
    fn classifies_layers() {
        assert_eq!(layer_compression(media::DOCKER_LAYER_GZIP), Some(Compression::Gzip));
        assert_eq!(layer_compression(media::OCI_LAYER_ZSTD), Some(Compression::Zstd));
        assert_eq!(layer_compression(media::OCI_LAYER), Some(Compression::None));
        assert_eq!(layer_compression(media::OCI_CONFIG), None);
        assert!(is_foreign_layer(&desc(media::DOCKER_FOREIGN_LAYER)));
        assert!(is_foreign_layer(&desc(OCI_LAYER_NONDISTRIBUTABLE_GZIP)));
        assert!(!is_foreign_layer(&desc(media::OCI_LAYER_GZIP)));
    }

    #[test]
    fn sniffs_manifest_types() {
        assert_eq!(
            sniff_manifest_type(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(media::OCI_INDEX)
        );
        assert_eq!(
            sniff_manifest_type(br#"{"schemaVersion":2,"config":{},"layers":[]}"#).as_deref(),
            Some(media::OCI_MANIFEST)
        );
        assert_eq!(
            sniff_manifest_type(br#"{"schemaVersion":2,"mediaType":"x/y","layers":[]}"#).as_deref(),
            Some("x/y")
        );
        assert_eq!(sniff_manifest_type(b"not json"), None);
        assert_eq!(manifest_kind(media::DOCKER_MANIFEST_LIST), Some(ManifestKind::Index));
    }
}
