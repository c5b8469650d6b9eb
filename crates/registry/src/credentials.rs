//! Registry credentials in Docker's `config.json` format, with credential helpers
//! (`docker-credential-<name> get|store|erase`).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The key Docker stores Docker Hub credentials under.
pub const DOCKER_HUB_CREDENTIALS_KEY: &str = "https://index.docker.io/v1/";

/// Credentials for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth2 refresh token (Docker's `identitytoken`), used instead of the password
    /// with token servers.
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // Never print secrets into logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &if self.password.is_empty() { "" } else { "<redacted>" })
            .field("identity_token", &self.identity_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    pub fn basic(username: &str, password: &str) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
            identity_token: None,
        }
    }
}

/// Where a [`crate::Client`] gets credentials from. `registry` is the registry host as
/// given to the client (`docker.io`, `localhost:5000`).
pub trait CredentialsProvider: Send + Sync {
    fn get(&self, registry: &str) -> Result<Option<Credentials>>;
}

/// Fixed credentials, e.g. from `login -u/-p` before they are stored.
#[derive(Clone, Debug)]
pub struct StaticCredentials(pub Credentials);

impl CredentialsProvider for StaticCredentials {
    fn get(&self, _registry: &str) -> Result<Option<Credentials>> {
        Ok(Some(self.0.clone()))
    }
}

/// The key a registry's credentials are stored under in config.json.
pub fn credentials_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_CREDENTIALS_KEY.to_string(),
        other => other.to_string(),
    }
}

/// `https://host:port/v1/` -> `host:port`, as Docker's `ConvertToHostname`.
fn key_hostname(key: &str) -> &str {
    let rest = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// Docker's client configuration file (`config.json`). Only the credential parts are
/// interpreted; every other field is kept as found when the file is written back.
#[derive(Clone, Debug)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
    /// Where `docker-credential-*` helpers are looked up; `None` means `$PATH`.
    pub helper_path: Option<OsString>,
}

