//! `image inspect` and `history` as Docker's Engine API types (`ImageInspect`, `HistoryResponseItem`):
//! typed values both front doors serialize, field for field as dockerd writes them.

use std::collections::BTreeMap;

use berth_image::spec::ContainerConfig;
use berth_store::meta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Engine, Result};

/// Docker's `ImageInspect` (with the fields Docker 28 still writes for older clients: Parent,
/// DockerVersion).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub docker_version: String,
    pub author: String,
    pub config: ImageInspectConfig,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    pub size: u64,
    pub graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    pub metadata: ImageMetadata,
}

/// The image's container defaults as inspect shows them: Docker's `ContainerConfig`, with the fields
/// dockerd always writes filled in, and whatever else the image's config carries kept. The default
/// is the empty config dockerd writes where it has none.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspectConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Fields of the image's config berth does not model, as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's `GraphDriverData`: the storage driver and the directories under it, for images and
/// containers alike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// LowerDir, MergedDir, UpperDir, WorkDir (a container's: MergedDir, UpperDir, WorkDir).
    pub data: BTreeMap<String, String>,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    pub layers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageMetadata {
    /// RFC 3339; Go's zero time when the image was never tagged here.
    pub last_tag_time: String,
}

/// One row of `history` (Docker's `HistoryResponseItem`), newest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryResponseItem {
    /// The image ID for the top row, `<missing>` below, as Docker answers.
    pub id: String,
    /// Unix seconds (0 when unknown).
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: i64,
    pub comment: String,
}

/// The ID Docker shows for history rows that are not an image here.
pub const MISSING: &str = "<missing>";

impl Engine {
    /// `image inspect`.
    pub fn inspect_image(&self, name: &str) -> Result<ImageInspect> {
        let image = self.image(name)?;
        let conn = self.store.db()?;
        let mut layers = Vec::new();
        for chain in &image.record.layers {
            if let Some(layer) = meta::get_layer(&conn, chain)? {
                layers.push(layer);
            }
        }
        drop(conn);
        let c = &image.config;
        let extra = |key: &str| c.extra.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let mut data = BTreeMap::new();
        if let Some(top) = layers.last() {
            let top_dir = self.store.layer_path(&top.chain_id);
            data.insert("MergedDir".into(), top_dir.join("merged").display().to_string());
            data.insert(
                "UpperDir".into(),
                self.store.layer_diff(&top.chain_id).display().to_string(),
            );
            data.insert("WorkDir".into(), top_dir.join("work").display().to_string());
            let lowers: Vec<String> = layers
                .iter()
                .rev()
                .skip(1)
                .map(|l| self.store.layer_diff(&l.chain_id).display().to_string())
                .collect();
            if !lowers.is_empty() {
                data.insert("LowerDir".into(), lowers.join(":"));
            }
        }
        let last_tag = self.last_tag_time(image.id())?;
        Ok(ImageInspect {
            id: image.id().to_string(),
            repo_tags: image.repo_tags(),
            repo_digests: image.repo_digests(),
            parent: image.record.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            comment: extra("comment"),
            created: c.created.clone().unwrap_or_default(),
            docker_version: extra("docker_version"),
            author: c.author.clone().unwrap_or_default(),
            config: inspect_config(&c.config.clone().unwrap_or_default()),
            architecture: c.architecture.clone(),
            variant: c.variant.clone(),
            os: c.os.clone(),
            os_version: c.os_version.clone(),
            size: image.record.size,
            graph_driver: GraphDriver {
                data,
                name: "overlay2".into(),
            },
            root_fs: RootFs {
                kind: c.rootfs.kind.clone(),
                layers: c.rootfs.diff_ids.clone(),
            },
            metadata: ImageMetadata {
                last_tag_time: last_tag.unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            },
        })
    }

