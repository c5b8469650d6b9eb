//! The COPY and ADD steps: sources resolved, written into a layer, keyed by their content.

use berth_store::meta;

use super::cache::cache_key;
use super::layer::write_entries;
use super::owner::parse_owner;
use super::sources::{exclude, Entry, Placement};
use super::view::ImageView;
use super::{build_error, clean_path, Job, Stage};
use crate::images::derive::NewLayer;
use crate::{Engine, Error, Result};

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
        let dest = destination(&workdir, &dest_word);
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
        let mode = files.chmod.as_deref().map(parse_chmod).transpose()?;

        // Where the sources come from: the context, or another image's files (mounted read-only).
        let view = match from {
            Some(image) => Some(ImageView::mount(self, image)?),
            None => None,
        };
        let root = view.as_ref().map_or(context.to_path_buf(), |v| v.path.clone());
        let filter = if view.is_some() { None } else { Some(ignore) };

        let ingest = self.store().ingest()?;
        let tar_path = ingest.new_dir()?.join("layer.tar");
        let placement = Placement {
            dest: &dest,
            dest_word: &dest_word,
            dest_is_dir,
            parents,
            add,
            checksum: checksum.clone(),
        };
        let mut entries: Vec<Entry> = Vec::new();
        for source in &files.sources {
            placement.add_source(source, &root, filter, &expand, &mut entries)?;
        }
        if !files.excludes.is_empty() {
            // --exclude: .dockerignore patterns, matched against the paths as they land under the destination.
            let patterns = files.excludes.iter().map(|p| expand(p)).collect::<Result<Vec<_>>>()?;
            exclude(&mut entries, &dest, &patterns)?;
        }
        let written = write_entries(&tar_path, &dest, &entries, owner, mode)?;
        drop(view);
        let text = format!(
            "{} {}:{} in {dest}",
            if add { "ADD" } else { "COPY" },
            if from.is_some() { "dir" } else { "file" },
            written.content_hash
        );
        let args = stage.args_in_effect(&options.build_args);
        let key = cache_key(
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
        let config = stage.config_with_layer(&written.diff_id, format!("/bin/sh -c #(nop) {text} "));
        let id = self.write_image(
            stage.image.as_ref(),
            Some(NewLayer { ingest: &ingest, tar }),
            &config,
            None,
        )?;
        self.advance(stage, &key, id, out)
    }
}

/// Where COPY and ADD write: `dest` as written (expanded), under the working directory unless absolute;
/// absolute and clean.
fn destination(workdir: &str, dest_word: &str) -> String {
    let dest = if dest_word.starts_with('/') {
        dest_word.to_string()
    } else {
        format!("{}/{dest_word}", if workdir.is_empty() { "" } else { workdir })
    };
    clean_path(&dest)
}

/// `--chmod`: an octal mode.
fn parse_chmod(mode: &str) -> Result<u32> {
    u32::from_str_radix(mode, 8).map_err(|_| Error::InvalidArgument(format!("invalid --chmod {mode}: use octal")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_under_the_workdir_unless_absolute() {
        assert_eq!(destination("", "app/"), "/app");
        assert_eq!(destination("", "."), "/");
        assert_eq!(destination("/srv", "."), "/srv");
        assert_eq!(destination("/srv", "conf/app.toml"), "/srv/conf/app.toml");
        assert_eq!(destination("/srv", "/etc/"), "/etc");
        assert_eq!(destination("/srv", "../../x"), "/x");
    }

    #[test]
    fn chmod_is_octal() {
        assert_eq!(parse_chmod("755").unwrap(), 0o755);
        assert_eq!(parse_chmod("0640").unwrap(), 0o640);
        assert_eq!(parse_chmod("4755").unwrap(), 0o4755);
        assert_eq!(
            parse_chmod("u+x").unwrap_err().to_string(),
            "invalid --chmod u+x: use octal"
        );
        assert!(parse_chmod("789").is_err());
        assert!(parse_chmod("").is_err());
    }
}
