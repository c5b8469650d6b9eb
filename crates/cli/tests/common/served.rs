//! `berth serve` for tests: a server on sockets in the test's directory, in its own process
//! group, and the docker client and curl pointed at it.

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
    pub docker_config: PathBuf,
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
            docker_config: berth.path("docker-config"),
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

    /// The docker client at `client` against this server, with its own config directory.
    pub fn docker_command(&self, client: &str, args: &[&str]) -> Command {
        let mut command = Command::new(client);
        command
            .env("DOCKER_CONFIG", &self.docker_config)
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

    /// An HTTP request through curl: (status, lowercased header lines, body).
    pub fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Vec<String>, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-i", "--max-time", "20", "--unix-socket"])
            .arg(self.socket())
            .args(["-X", method]);
        if method == "HEAD" {
            cmd.arg("-I");
        }
        if let Some(body) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", body]);
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
