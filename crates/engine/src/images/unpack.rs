//! Turning layer blobs into unpacked, staged layers, shared by load, import
//! (and later pull and build). Missing layers unpack in parallel.

use std::fs::{self, File};

use berth_image::layer::{apply_layer, chain_ids, sniff_compression, Compression};
use berth_store::{meta, Digest, Ingest, Store, TempBlob};

use crate::error::IoContext;
use crate::{Error, Result};

/// A layer blob waiting to be unpacked.
#[derive(Clone, Debug)]
pub(crate) struct LayerSource {
    pub blob: TempBlob,
    pub media_type: String,
    /// The diff ID the image config promises; checked against the content.
    pub diff_id: Digest,
}

/// The layers of one image, ready to commit.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub chain_ids: Vec<Digest>,
    /// Rows for the layers this call unpacked and staged.
    pub new_layers: Vec<meta::Layer>,
    /// Layers already in the store, which the commit must still find there.
    pub existing: Vec<Digest>,
    /// Unpacked bytes of the whole image.
    pub size: u64,
}

/// The media type to record for a layer blob, by its first bytes.
pub(crate) fn layer_media_type(blob: &TempBlob) -> Result<&'static str> {
    use std::io::Read;
    let mut prefix = [0u8; 4];
    let mut file = File::open(&blob.path).at(&blob.path)?;
    let n = file.read(&mut prefix).at(&blob.path)?;
    Ok(match sniff_compression(&prefix[..n]) {
        Compression::None => berth_image::spec::media::OCI_LAYER,
        Compression::Gzip => berth_image::spec::media::OCI_LAYER_GZIP,
        Compression::Zstd => berth_image::spec::media::OCI_LAYER_ZSTD,
    })
}

/// Unpacks every layer of `sources` that the store lacks into `ingest`.
pub(crate) fn prepare(store: &Store, ingest: &Ingest<'_>, sources: &[LayerSource]) -> Result<Prepared> {
    let diff_ids: Vec<Digest> = sources.iter().map(|s| s.diff_id.clone()).collect();
    let chains = chain_ids(&diff_ids);
    let mut prepared = Prepared {
        chain_ids: chains.clone(),
        ..Prepared::default()
    };
    let mut todo = Vec::new();
    {
        let conn = store.db()?;
        for (i, chain) in chains.iter().enumerate() {
            if ingest.has_staged_layer(chain) {
                continue;
            }
            match meta::get_layer(&conn, chain)? {
                Some(layer) if store.layer_path(chain).exists() => {
                    prepared.size += layer.size;
                    prepared.existing.push(chain.clone());
                }
                _ if todo.iter().any(|(j, _)| chains[*j] == *chain) => {}
                _ => todo.push((i, chain.clone())),
            }
        }
    }
    let unpacked = crate::parallel::map(&todo, crate::parallel::cores(), |(i, chain)| {
        let parent = if *i == 0 { None } else { Some(chains[i - 1].clone()) };
        unpack_one(ingest, &sources[*i], chain, parent)
    })?;
    for layer in unpacked {
        prepared.size += layer.size;
        prepared.new_layers.push(layer);
    }
    Ok(prepared)
}

pub(crate) fn unpack_one(
    ingest: &Ingest<'_>,
    source: &LayerSource,
    chain: &Digest,
    parent: Option<Digest>,
) -> Result<meta::Layer> {
    let dir = ingest.new_dir()?;
    let diff = dir.join("diff");
    fs::create_dir(&diff).at(&diff)?;
    let file = File::open(&source.blob.path).at(&source.blob.path)?;
    let applied = apply_layer(file, &diff)?;
    if applied.diff_id != source.diff_id {
        return Err(Error::InvalidArchive(format!(
            "layer {} has content with diff ID {}, but the image config says {}",
            source.blob.digest, applied.diff_id, source.diff_id
        )));
    }
    ingest.stage_temp(&source.blob, &source.media_type)?;
    ingest.stage_layer(chain.clone(), dir);
    Ok(meta::Layer {
        chain_id: chain.clone(),
        diff_id: applied.diff_id,
        parent,
        blob_digest: source.blob.digest.clone(),
        blob_media_type: source.media_type.clone(),
        blob_size: source.blob.size,
        diff_size: applied.tar_size,
        size: applied.size,
    })
}

/// Records the layers a prepared image brought, inside a commit.
pub(crate) fn record_layers(tx: &berth_store::rusqlite::Transaction, prepared: &Prepared) -> Result<()> {
    for layer in &prepared.new_layers {
        meta::insert_layer(tx, layer)?;
    }
    Ok(())
}

/// Whether an error means a layer vanished under us and a retry may succeed.
pub(crate) fn is_layer_gone(e: &Error) -> bool {
    matches!(e, Error::Store(berth_store::Error::LayerGone(_)))
}

/// Unpacks what is missing and commits one image: `record` writes the image
/// rows in the same transaction as its layers. `staged` are layers the caller
/// already unpacked into `ingest` (a pull unpacks each as it arrives). If
/// another process removes a layer this image reuses before the commit, the
/// layer is unpacked again.
pub(crate) fn commit_image<T>(
    store: &Store,
    ingest: &Ingest<'_>,
    sources: &[LayerSource],
    staged: Vec<meta::Layer>,
    record: impl Fn(&berth_store::rusqlite::Transaction, &Prepared) -> Result<T>,
) -> Result<T> {
    let mut prepared = prepare(store, ingest, sources)?;
    prepared.size += staged.iter().map(|l| l.size).sum::<u64>();
    prepared.new_layers.extend(staged);
    let mut attempts = 0;
    loop {
        let result = store.commit(ingest, &prepared.existing, |tx| {
            record_layers(tx, &prepared)?;
            record(tx, &prepared)
        });
        match result {
            Err(e) if is_layer_gone(&e) && attempts < 3 => {
                attempts += 1;
                let again = prepare(store, ingest, sources)?;
                let staged_size: u64 = prepared.new_layers.iter().map(|l| l.size).sum();
                prepared.existing = again.existing;
                prepared.new_layers.extend(again.new_layers);
                prepared.size = staged_size + again.size;
            }
            other => return other,
        }
    }
}
