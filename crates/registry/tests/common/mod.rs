//! Test peers: Debian's docker-registry (CNCF distribution) started per test, a tiny
//! HTTP server for misbehaving registries, and a token server that signs JWTs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod token;

use berth_registry::{ClientOptions, RetryPolicy};
use berth_store::Digest;

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// Skips a test loudly when a peer program is missing.
#[macro_export]
macro_rules! require {
    ($path:expr, $pkg:expr) => {
        if !std::path::Path::new($path).exists() {
            eprintln!("SKIPPED: {} not found; install the Debian package {}", $path, $pkg);
            return;
        }
    };
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Client options for tests: short timeouts and backoff.
pub fn options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(5),
        stall_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        },
        // Keep the machine's /etc/docker/certs.d out of tests.
        certs_dirs: Vec::new(),
        ..Default::default()
    }
}

/// A docker-registry process on a loopback port, with its storage in a temp dir.
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

#[derive(Default)]
pub struct RegistryConfig {
    /// YAML for the `auth:` section (without the key), indented by 2; `{dir}` stands
    /// for the registry's directory.
    pub auth: Option<String>,
    /// Files written into the registry's directory before it starts.
    pub files: Vec<(String, Vec<u8>)>,
    /// (certificate, key) PEM files for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Registry {
    pub fn start(config: RegistryConfig) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = &config.tls {
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        for (name, content) in &config.files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        if let Some(auth) = &config.auth {
            yaml.push_str("auth:\n");
            yaml.push_str(&auth.replace("{dir}", &dir.path().display().to_string()));
            yaml.push('\n');
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, yaml).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut r = Registry { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = r.child.try_wait() {
                panic!("docker-registry exited with {status}: {}", r.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                panic!("docker-registry did not listen on {port}: {}", r.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where the filesystem driver keeps a blob's bytes.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&digest.hex()[..2])
            .join(digest.hex())
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request as the tiny server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path with query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    /// The values of a query parameter, percent-decoded.
    pub fn query_all(&self, key: &str) -> Vec<String> {
        let Some((_, q)) = self.target.split_once('?') else {
            return Vec::new();
        };
        url::form_urlencoded::parse(q.as_bytes())
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .collect()
    }
}

/// Writes a complete response and closes the connection.
pub fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

type Handler = dyn Fn(&Request, &mut TcpStream) + Send + Sync;

/// A small HTTP/1.1 server on loopback; one request per connection.
pub struct HttpServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl HttpServer {
    pub fn start(handler: impl Fn(&Request, &mut TcpStream) + Send + Sync + 'static) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = conn else { continue };
                    let handler = handler.clone();
                    let requests = requests.clone();
                    std::thread::spawn(move || {
                        if let Some(req) = read_request(&mut stream) {
                            requests.lock().unwrap().push(req.clone());
                            handler(&req, &mut stream);
                        }
                    });
                }
            });
        }
        HttpServer { addr, stop, requests }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn count(&self, pred: impl Fn(&Request) -> bool) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| pred(r)).count()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    // A TLS ClientHello (the client trying HTTPS first) is not a request: hang up.
    let first = reader.fill_buf().ok()?.first().copied()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// A test image: config, one layer, OCI manifest.
pub struct TestImage {
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    pub fn new(seed: u8, layer_len: usize) -> TestImage {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{{"Env":["SEED={seed}"]}}}}"#
        )
        .into_bytes();
        let layer: Vec<u8> = (0..layer_len)
            .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[seed as usize % 4] ^ seed)
            .collect();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(&config).to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::of(&layer).to_string(), "size": layer.len()}],
        }))
        .unwrap();
        TestImage {
            config,
            layer,
            manifest,
        }
    }
    pub fn config_digest(&self) -> Digest {
        Digest::of(&self.config)
    }
    pub fn layer_digest(&self) -> Digest {
        Digest::of(&self.layer)
    }
    pub fn manifest_digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }

    /// Pushes blobs and manifest under `tag`.
    pub fn push(&self, client: &berth_registry::Client, repo: &str, tag: &str) {
        use berth_registry::BlobSource;
        client
            .push_blob(
                repo,
                &self.config_digest(),
                self.config.len() as u64,
                BlobSource::Bytes(&self.config),
                &mut |_| {},
            )
            .unwrap();
        client
            .push_blob(
                repo,
                &self.layer_digest(),
                self.layer.len() as u64,
                BlobSource::Bytes(&self.layer),
                &mut |_| {},
            )
            .unwrap();
        client
            .put_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &self.manifest)
            .unwrap();
    }
}

pub fn write_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, content).unwrap();
    p
}
