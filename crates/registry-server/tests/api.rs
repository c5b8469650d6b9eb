//! The distribution API over real HTTP on loopback, endpoint by endpoint,
//! with the error cases.

mod common;

use std::io::{Read, Write};

use common::*;
use serde_json::{json, Value};

#[test]
fn base_endpoint() {
    let reg = Registry::start();
    let r = call(reg.req("GET", "/v2/"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("Docker-Distribution-Api-Version"), Some("registry/2.0"));
    let r = call(reg.req("GET", "/v2/nothing/here"));
    assert_eq!(r.status(), 404);
    assert_eq!(r.header("Docker-Distribution-Api-Version"), Some("registry/2.0"));
}

#[test]
fn monolithic_push_and_pull_with_ranges() {
    let reg = Registry::start();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let digest = reg.push_blob("lib/app", &data);
    assert!(blob_file(&reg.data(), &digest).is_file());

    let r = call(reg.req("GET", &format!("/v2/lib/app/blobs/{digest}")));
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
    assert_eq!(r.header("Content-Length"), Some("100000"));
    assert_eq!(r.header("ETag"), Some(format!("\"{digest}\"").as_str()));
    assert_eq!(bytes(r), data);

    let r = call(reg.req("HEAD", &format!("/v2/lib/app/blobs/{digest}")));
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("Content-Length"), Some("100000"));
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));

    let r = call(
        reg.req("GET", &format!("/v2/lib/app/blobs/{digest}"))
            .set("Range", "bytes=10-19"),
    );
    assert_eq!(r.status(), 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 10-19/100000"));
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(bytes(r), &data[10..20]);

    let r = call(
        reg.req("GET", &format!("/v2/lib/app/blobs/{digest}"))
            .set("Range", "bytes=99990-"),
    );
    assert_eq!(r.status(), 206);
    assert_eq!(bytes(r), &data[99990..]);

    let r = call(
        reg.req("GET", &format!("/v2/lib/app/blobs/{digest}"))
            .set("Range", "bytes=-5"),
    );
    assert_eq!(bytes(r), &data[99995..]);

    let r = call(
        reg.req("GET", &format!("/v2/lib/app/blobs/{digest}"))
            .set("Range", "bytes=100000-"),
    );
    assert_eq!(r.status(), 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */100000"));

    // Unknown blob, and a digest that is not one.
    let missing = sha256(b"missing");
    let r = call(reg.req("GET", &format!("/v2/lib/app/blobs/{missing}")));
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UNKNOWN");
    let r = call(reg.req("HEAD", &format!("/v2/lib/app/blobs/{missing}")));
    assert_eq!(r.status(), 404);
    let r = call(reg.req("GET", "/v2/lib/app/blobs/sha256:1234"));
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
}

#[test]
fn wrong_digest_stores_nothing() {
    let reg = Registry::start();
    let claimed = sha256(b"what the client says");
    let r = send(
        reg.req("POST", &format!("/v2/app/blobs/uploads/?digest={claimed}")),
        b"what it sends",
    );
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    assert!(!blob_file(&reg.data(), &claimed).exists());
    assert!(!blob_file(&reg.data(), &sha256(b"what it sends")).exists());
    let r = call(reg.req("HEAD", &format!("/v2/app/blobs/{claimed}")));
    assert_eq!(r.status(), 404);

    // The same through a session: the closing PUT is refused, the session gone.
    let r = send(reg.req("POST", "/v2/app/blobs/uploads/"), b"");
    assert_eq!(r.status(), 202);
    let location = r.header("Location").unwrap().to_string();
    let r = send(reg.req("PATCH", &location), b"what it sends");
    assert_eq!(r.status(), 202);
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = send(reg.req("PUT", &format!("{location}{sep}digest={claimed}")), b"");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    assert!(!blob_file(&reg.data(), &claimed).exists());
    assert!(!blob_file(&reg.data(), &sha256(b"what it sends")).exists());
    assert_eq!(call(reg.req("GET", &location)).status(), 404);
    // Nothing left behind in tmp/ or uploads/.
    assert_eq!(std::fs::read_dir(reg.data().join("tmp")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(reg.data().join("uploads")).unwrap().count(), 0);
}

#[test]
fn post_then_put() {
    let reg = Registry::start();
    let r = send(reg.req("POST", "/v2/app/blobs/uploads/"), b"");
    assert_eq!(r.status(), 202);
    assert_eq!(r.header("Range"), Some("0-0"));
    let uuid = r.header("Docker-Upload-UUID").unwrap().to_string();
    let location = r.header("Location").unwrap().to_string();
    assert!(location.ends_with(&uuid), "{location}");
    let digest = sha256(b"hello world");
    let r = send(reg.req("PUT", &format!("{location}?digest={digest}")), b"hello world");
    assert_eq!(r.status(), 201, "{}", body(r));
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
    assert_eq!(r.header("Location"), Some(format!("/v2/app/blobs/{digest}").as_str()));
    assert_eq!(
        bytes(call(reg.req("GET", &format!("/v2/app/blobs/{digest}")))),
        b"hello world"
    );
    // A closing PUT without a digest is refused.
    let r = send(reg.req("POST", "/v2/app/blobs/uploads/"), b"");
    let location = r.header("Location").unwrap().to_string();
    let r = send(reg.req("PUT", &location), b"x");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
}

#[test]
fn chunked_upload_and_out_of_order_chunk() {
    let reg = Registry::start();
    let data = b"0123456789abcdefghij";
    let r = send(reg.req("POST", "/v2/app/blobs/uploads/"), b"");
    let location = r.header("Location").unwrap().to_string();
    let uuid = r.header("Docker-Upload-UUID").unwrap().to_string();

    let r = send(
        reg.req("PATCH", &location)
            .set("Content-Range", "0-9")
            .set("Content-Type", "application/octet-stream"),
        &data[..10],
    );
    assert_eq!(r.status(), 202);
    assert_eq!(r.header("Range"), Some("0-9"));
    assert_eq!(r.header("Docker-Upload-UUID"), Some(uuid.as_str()));

    // A chunk that skips ahead is refused with where to resume.
    let r = send(reg.req("PATCH", &location).set("Content-Range", "15-19"), &data[15..]);
    assert_eq!(r.status(), 416);
    assert_eq!(r.header("Range"), Some("0-9"));
    // Refused before its body was read, the connection ends after the answer, and the answer says
    // so: a client must not send its next request down it (seen as "Unexpected EOF").
    assert_eq!(r.header("Connection"), Some("close"));
    // So is one that repeats what is there.
    let r = send(reg.req("PATCH", &location).set("Content-Range", "0-9"), &data[..10]);
    assert_eq!(r.status(), 416);
    // And one whose body does not fill its range leaves the upload as it was.
    let r = send(reg.req("PATCH", &location).set("Content-Range", "10-19"), &data[10..12]);
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "BLOB_UPLOAD_INVALID");

    let r = send(
        reg.req("PATCH", &location)
            .set("Content-Range", &format!("10-{}", u64::MAX)),
        &data[10..],
    );
    assert_eq!(r.status(), 400);

    let r = call(reg.req("GET", &location));
    assert_eq!(r.status(), 204);
    assert_eq!(r.header("Range"), Some("0-9"));
    assert_eq!(r.header("Docker-Upload-UUID"), Some(uuid.as_str()));
    assert!(r.header("Location").is_some());

    let r = send(reg.req("PATCH", &location).set("Content-Range", "10-19"), &data[10..]);
    assert_eq!(r.status(), 202);
    assert_eq!(r.header("Range"), Some("0-19"));
    let digest = sha256(data);
    let r = send(reg.req("PUT", &format!("{location}?digest={digest}")), b"");
    assert_eq!(r.status(), 201, "{}", body(r));
    assert_eq!(bytes(call(reg.req("GET", &format!("/v2/app/blobs/{digest}")))), data);
    // The finished session is gone.
    assert_eq!(error_code(call(reg.req("GET", &location))), "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn streamed_upload_with_final_chunk_in_put() {
    let reg = Registry::start();
    let r = send(reg.req("POST", "/v2/app/blobs/uploads/"), b"");
    let location = r.header("Location").unwrap().to_string();
    let r = done(reg.req("PATCH", &location).send(&b"streamed "[..]));
    assert_eq!(r.status(), 202);
    assert_eq!(r.header("Range"), Some("0-8"));
    let r = done(reg.req("PATCH", &location).send(&b"in parts "[..]));
    assert_eq!(r.header("Range"), Some("0-17"));
    let digest = sha256(b"streamed in parts and done");
    let r = send(reg.req("PUT", &format!("{location}?digest={digest}")), b"and done");
    assert_eq!(r.status(), 201, "{}", body(r));
    assert_eq!(
        bytes(call(reg.req("GET", &format!("/v2/app/blobs/{digest}")))),
        b"streamed in parts and done"
    );
}

#[test]
fn cancel_and_foreign_sessions() {
    let reg = Registry::start();
    let r = send(reg.req("POST", "/v2/app/blobs/uploads/"), b"");
    let location = r.header("Location").unwrap().to_string();
    let uuid = r.header("Docker-Upload-UUID").unwrap().to_string();
    // Another repository cannot see or use this session.
    let r = call(reg.req("GET", &format!("/v2/other/blobs/uploads/{uuid}")));
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");
    let r = send(reg.req("PATCH", &format!("/v2/other/blobs/uploads/{uuid}")), b"x");
    assert_eq!(r.status(), 404);
    let r = call(reg.req("GET", "/v2/app/blobs/uploads/../../../etc"));
    assert_ne!(r.status(), 200);

    let r = call(reg.req("DELETE", &location));
    assert_eq!(r.status(), 204);
    let r = call(reg.req("GET", &location));
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(call(reg.req("DELETE", &location)).status(), 404);
}

#[test]
fn blobs_are_per_repository_and_mount() {
    let reg = Registry::start();
    let digest = reg.push_blob("team/a", b"shared layer");
    let r = call(reg.req("HEAD", &format!("/v2/team/b/blobs/{digest}")));
    assert_eq!(r.status(), 404, "a blob pushed to a is not visible in b");

    let r = send(
        reg.req("POST", &format!("/v2/team/b/blobs/uploads/?mount={digest}&from=team/a")),
        b"",
    );
    assert_eq!(r.status(), 201);
    assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
    assert_eq!(
        r.header("Location"),
        Some(format!("/v2/team/b/blobs/{digest}").as_str())
    );
    assert_eq!(
        bytes(call(reg.req("GET", &format!("/v2/team/b/blobs/{digest}")))),
        b"shared layer"
    );

    // Not in the source repository (or a bad source name): a normal upload starts.
    let other = sha256(b"not there");
    for from in ["team/a", "Team/../a"] {
        let r = send(
            reg.req("POST", &format!("/v2/team/c/blobs/uploads/?mount={other}&from={from}")),
            b"",
        );
        assert_eq!(r.status(), 202);
        assert!(r.header("Location").unwrap().starts_with("/v2/team/c/blobs/uploads/"));
        assert!(r.header("Docker-Upload-UUID").is_some());
    }
    // A blob only in another repo cannot be mounted from a repo that lacks it.
    let r = send(
        reg.req("POST", &format!("/v2/team/d/blobs/uploads/?mount={digest}&from=team/c")),
        b"",
    );
    assert_eq!(r.status(), 202);
    assert_eq!(
        call(reg.req("HEAD", &format!("/v2/team/d/blobs/{digest}"))).status(),
        404
    );
}

#[test]
fn manifests_push_pull_and_validation() {
    let reg = Registry::start();
    let (manifest, digest) = reg.push_image("lib/app", "v1", b"layer-bytes");

    for reference in ["v1", digest.as_str()] {
        let r = call(reg.req("GET", &format!("/v2/lib/app/manifests/{reference}")));
        assert_eq!(r.status(), 200);
        assert_eq!(r.header("Content-Type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
        assert_eq!(r.header("Content-Length"), Some(manifest.len().to_string().as_str()));
        assert_eq!(r.header("ETag"), Some(format!("\"{digest}\"").as_str()));
        assert_eq!(bytes(r), manifest);
        let r = call(reg.req("HEAD", &format!("/v2/lib/app/manifests/{reference}")));
        assert_eq!(r.status(), 200);
        assert_eq!(r.header("Content-Length"), Some(manifest.len().to_string().as_str()));
        assert_eq!(r.header("Docker-Content-Digest"), Some(digest.as_str()));
    }
    let r = call(
        reg.req("GET", "/v2/lib/app/manifests/v1")
            .set("If-None-Match", &format!("\"{digest}\"")),
    );
    assert_eq!(r.status(), 304);

    // By digest: the reference must be the content's digest.
    let r = reg.put_manifest("lib/app", &digest, OCI_MANIFEST, &manifest);
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.header("Location"),
        Some(format!("/v2/lib/app/manifests/{digest}").as_str())
    );
    let r = reg.put_manifest("lib/app", &sha256(b"other"), OCI_MANIFEST, &manifest);
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");

    // Not visible from another repository, whose blobs it does not have.
    assert_eq!(
        call(reg.req("GET", &format!("/v2/lib/other/manifests/{digest}"))).status(),
        404
    );
    let r = reg.put_manifest("lib/other", "v1", OCI_MANIFEST, &manifest);
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(call(reg.req("GET", "/v2/lib/other/manifests/v1")).status(), 404);

    // A manifest naming a missing layer.
    let v: Value = serde_json::from_slice(&manifest).unwrap();
    let mut broken = v.clone();
    broken["layers"][0]["digest"] = json!(sha256(b"never pushed"));
    let r = reg.put_manifest("lib/app", "broken", OCI_MANIFEST, broken.to_string().as_bytes());
    assert_eq!(r.status(), 400);
    let text = body(r);
    assert!(text.contains("MANIFEST_BLOB_UNKNOWN"), "{text}");
    assert_eq!(call(reg.req("GET", "/v2/lib/app/manifests/broken")).status(), 404);

    // Wrong size for a blob that exists.
    let mut wrong_size = v.clone();
    wrong_size["layers"][0]["size"] = json!(999);
    let r = reg.put_manifest("lib/app", "x", OCI_MANIFEST, wrong_size.to_string().as_bytes());
    assert_eq!(error_code(r), "MANIFEST_INVALID");

    // Declared type it does not parse as, unknown types, schema 1, garbage.
    for (media_type, bytes) in [
        (OCI_INDEX, manifest.clone()),
        ("application/x-unknown", manifest.clone()),
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#.to_vec(),
        ),
        (OCI_MANIFEST, b"{not json".to_vec()),
        ("application/vnd.docker.distribution.manifest.v2+json", manifest.clone()),
    ] {
        let r = reg.put_manifest("lib/app", "bad", media_type, &bytes);
        assert_eq!(r.status(), 400, "{media_type}");
        assert_eq!(error_code(r), "MANIFEST_INVALID", "{media_type}");
    }

    // Tags: invalid ones refused.
    let r = reg.put_manifest("lib/app", ".hidden", OCI_MANIFEST, &manifest);
    assert_eq!(error_code(r), "TAG_INVALID");
    let r = call(reg.req("GET", "/v2/lib/app/manifests/nope"));
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "MANIFEST_UNKNOWN");

    // Docker schema 2 manifest and manifest list.
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = reg.push_blob("lib/app", config);
    let docker = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [],
    })
    .to_string();
    let r = reg.put_manifest(
        "lib/app",
        "docker",
        "application/vnd.docker.distribution.manifest.v2+json",
        docker.as_bytes(),
    );
    assert_eq!(r.status(), 201, "{}", body(r));
    let r = call(reg.req("GET", "/v2/lib/app/manifests/docker"));
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );

    let list = |child: &str| {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "digest": child, "size": docker.len(),
                           "platform": {"architecture": "amd64", "os": "linux"}}],
        })
        .to_string()
    };
    let r = reg.put_manifest(
        "lib/app",
        "list",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        list(&sha256(docker.as_bytes())).as_bytes(),
    );
    assert_eq!(r.status(), 201, "{}", body(r));
    let r = reg.put_manifest(
        "lib/app",
        "list2",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        list(&sha256(b"no such manifest")).as_bytes(),
    );
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "MANIFEST_BLOB_UNKNOWN");

    // An OCI index.
    let index = json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len()}],
    })
    .to_string();
    let r = reg.put_manifest("lib/app", "index", OCI_INDEX, index.as_bytes());
    assert_eq!(r.status(), 201, "{}", body(r));
    assert_eq!(
        call(reg.req("GET", "/v2/lib/app/manifests/index")).header("Content-Type"),
        Some(OCI_INDEX)
    );
}

