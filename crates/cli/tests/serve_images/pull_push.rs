//! `docker pull`, `docker push`, `docker login` and `/distribution` through the server, against
//! `berth registry serve` on loopback.

use crate::common::served::{docker_clients, Served};
use crate::common::{with_busybox, Berth};
use crate::{have_clients, json_lines, source_in, stderr, stdout};

#[test]
fn docker_pulls_and_pushes_with_progress_and_digests() {
    if !have_clients() {
        return;
    }
    let Some(source) = with_busybox() else { return };
    let registry = crate::registry(&source, None);
    let digest = source_in(&registry, &source);
    let host = registry.host();
    let name = format!("{host}/test/busybox:1");

    let berth = Berth::new();
    let server = Served::start(&berth);
    for (i, client) in docker_clients().into_iter().enumerate() {
        let out = server.client_ok(client, &["pull", &name]);
        assert!(out.contains("1: Pulling from test/busybox"), "{client}: {out}");
        assert!(out.contains(&format!("Digest: {digest}")), "{client}: {out}");
        if i == 0 {
            assert!(out.contains("Pull complete"), "{client}: {out}");
            assert!(
                out.contains(&format!("Status: Downloaded newer image for {name}")),
                "{client}: {out}"
            );
        } else {
            assert!(
                out.contains(&format!("Status: Image is up to date for {name}")),
                "{client}: {out}"
            );
        }
        let repo_digest = server.client_ok(client, &["image", "inspect", "-f", "{{index .RepoDigests 0}}", &name]);
        assert_eq!(repo_digest.trim(), format!("{host}/test/busybox@{digest}"));
    }
    // The CLI of the same data root sees what the server pulled.
    let ids = berth.ok(&["images", "-q", "--no-trunc"]);
    let source_id = source.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    assert_eq!(ids.trim(), source_id.trim());

    // A push under another name sends the manifest the image came with: the same digest.
    let client = docker_clients()[0];
    let copy = format!("{host}/test/copy:2");
    server.client_ok(client, &["tag", &name, &copy]);
    let out = server.client_ok(client, &["push", &copy]);
    assert!(
        out.contains(&format!("The push refers to repository [{host}/test/copy]")),
        "{out}"
    );
    assert!(out.contains(&format!("2: digest: {digest} size: ")), "{out}");
    let by_digest = format!("{host}/test/copy@{digest}");
    let out = server.client_ok(client, &["pull", &by_digest]);
    assert!(out.contains("Status: Image is up to date for"), "{out}");

    // The raw streams: Docker's JSON messages, the push ending with its aux.
    let (status, body) = server.curl_file(
        "POST",
        &format!("/images/create?fromImage={host}/test/busybox&tag=1"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let messages = json_lines(&body);
    assert_eq!(
        messages[0],
        serde_json::json!({"status": "Pulling from test/busybox", "id": "1"})
    );
    let (status, body) = server.curl_file("POST", &format!("/images/{host}/test/copy/push?tag=2"), None);
    assert_eq!(status, 200, "{body}");
    let last = json_lines(&body).pop().expect("a message");
    assert_eq!(last["aux"]["Tag"], "2", "{body}");
    assert_eq!(last["aux"]["Digest"], digest.as_str(), "{body}");

    // What the registry holds, without pulling it.
    let (status, body) = server.curl_file("GET", &format!("/distribution/{name}/json"), None);
    assert_eq!(status, 200, "{body}");
    let inspected: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(inspected["Descriptor"]["digest"], digest.as_str());
    assert_eq!(inspected["Platforms"][0]["os"], "linux");
}

#[test]
fn a_missing_image_is_dockers_not_found_and_changes_nothing() {
    if !have_clients() {
        return;
    }
    let Some(source) = with_busybox() else { return };
    let registry = crate::registry(&source, None);
    source_in(&registry, &source);
    let berth = Berth::new();
    let server = Served::start(&berth);
    let missing = format!("{}/test/nothing:1", registry.host());
    for client in docker_clients() {
        let out = server.docker_with(client, &["pull", &missing]);
        assert!(!out.status.success(), "{client}: {}", stdout(&out));
        assert!(stderr(&out).contains("manifest unknown"), "{client}: {}", stderr(&out));
    }
    let (status, body) = server.curl_file(
        "POST",
        &format!("/images/create?fromImage={}/test/nothing&tag=1", registry.host()),
        None,
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    assert_eq!(berth.ok(&["images", "-a", "-q"]).trim(), "");
    // Pushing what is not here: the stream has begun, so the error ends it.
    let out = server.docker_with(docker_clients()[0], &["push", &missing]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("An image does not exist locally with the tag"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn docker_login_checks_with_the_registry_and_pushes_with_the_clients_credentials() {
    if !have_clients() || !crate::common::need("htpasswd") {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let htpasswd = berth.path("htpasswd");
    let out = std::process::Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .expect("htpasswd");
    std::fs::write(&htpasswd, &out.stdout).expect("htpasswd file");
    let registry = crate::registry(&berth, Some(&htpasswd));
    let host = registry.host();
    let server = Served::start(&berth);
    let client = docker_clients()[0];

    let wrong = server.docker_with(client, &["login", &host, "-u", "alice", "-p", "wrong"]);
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("unauthorized"), "{}", stderr(&wrong));
    let name = format!("{host}/private/busybox:1");
    server.client_ok(client, &["tag", "busybox", &name]);
    // Without credentials the registry refuses the push.
    let refused = server.docker_with(client, &["push", &name]);
    assert!(!refused.status.success(), "{}", stdout(&refused));

    let out = server.client_ok(client, &["login", &host, "-u", "alice", "-p", "s3cret"]);
    assert!(out.contains("Login Succeeded"), "{out}");
    // The client keeps the credentials and sends them with X-Registry-Auth; the server stores none.
    assert!(!berth.path("docker-config/config.json").exists());
    let out = server.client_ok(client, &["push", &name]);
    assert!(out.contains("1: digest: sha256:"), "{out}");

    let auth = berth.path("auth.json");
    std::fs::write(
        &auth,
        format!(r#"{{"username":"alice","password":"s3cret","serveraddress":"{host}"}}"#),
    )
    .expect("auth body");
    let (status, body) = server.curl_file("POST", "/auth", Some(&auth));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["Status"],
        "Login Succeeded"
    );
    std::fs::write(
        &auth,
        format!(r#"{{"username":"alice","password":"nope","serveraddress":"{host}"}}"#),
    )
    .expect("auth body");
    assert_eq!(server.curl_file("POST", "/auth", Some(&auth)).0, 401);
}

#[test]
fn docker_search_asks_the_registry_the_term_names() {
    if !have_clients() {
        return;
    }
    let berth = Berth::new();
    let server = Served::start(&berth);
    let answer = br#"{"num_results":2,"query":"box","results":[
        {"name":"test/busybox","description":"a small box","star_count":7,"is_official":false,"is_automated":false},
        {"name":"test/toybox","description":"another","star_count":1,"is_official":false,"is_automated":false}]}"#;
    let (base, asked) = crate::common::serve_http(vec![("/v1/search", answer.to_vec())]);
    let host = base.trim_start_matches("http://");
    let (status, body) = server.curl_file(
        "GET",
        &format!("/images/search?term={host}/box&limit=5&filters=%7B%22stars%22%3A%7B%225%22%3Atrue%7D%7D"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let results: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(results.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(results[0]["name"], "test/busybox");
    assert_eq!(results[0]["star_count"], 7);
    assert!(asked.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let out = server.client_ok(docker_clients()[0], &["search", &format!("{host}/box")]);
    assert!(out.contains("test/busybox") && out.contains("test/toybox"), "{out}");
    // A limit outside Docker's range is a 400.
    let (status, _) = server.curl_file("GET", "/images/search?term=box&limit=1000", None);
    assert_eq!(status, 400);
}
