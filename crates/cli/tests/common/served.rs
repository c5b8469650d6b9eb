//! `berth serve` for tests: a server on sockets in the test's directory, in its own process
//! group, and the clients pointed at it: the docker client (with a config directory of its own,
//! apart from the server's), curl, and raw HTTP for clients that leave half-way.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::Berth;

/// A `berth serve` on sockets in the test's directory, in its own process group: dropping it
/// ends the group and removes the sockets.
pub struct Served {
    pub child: Child,
    pub sockets: Vec<PathBuf>,
    pub log: PathBuf,
    /// The docker client's config directory (its `docker login` credentials), not the server's.
    pub docker_config: PathBuf,
}

/// The docker clients on this machine: the current one and Debian's 20.10, where installed.
pub fn docker_clients() -> Vec<&'static str> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .filter(|c| Path::new(c).exists())
        .collect()
}

impl Served {
    pub fn start(berth: &Berth) -> Served {
        Served::start_with(berth, &[berth.path("berth.sock")], &[])
    }

    /// Serves on `sockets` with `extra` arguments, logging the API's debug lines.
    pub fn start_with(berth: &Berth, sockets: &[PathBuf], extra: &[&str]) -> Served {
        let log = berth.path("serve.log");
        let mut args = vec!["--log-level".to_string(), "berth_api=debug".into(), "serve".into()];
        for socket in sockets {
            args.push("--host".into());
            args.push(format!("unix://{}", socket.display()));
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = berth
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("serve log"))
            .process_group(0)
            .spawn()
            .expect("berth serve");
        let mut served = Served {
            child,
            sockets: sockets.to_vec(),
            log,
            docker_config: berth.path("client-config"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for socket in sockets {
            while std::os::unix::net::UnixStream::connect(socket).is_err() {
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
        }
        served
    }

    pub fn socket(&self) -> &Path {
        &self.sockets[0]
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The docker client at `client` against this server, with its own config directory and the
    /// classic builder.
    pub fn docker_command(&self, client: &str, args: &[&str]) -> Command {
        let mut command = Command::new(client);
        command
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args);
        command
    }

    pub fn docker_with(&self, client: &str, args: &[&str]) -> Output {
        self.docker_command(client, args).output().expect("run docker")
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_with("docker", args)
    }

    /// Runs docker and requires success; returns stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The docker client at `client` with `input` on its stdin.
    pub fn docker_stdin(&self, client: &str, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .docker_command(client, args)
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

    /// Requires `out` (of `client` run with `what`) to be a success; returns its stdout.
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

    /// Runs the docker client at `client` and requires success; returns stdout.
    pub fn client_ok(&self, client: &str, args: &[&str]) -> String {
        let out = self.docker_with(client, args);
        self.ok(client, out, args)
    }

    /// Sends a request by hand and returns the connection, so a test can read part of the answer
    /// and go away.
    pub fn raw_request(&self, method: &str, path: &str, body: &[u8]) -> UnixStream {
        let mut conn = UnixStream::connect(self.socket()).expect("connect");
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

    /// Whether the server still answers.
    pub fn answers(&self) -> bool {
        self.curl("GET", "/_ping", None).0 == 200
    }

    /// An HTTP request through curl: (status, lowercased header lines, body).
    pub fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Vec<String>, String) {
        self.curl_with(method, path, body.map(|b| ("application/json", b.to_string())))
    }

    /// An HTTP request through curl whose body is the file at `file` (a tar, as clients send
    /// archives and build contexts): (status, body).
    pub fn curl_file(&self, method: &str, path: &str, file: Option<&Path>) -> (u16, String) {
        let data = file.map(|f| ("application/x-tar", format!("@{}", f.display())));
        let (status, _, body) = self.curl_with(method, path, data);
        (status, body)
    }

    /// curl with a body given as `--data-binary` takes it (`@FILE` or the text) and its type.
    fn curl_with(&self, method: &str, path: &str, data: Option<(&str, String)>) -> (u16, Vec<String>, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-i", "--max-time", "60", "--unix-socket"])
            .arg(self.socket())
            .args(["-X", method]);
        if method == "HEAD" {
            cmd.arg("-I");
        }
        if let Some((content_type, data)) = data {
            cmd.args(["-H", &format!("Content-Type: {content_type}"), "--data-binary", &data]);
        }
        let out = cmd.arg(format!("http://berth{path}")).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status from curl for {method} {path}: {text:?}"));
        (status, lines.map(str::to_lowercase).collect(), body.to_string())
    }
}

impl Served {
    /// SIGTERM to the server's process group, as a service manager stops it; waits for it to end.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(group) = rustix::process::Pid::from_raw(self.child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
            }
            let _ = self.child.wait();
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
        for socket in &self.sockets {
            let _ = std::fs::remove_file(socket);
        }
    }
}
