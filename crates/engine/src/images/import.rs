//! `import`: a root filesystem tarball becomes a one-layer image, with
//! `--change` Dockerfile instructions applied to its config.

use std::collections::BTreeMap;
use std::io::Read;

use berth_image::spec::{ContainerConfig, History, ImageConfig, RootFs};
use berth_reference::Reference;
use berth_store::{meta, Digest};
use serde_json::json;

use super::unpack::{commit_image, layer_media_type, LayerSource};
use crate::events::EventType;
use crate::{time, Engine, Error, Result};

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// `REPO[:TAG]` to tag the new image with.
    pub reference: Option<String>,
    /// `--change` instructions, e.g. `CMD ["sh"]`, `ENV A=1`.
    pub changes: Vec<String>,
    /// `--message`, the history comment.
    pub message: Option<String>,
    /// What the user named as the source (`-`, a path or a URL), for history.
    pub source: String,
    /// `--platform`: refused unless it is this machine's (an import takes the tarball as it is).
    pub platform: Option<String>,
}

/// Where an imported tarball comes from.
pub enum ImportSource<'a> {
    /// A stream the caller opened (a file, stdin, an API request body).
    Stream(&'a mut dyn Read),
    /// An http(s) URL the engine downloads.
    Url(String),
}

impl ImportSource<'_> {
    /// Whether the CLI's `import` argument is a URL.
    pub fn is_url(source: &str) -> bool {
        source.starts_with("http://") || source.starts_with("https://")
    }
}

/// Refuses a platform that is not this machine's: `os/arch[/variant]` or the OS alone.
fn check_platform(platform: &str) -> Result<()> {
    let host = berth_image::spec::host_platform();
    if platform.starts_with(&format!("{}/{}", host.os, host.architecture)) || platform == host.os {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "platform {platform} is not supported here: this machine runs {}/{}",
        host.os, host.architecture
    )))
}

impl Engine {
    /// `import`: from a stream or a URL.
    pub fn import_from(&self, source: ImportSource<'_>, options: &ImportOptions) -> Result<Digest> {
        if let Some(platform) = &options.platform {
            check_platform(platform)?;
        }
        match source {
            ImportSource::Stream(input) => self.import(input, options),
            ImportSource::Url(url) => {
                let response = ureq::get(&url).call().map_err(|e| Error::Download {
                    context: format!("downloading {url}"),
                    reason: e.to_string(),
                })?;
                self.import(&mut response.into_reader(), options)
            }
        }
    }

    /// Imports a tarball (plain, gzip or zstd) as a new image; returns its ID.
    pub fn import(&self, input: &mut dyn Read, options: &ImportOptions) -> Result<Digest> {
        let id = self.import_image(input, options)?;
        let name = options.reference.clone().unwrap_or_else(|| id.to_string());
        self.emit(
            EventType::Image,
            "import",
            &id.to_string(),
            [("name".to_string(), name)].into(),
        );
        Ok(id)
    }

    fn import_image(&self, input: &mut dyn Read, options: &ImportOptions) -> Result<Digest> {
        let reference = options.reference.as_deref().map(Reference::parse_docker).transpose()?;
        if reference.as_ref().is_some_and(|r| r.digest().is_some()) {
            return Err(Error::InvalidArgument(
                "import takes REPOSITORY[:TAG]; a digest cannot be given".into(),
            ));
        }
        let mut container = ContainerConfig::default();
        for change in &options.changes {
            apply_change(&mut container, change)?;
        }
        let ingest = self.store.ingest()?;
        let blob = ingest.write_temp(input)?;
        if blob.size == 0 {
            return Err(Error::InvalidArgument(format!(
                "{}: the tarball is empty; import needs a tar archive of a root filesystem",
                options.source
            )));
        }
        // The diff ID is only known once the tar is unpacked: unpack into a
        // scratch layer first to learn it, then commit under its chain ID.
        let media_type = layer_media_type(&blob)?.to_string();
        let probe = ingest.new_dir()?;
        let diff = probe.join("diff");
        std::fs::create_dir(&diff).map_err(|e| Error::Io {
            path: diff.clone(),
            source: e,
        })?;
        let applied = berth_image::layer::apply_layer(
            std::fs::File::open(&blob.path).map_err(|e| Error::Io {
                path: blob.path.clone(),
                source: e,
            })?,
            &diff,
        )?;
        ingest.stage_temp(&blob, &media_type)?;
        ingest.stage_layer(applied.diff_id.clone(), probe);
        let layer = meta::Layer {
            chain_id: applied.diff_id.clone(),
            diff_id: applied.diff_id.clone(),
            parent: None,
            blob_digest: blob.digest.clone(),
            blob_media_type: media_type.clone(),
            blob_size: blob.size,
            diff_size: applied.tar_size,
            size: applied.size,
        };

        let now = time::now();
        let comment = options
            .message
            .clone()
            .unwrap_or_else(|| format!("Imported from {}", options.source));
        let platform = berth_image::spec::host_platform();
        let mut config = ImageConfig {
            created: Some(now.clone()),
            architecture: platform.architecture,
            os: platform.os,
            variant: platform.variant,
            config: Some(container),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![applied.diff_id.to_string()],
            },
            history: vec![History {
                created: Some(now.clone()),
                comment: Some(comment.clone()),
                ..History::default()
            }],
            ..ImageConfig::default()
        };
        if options.message.is_some() {
            config.extra.insert("comment".into(), json!(comment));
        }
        let config_bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let id = ingest.write_blob_bytes(&config_bytes, berth_image::spec::media::OCI_CONFIG)?;
        let sources = [LayerSource {
            blob: blob.clone(),
            media_type,
            diff_id: applied.diff_id.clone(),
        }];
        commit_image(&self.store, &ingest, &sources, Vec::new(), |tx, prepared| {
            meta::insert_layer(tx, &layer)?;
            meta::insert_image(
                tx,
                &meta::Image {
                    id: id.clone(),
                    size: prepared.size.max(layer.size),
                    created: Some(now.clone()),
                    parent: None,
                    manifest_digest: None,
                    added_at: now.clone(),
                    layers: prepared.chain_ids.clone(),
                    tags: Vec::new(),
                    repo_digests: Vec::new(),
                },
            )?;
            if let Some(reference) = &reference {
                meta::set_tag(tx, &reference.to_string(), &id, &now)?;
            }
            Ok(())
        })?;
        Ok(id)
    }
}

