//! Attach over a websocket (`GET /containers/{id}/attach/ws`): the Python SDK's `ws=True` reading
//! and writing a running container, and raw bytes over the socket for what a client must not send
//! (unmasked frames, lengths no server should believe): each answered with a close frame carrying
//! RFC 6455's code, the connection closed, the server and the container carrying on.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::served::Served;
use crate::{said, serve_busybox};

/// A python with both the Docker SDK and websocket-client (Debian's python3-websocket lives beside
/// Debian's python3-docker, which a python from elsewhere on the PATH may not see).
fn python_with_websocket() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import docker, websocket"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_python_sdk_attaches_over_a_websocket() {
    let Some(python) = python_with_websocket() else {
        eprintln!(
            "SKIPPED: no python3 with the Docker SDK and websocket-client (scripts/deps.sh installs python3-docker and python3-websocket)"
        );
        return;
    };
    let Some((_berth, server)) = serve_busybox() else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/serve_containers/ws.py");
    let out = Command::new("timeout")
        .args(["120", python, script])
        .arg(server.socket())
        .output()
        .expect("python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ws ok"),
        "{}\nserver log:\n{}",
        said(&out),
        server.log_text()
    );
}

/// RFC 6455's example key, and the accept it must be answered with.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A websocket handshake by hand with `extra` headers; the connection and the response's head.
fn handshake(socket: &Path, path: &str, extra: &str) -> (UnixStream, String) {
    let mut conn = UnixStream::connect(socket).expect("connect");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{extra}\r\n");
    conn.write_all(request.as_bytes()).expect("send the handshake");
    conn.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte, so that nothing after the head is taken with it.
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    (conn, String::from_utf8_lossy(&head).to_lowercase())
}

fn open(socket: &Path, container: &str) -> UnixStream {
    let path = format!("/v1.47/containers/{container}/attach/ws?stream=1&stdin=1&stdout=1");
    let (conn, head) = handshake(
        socket,
        &path,
        &format!("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n"),
    );
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains(&format!("sec-websocket-accept: {}", ACCEPT.to_lowercase())),
        "{head}"
    );
    conn
}

/// `payload` as a client must send it: masked.
fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0xA5, 0x01, 0x7E, 0x33];
    assert!(payload.len() < 126);
    let mut out = vec![b0, 0x80 | payload.len() as u8];
    out.extend_from_slice(&key);
    out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    out
}

/// The server's frames until it closes the connection: (opcode, payload) each.
fn frames_until_closed(conn: &mut UnixStream) -> Vec<(u8, Vec<u8>)> {
    let mut bytes = Vec::new();
    conn.read_to_end(&mut bytes).expect("the server closes the connection");
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 2 {
        // A server's frames are unmasked; these are all short.
        assert_eq!(rest[1] & 0x80, 0, "a masked server frame: {bytes:?}");
        let len = usize::from(rest[1] & 0x7F);
        assert!(len < 126 && rest.len() >= 2 + len, "{bytes:?}");
        frames.push((rest[0], rest[2..2 + len].to_vec()));
        rest = &rest[2 + len..];
    }
    assert!(rest.is_empty(), "{bytes:?}");
    frames
}

/// The close code the server hung up with, after any other frames.
fn close_code(conn: &mut UnixStream) -> u16 {
    let frames = frames_until_closed(conn);
    let (opcode, payload) = frames.last().expect("a close frame");
    assert_eq!(*opcode, 0x88, "{frames:?}");
    u16::from_be_bytes([payload[0], payload[1]])
}

fn running(server: &Served, container: &str) -> bool {
    let (status, _, body) = server.curl("GET", &format!("/containers/{container}/json"), None);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    status == 200 && v["State"]["Running"] == serde_json::json!(true)
}

#[test]
fn hostile_websocket_frames_are_closed_cleanly() {
    let Some((_berth, server)) = serve_busybox() else {
        return;
    };
    server.docker_ok(&["run", "-d", "-i", "--name", "catty", "busybox", "cat"]);
    let socket = server.socket();

    // First, what a good client gets: a ping's pong, its input echoed, its close echoed.
    let mut conn = open(socket, "catty");
    conn.write_all(&masked(0x89, b"hi")).expect("ping");
    conn.write_all(&masked(0x82, b"echo\n")).expect("data");
    let mut seen = Vec::new();
    let mut buf = [0u8; 64];
    while !seen.windows(5).any(|w| w == b"echo\n") {
        let n = conn.read(&mut buf).expect("read");
        assert!(n > 0, "{seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(seen.starts_with(&[0x8A, 2, b'h', b'i']), "pong first: {seen:?}");
    assert_eq!(&seen[4..], [0x82, 5, b'e', b'c', b'h', b'o', b'\n'], "{seen:?}");
    conn.write_all(&masked(0x88, &[0x0F, 0xA0])).expect("close with 4000");
    assert_eq!(close_code(&mut conn), 4000);

    let mut long = vec![0x82, 0xFF];
    long.extend_from_slice(&(1u64 << 63).to_be_bytes());
    let mut over_the_cap = vec![0x82, 0xFF];
    over_the_cap.extend_from_slice(&(1u64 << 40).to_be_bytes());
    let cases: [(&str, Vec<u8>, u16); 6] = [
        ("an unmasked frame", vec![0x82, 0x02, b'h', b'i'], 1002),
        ("a 2^63-byte length", long, 1002),
        ("a terabyte", over_the_cap, 1009),
        ("reserved bits", masked(0xC2, b"x"), 1002),
        ("an unknown opcode", masked(0x83, b"x"), 1002),
        ("a stray continuation", masked(0x80, b"x"), 1002),
    ];
    for (what, bytes, code) in cases {
        let mut conn = open(socket, "catty");
        conn.write_all(&bytes).expect("send");
        assert_eq!(close_code(&mut conn), code, "{what}");
        assert!(server.answers(), "after {what}");
    }

    // Requests that are no handshake this server speaks, and a container that is not there.
    let attach = "/containers/catty/attach/ws?stream=1";
    let (_, head) = handshake(socket, attach, &format!("Sec-WebSocket-Key: {KEY}\r\n"));
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert!(head.contains("sec-websocket-version: 13"), "{head}");
    let (_, head) = handshake(socket, attach, "Sec-WebSocket-Version: 13\r\n");
    assert!(head.starts_with("http/1.1 400"), "{head}");
    let (_, head) = handshake(
        socket,
        "/containers/nosuch/attach/ws",
        &format!("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n"),
    );
    assert!(head.starts_with("http/1.1 404"), "{head}");

    // The container ran through all of it, and still echoes.
    assert!(running(&server, "catty"), "{}", server.log_text());
    let mut conn = open(socket, "catty");
    conn.write_all(&masked(0x81, b"after\n")).expect("data");
    let mut seen = Vec::new();
    while !seen.ends_with(b"after\n") {
        let n = conn.read(&mut buf).expect("read");
        assert!(n > 0, "{seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(conn);
    server.docker_ok(&["rm", "-f", "catty"]);
}