impl DockerConfig {
    /// The config file Docker uses: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        Self::path_from(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
    }

    /// [`Self::default_path`] from explicit variables (for tests and callers with their own env).
    pub fn path_from(docker_config: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
        match docker_config.filter(|d| !d.is_empty()) {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => home
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".docker").join("config.json")),
        }
    }

    /// Loads the default config file (an empty config when there is none).
    pub fn load_default() -> Result<Self> {
        match Self::default_path() {
            Some(p) => Self::load(&p),
            None => Err(Error::Config {
                path: PathBuf::from("~/.docker/config.json"),
                reason: "neither DOCKER_CONFIG nor HOME is set: set one of them".into(),
            }),
        }
    }

    /// Loads `path`; a missing file is an empty config that [`Self::save`] will create.
    pub fn load(path: &Path) -> Result<Self> {
        let doc = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(Error::Config {
                        path: path.into(),
                        reason: "not a JSON object: fix or remove the file".into(),
                    })
                }
                Err(e) => {
                    return Err(Error::Config {
                        path: path.into(),
                        reason: format!("invalid JSON ({e}): fix or remove the file"),
                    })
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(source) => {
                return Err(Error::Io {
                    path: path.into(),
                    source,
                })
            }
        };
        Ok(DockerConfig {
            path: path.into(),
            doc,
            helper_path: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper for a registry key: `credHelpers[key]`, else `credsStore`.
    fn helper_for(&self, key: &str) -> Option<String> {
        let host = key_hostname(key);
        if let Some(helpers) = self.doc.get("credHelpers").and_then(Value::as_object) {
            for (k, v) in helpers {
                if (k == key || key_hostname(k) == host) && v.as_str().is_some_and(|s| !s.is_empty()) {
                    return v.as_str().map(String::from);
                }
            }
        }
        self.doc
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    /// The `auths` entry for a key: exact key first, then any entry with the same host
    /// (Docker accepts `https://host/v1/`, `http://host`, `host`).
    fn auth_entry(&self, key: &str) -> Option<&Map<String, Value>> {
        let auths = self.auths()?;
        if let Some(Value::Object(e)) = auths.get(key) {
            return Some(e);
        }
        let host = key_hostname(key);
        auths.iter().find_map(|(k, v)| match v {
            Value::Object(e) if key_hostname(k) == host => Some(e),
            _ => None,
        })
    }

    /// The credentials stored for `registry`, from its helper or from `auths`.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>> {
        let key = credentials_key(registry);
        if let Some(helper) = self.helper_for(&key) {
            return self.helper_get(&helper, &key);
        }
        let Some(entry) = self.auth_entry(&key) else {
            return Ok(None);
        };
        let mut creds = Credentials::default();
        if let Some(auth) = entry.get("auth").and_then(Value::as_str).filter(|a| !a.is_empty()) {
            let bad = |reason: &str| Error::Config {
                path: self.path.clone(),
                reason: format!("auths.{key:?}.auth {reason}: log in again"),
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("is not base64"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad("is not UTF-8"))?;
            let (user, pass) = decoded.split_once(':').ok_or_else(|| bad("is not user:password"))?;
            creds.username = user.into();
            creds.password = pass.trim_end_matches('\n').into();
        } else {
            // Old and hand-written files carry separate fields.
            creds.username = entry.get("username").and_then(Value::as_str).unwrap_or("").into();
            creds.password = entry.get("password").and_then(Value::as_str).unwrap_or("").into();
        }
        creds.identity_token = entry
            .get("identitytoken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(String::from);
        if creds.username.is_empty() && creds.password.is_empty() && creds.identity_token.is_none() {
            return Ok(None);
        }
        Ok(Some(creds))
    }

    /// Stores credentials for `registry` (in its helper when one is configured, as Docker
    /// does, leaving only an empty `auths` entry in the file) and writes the file.
    pub fn store(&mut self, registry: &str, creds: &Credentials) -> Result<()> {
        let key = credentials_key(registry);
        let mut entry = Map::new();
        if let Some(helper) = self.helper_for(&key) {
            self.helper_store(&helper, &key, creds)?;
        } else {
            let auth = format!("{}:{}", creds.username, creds.password);
            entry.insert(
                "auth".into(),
                base64::engine::general_purpose::STANDARD.encode(auth).into(),
            );
            if let Some(t) = &creds.identity_token {
                entry.insert("identitytoken".into(), t.clone().into());
            }
        }
        // Drop other spellings of the same host so the old secret cannot win on lookup.
        self.remove_auth_entries(&key);
        let auths = self.doc.entry("auths").or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Value::Object(a) = auths {
            a.insert(key, Value::Object(entry));
        }
        self.save()
    }

    /// Removes the credentials for `registry` (from its helper too) and writes the file.
    /// Returns false when there were none.
    pub fn erase(&mut self, registry: &str) -> Result<bool> {
        let key = credentials_key(registry);
        let mut found = false;
        if let Some(helper) = self.helper_for(&key) {
            found |= self.helper_erase(&helper, &key)?;
        }
        found |= self.remove_auth_entries(&key);
        if found {
            self.save()?;
        }
        Ok(found)
    }

    fn remove_auth_entries(&mut self, key: &str) -> bool {
        let host = key_hostname(key).to_string();
        let Some(Value::Object(auths)) = self.doc.get_mut("auths") else {
            return false;
        };
        let before = auths.len();
        auths.retain(|k, _| k != key && key_hostname(k) != host);
        auths.len() != before
    }

    /// Writes the file atomically (temporary file, fsync, rename) with mode 0600.
    pub fn save(&self) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut text = serde_json::to_vec_pretty(&Value::Object(self.doc.clone())).map_err(|e| Error::Config {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        text.push(b'\n');
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            self.path.file_name().and_then(|n| n.to_str()).unwrap_or("config.json"),
            std::process::id()
        ));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io(&tmp))?;
            f.write_all(&text).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
            std::fs::rename(&tmp, &self.path).map_err(io(&self.path))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn helper_command(&self, helper: &str) -> Result<PathBuf> {
        let name = format!("docker-credential-{helper}");
        if helper.contains('/') {
            return Err(Error::CredentialHelper {
                helper: name,
                reason: "helper names cannot contain '/': fix credsStore or credHelpers in the config file".into(),
            });
        }
        let search = self
            .helper_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        std::env::split_paths(&search)
            .map(|d| d.join(&name))
            .find(|p| p.is_file())
            .ok_or_else(|| Error::CredentialHelper {
                helper: name.clone(),
                reason: format!(
                    "not found in PATH: install it or remove it from {}",
                    self.path.display()
                ),
            })
    }

    /// Runs a helper with `input` on stdin; returns (success, stdout).
    fn run_helper(&self, helper: &str, action: &str, input: &[u8]) -> Result<(bool, String)> {
        let cmd = self.helper_command(helper)?;
        let name = format!("docker-credential-{helper}");
        let fail = |reason: String| Error::CredentialHelper {
            helper: name.clone(),
            reason,
        };
        let mut child = Command::new(&cmd)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", cmd.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading gives EPIPE here; its exit status tells more.
            let _ = stdin.write_all(input);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("{action} failed: {e}")))?;
        let mut text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() && text.is_empty() {
            text = String::from_utf8_lossy(&out.stderr).trim().to_string();
        }
        Ok((out.status.success(), text))
    }

    fn helper_get(&self, helper: &str, key: &str) -> Result<Option<Credentials>> {
        let (ok, out) = self.run_helper(helper, "get", key.as_bytes())?;
        if !ok {
            if out.contains("credentials not found") {
                return Ok(None);
            }
            return Err(Error::CredentialHelper {
                helper: format!("docker-credential-{helper}"),
                reason: format!("get failed: {out}"),
            });
        }
        #[derive(serde::Deserialize)]
        struct Reply {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let reply: Reply = serde_json::from_str(&out).map_err(|e| Error::CredentialHelper {
            helper: format!("docker-credential-{helper}"),
            reason: format!("get printed something that is not its JSON reply ({e})"),
        })?;
        // Helpers return identity tokens with the username "<token>".
        Ok(Some(if reply.username == "<token>" {
            Credentials {
                username: String::new(),
                password: String::new(),
                identity_token: Some(reply.secret),
            }
        } else {
            Credentials::basic(&reply.username, &reply.secret)
        }))
    }

    fn helper_store(&self, helper: &str, key: &str, creds: &Credentials) -> Result<()> {
        let (username, secret) = match &creds.identity_token {
            Some(t) => ("<token>", t.as_str()),
            None => (creds.username.as_str(), creds.password.as_str()),
        };
        let input = serde_json::json!({"ServerURL": key, "Username": username, "Secret": secret});
        let (ok, out) = self.run_helper(helper, "store", input.to_string().as_bytes())?;
        if ok {
            Ok(())
        } else {
            Err(Error::CredentialHelper {
                helper: format!("docker-credential-{helper}"),
                reason: format!("store failed: {out}"),
            })
        }
    }

    fn helper_erase(&self, helper: &str, key: &str) -> Result<bool> {
        let (ok, out) = self.run_helper(helper, "erase", key.as_bytes())?;
        if ok {
            Ok(true)
        } else if out.contains("credentials not found") {
            Ok(false)
        } else {
            Err(Error::CredentialHelper {
                helper: format!("docker-credential-{helper}"),
                reason: format!("erase failed: {out}"),
            })
        }
    }
}

impl CredentialsProvider for DockerConfig {
    fn get(&self, registry: &str) -> Result<Option<Credentials>> {
        DockerConfig::get(self, registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("config.json");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn resolves_the_config_path() {
        assert_eq!(
            DockerConfig::path_from(Some("/d".into()), Some("/h".into())),
            Some(PathBuf::from("/d/config.json"))
        );
        assert_eq!(
            DockerConfig::path_from(None, Some("/h".into())),
            Some(PathBuf::from("/h/.docker/config.json"))
        );
        assert_eq!(DockerConfig::path_from(Some("".into()), None), None);
    }

    #[test]
    fn reads_auths_in_docker_forms() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
                "http://reg.example:5000/v2/":{"auth":"YTpiOmM=","identitytoken":"tok"},
                "empty.example":{}}}"#,
        );
        let c = DockerConfig::load(&p).unwrap();
        assert_eq!(c.get("docker.io").unwrap(), Some(Credentials::basic("user", "pass")));
        let r = c.get("reg.example:5000").unwrap().unwrap();
        assert_eq!((r.username.as_str(), r.password.as_str()), ("a", "b:c"));
        assert_eq!(r.identity_token.as_deref(), Some("tok"));
        assert_eq!(c.get("empty.example").unwrap(), None);
        assert_eq!(c.get("other.example").unwrap(), None);
        assert!(!format!("{r:?}").contains("b:c"));
    }

    #[test]
    fn store_and_erase_keep_other_fields() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            r#"{"psFormat":"table {{.ID}}","auths":{"http://localhost:5000":{"auth":"b2xkOm9sZA=="}},"proxies":{"default":{"httpProxy":"x"}}}"#,
        );
        let mut c = DockerConfig::load(&p).unwrap();
        c.store("localhost:5000", &Credentials::basic("u", "p")).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["psFormat"], "table {{.ID}}");
        assert_eq!(v["proxies"]["default"]["httpProxy"], "x");
        assert_eq!(v["auths"].as_object().unwrap().len(), 1);
        assert_eq!(v["auths"]["localhost:5000"]["auth"], "dTpw");
        // Order of the top-level fields is preserved.
        assert!(text.find("psFormat").unwrap() < text.find("proxies").unwrap());
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let c2 = DockerConfig::load(&p).unwrap();
        assert_eq!(c2.get("localhost:5000").unwrap(), Some(Credentials::basic("u", "p")));

        let mut c3 = DockerConfig::load(&p).unwrap();
        assert!(c3.erase("localhost:5000").unwrap());
        assert!(!c3.erase("localhost:5000").unwrap());
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["auths"], serde_json::json!({}));
        assert_eq!(v["psFormat"], "table {{.ID}}");
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_file_is_empty_and_bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let c = DockerConfig::load(&dir.path().join("sub/config.json")).unwrap();
        assert_eq!(c.get("docker.io").unwrap(), None);
        let mut c = c;
        c.store("docker.io", &Credentials::basic("a", "b")).unwrap();
        assert!(dir.path().join("sub/config.json").exists());
        let p = write(dir.path(), "{not json");
        let e = DockerConfig::load(&p).unwrap_err();
        assert!(e.to_string().contains("invalid JSON"), "{e}");
    }

    /// A credential helper written as a shell script that keeps its store in a file.
    fn fake_helper(dir: &Path) -> OsString {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.join("bin");
        std::fs::create_dir(&bin).unwrap();
        let store = dir.join("helper-store");
        let script = format!(
            r#"#!/bin/sh
set -e
case "$1" in
  store) cat > '{s}' ;;
  get) read -r url || true; if [ -s '{s}' ] && grep -q "\"ServerURL\":\"$url\"" '{s}'; then
         sed -e 's/.*"Username":"\([^"]*\)".*"Secret":"\([^"]*\)".*/{{"ServerURL":"'"$url"'","Username":"\1","Secret":"\2"}}/' '{s}'
       else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) read -r url || true; if [ -s '{s}' ]; then : > '{s}'; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
"#,
            s = store.display()
        );
        let helper = bin.join("docker-credential-fake");
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin.into_os_string()
    }

    #[test]
    fn credential_helpers_get_store_erase() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), r#"{"credHelpers":{"reg.example":"fake"},"auths":{}}"#);
        let mut c = DockerConfig::load(&p).unwrap();
        c.helper_path = Some(fake_helper(dir.path()));
        assert_eq!(c.get("reg.example").unwrap(), None);
        c.store("reg.example", &Credentials::basic("alice", "s3cret")).unwrap();
        assert_eq!(
            c.get("reg.example").unwrap(),
            Some(Credentials::basic("alice", "s3cret"))
        );
        // The file has the entry without the secret, as Docker writes it.
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["auths"]["reg.example"], serde_json::json!({}));
        // Registries without a helper still use the file.
        assert_eq!(c.get("other.example").unwrap(), None);
        assert!(c.erase("reg.example").unwrap());
        assert_eq!(c.get("reg.example").unwrap(), None);

        c.doc.insert("credsStore".into(), "missing".into());
        c.doc.remove("credHelpers");
        let e = c.get("x.example").unwrap_err();
        assert!(e.to_string().contains("docker-credential-missing"), "{e}");
    }
}
