//! `berth serve` for end-to-end tests: a server on a socket in the test's directory, in its own
//! process group (dropping it ends the group and removes the socket), and the clients that drive
//! it: the docker CLI (each with its own config directory, apart from the server's), curl, and raw
//! HTTP over the socket for clients that leave half-way.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::Berth;

pub struct Served {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    /// The docker client's config directory (its `docker login` credentials), not the server's.
    pub client_config: PathBuf,
}

/// The docker clients on this machine: the current one and Debian's 20.10, where installed.
pub fn docker_clients() -> Vec<&'static str> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .filter(|c| Path::new(c).exists())
        .collect()
}

impl Served {
    /// Serves `berth`'s data root on `berth.sock` in its directory, logging the API's debug lines.
    pub fn start(berth: &Berth) -> Served {
        let socket = berth.path("berth.sock");
        let log = berth.path("serve.log");
        let host = format!("unix://{}", socket.display());
        let child = berth
            .cmd(&["--log-level", "berth_api=debug", "serve", "--host", &host])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("serve log"))
            .process_group(0)
            .spawn()
            .expect("berth serve");
        let mut served = Served {
            child,
            socket,
            log,
            client_config: berth.path("client-config"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&served.socket).is_err() {
            if let Ok(Some(status)) = served.child.try_wait() {
                panic!("berth serve exited ({status}): {}", served.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "berth serve did not listen: {}",
                served.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        served
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A docker command against this server (classic builder, the client's own config).
    pub fn docker_cmd(&self, client: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(client);
        cmd.env("DOCKER_CONFIG", &self.client_config)
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args);
        cmd
    }

    pub fn docker_with(&self, client: &str, args: &[&str]) -> Output {
        self.docker_cmd(client, args).output().expect("run docker")
    }

    /// Runs docker with `input` on stdin.
    pub fn docker_stdin(&self, client: &str, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .docker_cmd(client, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn docker");
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(input);
        drop(stdin);
        child.wait_with_output().expect("wait docker")
    }

    /// Requires success; returns stdout.
    pub fn ok(&self, client: &str, out: Output, what: &[&str]) -> String {
        assert!(
            out.status.success(),
            "{client} {what:?} failed ({}):\nstdout: {}\nstderr: {}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn docker_ok(&self, client: &str, args: &[&str]) -> String {
        let out = self.docker_with(client, args);
        self.ok(client, out, args)
    }

    /// An HTTP request through curl with a body from `data` (a file) or none: (status, body).
    pub fn curl(&self, method: &str, path: &str, data: Option<&Path>) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            "--max-time",
            "60",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--unix-socket",
        ])
        .arg(&self.socket)
        .args(["-X", method]);
        if let Some(file) = data {
            cmd.args(["-H", "Content-Type: application/x-tar", "--data-binary"])
                .arg(format!("@{}", file.display()));
        }
        let out = cmd.arg(format!("http://berth{path}")).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        let status = status
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no HTTP status from curl for {method} {path}: {text:?}"));
        (status, body.to_string())
    }

    /// Sends a request by hand and returns the connection, so a test can read part of the answer
    /// and go away.
    pub fn raw_request(&self, method: &str, path: &str, body: &[u8]) -> UnixStream {
        let mut conn = UnixStream::connect(&self.socket).expect("connect");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).expect("send head");
        conn.write_all(body).expect("send body");
        conn.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        conn
    }

    /// Reads `conn` until `text` has come (or it ends); returns what came.
    pub fn read_until(conn: &mut UnixStream, text: &str) -> String {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(text) {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    /// SIGTERM to the server's process group; waits for it to end.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(group) = rustix::process::Pid::from_raw(self.child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
            }
            let _ = self.child.wait();
        }
    }

    /// Whether the server still answers.
    pub fn answers(&self) -> bool {
        self.curl("GET", "/_ping", None).0 == 200
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.socket);
    }
}
