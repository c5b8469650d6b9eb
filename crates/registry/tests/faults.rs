//! Misbehaving registries (small test servers) and TLS against the real registry.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_registry::{
    BlobRef, Client, ClientOptions, Credentials, Error, ErrorKind, StaticCredentials, MANIFEST_ACCEPT,
};
use berth_store::Digest;
use common::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn fast(stall: Duration, attempts: u32) -> ClientOptions {
    let mut o = options();
    o.stall_timeout = stall;
    o.retry.max_attempts = attempts;
    o
}

fn blob_path(d: &Digest) -> String {
    format!("/v2/app/blobs/{d}")
}

#[test]
fn stalled_downloads_time_out() {
    let body: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let digest = Digest::of(&body);
    let server = HttpServer::start(move |req, stream| match req.path() {
        "/v2/" => respond(stream, 200, &[], b"{}"),
        _ => {
            // Headers and the first 100 bytes, then nothing.
            let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_string();
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&[0u8; 100]);
            let _ = stream.flush();
            std::thread::sleep(Duration::from_secs(10));
        }
    });
    let client = Client::new(&server.host(), fast(Duration::from_secs(1), 2)).unwrap();
    client.ping().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("partial");
    let start = Instant::now();
    let e = client
        .fetch_blob("app", &BlobRef::new(digest.clone(), Some(1000)), &dest, &mut |_| {})
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, Error::Stalled { secs: 1, .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.to_string().contains("no data from"), "{e}");
    // Two attempts of one second each, plus a short backoff.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // What did arrive is kept for a later resume.
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), 100);
}

#[test]
fn silent_server_stalls_out() {
    let server = HttpServer::start(move |req, stream| match req.path() {
        "/v2/" => respond(stream, 200, &[], b"{}"),
        _ => std::thread::sleep(Duration::from_secs(10)),
    });
    let client = Client::new(&server.host(), fast(Duration::from_secs(1), 1)).unwrap();
    client.ping().unwrap();
    let start = Instant::now();
    let e = client.get_manifest("app", "latest", MANIFEST_ACCEPT).unwrap_err();
    assert!(matches!(e, Error::Stalled { .. }), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}

#[test]
fn retries_503_then_succeeds() {
    let img = TestImage::new(1, 10);
    let manifest = img.manifest.clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let server = HttpServer::start(move |req, stream| match req.path() {
        "/v2/" => respond(stream, 200, &[], b"{}"),
        "/v2/app/manifests/latest" => {
            let n = h.fetch_add(1, Ordering::SeqCst);
            match n {
                0 => respond(stream, 503, &[], b"busy"),
                1 => respond(stream, 429, &[("Retry-After", "0")], b""),
                // A dropped connection counts as well.
                2 => {}
                _ => respond(stream, 200, &[("Content-Type", OCI_MANIFEST)], &manifest),
            }
        }
        _ => respond(
            stream,
            503,
            &[("Content-Type", "application/json")],
            br#"{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}"#,
        ),
    });
    let client = Client::new(&server.host(), fast(Duration::from_secs(5), 4)).unwrap();
    let m = client.get_manifest("app", "latest", MANIFEST_ACCEPT).unwrap();
    assert_eq!(m.bytes, img.manifest);
    assert_eq!(hits.load(Ordering::SeqCst), 4);

    // Bounded: after max_attempts the registry's error is reported.
    let e = client.get_manifest("app", "other", MANIFEST_ACCEPT).unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.to_string().contains("down for maintenance"), "{e}");
    assert!(e.to_string().contains("try again later"), "{e}");
    assert_eq!(server.count(|r| r.path() == "/v2/app/manifests/other"), 4);
}

#[test]
fn dropped_download_resumes_with_a_range() {
    let body: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::of(&body);
    let served = body.clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let path = blob_path(&digest);
    let server = HttpServer::start(move |req, stream| {
        if req.path() == "/v2/" {
            return respond(stream, 200, &[], b"{}");
        }
        if req.path() != path {
            return respond(stream, 404, &[], b"");
        }
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            // Promise everything, send 20000 bytes, hang up.
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 50000\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(&served[..20_000]);
            return;
        }
        let start: usize = req
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|r| r.parse().ok())
            .expect("a ranged request");
        let range = format!("bytes {start}-{}/{}", served.len() - 1, served.len());
        respond(stream, 206, &[("Content-Range", range.as_str())], &served[start..]);
    });
    let client = Client::new(&server.host(), fast(Duration::from_secs(5), 3)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("blob");
    let got = client
        .fetch_blob("app", &BlobRef::new(digest.clone(), Some(50_000)), &dest, &mut |_| {})
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(got.transferred, 50_000);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let reqs = server.requests.lock().unwrap();
    let ranged: Vec<_> = reqs.iter().filter_map(|r| r.header("range")).collect();
    assert_eq!(ranged, vec!["bytes=20000-"]);
}

