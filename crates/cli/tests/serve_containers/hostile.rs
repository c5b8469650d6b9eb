//! What clients should not send, and clients that leave mid-stream: Docker's statuses and
//! messages, nothing made by a refused request, and a server that goes on serving with the
//! container as it was.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::serve_busybox;

fn message(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    v["message"].as_str().expect("message").to_string()
}

#[test]
fn bad_requests_get_dockers_statuses_and_change_nothing() {
    let Some((berth, server)) = serve_busybox() else {
        return;
    };
    let (status, _, body) = server.curl("POST", "/containers/create", Some("{\"Image\": "));
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).starts_with("invalid JSON"), "{body}");
    let (status, _, body) = server.curl(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("HostConfig.Memory"), "{body}");
    let (status, _, body) = server.curl(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"PidMode":"host"}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("PidMode"), "{body}");
    let (status, _, body) = server.curl("POST", "/containers/create", Some(r#"{"Image":"nosuch:1"}"#));
    assert_eq!((status, message(&body).as_str()), (404, "No such image: nosuch:1"));
    assert_eq!(berth.ok(&["ps", "-aq"]).trim(), "", "a refused create made a container");

    let (status, _, body) = server.curl(
        "POST",
        "/containers/create?name=taken",
        Some(r#"{"Image":"busybox","Cmd":["true"]}"#),
    );
    assert_eq!(status, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).expect("create JSON");
    assert_eq!(created["Id"].as_str().map(str::len), Some(64), "{body}");
    assert_eq!(created["Warnings"], serde_json::json!([]));
    let (status, _, body) = server.curl(
        "POST",
        "/containers/create?name=taken",
        Some(r#"{"Image":"busybox","Cmd":["true"]}"#),
    );
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("\"/taken\" is already in use"), "{body}");

    for (method, path) in [
        ("POST", "/containers/nosuch/start"),
        ("POST", "/containers/nosuch/wait"),
        ("GET", "/containers/nosuch/logs?stdout=1"),
        ("POST", "/containers/nosuch/exec"),
        ("POST", "/containers/nosuch/resize?h=1&w=1"),
    ] {
        let body = (method == "POST").then_some(r#"{"Cmd":["true"]}"#);
        let (status, _, text) = server.curl(method, path, body);
        assert_eq!(
            (status, message(&text).as_str()),
            (404, "No such container: nosuch"),
            "{path}"
        );
    }
    for (method, path) in [
        ("GET", "/exec/nosuch/json"),
        ("POST", "/exec/nosuch/start"),
        ("POST", "/exec/nosuch/resize?h=1&w=1"),
    ] {
        let (status, _, text) = server.curl(method, path, Some("{}"));
        assert_eq!(
            (status, message(&text).as_str()),
            (404, "No such exec instance: nosuch"),
            "{path}"
        );
    }
    let (status, _, body) = server.curl("POST", "/containers/taken/wait?condition=soon", None);
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = server.curl("GET", "/containers/taken/logs", None);
    assert_eq!(status, 400, "{body}");
    // Start twice: the second is Docker's 304.
    let (status, _, _) = server.curl("POST", "/containers/taken/start", None);
    assert_eq!(status, 204);
    assert_eq!(berth.ok(&["wait", "taken"]).trim(), "0");
}

/// A hijacked attach opened on a raw socket: the 101's headers, then what follows.
fn attach_raw(socket: &std::path::Path, container: &str) -> UnixStream {
    let mut stream = UnixStream::connect(socket).expect("connect");
    let request = format!(
        "POST /v1.47/containers/{container}/attach?stream=1&stdout=1&stderr=1&stdin=1 HTTP/1.1\r\n\
         Host: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("tick") {
        let n = stream.read(&mut buf).expect("read the attach stream");
        assert!(n > 0, "the attach stream ended: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        seen.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
    stream
}

#[test]
fn clients_that_leave_mid_stream_leave_the_server_serving() {
    let Some((berth, server)) = serve_busybox() else {
        return;
    };
    server.docker_ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.2; done",
    ]);
    let curl_for_a_second = |method: &str, path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-N", "--max-time", "1", "-X", method, "--unix-socket"])
            .arg(server.socket())
            .arg(format!("http://berth{path}"))
            .output()
            .expect("curl");
        assert_eq!(out.status.code(), Some(28), "curl should time out on {path}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for _ in 0..2 {
        let logs = curl_for_a_second("GET", "/containers/ticker/logs?follow=1&stdout=1");
        assert!(logs.contains("tick"), "{logs:?}");
        curl_for_a_second("POST", "/containers/ticker/wait");
        // An attach left without a word, mid-stream.
        drop(attach_raw(server.socket(), "ticker"));
    }
    let (status, _, body) = server.curl("GET", "/_ping", None);
    assert_eq!((status, body.as_str()), (200, "OK"));
    // Each reader and waiter saw its client go, and ended.
    let deadline = Instant::now() + Duration::from_secs(5);
    let ended = |what: &str| server.log_text().matches(what).count();
    while ended("logs stream ended") < 2 || ended("wait ended: its client left") < 2 || ended("attach ended") < 2 {
        assert!(
            Instant::now() < deadline,
            "streams still running after their clients left:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The container runs on, and a new client is served.
    let state = berth.ok(&["inspect", "--format", "{{.State.Status}}", "ticker"]);
    assert_eq!(state.trim(), "running");
    let again = attach_raw(server.socket(), "ticker");
    drop(again);
    assert_eq!(server.docker_ok(&["rm", "-f", "ticker"]).trim(), "ticker");
}