#[test]
fn manifest_size_limit() {
    let reg = Registry::start();
    // Announced as too big: refused before the body is read.
    let mut stream = std::net::TcpStream::connect(reg.handle.local_addr()).unwrap();
    write!(
        stream,
        "PUT /v2/app/manifests/big HTTP/1.1\r\nHost: x\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {}\r\n\r\n{{",
        5 << 20
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    // Streamed without a length: refused once past the limit (just past it,
    // so the rest of the body fits the socket buffers and the client reads
    // the answer rather than a broken pipe).
    let huge = vec![b' '; (4 << 20) + 1024];
    let r = done(
        reg.req("PUT", "/v2/app/manifests/big")
            .set("Content-Type", OCI_MANIFEST)
            .send(&huge[..]),
    );
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r), "SIZE_INVALID");
}

#[test]
fn invalid_names() {
    let reg = Registry::start();
    for path in [
        "/v2/../etc/manifests/latest",
        "/v2/a/../../manifests/latest",
        "/v2/%2e%2e/manifests/latest",
        "/v2/a/%2E%2E/tags/list",
        "/v2/%2fetc/manifests/latest",
        "//v2/etc/manifests/latest",
        "/v2//etc/manifests/latest",
        "/v2/a%5cb/manifests/latest",
        "/v2/a\\b/manifests/latest",
        "/v2/UPPER/manifests/latest",
        "/v2/a/../b/blobs/uploads/",
        "/v2/..%2f..%2fetc/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ] {
        let (status, body) = reg.raw("GET", path);
        assert!(
            (status == 400 && body.contains("NAME_INVALID")) || status == 404,
            "{path}: {status} {body}"
        );
        assert_ne!(status, 200, "{path}");
    }
    for path in [
        "/v2/../etc/manifests/latest",
        "/v2/%2e%2e/manifests/latest",
        "/v2/a%5cb/manifests/latest",
    ] {
        let (status, body) = reg.raw("PUT", path);
        assert_eq!(status, 400, "{path}");
        assert!(body.contains("NAME_INVALID"), "{body}");
    }
    let (status, _) = reg.raw("POST", "/v2/%2e%2e/blobs/uploads/");
    assert_eq!(status, 400);
    let long = "a".repeat(256);
    let r = call(reg.req("GET", &format!("/v2/{long}/tags/list")));
    assert_eq!(error_code(r), "NAME_INVALID");
    // Nothing was created outside repositories/.
    let entries: Vec<_> = std::fs::read_dir(reg.data())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries.len(), 4, "{entries:?}");
}

