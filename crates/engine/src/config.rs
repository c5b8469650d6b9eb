//! berth's own settings, in the shape of Docker's daemon.json: `/etc/berth/config.json`, or the file
//! `$BERTH_CONFIG` names. Read afresh by each command that needs it (there is no daemon to restart).
//! A missing file means the defaults; a malformed one is a warning and the defaults, so a typo never
//! stops containers from starting or images from being pulled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where berth looks when `$BERTH_CONFIG` is not set.
pub const DEFAULT_PATH: &str = "/etc/berth/config.json";

/// The options of the json-file log driver: what a default may set and a container may give.
pub(crate) const LOG_OPTS: &[&str] = &["max-size", "max-file", "compress", "labels", "env", "tag"];

/// The settings berth reads; keys it does not know (Docker's daemon.json has many) are ignored.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", default)]
pub struct Config {
    /// Registries spoken to over plain HTTP or with unverified TLS.
    pub insecure_registries: Vec<String>,
    /// The log driver of containers created without `--log-driver` (json-file when unset).
    pub log_driver: Option<String>,
    /// The log options a container of the default driver gets unless it sets them itself.
    pub log_opts: BTreeMap<String, String>,
    /// The `--userns` of containers created without one: "host" (when unset) or "auto".
    pub userns: Option<String>,
    /// The host ids `--userns=auto` ranges come from, "BASE:SIZE" (see `userns.rs` for the default).
    pub userns_pool: Option<String>,
}

/// The file berth's settings come from.
pub fn path() -> PathBuf {
    std::env::var_os("BERTH_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// berth's settings from [`path`].
pub fn load() -> Config {
    load_from(&path())
}

/// The settings in `path`: defaults when it is missing; a warning and defaults when it cannot be read
/// or parsed; a warning for each log option that is dropped because berth cannot use it.
pub fn load_from(path: &Path) -> Config {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Config::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read berth's config file, using defaults: check its permissions");
            return Config::default();
        }
    };
    let mut config = match serde_json::from_slice::<Config>(&bytes) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring a malformed berth config file, using defaults: fix its JSON");
            return Config::default();
        }
    };
    config.log_opts.retain(|key, value| match check_log_opt(key, value) {
        Ok(()) => true,
        Err(problem) => {
            tracing::warn!(path = %path.display(), "ignoring log-opts {key:?} in berth's config file: {problem}");
            false
        }
    });
    config
}

/// Whether the json-file driver can use `key=value`; the problem otherwise.
pub(crate) fn check_log_opt(key: &str, value: &str) -> Result<(), String> {
    if !LOG_OPTS.contains(&key) {
        return Err(format!(
            "unknown option for the json-file driver (known: {})",
            LOG_OPTS.join(", ")
        ));
    }
    match key {
        "max-size" if crate::containers::logs::parse_size(value).is_none() => {
            Err(format!("invalid size {value:?}: use bytes or a number with k, m or g"))
        }
        "max-file" if value.parse::<u32>().map_or(true, |n| n == 0) => Err(format!(
            "invalid file count {value:?}: use a whole number of at least 1"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, text).unwrap();
        load_from(&path)
    }

    #[test]
    fn reads_docker_style_keys_and_ignores_unknown_ones() {
        let config = load_text(
            r#"{"insecure-registries": ["localhost:5000"], "log-driver": "json-file",
                "log-opts": {"max-size": "10m", "max-file": "3"}, "storage-driver": "overlay2"}"#,
        );
        assert_eq!(config.insecure_registries, vec!["localhost:5000".to_string()]);
        assert_eq!(config.log_driver.as_deref(), Some("json-file"));
        assert_eq!(config.log_opts.get("max-size").map(String::as_str), Some("10m"));
        assert_eq!(config.log_opts.get("max-file").map(String::as_str), Some("3"));
    }

    #[test]
    fn missing_or_malformed_files_give_the_defaults() {
        assert_eq!(load_from(Path::new("/nonexistent/berth.json")), Config::default());
        assert_eq!(load_text("{\"log-opts\": "), Config::default());
        assert_eq!(load_text("{\"insecure-registries\": \"one\"}"), Config::default());
    }

    #[test]
    fn unusable_log_opts_are_dropped() {
        let config = load_text(r#"{"log-opts": {"max-size": "lots", "max-file": "0", "mode": "x", "tag": "t"}}"#);
        assert_eq!(
            config.log_opts.into_iter().collect::<Vec<_>>(),
            vec![("tag".into(), "t".into())]
        );
    }
}
