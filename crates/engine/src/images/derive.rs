//! New images made from an existing one: its layers, maybe one more layer, and a new config. Used by
//! `commit` and by every step of `build`.

use berth_image::spec::{media, ImageConfig};
use berth_store::{meta, Digest, Ingest, TempBlob};

use super::unpack::{commit_image, LayerSource};
use crate::{time, Engine, Error, Result};

/// A layer to add: a plain tar staged in `ingest`, whose sha256 is its diff ID.
pub(crate) struct NewLayer<'a> {
    pub ingest: &'a Ingest<'a>,
    pub tar: TempBlob,
}

impl Engine {
    /// Records an image made of `parent`'s layers (none for `scratch`) plus `layer`, described by `config`
    /// (whose diff IDs and history the caller has already extended), tagged `tag` if given.
    pub(crate) fn write_image(
        &self,
        parent: Option<&meta::Image>,
        layer: Option<NewLayer<'_>>,
        config: &ImageConfig,
        tag: Option<&str>,
    ) -> Result<Digest> {
        let own_ingest;
        let ingest = match &layer {
            Some(l) => l.ingest,
            None => {
                own_ingest = self.store().ingest()?;
                &own_ingest
            }
        };
        let bytes = serde_json::to_vec(config).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let id = ingest.write_blob_bytes(&bytes, media::OCI_CONFIG)?;
        let mut sources = Vec::new();
        if let Some(parent) = parent {
            let conn = self.store().db()?;
            for chain in &parent.layers {
                let l = meta::get_layer(&conn, chain)?
                    .ok_or_else(|| Error::InvalidArgument(format!("image {} lacks its layer {chain}", parent.id)))?;
                sources.push(LayerSource {
                    blob: TempBlob {
                        path: self.store().blob_path(&l.blob_digest),
                        digest: l.blob_digest.clone(),
                        size: l.blob_size,
                    },
                    media_type: l.blob_media_type.clone(),
                    diff_id: l.diff_id.clone(),
                });
            }
        }
        if let Some(l) = &layer {
            sources.push(LayerSource {
                blob: l.tar.clone(),
                media_type: media::OCI_LAYER.into(),
                diff_id: l.tar.digest.clone(),
            });
        }
        let now = time::now();
        commit_image(self.store(), ingest, &sources, Vec::new(), |tx, prepared| {
            meta::insert_image(
                tx,
                &meta::Image {
                    id: id.clone(),
                    size: prepared.size,
                    created: config.created.clone().or_else(|| Some(now.clone())),
                    parent: parent.map(|p| p.id.clone()),
                    manifest_digest: None,
                    added_at: now.clone(),
                    layers: prepared.chain_ids.clone(),
                    tags: Vec::new(),
                    repo_digests: Vec::new(),
                },
            )?;
            if let Some(tag) = tag {
                meta::set_tag(tx, tag, &id, &now)?;
            }
            Ok(())
        })?;
        Ok(id)
    }
}