#[test]
fn tags_and_catalog_pagination() {
    let reg = Registry::start();
    let (manifest, _) = reg.push_image("z/app", "v1", b"layer");
    for tag in ["v2", "v3", "latest", "a"] {
        assert_eq!(reg.put_manifest("z/app", tag, OCI_MANIFEST, &manifest).status(), 201);
    }
    let r = call(reg.req("GET", "/v2/z/app/tags/list"));
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(v["name"], "z/app");
    assert_eq!(v["tags"], json!(["a", "latest", "v1", "v2", "v3"]));

    let r = call(reg.req("GET", "/v2/z/app/tags/list?n=2"));
    let link = r.header("Link").unwrap().to_string();
    assert_eq!(link, "</v2/z/app/tags/list?last=latest&n=2>; rel=\"next\"");
    let v: Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(v["tags"], json!(["a", "latest"]));
    let next = link.trim_start_matches('<').split('>').next().unwrap().to_string();
    let r = call(reg.req("GET", &next));
    assert!(r.header("Link").is_some());
    let v: Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(v["tags"], json!(["v1", "v2"]));
    let r = call(reg.req("GET", "/v2/z/app/tags/list?n=2&last=v2"));
    assert!(r.header("Link").is_none());
    let v: Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(v["tags"], json!(["v3"]));
    let r = call(reg.req("GET", "/v2/z/app/tags/list?n=x"));
    assert_eq!(r.status(), 400);
    let r = call(reg.req("GET", "/v2/no/such/tags/list"));
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "NAME_UNKNOWN");

    reg.push_image("a", "v1", b"l");
    reg.push_image("m/n/o", "v1", b"l");
    reg.push_blob("blobs-only", b"l");
    let r = call(reg.req("GET", "/v2/_catalog"));
    let v: Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(v["repositories"], json!(["a", "m/n/o", "z/app"]));
    let r = call(reg.req("GET", "/v2/_catalog?n=1"));
    assert_eq!(r.header("Link"), Some("</v2/_catalog?last=a&n=1>; rel=\"next\""));
    let v: Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(v["repositories"], json!(["a"]));
    let r = call(reg.req("GET", "/v2/_catalog?n=5&last=a"));
    let v: Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(v["repositories"], json!(["m/n/o", "z/app"]));
}

