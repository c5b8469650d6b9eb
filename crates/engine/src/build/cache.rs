//! The build cache: each step's key, looking a step up and recording it, and the cache's size and prune.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_store::{meta, Digest, Hasher};

use super::{BuildOptions, BuildOutput, Stage};
use crate::{time, Engine, Error, Result};

impl Engine {
    /// Looks a step up in the cache; on a hit, moves the stage on to the cached image.
    pub(super) fn reuse_cached(
        &self,
        stage: &mut Stage,
        key: &str,
        options: &BuildOptions,
        out: &dyn BuildOutput,
    ) -> Result<bool> {
        if options.no_cache {
            return Ok(false);
        }
        let Some(id) = meta::cached_step(&*self.store().db()?, key)? else {
            return Ok(false);
        };
        let Some(image) = meta::get_image(&*self.store().db()?, &id)? else {
            return Ok(false);
        };
        if !image.layers.iter().all(|l| self.store().layer_path(l).exists()) {
            return Ok(false);
        }
        out.line(" ---> Using cache");
        out.line(&format!(" ---> {}", id.short()));
        stage.config = self.image(&id.to_string())?.config;
        stage.image = Some(image);
        Ok(true)
    }

    /// Records a step's image in the cache and moves the stage on to it.
    pub(super) fn advance(&self, stage: &mut Stage, key: &str, id: Digest, out: &dyn BuildOutput) -> Result<()> {
        let now = time::now();
        self.store().write(|tx| {
            meta::cache_step(tx, key, &id, &now)?;
            Ok::<_, Error>(())
        })?;
        out.line(&format!(" ---> {}", id.short()));
        stage.config = self.image(&id.to_string())?.config;
        stage.image = meta::get_image(&*self.store().db()?, &id)?;
        Ok(())
    }

    /// Images only the build cache keeps (no tag, no repo digest).
    pub fn build_cache_images(&self) -> Result<HashSet<Digest>> {
        Ok(meta::cache_only_images(&*self.store().db()?)?.into_iter().collect())
    }

    /// `system df`'s build cache: how many step images only the cache keeps, and the bytes of their layers
    /// that no other image uses plus the RUN cache mounts.
    pub fn build_cache_usage(&self) -> Result<(usize, u64)> {
        let cache_only = self.build_cache_images()?;
        let conn = self.store().db()?;
        let images = meta::list_images(&conn)?;
        let sizes: HashMap<Digest, u64> = meta::layer_sizes(&conn)?.into_iter().collect();
        let bytes = cache_only_bytes(&images, &cache_only, &sizes);
        let mounts = crate::disk::dir_size(&self.layout().build_cache_mounts());
        Ok((cache_only.len(), bytes + mounts))
    }

    /// `builder prune`: forgets the build cache and removes the images only it kept.
    pub fn prune_build_cache(&self) -> Result<BuildCachePruned> {
        let ids = meta::cache_only_images(&*self.store().db()?)?;
        self.store()
            .write(|tx| meta::clear_build_cache(tx).map_err(Error::from))?;
        let mut caches_deleted = Vec::new();
        for id in ids {
            if let Ok(removed) = self.remove_image(&id.to_string(), false) {
                if !removed.is_empty() {
                    caches_deleted.push(id.to_string());
                }
            }
        }
        let collected = self.store().collect_garbage()?;
        // RUN --mount=type=cache directories go too, as with Docker's builder prune.
        let mounts = self.layout().build_cache_mounts();
        let mount_bytes = crate::disk::dir_size(&mounts);
        let _ = fs::remove_dir_all(&mounts);
        Ok(BuildCachePruned {
            caches_deleted,
            space_reclaimed: collected.bytes + mount_bytes,
        })
    }
}

/// What `builder prune` removed: Docker's BuildCachePruneReport.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct BuildCachePruned {
    /// The images only the cache kept, which went with it.
    #[serde(rename = "CachesDeleted")]
    pub caches_deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}

