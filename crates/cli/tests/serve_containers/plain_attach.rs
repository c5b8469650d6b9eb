//! Attach and exec start without an `Upgrade` header, as curl sends them: dockerd answers `200 OK`
//! (content type raw-stream) and streams, multiplexed unless there is a terminal. Here the stream
//! is the response's body, and the request's body the process's input.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::served::Served;
use crate::serve_busybox;

/// Docker's multiplexed stream split into (stream, data) frames.
fn demux(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while body.len() >= 8 {
        let len = u32::from_be_bytes([body[4], body[5], body[6], body[7]]) as usize;
        assert!(body.len() >= 8 + len, "a cut frame: {body:?}");
        frames.push((body[0], body[8..8 + len].to_vec()));
        body = &body[8 + len..];
    }
    assert!(body.is_empty(), "trailing bytes: {body:?}");
    frames
}

/// The data of one stream's frames.
fn stream_of(frames: &[(u8, Vec<u8>)], stream: u8) -> String {
    let data: Vec<u8> = frames
        .iter()
        .filter(|(s, _)| *s == stream)
        .flat_map(|(_, d)| d.clone())
        .collect();
    String::from_utf8_lossy(&data).into_owned()
}

/// `curl -X POST` without an upgrade, with a body of (type, text), for at most `seconds`: (status
/// line and lowercased headers, body bytes, curl's exit code).
fn curl_post(server: &Served, path: &str, body: Option<(&str, &str)>, seconds: u32) -> (String, Vec<u8>, i32) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-i", "-N", "--max-time", &seconds.to_string(), "-X", "POST"])
        .arg("--unix-socket")
        .arg(server.socket());
    if let Some((content_type, text)) = body {
        cmd.args(["-H", &format!("Content-Type: {content_type}"), "--data-binary", text]);
    }
    let out = cmd
        .arg(format!("http://berth{path}"))
        .stderr(Stdio::null())
        .output()
        .expect("curl");
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&out.stdout)));
    let head = String::from_utf8_lossy(&out.stdout[..split]).to_lowercase();
    (head, out.stdout[split + 4..].to_vec(), out.status.code().unwrap_or(-1))
}

#[test]
fn attach_and_exec_without_an_upgrade_stream_the_output_as_the_body() {
    let Some((_berth, server)) = serve_busybox() else {
        return;
    };
    let loop_ = "while true; do echo tick; echo tock >&2; sleep 0.2; done";
    server.docker_ok(&["run", "-d", "--name", "ticker", "busybox", "sh", "-c", loop_]);
    server.docker_ok(&["run", "-d", "-t", "--name", "tty", "busybox", "sh", "-c", loop_]);

    // A running container, stdout only: multiplexed frames of stream 1, until curl gives up.
    let (head, body, code) = curl_post(&server, "/v1.47/containers/ticker/attach?stream=1&stdout=1", None, 2);
    assert_eq!(code, 28, "curl should time out: {head}");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: application/vnd.docker.raw-stream"),
        "{head}"
    );
    let frames = demux(&body);
    assert!(stream_of(&frames, 1).contains("tick\n"), "{frames:?}");
    assert!(frames.iter().all(|(s, _)| *s == 1), "{frames:?}");

    // With a terminal the stream is raw.
    let (head, body, _) = curl_post(&server, "/containers/tty/attach?stream=1&stdout=1", None, 2);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("tick\r\n") && text.contains("tock\r\n"), "{text:?}");

    // The request's body is the container's input.
    server.docker_ok(&["run", "-d", "-i", "--name", "catty", "busybox", "cat"]);
    let (head, body, _) = curl_post(
        &server,
        "/containers/catty/attach?stream=1&stdin=1&stdout=1",
        Some(("application/octet-stream", "typed in the body\n")),
        2,
    );
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(stream_of(&demux(&body), 1), "typed in the body\n");

    // An exec's output, both streams, and the end of the body when it exits.
    let (status, _, created) = server.curl(
        "POST",
        "/containers/ticker/exec",
        Some(r#"{"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","echo ex; echo err >&2; exit 3"]}"#),
    );
    assert_eq!(status, 201, "{created}");
    let exec: serde_json::Value = serde_json::from_str(&created).expect("exec JSON");
    let exec = exec["Id"].as_str().expect("exec id").to_string();
    let start = format!("/exec/{exec}/start");
    let (head, body, code) = curl_post(
        &server,
        &start,
        Some(("application/json", r#"{"Detach":false,"Tty":false}"#)),
        20,
    );
    assert_eq!(code, 0, "{head}");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let frames = demux(&body);
    assert_eq!(
        (stream_of(&frames, 1).as_str(), stream_of(&frames, 2).as_str()),
        ("ex\n", "err\n")
    );
    let (_, _, inspect) = server.curl("GET", &format!("/exec/{exec}/json"), None);
    let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("exec inspect JSON");
    assert_eq!(inspect["ExitCode"], 3, "{inspect}");

    // Attached before the start, as `docker run` attaches: all of the output, then the end.
    let (status, _, created) = server.curl(
        "POST",
        "/containers/create?name=brief",
        Some(r#"{"Image":"busybox","Cmd":["sh","-c","echo one; echo two >&2"]}"#),
    );
    assert_eq!(status, 201, "{created}");
    let created: serde_json::Value = serde_json::from_str(&created).expect("create JSON");
    let id = created["Id"].as_str().expect("container id").to_string();
    let socket = server.socket().to_path_buf();
    let attach = std::thread::spawn(move || {
        let out = Command::new("curl")
            .args(["-s", "-N", "--max-time", "30", "-X", "POST", "--unix-socket"])
            .arg(&socket)
            .arg("http://berth/containers/brief/attach?stream=1&stdout=1&stderr=1")
            .output()
            .expect("curl");
        (out.status.code(), out.stdout)
    });
    // The server notes the attach (it waits for the start) before its answer goes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let noted = || {
        let log = server.log_text();
        log.lines()
            .any(|l| l.contains(&id) && l.contains("attach waits for the container's start"))
    };
    while !noted() {
        assert!(Instant::now() < deadline, "no attach: {}", server.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, _) = server.curl("POST", "/containers/brief/start", None);
    assert_eq!(status, 204);
    let (code, body) = attach.join().expect("curl thread");
    assert_eq!(code, Some(0));
    let frames = demux(&body);
    assert_eq!(
        (stream_of(&frames, 1).as_str(), stream_of(&frames, 2).as_str()),
        ("one\n", "two\n")
    );
    assert!(server.answers());
    server.docker_ok(&["rm", "-f", "ticker", "tty", "catty", "brief"]);
}