#[test]
fn server_ignoring_ranges_makes_the_download_start_over() {
    let body: Vec<u8> = (0..30_000u32).map(|i| (i % 13) as u8).collect();
    let digest = Digest::of(&body);
    let served = body.clone();
    let server = HttpServer::start(move |req, stream| match req.path() {
        "/v2/" => respond(stream, 200, &[], b"{}"),
        _ => respond(stream, 200, &[], &served),
    });
    let client = Client::new(&server.host(), options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = write_file(dir.path(), "blob", &body[..10_000]);
    let got = client
        .fetch_blob("app", &BlobRef::new(digest, Some(30_000)), &dest, &mut |_| {})
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(got.transferred, 30_000);
    assert_eq!(server.count(|r| r.header("range") == Some("bytes=10000-")), 1);
}

#[test]
fn redirects_to_storage_drop_the_authorization_header() {
    let body = b"layer bytes from the storage backend".to_vec();
    let digest = Digest::of(&body);
    let served = body.clone();
    let storage = HttpServer::start(move |_req, stream| respond(stream, 200, &[], &served));
    let target = format!("{}/bucket/blob?X-Signature=secret", storage.url());
    let registry = HttpServer::start(move |req, stream| {
        if req.header("authorization").is_none() {
            return respond(stream, 401, &[("WWW-Authenticate", r#"Basic realm="test""#)], b"");
        }
        match req.path() {
            "/v2/" => respond(stream, 200, &[], b"{}"),
            _ => respond(stream, 307, &[("Location", target.as_str())], b""),
        }
    });
    let opts = ClientOptions {
        credentials: Some(Arc::new(StaticCredentials(Credentials::basic("u", "p")))),
        ..options()
    };
    let client = Client::new(&registry.host(), opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("blob");
    client
        .fetch_blob(
            "app",
            &BlobRef::new(digest, Some(body.len() as u64)),
            &dest,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    let sreqs = storage.requests.lock().unwrap();
    assert_eq!(sreqs.len(), 1);
    assert_eq!(sreqs[0].target, "/bucket/blob?X-Signature=secret");
    assert!(
        sreqs[0].header("authorization").is_none(),
        "credentials leaked to storage"
    );
    assert!(registry.count(|r| r.path().starts_with("/v2/app/blobs/") && r.header("authorization").is_some()) >= 1);
}

#[test]
fn manifest_checks() {
    let img = TestImage::new(2, 10);
    let manifest = img.manifest.clone();
    let wrong = Digest::of(b"something else").to_string();
    let lie = wrong.clone();
    let server = HttpServer::start(move |req, stream| match req.path() {
        "/v2/" => respond(stream, 200, &[], b"{}"),
        "/v2/app/manifests/weird" => respond(
            stream,
            200,
            &[("Content-Type", "application/vnd.example.thing+json")],
            b"{}",
        ),
        "/v2/app/manifests/old" => respond(
            stream,
            200,
            &[(
                "Content-Type",
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
            )],
            b"{}",
        ),
        "/v2/app/manifests/lying" => respond(
            stream,
            200,
            &[("Content-Type", OCI_MANIFEST), ("Docker-Content-Digest", lie.as_str())],
            &manifest,
        ),
        // No useful Content-Type: the document's shape tells.
        "/v2/app/manifests/plain" => respond(stream, 200, &[("Content-Type", "application/json")], &manifest),
        _ => respond(stream, 200, &[("Content-Type", OCI_MANIFEST)], &manifest),
    });
    let client = Client::new(&server.host(), options()).unwrap();

    let e = client.get_manifest("app", "weird", MANIFEST_ACCEPT).unwrap_err();
    assert!(
        matches!(&e, Error::UnsupportedMediaType { media_type, .. } if media_type == "application/vnd.example.thing+json")
    );
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string().contains("berth handles Docker schema2 and OCI manifests"),
        "{e}"
    );
    // A caller that asks for an artifact type gets it.
    let ok = client
        .get_manifest("app", "weird", &["application/vnd.example.thing+json"])
        .unwrap();
    assert_eq!(ok.media_type, "application/vnd.example.thing+json");

    let e = client.get_manifest("app", "old", MANIFEST_ACCEPT).unwrap_err();
    assert!(e.to_string().contains("schema1"), "{e}");

    let e = client.get_manifest("app", "lying", MANIFEST_ACCEPT).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");

    let m = client.get_manifest("app", "plain", MANIFEST_ACCEPT).unwrap();
    assert_eq!(m.media_type, OCI_MANIFEST);

    // Fetched by a digest the content does not have.
    let e = client.get_manifest("app", &wrong, MANIFEST_ACCEPT).unwrap_err();
    assert!(
        matches!(&e, Error::DigestMismatch { expected, .. } if expected.to_string() == wrong),
        "{e}"
    );
    let right = img.manifest_digest().to_string();
    assert_eq!(
        client.get_manifest("app", &right, MANIFEST_ACCEPT).unwrap().digest,
        img.manifest_digest()
    );
}

#[test]
fn link_header_and_last_pagination() {
    let tags: Vec<String> = (0..7).map(|i| format!("t{i}")).collect();
    let all = tags.clone();
    let server = HttpServer::start(move |req, stream| {
        if req.path() == "/v2/" {
            return respond(stream, 200, &[], b"{}");
        }
        let n: usize = req.query_all("n").first().and_then(|n| n.parse().ok()).unwrap_or(100);
        let start = match req.query_all("last").first() {
            Some(l) => all.iter().position(|t| t == l).map_or(all.len(), |p| p + 1),
            None => 0,
        };
        let page: Vec<&String> = all.iter().skip(start).take(n).collect();
        let body = serde_json::json!({"name": "app", "tags": page}).to_string();
        // The "linked" repository gives Link headers, the other only honours n+last.
        if req.path() == "/v2/linked/tags/list" && start + n < all.len() {
            let link = format!(
                r#"</v2/linked/tags/list?n={n}&last={}>; rel="next""#,
                page.last().unwrap()
            );
            respond(stream, 200, &[("Link", link.as_str())], body.as_bytes())
        } else {
            respond(stream, 200, &[], body.as_bytes())
        }
    });
    let client = Client::new(&server.host(), options()).unwrap();
    assert_eq!(client.list_tags("linked", Some(3)).unwrap(), tags);
    assert_eq!(server.count(|r| r.path() == "/v2/linked/tags/list"), 3);
    assert_eq!(client.list_tags("plain", Some(3)).unwrap(), tags);
    // 3 + 3 + 1, then an empty page ends it.
    assert_eq!(server.count(|r| r.path() == "/v2/plain/tags/list"), 3);
}

#[test]
fn search_through_the_v1_api() {
    let server = HttpServer::start(move |req, stream| match req.path() {
        "/v2/" => respond(stream, 200, &[], b"{}"),
        "/v1/search" => {
            let body = serde_json::json!({
                "num_results": 2, "query": req.query_all("q")[0],
                "results": [
                    {"name": "library/busybox", "description": "tiny", "star_count": 3000, "is_official": true, "is_automated": false},
                    {"name": "someone/busybox", "description": "", "star_count": 1, "is_official": false, "is_automated": true},
                ]
            });
            respond(
                stream,
                200,
                &[("Content-Type", "application/json")],
                body.to_string().as_bytes(),
            )
        }
        _ => respond(stream, 404, &[], b""),
    });
    let client = Client::new(&server.host(), options()).unwrap();
    let results = client.search("busy box", 1).unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].name, "library/busybox");
    assert!(results[0].is_official);
    let reqs = server.requests.lock().unwrap();
    let search = reqs.iter().find(|r| r.path() == "/v1/search").unwrap();
    assert_eq!(search.query_all("q"), vec!["busy box".to_string()]);
    assert_eq!(search.query_all("n"), vec!["1".to_string()]);
}

/// A CA and a server certificate for `registry.test` (and 127.0.0.1), as PEM files.
fn tls_files(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "berth test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["registry.test".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "registry.test");
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let cert_file = write_file(dir, "server.crt", cert.pem().as_bytes());
    let key_file = write_file(dir, "server.key", key.serialize_pem().as_bytes());
    (cert_file, key_file, ca.pem())
}

#[test]
fn tls_with_a_private_ca_in_certs_d() {
    require!(REGISTRY_BIN, "docker-registry");
    let files = tempfile::tempdir().unwrap();
    let (cert, key, ca_pem) = tls_files(files.path());
    let reg = Registry::start(RegistryConfig {
        tls: Some((cert, key)),
        ..Default::default()
    });
    let name = format!("registry.test:{}", reg.port);
    let certs_d = tempfile::tempdir().unwrap();
    let resolve = vec![("registry.test".to_string(), "127.0.0.1".parse().unwrap())];

    // Without the CA: refused, with a hint where to put it, and no plain-HTTP fallback.
    let untrusted = Client::new(
        &name,
        ClientOptions {
            resolve: resolve.clone(),
            certs_dirs: vec![certs_d.path().into()],
            ..options()
        },
    )
    .unwrap();
    let e = untrusted.ping().unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e}");
    assert!(e.to_string().contains("certs.d"), "{e}");

    write_file(certs_d.path(), &format!("{name}/ca.crt"), ca_pem.as_bytes());
    let client = Client::new(
        &name,
        ClientOptions {
            resolve: resolve.clone(),
            certs_dirs: vec![certs_d.path().into()],
            ..options()
        },
    )
    .unwrap();
    assert_eq!(client.base_url().unwrap(), format!("https://{name}"));
    let img = TestImage::new(3, 5000);
    img.push(&client, "secure/app", "v1");
    assert_eq!(
        client.get_manifest("secure/app", "v1", MANIFEST_ACCEPT).unwrap().bytes,
        img.manifest
    );

    // Insecure registries (and loopback ones) use TLS without verification, as Docker.
    let insecure = Client::new(
        &name,
        ClientOptions {
            resolve,
            insecure_registries: vec![name.clone()],
            ..options()
        },
    )
    .unwrap();
    assert_eq!(insecure.base_url().unwrap(), format!("https://{name}"));
    insecure.get_manifest("secure/app", "v1", MANIFEST_ACCEPT).unwrap();
    let loopback = Client::new(&reg.host(), options()).unwrap();
    assert_eq!(loopback.base_url().unwrap(), format!("https://{}", reg.host()));
    assert!(loopback.blob_exists("secure/app", &img.layer_digest()).unwrap());
}