/// The cache key of a step: parent image, the step as expanded, build args in effect, extra content.
pub(super) fn cache_key(stage: &Stage, text: &str, args: &[(String, String)], content: &str) -> String {
    let mut h = Hasher::new();
    let parent = stage
        .image
        .as_ref()
        .map_or_else(|| "scratch".to_string(), |i| i.id.to_string());
    h.update(parent.as_bytes());
    h.update(b"\n");
    if stage.image.is_none() {
        // A scratch stage's config is part of its identity.
        h.update(
            serde_json::to_string(&stage.config.config)
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    h.update(text.as_bytes());
    for (k, v) in args {
        h.update(format!("\n{k}={v}").as_bytes());
    }
    h.update(b"\n");
    h.update(content.as_bytes());
    h.finish().to_string()
}

/// The bytes of the layers that only `cache_only` images use (a layer another image also uses is not the
/// cache's to free), each layer counted once.
fn cache_only_bytes(images: &[meta::Image], cache_only: &HashSet<Digest>, sizes: &HashMap<Digest, u64>) -> u64 {
    let kept: HashSet<&Digest> = images
        .iter()
        .filter(|i| !cache_only.contains(&i.id))
        .flat_map(|i| &i.layers)
        .collect();
    let exclusive: HashSet<&Digest> = images
        .iter()
        .filter(|i| cache_only.contains(&i.id))
        .flat_map(|i| &i.layers)
        .filter(|l| !kept.contains(l))
        .collect();
    exclusive.iter().filter_map(|l| sizes.get(*l)).sum()
}

/// A cheap fingerprint of a file tree (names, sizes, modification times): a bind-mounted source that
/// changed makes the step run again.
pub(super) fn tree_stamp(path: &Path) -> String {
    let mut h = Hasher::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else { continue };
        h.update(
            format!(
                "{} {} {} {}\n",
                p.display(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            )
            .as_bytes(),
        );
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                children.sort();
                stack.extend(children.into_iter().rev());
            }
        }
    }
    h.finish().hex().to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_image::spec::{ContainerConfig, ImageConfig};
    use sha2::{Digest as _, Sha256};

    use super::*;

    fn image(id: &[u8], layers: &[&Digest]) -> meta::Image {
        meta::Image {
            id: Digest::of(id),
            size: 0,
            created: None,
            parent: None,
            manifest_digest: None,
            added_at: String::new(),
            layers: layers.iter().map(|l| (*l).clone()).collect(),
            tags: Vec::new(),
            repo_digests: Vec::new(),
        }
    }

    fn stage(image: Option<meta::Image>, workdir: &str) -> Stage {
        let config = ImageConfig {
            config: Some(ContainerConfig {
                working_dir: workdir.into(),
                ..ContainerConfig::default()
            }),
            ..ImageConfig::default()
        };
        Stage {
            image,
            config,
            args: BTreeMap::new(),
        }
    }

    fn sha256(text: &str) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
    }

    fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn keys_hash_parent_step_args_and_content() {
        // The exact layout matters: keys recorded by earlier builds must keep matching.
        let parent = image(b"parent", &[]);
        let key = cache_key(
            &stage(Some(parent.clone()), "/w"),
            "RUN [\"true\"]",
            &args(&[("A", "1"), ("B", "2")]),
            "extra",
        );
        assert_eq!(key, sha256(&format!("{}\nRUN [\"true\"]\nA=1\nB=2\nextra", parent.id)));
        let key = cache_key(&stage(Some(parent.clone()), "/w"), "ENV X=1", &[], "");
        assert_eq!(key, sha256(&format!("{}\nENV X=1\n", parent.id)));
    }

    #[test]
    fn a_scratch_stage_is_keyed_by_its_config_too() {
        let scratch = stage(None, "/w");
        let config = serde_json::to_string(&scratch.config.config).unwrap();
        let key = cache_key(&scratch, "COPY x", &args(&[("A", "1")]), "c");
        assert_eq!(key, sha256(&format!("scratch\n{config}COPY x\nA=1\nc")));
        assert_ne!(
            key,
            cache_key(&stage(None, "/other"), "COPY x", &args(&[("A", "1")]), "c")
        );
        // Above an image, the image ID says it all.
        let parent = image(b"p", &[]);
        assert_eq!(
            cache_key(&stage(Some(parent.clone()), "/w"), "COPY x", &[], ""),
            cache_key(&stage(Some(parent), "/other"), "COPY x", &[], "")
        );
    }

    #[test]
    fn every_part_of_a_key_counts() {
        let parent = stage(Some(image(b"p", &[])), "");
        let base = cache_key(&parent, "RUN a", &args(&[("A", "1")]), "m");
        let others = [
            cache_key(&stage(Some(image(b"q", &[])), ""), "RUN a", &args(&[("A", "1")]), "m"),
            cache_key(&parent, "RUN b", &args(&[("A", "1")]), "m"),
            cache_key(&parent, "RUN a", &args(&[("A", "2")]), "m"),
            cache_key(&parent, "RUN a", &args(&[("A", "1"), ("B", "")]), "m"),
            cache_key(&parent, "RUN a", &[], "m"),
            cache_key(&parent, "RUN a", &args(&[("A", "1")]), "n"),
        ];
        for other in others {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn cache_bytes_count_layers_only_the_cache_keeps_once() {
        let (l1, l2, l3) = (Digest::of(b"l1"), Digest::of(b"l2"), Digest::of(b"l3"));
        let images = [
            image(b"step1", &[&l1, &l2]),
            image(b"tagged", &[&l1]),
            image(b"step2", &[&l1, &l2, &l3]),
        ];
        let cache_only: HashSet<Digest> = [images[0].id.clone(), images[2].id.clone()].into();
        let sizes: HashMap<Digest, u64> = [(l1, 1), (l2, 20), (l3, 300)].into();
        assert_eq!(cache_only_bytes(&images, &cache_only, &sizes), 320);
        assert_eq!(cache_only_bytes(&images, &HashSet::new(), &sizes), 0);
    }

    #[test]
    fn tree_stamps_follow_names_sizes_and_times() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/a"), "a").unwrap();
        let first = tree_stamp(&root);
        assert_eq!(first, tree_stamp(&root));
        assert_eq!(first.len(), 64);

        fs::write(root.join("sub/a"), "longer").unwrap();
        let resized = tree_stamp(&root);
        assert_ne!(first, resized);

        fs::write(root.join("b"), "").unwrap();
        let added = tree_stamp(&root);
        assert_ne!(resized, added);

        let f = fs::File::options().write(true).open(root.join("b")).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_ne!(added, tree_stamp(&root));

        // The same tree elsewhere is another stamp (paths count), and a missing path has one too.
        assert_ne!(tree_stamp(&root), tree_stamp(&dir.path().join("missing")));
    }
}
