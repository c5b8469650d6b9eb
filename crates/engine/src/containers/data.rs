//! A container's filesystem changes: `diff`, `export` and `commit`.

use std::fs;
use std::io::Write;

use berth_image::layer::diff::{self, Change, Source};
use berth_image::spec::History;
use berth_reference::Reference;
use berth_store::{Digest, TempBlob};

use super::Container;
use crate::images::derive::NewLayer;
use crate::images::import::apply_change;
use crate::ContainerState;
use crate::{time, Engine, Error, Result};

/// One change of a container's filesystem (Docker's `FilesystemChange`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilesystemChange {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Kind")]
    pub kind: ChangeKind,
}

/// Docker's change kinds, which the API writes as numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

impl serde::Serialize for ChangeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

impl<'de> serde::Deserialize<'de> for ChangeKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<ChangeKind, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(ChangeKind::Modified),
            1 => Ok(ChangeKind::Added),
            2 => Ok(ChangeKind::Deleted),
            n => Err(serde::de::Error::custom(format!("unknown change kind {n}"))),
        }
    }
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

impl From<Change> for FilesystemChange {
    fn from((letter, path): Change) -> FilesystemChange {
        let kind = match letter {
            'A' => ChangeKind::Added,
            'D' => ChangeKind::Deleted,
            _ => ChangeKind::Modified,
        };
        FilesystemChange { path, kind }
    }
}

/// What `commit` is asked for.
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    pub reference: Option<String>,
    pub author: Option<String>,
    pub message: Option<String>,
    /// Dockerfile instructions, as for `import --change`.
    pub changes: Vec<String>,
    /// Freeze the container while its changes are read (docker's default).
    pub pause: bool,
    /// Settings for the image that take the place of the container's (the API's body): each field
    /// given wins, those left empty come from the container, as dockerd merges them.
    pub config: Option<CommitConfig>,
}

/// The runtime settings an image carries (its config's `config`), as commit's caller gives them.
pub use berth_image::spec::ContainerConfig as CommitConfig;

/// `given` over `base`, as dockerd's commit merges a caller's config over the container's: empty
/// fields are the container's; Env, Labels and ExposedPorts add the container's entries the caller
/// did not name; an Entrypoint given without a Cmd clears the Cmd.
fn merge_config(base: CommitConfig, mut given: CommitConfig) -> CommitConfig {
    if given.user.is_empty() {
        given.user = base.user;
    }
    if given.working_dir.is_empty() {
        given.working_dir = base.working_dir;
    }
    if given.stop_signal.is_empty() {
        given.stop_signal = base.stop_signal;
    }
    given.env = match (given.env.take().filter(|e| !e.is_empty()), base.env) {
        (None, base) => base,
        (Some(mut env), base) => {
            let named: Vec<String> = env
                .iter()
                .map(|e| e.split('=').next().unwrap_or("").to_string())
                .collect();
            for entry in base.unwrap_or_default() {
                let key = entry.split('=').next().unwrap_or("");
                if !named.iter().any(|n| n == key) {
                    env.push(entry);
                }
            }
            Some(env)
        }
    };
    given.labels = match (given.labels.take(), base.labels) {
        (None, base) => base,
        (Some(mut labels), base) => {
            for (k, v) in base.unwrap_or_default() {
                labels.entry(k).or_insert(v);
            }
            Some(labels)
        }
    };
    given.exposed_ports = match (given.exposed_ports.take(), base.exposed_ports) {
        (None, base) => base,
        (Some(mut ports), base) => {
            for (k, v) in base.unwrap_or_default() {
                ports.entry(k).or_insert(v);
            }
            Some(ports)
        }
    };
    if given.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if given.cmd.as_ref().is_none_or(Vec::is_empty) {
            given.cmd = base.cmd;
        }
        if given.entrypoint.is_none() {
            given.entrypoint = base.entrypoint;
        }
    }
    given.volumes = given.volumes.or(base.volumes);
    given.healthcheck = given.healthcheck.or(base.healthcheck);
    given.on_build = given.on_build.or(base.on_build);
    given.shell = given.shell.or(base.shell);
    given.args_escaped = given.args_escaped.or(base.args_escaped);
    for (k, v) in base.extra {
        given.extra.entry(k).or_insert(v);
    }
    given
}