#[test]
fn deletes() {
    let reg = Registry::start();
    let (manifest, digest) = reg.push_image("app", "v1", b"layer");
    assert_eq!(reg.put_manifest("app", "v2", OCI_MANIFEST, &manifest).status(), 201);

    // Deleting a tag leaves the manifest and its other tags.
    let r = call(reg.req("DELETE", "/v2/app/manifests/v1"));
    assert_eq!(r.status(), 202);
    assert_eq!(call(reg.req("GET", "/v2/app/manifests/v1")).status(), 404);
    assert_eq!(call(reg.req("GET", "/v2/app/manifests/v2")).status(), 200);
    assert_eq!(call(reg.req("DELETE", "/v2/app/manifests/v1")).status(), 404);

    // Deleting by digest removes it and the tags pointing at it.
    let r = call(reg.req("DELETE", &format!("/v2/app/manifests/{digest}")));
    assert_eq!(r.status(), 202);
    assert_eq!(
        call(reg.req("GET", &format!("/v2/app/manifests/{digest}"))).status(),
        404
    );
    assert_eq!(call(reg.req("GET", "/v2/app/manifests/v2")).status(), 404);
    let r = call(reg.req("DELETE", &format!("/v2/app/manifests/{digest}")));
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "MANIFEST_UNKNOWN");
    let v: Value = serde_json::from_str(&body(call(reg.req("GET", "/v2/app/tags/list")))).unwrap();
    assert_eq!(v["tags"], json!([]));

    // Blobs.
    let layer = sha256(b"layer");
    let r = call(reg.req("DELETE", &format!("/v2/app/blobs/{layer}")));
    assert_eq!(r.status(), 202);
    assert_eq!(call(reg.req("HEAD", &format!("/v2/app/blobs/{layer}"))).status(), 404);
    let r = call(reg.req("DELETE", &format!("/v2/app/blobs/{layer}")));
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UNKNOWN");
}

