//! Basic auth from an htpasswd file, and HTTPS with a self-signed
//! certificate, over HTTP with ureq.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::*;

/// An htpasswd file as `htpasswd -B` writes it (`$2y$` bcrypt entries).
pub fn write_htpasswd(dir: &Path, user: &str, password: &str) -> PathBuf {
    let hash = bcrypt::hash(password, 5).unwrap().replacen("$2b$", "$2y$", 1);
    let path = dir.join("htpasswd");
    std::fs::write(&path, format!("{user}:{hash}\n")).unwrap();
    path
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = write_htpasswd(dir.path(), "alice", "s3cret");
    let reg = Registry::start_with(|c| c.htpasswd = Some(htpasswd));

    let r = call(reg.req("GET", "/v2/"));
    assert_eq!(r.status(), 401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Basic realm=\"berth registry\""));
    assert_eq!(r.header("Docker-Distribution-Api-Version"), Some("registry/2.0"));
    assert_eq!(error_code(r), "UNAUTHORIZED");

    let r = call(reg.req("GET", "/v2/").set("Authorization", &basic("alice", "wrong")));
    assert_eq!(r.status(), 401);
    let r = call(reg.req("GET", "/v2/").set("Authorization", &basic("mallory", "s3cret")));
    assert_eq!(r.status(), 401);
    let r = call(reg.req("GET", "/v2/").set("Authorization", "Basic not-base64!"));
    assert_eq!(r.status(), 401);

    let ok = basic("alice", "s3cret");
    assert_eq!(call(reg.req("GET", "/v2/").set("Authorization", &ok)).status(), 200);
    // Every endpoint is behind it, writes included.
    let digest = sha256(b"blob");
    let r = send(
        reg.req("POST", &format!("/v2/app/blobs/uploads/?digest={digest}")),
        b"blob",
    );
    assert_eq!(r.status(), 401);
    assert!(!blob_file(&reg.data(), &digest).exists());
    let r = send(
        reg.req("POST", &format!("/v2/app/blobs/uploads/?digest={digest}"))
            .set("Authorization", &ok),
        b"blob",
    );
    assert_eq!(r.status(), 201);
    assert_eq!(call(reg.req("GET", &format!("/v2/app/blobs/{digest}"))).status(), 401);
    assert_eq!(call(reg.req("GET", "/v2/_catalog")).status(), 401);
}

#[test]
fn refuses_unusable_htpasswd() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = berth_registry_server::Config::new(dir.path().join("root"));
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.htpasswd = Some(dir.path().join("missing"));
    let err = berth_registry_server::bind(config).err().unwrap();
    assert_eq!(err.kind(), berth_store::ErrorKind::InvalidArgument);
}

pub struct TestCert {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: Vec<u8>,
}

/// A self-signed certificate for 127.0.0.1 and localhost.
pub fn test_cert() -> TestCert {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    TestCert {
        der: certified.cert.der().to_vec(),
        dir,
        cert,
        key,
    }
}

fn tls_agent(der: &[u8]) -> ureq::Agent {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der.to_vec()))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(config))
        .timeout(Duration::from_secs(30))
        .build()
}

#[test]
fn https() {
    let cert = test_cert();
    let mut reg = Registry::start_with(|c| c.tls = Some((cert.cert.clone(), cert.key.clone())));
    assert!(reg.base.starts_with("https://"));
    reg.agent = tls_agent(&cert.der);
    assert_eq!(call(reg.req("GET", "/v2/")).status(), 200);
    let (manifest, _) = reg.push_image("secure/app", "v1", b"layer over tls");
    assert_eq!(bytes(call(reg.req("GET", "/v2/secure/app/manifests/v1"))), manifest);

    // A plain HTTP request or an untrusting client gets nothing.
    let plain = format!("http://{}/v2/", reg.addr());
    assert!(ureq::get(&plain).timeout(Duration::from_secs(10)).call().is_err());
    let other = test_cert();
    assert!(tls_agent(&other.der).get(&reg.url("/v2/")).call().is_err());
    // A client that stalls in the handshake does not block others.
    let _stalled = std::net::TcpStream::connect(reg.handle.local_addr()).unwrap();
    assert_eq!(call(reg.req("GET", "/v2/")).status(), 200);
}

#[test]
fn refuses_bad_tls_files() {
    let cert = test_cert();
    let other = test_cert();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a pem file").unwrap();
    for (c, k) in [
        (junk.clone(), cert.key.clone()),
        (cert.cert.clone(), junk.clone()),
        (cert.cert.clone(), other.key.clone()),
        (dir.path().join("missing"), cert.key.clone()),
    ] {
        let mut config = berth_registry_server::Config::new(dir.path().join("root"));
        config.addr = "127.0.0.1:0".parse().unwrap();
        config.tls = Some((c.clone(), k.clone()));
        let err = berth_registry_server::bind(config)
            .err()
            .unwrap_or_else(|| panic!("{c:?} {k:?} accepted"));
        assert_eq!(err.kind(), berth_store::ErrorKind::InvalidArgument, "{err}");
    }
}