impl Engine {
    /// A container's changes as a layer tar in `ingest` (its sha256 is the diff ID). A `--userns`
    /// container's upper dir holds what it wrote with the host's ids: the tar has the container's.
    pub(crate) fn container_layer(
        &self,
        ingest: &berth_store::Ingest<'_>,
        c: &Container,
    ) -> Result<(TempBlob, diff::Written)> {
        let upper = self.container_dir(c.id()).join("upper");
        let path = ingest.new_dir()?.join("layer.tar");
        let out = fs::File::create(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let out = std::io::BufWriter::new(out);
        let w = diff::write_tar_shifted(&upper, Source::OverlayUpper, c.config.host.id_range, out)?;
        let blob = TempBlob {
            path,
            digest: w.diff_id.clone(),
            size: w.tar_size,
        };
        Ok((blob, w))
    }

    /// `diff`: what the container added, changed and deleted.
    pub fn diff_container(&self, name: &str) -> Result<Vec<FilesystemChange>> {
        let c = self.container(name)?;
        let upper = self.container_dir(c.id()).join("upper");
        let changes = diff::changes(&upper, &self.lowers(&c)?)?;
        Ok(changes.into_iter().map(FilesystemChange::from).collect())
    }

    /// `export`: the container's whole filesystem as a tar on `out`, with the ids the container sees.
    pub fn export_container<W: Write>(&self, name: &str, out: W) -> Result<()> {
        let c = self.container(name)?;
        let dir = self.container_dir(c.id());
        // A read-only view of its own: the upper dir on top of the image.
        let view = super::view::private_view(&dir, "export");
        fs::create_dir_all(&view).map_err(|e| Error::Io {
            path: view.clone(),
            source: e,
        })?;
        let result = (|| {
            if berth_image::snapshot::overlay_supported() || c.config.host.id_range.is_some() {
                self.mount_view(&c, &view, false)?;
            } else {
                let mut lowers = vec![dir.join("upper")];
                lowers.extend(self.lowers(&c)?);
                lowers.reverse();
                berth_image::snapshot::copy_view(&lowers, &view)?;
            }
            let written = diff::write_tar_shifted(&view, Source::Plain, c.config.host.id_range, out);
            let _ = berth_image::snapshot::unmount(&view);
            written.map(|_| ()).map_err(Error::from)
        })();
        let _ = fs::remove_dir_all(&view);
        result
    }

    /// `commit`: the container's changes become a new layer on its image;
    /// returns the new image's ID.
    pub fn commit_container(&self, name: &str, options: &CommitOptions) -> Result<Digest> {
        let c = self.container(name)?;
        let reference = options.reference.as_deref().map(Reference::parse_docker).transpose()?;
        if reference.as_ref().is_some_and(|r| r.digest().is_some()) {
            return Err(Error::InvalidArgument(
                "commit takes REPOSITORY[:TAG]; a digest cannot be given".into(),
            ));
        }
        let image_id: Digest = c.row.image_id.parse()?;
        let image = self.image(&image_id.to_string())?;
        let mut config = image.config.clone();
        let mut run = config.config.clone().unwrap_or_default();
        // The container's settings become the image's, as in docker commit.
        run.env = Some(c.config.env.clone());
        run.cmd = c.config.cmd.clone();
        run.entrypoint = c.config.entrypoint.clone();
        run.working_dir = c.config.working_dir.clone();
        run.user = c.config.user.clone();
        run.labels = (!c.config.labels.is_empty()).then(|| c.config.labels.clone());
        run.stop_signal = c.config.stop_signal.clone();
        if let Some(given) = &options.config {
            run = merge_config(run, given.clone());
        }
        for change in &options.changes {
            apply_change(&mut run, change)?;
        }
        config.config = Some(run);

        let paused = options.pause && c.row.state == ContainerState::Running && self.pause_container(c.id()).is_ok();
        let ingest = self.store().ingest()?;
        let written = self.container_layer(&ingest, &c);
        if paused {
            let _ = self.unpause_container(c.id());
        }
        let (blob, written) = written?;

        let now = time::now();
        config.created = Some(now.clone());
        if let Some(author) = &options.author {
            config.author = Some(author.clone());
        }
        config.rootfs.diff_ids.push(written.diff_id.to_string());
        config.history.push(History {
            created: Some(now.clone()),
            created_by: Some(c.args().join(" ")),
            author: options.author.clone(),
            comment: options.message.clone(),
            empty_layer: false,
        });
        if let Some(message) = &options.message {
            config.extra.insert("comment".into(), serde_json::json!(message));
        }
        config.extra.insert("container".into(), serde_json::json!(c.id()));
        let tag = reference.as_ref().map(|r| r.to_string());
        let id = self.write_image(
            Some(&image.record),
            Some(NewLayer {
                ingest: &ingest,
                tar: blob,
            }),
            &config,
            tag.as_deref(),
        )?;
        let mut attributes = vec![("imageID", id.to_string())];
        if let Some(tag) = tag {
            attributes.push(("imageRef", tag));
        }
        if let Some(message) = &options.message {
            attributes.push(("comment", message.clone()));
        }
        self.emit_container(&c, "commit", &attributes);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_config_wins_field_by_field() {
        let base = CommitConfig {
            user: "app".into(),
            env: Some(vec!["A=1".into(), "B=2".into()]),
            cmd: Some(vec!["sh".into()]),
            labels: Some([("x".to_string(), "1".to_string())].into()),
            ..CommitConfig::default()
        };
        let given = CommitConfig {
            env: Some(vec!["B=3".into()]),
            labels: Some([("y".to_string(), "2".to_string())].into()),
            entrypoint: Some(vec!["/bin/app".into()]),
            ..CommitConfig::default()
        };
        let merged = merge_config(base.clone(), given);
        assert_eq!(merged.user, "app");
        assert_eq!(merged.env, Some(vec!["B=3".to_string(), "A=1".to_string()]));
        assert_eq!(merged.labels.unwrap().len(), 2);
        // An entrypoint given alone drops the container's command, as dockerd does.
        assert_eq!(merged.cmd, None);
        assert_eq!(merge_config(base.clone(), CommitConfig::default()), base);
    }
}