#[test]
fn referrers() {
    let reg = Registry::start();
    let (subject_bytes, subject) = reg.push_image("app", "v1", b"layer");
    let empty = reg.push_blob("app", b"{}");
    let sig = reg.push_blob("app", b"signature");
    let sbom = reg.push_blob("app", b"sbom");
    let artifact = |artifact_type: &str, layer: &str, size: usize| {
        json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": size}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_bytes.len()},
            "annotations": {"org.example": "yes"},
        })
        .to_string()
    };
    let sig_manifest = artifact("application/vnd.example.sig", &sig, 9);
    let sbom_manifest = artifact("application/vnd.example.sbom", &sbom, 4);
    let sig_digest = sha256(sig_manifest.as_bytes());
    for m in [&sig_manifest, &sbom_manifest] {
        let d = sha256(m.as_bytes());
        let r = reg.put_manifest("app", &d, OCI_MANIFEST, m.as_bytes());
        assert_eq!(r.status(), 201, "{}", body(r));
        assert_eq!(r.header("OCI-Subject"), Some(subject.as_str()));
    }
    // A manifest without subject gets no OCI-Subject header.
    assert!(reg
        .put_manifest("app", "v2", OCI_MANIFEST, &subject_bytes)
        .header("OCI-Subject")
        .is_none());

    let r = call(reg.req("GET", &format!("/v2/app/referrers/{subject}")));
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("Content-Type"), Some(OCI_INDEX));
    assert!(r.header("OCI-Filters-Applied").is_none());
    let v: Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], OCI_INDEX);
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let sig_entry = list.iter().find(|d| d["digest"] == sig_digest.as_str()).unwrap();
    assert_eq!(sig_entry["artifactType"], "application/vnd.example.sig");
    assert_eq!(sig_entry["mediaType"], OCI_MANIFEST);
    assert_eq!(sig_entry["size"], sig_manifest.len());
    assert_eq!(sig_entry["annotations"]["org.example"], "yes");

    let r = call(reg.req(
        "GET",
        &format!("/v2/app/referrers/{subject}?artifactType=application/vnd.example.sig"),
    ));
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    let v: Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(v["manifests"][0]["digest"], sig_digest.as_str());

    // Other repositories and subjects have none; bad digests are refused.
    let v: Value =
        serde_json::from_str(&body(call(reg.req("GET", &format!("/v2/other/referrers/{subject}"))))).unwrap();
    assert_eq!(v["manifests"], json!([]));
    let v: Value = serde_json::from_str(&body(call(reg.req("GET", &format!("/v2/app/referrers/{sig}"))))).unwrap();
    assert_eq!(v["manifests"], json!([]));
    assert_eq!(call(reg.req("GET", "/v2/app/referrers/sha256:12")).status(), 400);

    // Deleting a referrer takes it out of the list.
    assert_eq!(
        call(reg.req("DELETE", &format!("/v2/app/manifests/{sig_digest}"))).status(),
        202
    );
    let v: Value = serde_json::from_str(&body(call(reg.req("GET", &format!("/v2/app/referrers/{subject}"))))).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
}

