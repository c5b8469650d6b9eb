//! Helpers shared by the integration tests: servers on loopback ports and a
//! `dig` driver. Nothing here sends traffic off the machine.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use berth_dns::{Config, Names, Server, Shutdown, Table};

/// A server running on its own thread; stopped and joined on drop.
pub struct Running {
    pub addr: SocketAddr,
    stop: Shutdown,
    thread: Option<JoinHandle<berth_dns::Result<()>>>,
}

impl Running {
    pub fn start(config: Config, names: Arc<dyn Names>) -> Running {
        let server = Server::bind(config, names).expect("bind");
        let addr = server.local_addrs()[0];
        let stop = server.shutdown_handle();
        let thread = Some(thread::spawn(move || server.run()));
        Running { addr, stop, thread }
    }

    pub fn stop(mut self) -> berth_dns::Result<()> {
        self.stop.trigger();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.trigger();
            let _ = t.join();
        }
    }
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub fn config(upstreams: Vec<SocketAddr>) -> Config {
    Config {
        listen: vec![loopback()],
        upstreams,
        upstream_timeout: Duration::from_millis(800),
        ..Config::default()
    }
}

/// The network under test: web (two replicas), an alias, a short id, a
/// container with a dotted name.
pub fn network() -> Arc<Table> {
    let t = Arc::new(Table::new());
    t.insert("web", Ipv4Addr::new(10, 88, 0, 2));
    t.insert("web", Ipv4Addr::new(10, 88, 0, 3));
    t.insert("www", Ipv4Addr::new(10, 88, 0, 2));
    t.insert("3f4e5d6c7b8a", Ipv4Addr::new(10, 88, 0, 2));
    t.insert("db.mynet", Ipv4Addr::new(10, 88, 0, 9));
    for i in 0..100 {
        t.insert("many", Ipv4Addr::new(10, 89, 0, i));
    }
    t
}

/// Stands in for the host's resolver.
pub fn upstream() -> Running {
    let t = Arc::new(Table::new());
    t.insert("deb.example", Ipv4Addr::new(192, 0, 2, 10));
    t.insert("deb.example", Ipv4Addr::new(192, 0, 2, 11));
    Running::start(config(vec![]), t)
}

/// A loopback UDP port where nothing listens.
pub fn closed_port() -> SocketAddr {
    UdpSocket::bind(loopback()).unwrap().local_addr().unwrap()
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What dig printed, picked apart.
#[derive(Debug)]
pub struct Dig {
    pub status: String,
    pub id: u16,
    pub flags: Vec<String>,
    /// (owner, ttl, type, data) from the ANSWER SECTION.
    pub answers: Vec<(String, u32, String, String)>,
    pub raw: String,
}

impl Dig {
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }

    pub fn data(&self) -> Vec<String> {
        let mut d: Vec<_> = self.answers.iter().map(|a| a.3.clone()).collect();
        d.sort();
        d
    }
}

/// Runs `dig @127.0.0.1 -p PORT args...` with one try; panics with dig's
/// output when it does not get a reply.
pub fn dig(server: SocketAddr, args: &[&str]) -> Dig {
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+tries=1", "+time=5"])
        .args(args)
        .output()
        .expect("run dig");
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "dig {args:?} failed: {raw}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_dig(raw)
}

fn parse_dig(raw: String) -> Dig {
    let header = raw
        .lines()
        .find(|l| l.contains("->>HEADER<<-"))
        .unwrap_or_else(|| panic!("no header in dig output: {raw}"));
    let field = |name: &str| {
        let rest = &header[header.find(name).unwrap() + name.len()..];
        rest.split(',').next().unwrap().trim().to_string()
    };
    let status = field("status:");
    let id = field("id:").parse().unwrap();
    let flags_line = raw.lines().find(|l| l.starts_with(";; flags:")).unwrap();
    let flags = flags_line[";; flags:".len()..]
        .split(';')
        .next()
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut answers = Vec::new();
    let mut in_answer = false;
    for line in raw.lines() {
        if line.starts_with(";; ANSWER SECTION:") {
            in_answer = true;
            continue;
        }
        if in_answer {
            if line.trim().is_empty() || line.starts_with(";;") {
                break;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            answers.push((
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[3].to_string(),
                f[4..].join(" "),
            ));
        }
    }
    Dig {
        status,
        id,
        flags,
        answers,
        raw,
    }
}
