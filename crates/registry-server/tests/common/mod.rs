//! Shared helpers: a server on a free loopback port with its own root, and
//! small HTTP helpers over ureq (which turns 4xx/5xx into errors; here they
//! are just responses).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_registry_server::{bind, Config, ServerHandle};
use sha2::{Digest as _, Sha256};

pub struct Registry {
    pub root: tempfile::TempDir,
    pub handle: ServerHandle,
    pub base: String,
    pub agent: ureq::Agent,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(|_| {})
    }

    pub fn start_with(configure: impl FnOnce(&mut Config)) -> Registry {
        let root = tempfile::tempdir().unwrap();
        let mut config = Config::new(root.path().join("registry"));
        config.addr = "127.0.0.1:0".parse().unwrap();
        configure(&mut config);
        let server = bind(config).unwrap();
        let scheme = if server.is_tls() { "https" } else { "http" };
        let base = format!("{scheme}://{}", server.local_addr());
        let handle = server.spawn().unwrap();
        Registry {
            root,
            handle,
            base,
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build(),
        }
    }

    pub fn addr(&self) -> String {
        self.handle.local_addr().to_string()
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("registry")
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub fn req(&self, method: &str, path: &str) -> ureq::Request {
        self.agent.request(method, &self.url(path))
    }

    /// Pushes a blob monolithically; returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let r = send(
            self.req("POST", &format!("/v2/{repo}/blobs/uploads/?digest={digest}")),
            bytes,
        );
        assert_eq!(r.status(), 201, "{}", body(r));
        digest
    }

    /// Pushes a manifest; returns the response.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> ureq::Response {
        send(
            self.req("PUT", &format!("/v2/{repo}/manifests/{reference}"))
                .set("Content-Type", media_type),
            bytes,
        )
    }

    /// Pushes config and one layer, then an OCI manifest naming them under
    /// `tag`; returns the manifest bytes and digest.
    pub fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String) {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            sha256(layer)
        );
        let config_digest = self.push_blob(repo, config.as_bytes());
        let layer_digest = self.push_blob(repo, layer);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
        })
        .to_string()
        .into_bytes();
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest);
        assert_eq!(r.status(), 201, "{}", body(r));
        let digest = sha256(&manifest);
        (manifest, digest)
    }

    /// Sends a request line as given, bypassing URL normalisation, and
    /// returns the status and body.
    pub fn raw(&self, method: &str, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.handle.local_addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr()
        )
        .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        let status = out.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The response, whatever its status.
pub fn done(result: Result<ureq::Response, ureq::Error>) -> ureq::Response {
    match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    }
}

pub fn send(req: ureq::Request, bytes: &[u8]) -> ureq::Response {
    done(req.send_bytes(bytes))
}

pub fn call(req: ureq::Request) -> ureq::Response {
    done(req.call())
}

pub fn body(r: ureq::Response) -> String {
    r.into_string().unwrap()
}

pub fn bytes(r: ureq::Response) -> Vec<u8> {
    let mut out = Vec::new();
    r.into_reader().read_to_end(&mut out).unwrap();
    out
}

/// The first error code of an error body.
pub fn error_code(r: ureq::Response) -> String {
    let text = body(r);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    v["errors"][0]["code"].as_str().unwrap_or_default().to_string()
}

pub fn blob_file(data: &Path, digest: &str) -> PathBuf {
    data.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// Whether a tool is on PATH; tests that need it say loudly when it is not.
pub fn have(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: {tool} is not installed (see scripts/deps.sh)");
    }
    found
}