#[test]
fn concurrent_uploads_of_the_same_blob() {
    let reg = Registry::start();
    let data: Vec<u8> = (0..(3 << 20))
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let digest = sha256(&data);
    std::thread::scope(|s| {
        for i in 0..8 {
            let (reg, data, digest) = (&reg, &data, &digest);
            s.spawn(move || {
                let repo = if i % 2 == 0 { "conc/a" } else { "conc/b" };
                if i % 4 < 2 {
                    let r = send(
                        reg.req("POST", &format!("/v2/{repo}/blobs/uploads/?digest={digest}")),
                        data,
                    );
                    assert_eq!(r.status(), 201);
                } else {
                    let r = send(reg.req("POST", &format!("/v2/{repo}/blobs/uploads/")), b"");
                    let location = r.header("Location").unwrap().to_string();
                    let half = data.len() / 2;
                    let r = send(
                        reg.req("PATCH", &location)
                            .set("Content-Range", &format!("0-{}", half - 1)),
                        &data[..half],
                    );
                    assert_eq!(r.status(), 202);
                    let r = send(
                        reg.req("PATCH", &location)
                            .set("Content-Range", &format!("{half}-{}", data.len() - 1)),
                        &data[half..],
                    );
                    assert_eq!(r.status(), 202);
                    let r = send(reg.req("PUT", &format!("{location}?digest={digest}")), b"");
                    assert_eq!(r.status(), 201);
                }
                let got = bytes(call(reg.req("GET", &format!("/v2/{repo}/blobs/{digest}"))));
                assert!(got == *data, "{repo}: content differs");
            });
        }
    });
    for repo in ["conc/a", "conc/b"] {
        assert_eq!(bytes(call(reg.req("GET", &format!("/v2/{repo}/blobs/{digest}")))), data);
    }
    assert_eq!(std::fs::read_dir(reg.data().join("tmp")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(reg.data().join("uploads")).unwrap().count(), 0);
}

#[test]
fn unsupported_methods() {
    let reg = Registry::start();
    let r = call(reg.req("POST", "/v2/app/manifests/v1"));
    assert_eq!(r.status(), 405);
    assert_eq!(error_code(r), "UNSUPPORTED");
}

#[test]
fn shutdown_is_clean() {
    let reg = Registry::start();
    assert_eq!(call(reg.req("GET", "/v2/")).status(), 200);
    let addr = reg.handle.local_addr();
    reg.handle.shutdown().unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err());
}