    fn last_tag_time(&self, id: &berth_store::Digest) -> Result<Option<String>> {
        let conn = self.store.db()?;
        let t: Option<String> = conn
            .query_row(
                "SELECT MAX(added_at) FROM tags WHERE image_id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .map_err(berth_store::Error::from)?;
        Ok(t)
    }

    /// `history`: the config's history, newest first, with layer sizes.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryResponseItem>> {
        let image = self.image(name)?;
        let conn = self.store.db()?;
        let mut sizes = Vec::new();
        for chain in &image.record.layers {
            sizes.push(meta::get_layer(&conn, chain)?.map(|l| l.size).unwrap_or(0));
        }
        drop(conn);
        let mut sizes = sizes.into_iter();
        let row = |created: Option<&str>, created_by: String, size: u64, comment: String| HistoryResponseItem {
            id: MISSING.into(),
            created: crate::time::unix_seconds(created),
            created_by,
            tags: Vec::new(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            comment,
        };
        let history = &image.config.history;
        let mut rows: Vec<HistoryResponseItem> = if history.is_empty() {
            // An image without history still has layers to show.
            sizes
                .map(|size| row(image.config.created.as_deref(), String::new(), size, String::new()))
                .collect()
        } else {
            history
                .iter()
                .map(|h| {
                    row(
                        h.created.as_deref(),
                        h.created_by.clone().unwrap_or_default(),
                        if h.empty_layer { 0 } else { sizes.next().unwrap_or(0) },
                        h.comment.clone().unwrap_or_default(),
                    )
                })
                .collect()
        };
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = image.id().to_string();
            top.tags = image.repo_tags();
        }
        Ok(rows)
    }
}

/// The Config of image inspect: the image's config with the fields Docker always shows filled in. Old
/// Docker images carry some of those (Hostname, Image, ...) in their config: theirs are kept.
fn inspect_config(config: &ContainerConfig) -> ImageInspectConfig {
    let mut extra = config.extra.clone();
    let mut text = |key: &str| match extra.remove(key) {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    let (hostname, domainname, image) = (text("Hostname"), text("Domainname"), text("Image"));
    let mut flag = |key: &str| matches!(extra.remove(key), Some(Value::Bool(true)));
    let attach_stdin = flag("AttachStdin");
    let attach_stdout = flag("AttachStdout");
    let attach_stderr = flag("AttachStderr");
    let tty = flag("Tty");
    let open_stdin = flag("OpenStdin");
    let stdin_once = flag("StdinOnce");
    ImageInspectConfig {
        hostname,
        domainname,
        user: config.user.clone(),
        attach_stdin,
        attach_stdout,
        attach_stderr,
        exposed_ports: config.exposed_ports.clone(),
        tty,
        open_stdin,
        stdin_once,
        env: config.env.clone(),
        cmd: config.cmd.clone(),
        healthcheck: config.healthcheck.clone().filter(|h| !h.is_null()),
        args_escaped: config.args_escaped,
        image,
        volumes: config.volumes.clone(),
        working_dir: config.working_dir.clone(),
        entrypoint: config.entrypoint.clone(),
        on_build: config.on_build.clone(),
        labels: config.labels.clone(),
        stop_signal: config.stop_signal.clone(),
        shell: config.shell.clone(),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_config_keeps_dockers_field_order_and_old_fields() {
        let config: ContainerConfig = serde_json::from_value(serde_json::json!({
            "Cmd": ["sh"],
            "Hostname": "abc",
            "Tty": true,
            "Custom": 1
        }))
        .unwrap();
        let value = serde_json::to_value(inspect_config(&config)).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "Hostname",
                "Domainname",
                "User",
                "AttachStdin",
                "AttachStdout",
                "AttachStderr",
                "Tty",
                "OpenStdin",
                "StdinOnce",
                "Env",
                "Cmd",
                "Image",
                "Volumes",
                "WorkingDir",
                "Entrypoint",
                "OnBuild",
                "Labels",
                "Custom"
            ]
        );
        assert_eq!(value["Hostname"], "abc");
        assert_eq!(value["Tty"], true);
        assert_eq!(value["Env"], Value::Null);
    }

    #[test]
    fn history_times_are_unix_seconds() {
        assert_eq!(crate::time::unix_seconds(Some("1970-01-01T00:01:00.5Z")), 60);
        assert_eq!(crate::time::unix_seconds(None), 0);
        assert_eq!(crate::time::unix_seconds(Some("yesterday")), 0);
    }
}
