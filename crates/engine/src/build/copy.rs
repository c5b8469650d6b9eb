//! The COPY and ADD steps: sources resolved, written into a layer, keyed by their content.

use std::fs;
use std::path::Path;

use berth_build::{Ignore, Source};
use berth_image::spec::History;
use berth_store::meta;

use super::download::is_url;
use super::layer::write_entries;
use super::owner::parse_owner;
use super::sources::{collect_dir, is_archive, resolve_sources, Entry};
use super::view::ImageView;
use super::{build_error, clean_path, Job, Stage};
use crate::images::derive::NewLayer;
use crate::{time, Engine, Error, Result};

impl Engine {
    /// COPY, or ADD when `add` is Some (with its --checksum).
    pub(super) fn copy_step(
        &self,
        job: &Job<'_>,
        stage: &mut Stage,
        files: &berth_build::Files,
        from: Option<&meta::Image>,
        add: Option<Option<String>>,
        // --parents: sources keep their paths under the destination.
        parents: bool,
    ) -> Result<()> {
        let (context, ignore, options, out) = (job.context.as_path(), &job.ignore, job.options, job.out);
        let escape = job.df.directives.escape;
        let checksum = add.clone().flatten();
        let add = add.is_some();
        // (--link changes only how BuildKit reuses the layer, not what is in it.)
        let expand = |word: &str| berth_build::expand(word, escape, &|n| stage.lookup(n)).map_err(build_error);
        let workdir = stage
            .config
            .config
            .as_ref()
            .map(|c| c.working_dir.clone())
            .unwrap_or_default();
        let dest_word = expand(&files.dest)?;
        let dest_is_dir = dest_word.ends_with('/') || files.sources.len() > 1;
        let dest = if dest_word.starts_with('/') {
            dest_word.clone()
        } else {
            format!("{}/{dest_word}", if workdir.is_empty() { "" } else { workdir.as_str() })
        };
        let dest = clean_path(&dest);
        let owner = match &files.chown {
            None => (0, 0),
            Some(spec) => {
                let spec = expand(spec)?;
                match parse_owner(&spec) {
                    Ok(ids) => ids,
                    // Names come from the stage's own /etc/passwd and /etc/group.
                    Err(_) => self.owner_by_name(stage, &spec)?,
                }
            }
        };
        let mode = files
            .chmod
            .as_deref()
            .map(|m| {
                u32::from_str_radix(m, 8).map_err(|_| Error::InvalidArgument(format!("invalid --chmod {m}: use octal")))
            })
            .transpose()?;

        // Where the sources come from: the context, or another image's files (mounted read-only).
        let view = match from {
            Some(image) => Some(ImageView::mount(self, image)?),
            None => None,
        };
        let root = view.as_ref().map_or(context.to_path_buf(), |v| v.path.clone());
        let filter = if view.is_some() { None } else { Some(ignore) };

        let ingest = self.store().ingest()?;
        let tar_path = ingest.new_dir()?.join("layer.tar");
        let mut entries: Vec<Entry> = Vec::new();
        for source in &files.sources {
            match source {
                Source::Heredoc(doc) => {
                    let content = if doc.expand {
                        expand(&doc.content)?
                    } else {
                        doc.content.clone()
                    };
                    let target = if dest_is_dir || dest_word.ends_with('/') {
                        format!("{}/{}", dest.trim_end_matches('/'), doc.name)
                    } else {
                        dest.clone()
                    };
                    entries.push(Entry::Inline {
                        target,
                        content: content.into_bytes(),
                    });
                }
                Source::Path(p) if add && is_url(p) => {
                    // ADD URL: downloaded, not extracted, mode 0600 (as Docker).
                    let url = expand(p)?;
                    let name = url
                        .split(['?', '#'])
                        .next()
                        .and_then(|u| u.rsplit('/').next())
                        .filter(|n| !n.is_empty())
                        .unwrap_or("download")
                        .to_string();
                    let target = if dest_is_dir || dest_word.ends_with('/') {
                        format!("{}/{name}", dest.trim_end_matches('/'))
                    } else {
                        dest.clone()
                    };
                    entries.push(Entry::Download {
                        target,
                        url,
                        checksum: checksum.clone(),
                    });
                }
                Source::Path(p) => {
                    let p = expand(p)?;
                    let matched = resolve_sources(&root, &p, filter)?;
                    let several = matched.len() > 1 || dest_is_dir;
                    for (rel, full) in matched {
                        let meta = fs::symlink_metadata(&full).map_err(|e| Error::Io {
                            path: full.clone(),
                            source: e,
                        })?;
                        if meta.is_dir() {
                            // A directory's contents go into the destination.
                            let under = if parents {
                                format!("{}/{rel}", dest.trim_end_matches('/'))
                            } else {
                                dest.clone()
                            };
                            collect_dir(&full, &rel, &under, &root, filter, &mut entries)?;
                        } else if add && meta.is_file() && is_archive(&full) {
                            // ADD of a local archive: its contents land in the destination directory.
                            entries.push(Entry::Archive {
                                target: dest.clone(),
                                source: full,
                            });
                        } else {
                            let name = Path::new(&rel)
                                .file_name()
                                .map_or(rel.clone(), |n| n.to_string_lossy().into_owned());
                            let target = if parents {
                                format!("{}/{rel}", dest.trim_end_matches('/'))
                            } else if several || dest_word.ends_with('/') {
                                format!("{}/{name}", dest.trim_end_matches('/'))
                            } else {
                                dest.clone()
                            };
                            entries.push(Entry::File { target, source: full });
                        }
                    }
                }
            }
        }
        if !files.excludes.is_empty() {
            // --exclude: .dockerignore patterns, matched against the paths as they land under the destination.
            let patterns = files.excludes.iter().map(|p| expand(p)).collect::<Result<Vec<_>>>()?;
            let exclude = Ignore::parse(&patterns.join("\n")).map_err(build_error)?;
            let base = dest.trim_end_matches('/').to_string();
            entries.retain(|e| {
                let (target, is_dir) = match e {
                    Entry::File { target, .. } => (target, false),
                    Entry::Dir { target, .. } => (target, true),
                    _ => return true,
                };
                let rel = target.strip_prefix(&base).unwrap_or(target).trim_start_matches('/');
                rel.is_empty() || !exclude.is_excluded(rel, is_dir)
            });
        }
        let written = write_entries(&tar_path, &dest, &entries, owner, mode)?;
        drop(view);
        let text = format!(
            "{} {}:{} in {dest}",
            if add { "ADD" } else { "COPY" },
            if from.is_some() { "dir" } else { "file" },
            written.content_hash
        );
        let args = self.args_in_effect(stage, options);
        let key = self.cache_key(
            stage,
            &text,
            &args,
            &format!("{:?}{:?}{:?}", owner, mode, from.map(|i| &i.id)),
        );
        if self.reuse_cached(stage, &key, options, out)? {
            return Ok(());
        }
        let tar = berth_store::TempBlob {
            path: tar_path,
            digest: written.diff_id.clone(),
            size: written.size,
        };
        let mut config = stage.config.clone();
        let now = time::now();
        config.created = Some(now.clone());
        config.rootfs.diff_ids.push(written.diff_id.to_string());
        config.history.push(History {
            created: Some(now),
            created_by: Some(format!("/bin/sh -c #(nop) {text} ")),
            author: None,
            comment: None,
            empty_layer: false,
        });
        let id = self.write_image(
            stage.image.as_ref(),
            Some(NewLayer { ingest: &ingest, tar }),
            &config,
            None,
        )?;
        self.advance(stage, &key, id, out)
    }
}