/// Applies one `--change` instruction to an image config.
pub fn apply_change(config: &mut ContainerConfig, change: &str) -> Result<()> {
    let change = change.trim();
    let (instruction, rest) = change.split_once(char::is_whitespace).unwrap_or((change, ""));
    let rest = rest.trim();
    let bad = |why: &str| Error::InvalidArgument(format!("--change {change:?}: {why}"));
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" => config.cmd = Some(command_form(rest)),
        "ENTRYPOINT" => config.entrypoint = Some(command_form(rest)),
        "ENV" => {
            let env = config.env.get_or_insert_with(Vec::new);
            for (key, value) in key_values(rest, true).map_err(|e| bad(&e))? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
                env.push(format!("{key}={value}"));
            }
        }
        "LABEL" => {
            let labels = config.labels.get_or_insert_with(BTreeMap::new);
            for (key, value) in key_values(rest, false).map_err(|e| bad(&e))? {
                labels.insert(key, value);
            }
        }
        "EXPOSE" => {
            let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for port in rest.split_whitespace() {
                let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
                if number.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad(&format!("invalid port {port:?}")));
                }
                ports.insert(format!("{number}/{proto}"), json!({}));
            }
        }
        "USER" => config.user = rest.to_string(),
        "WORKDIR" => {
            if !rest.starts_with('/') {
                return Err(bad("WORKDIR must be an absolute path"));
            }
            config.working_dir = rest.to_string();
        }
        "VOLUME" => {
            let volumes = config.volumes.get_or_insert_with(BTreeMap::new);
            let paths = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(list) => list,
                Err(_) => rest.split_whitespace().map(String::from).collect(),
            };
            for path in paths {
                volumes.insert(path, json!({}));
            }
        }
        "STOPSIGNAL" => config.stop_signal = rest.to_string(),
        "" => return Err(bad("empty instruction")),
        other => {
            return Err(bad(&format!(
                "{other} is not supported; use one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL"
            )))
        }
    }
    if rest.is_empty() && !instruction.eq_ignore_ascii_case("USER") {
        return Err(bad("the instruction needs an argument"));
    }
    Ok(())
}

/// JSON (exec) form, or shell form wrapped in `/bin/sh -c`.
fn command_form(rest: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(list) => list,
        Err(_) => vec!["/bin/sh".into(), "-c".into(), rest.into()],
    }
}

/// `K=V K2="a b"` pairs; with `legacy`, also the one-pair `K V` form of ENV.
fn key_values(rest: &str, legacy: bool) -> std::result::Result<Vec<(String, String)>, String> {
    let words = split_words(rest)?;
    if words.is_empty() {
        return Err("needs KEY=VALUE".into());
    }
    if !words[0].contains('=') {
        if legacy || words.len() > 1 {
            let (key, value) = rest
                .split_once(char::is_whitespace)
                .ok_or("needs KEY=VALUE or KEY VALUE")?;
            return Ok(vec![(key.to_string(), value.trim().to_string())]);
        }
        return Err(format!("{:?} is not KEY=VALUE", words[0]));
    }
    words
        .into_iter()
        .map(|w| {
            let (k, v) = w.split_once('=').ok_or_else(|| format!("{w:?} is not KEY=VALUE"))?;
            if k.is_empty() {
                return Err(format!("{w:?} has an empty key"));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Splits on whitespace, honouring double and single quotes and backslashes.
fn split_words(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => word.extend(chars.next()),
                        Some(other) => word.push(other),
                        None => return Err("unterminated quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_like_dockerfile_instructions() {
        let mut c = ContainerConfig::default();
        for change in [
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /bin/app --flag",
            "ENV A=1 B=\"two words\"",
            "ENV LEGACY some value",
            "ENV A=3",
            "LABEL com.example.x=\"y z\" plain=1",
            "EXPOSE 80 53/udp",
            "USER nobody:nogroup",
            "WORKDIR /srv",
            "VOLUME [\"/data\"]",
            "STOPSIGNAL SIGTERM",
        ] {
            apply_change(&mut c, change).unwrap();
        }
        assert_eq!(c.cmd.unwrap(), vec!["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "/bin/app --flag"]);
        assert_eq!(c.env.unwrap(), vec!["B=two words", "LEGACY=some value", "A=3"]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["com.example.x"], "y z");
        assert_eq!(labels["plain"], "1");
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, vec!["53/udp", "80/tcp"]);
        assert_eq!(c.user, "nobody:nogroup");
        assert_eq!(c.working_dir, "/srv");
        assert!(c.volumes.unwrap().contains_key("/data"));
        assert_eq!(c.stop_signal, "SIGTERM");
    }

    #[test]
    fn bad_changes_are_refused() {
        let mut c = ContainerConfig::default();
        for change in [
            "RUN echo",
            "EXPOSE http",
            "WORKDIR relative",
            "LABEL novalue",
            "ENV",
            "CMD",
        ] {
            assert!(apply_change(&mut c, change).is_err(), "{change}");
        }
    }
}
