//! The way out of a rootless berth's network namespace: slirp4netns (Debian's package) gives the
//! namespace a tap device whose traffic it carries through ordinary sockets of the user's, and, asked
//! on its API socket, listens on host ports and forwards them into the namespace (`-p`).

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::firewall::Proto;

/// The namespace's own address on slirp4netns's network (10.0.2.0/24, its default), where
/// forwarded ports arrive.
pub const NAMESPACE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);

/// A slirp4netns serving a network namespace, reached through its API socket.
#[derive(Debug, Clone)]
pub struct Slirp {
    api: PathBuf,
    /// Its process, when this one started it.
    pid: Option<u32>,
}

impl Slirp {
    /// The slirp4netns whose API socket is `api`.
    pub fn at(api: &Path) -> Slirp {
        Slirp {
            api: api.to_path_buf(),
            pid: None,
        }
    }

    /// The process of a slirp4netns [`Slirp::start`] started.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Starts slirp4netns for the network namespace of process `pid` (a tap device `tap0` there,
    /// configured with 10.0.2.100/24, a default route and an MTU of 65520), detached from the caller
    /// (its own session, no fd of the caller's), with its API socket at `api`; waits until it answers.
    /// With `exit`, the read end of a pipe, it ends when every write end is closed.
    pub fn start(pid: i32, api: &Path, exit: Option<std::os::fd::OwnedFd>) -> Result<Slirp> {
        let _ = std::fs::remove_file(api);
        let mut command = Command::new("slirp4netns");
        command
            .args(["--configure", "--mtu=65520", "--disable-host-loopback", "--api-socket"])
            .arg(api);
        if exit.is_some() {
            command.args(["--exit-fd", "3"]);
        }
        let exit_fd = exit.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
        command
            .args([pid.to_string().as_str(), "tap0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid(2) and dup2(2) in the forked child before exec are async-signal-safe and touch no
        // memory; `exit`'s fd stays open in the parent until the spawn returns.
        #[allow(unsafe_code)]
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                libc::setsid();
                // dup2 clears close-on-exec on the copy: slirp4netns watches fd 3.
                if let Some(fd) = exit_fd {
                    libc::dup2(fd, 3);
                }
                Ok(())
            });
        }
        let spawned = command.spawn();
        drop(exit);
        let mut child = spawned.map_err(|source| Error::Slirp {
            op: "start slirp4netns (install Debian's slirp4netns package)".into(),
            source,
        })?;
        let slirp = Slirp {
            api: api.to_path_buf(),
            pid: Some(child.id()),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if slirp.request(r#"{"execute": "list_hostfwd"}"#).is_ok() {
                // Reaped by init once the caller exits; a zombie until then is harmless.
                return Ok(slirp);
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Slirp {
                    op: format!(
                        "start slirp4netns ({status}): it needs /dev/net/tun usable by this user (mode 0666, as \
                         distributions ship it)"
                    ),
                    source: std::io::Error::other("it exited"),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(Error::Slirp {
                    op: "start slirp4netns".into(),
                    source: std::io::Error::other("its API socket did not answer within 10 s"),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether this slirp4netns still answers.
    pub fn alive(&self) -> bool {
        self.request(r#"{"execute": "list_hostfwd"}"#).is_ok()
    }

    /// Listens on `host_addr:host_port` of the host (0.0.0.0 for every address) and forwards what
    /// arrives to the same port at [`NAMESPACE_ADDR`]; returns the forward's id for [`Slirp::remove`].
    pub fn add(&self, proto: Proto, host_addr: Option<Ipv4Addr>, host_port: u16) -> Result<u64> {
        let request = serde_json::json!({
            "execute": "add_hostfwd",
            "arguments": {
                "proto": proto.to_string(),
                "host_addr": host_addr.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                "host_port": host_port,
                "guest_addr": NAMESPACE_ADDR.to_string(),
                "guest_port": host_port,
            }
        });
        let reply = self.request(&request.to_string())?;
        if let Some(message) = reply.get("error").and_then(|e| e.get("desc")).and_then(|d| d.as_str()) {
            tracing::debug!(message, "slirp4netns refused a forward");
            return Err(Error::PortAllocated {
                addr: host_addr.unwrap_or(Ipv4Addr::UNSPECIFIED),
                port: host_port,
                proto,
            });
        }
        answer(&reply)["id"].as_u64().ok_or_else(|| Error::Slirp {
            op: "add a port forward".into(),
            source: std::io::Error::other(format!("unexpected answer {reply}")),
        })
    }

    /// Removes a forward [`Slirp::add`] made; one already gone is fine.
    pub fn remove(&self, id: u64) -> Result<()> {
        let request = serde_json::json!({"execute": "remove_hostfwd", "arguments": {"id": id}});
        self.request(&request.to_string()).map(|_| ())
    }

    /// Removes every forward of host port `host_port` (whatever its address); none is fine.
    pub fn remove_port(&self, proto: Proto, host_port: u16) -> Result<()> {
        let listed = self.request(r#"{"execute": "list_hostfwd"}"#)?;
        let entries = answer(&listed)["entries"].as_array().cloned().unwrap_or_default();
        for entry in entries {
            let same = entry["proto"].as_str() == Some(&proto.to_string())
                && entry["host_port"].as_u64() == Some(u64::from(host_port));
            if let (true, Some(id)) = (same, entry["id"].as_u64()) {
                self.remove(id)?;
            }
        }
        Ok(())
    }

    /// One request on the API socket (a JSON object), and its one-line JSON answer.
    fn request(&self, request: &str) -> Result<serde_json::Value> {
        let fail = |source: std::io::Error| Error::Slirp {
            op: format!("ask slirp4netns at {}", self.api.display()),
            source,
        };
        let mut stream = UnixStream::connect(&self.api).map_err(fail)?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(fail)?;
        stream.write_all(request.as_bytes()).map_err(fail)?;
        stream.shutdown(std::net::Shutdown::Write).map_err(fail)?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).map_err(fail)?;
        serde_json::from_str(&line).map_err(|e| fail(std::io::Error::other(format!("{e}: {line:?}"))))
    }
}

/// What an answer holds: slirp4netns 1.2 puts it under "return" for some requests and at the top for
/// others (list_hostfwd).
fn answer(reply: &serde_json::Value) -> &serde_json::Value {
    reply.get("return").unwrap_or(reply)
}
