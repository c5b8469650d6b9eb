//! Name resolution on user-defined networks, without a daemon: the first container to start on such a network
//! starts `berth network-dns ID` (its own session, so it outlives the CLI), which serves on the network's
//! gateway address, answers the names of the network's containers from the metadata database, forwards every
//! other name to the host's resolvers, and exits once the network has no containers left. A lock file makes
//! sure one server runs per network.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_dns::{Config, Names, Server};
use berth_store::networks as rows;
use berth_store::FileLock;

use crate::{Engine, Error, Result};

/// How often a server checks whether its network still has containers.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// Cached names are read again from the database when older than this.
const REFRESH: Duration = Duration::from_millis(100);

fn server_dir(engine: &Engine, network_id: &str) -> PathBuf {
    engine
        .runroot()
        .join("dns")
        .join(&network_id[..12.min(network_id.len())])
}

/// Starts the network's DNS server unless one runs already.
pub(crate) fn ensure_server(engine: &Engine, network_id: &str) -> Result<()> {
    let dir = server_dir(engine, network_id);
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    // A free lock means no server: check, release, and let the new server take it for good.
    if FileLock::try_exclusive(&dir.join("lock"))?.is_none() {
        return Ok(());
    }
    let exe = crate::berth_executable().map_err(|e| Error::Io {
        path: "/proc/self/exe".into(),
        source: e,
    })?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root")
        .arg(engine.root())
        .arg("--runroot")
        .arg(engine.runroot())
        .arg("network-dns")
        .arg(network_id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    #[allow(unsafe_code)]
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let _ = rustix::process::setsid();
            Ok(())
        });
    }
    // On the host side of the networks, where its network's gateway address is.
    let mut child = berth_network::on_host_side(|| Ok(cmd.spawn()))
        .map_err(|e| Error::Network(e.to_string()))?
        .map_err(|e| Error::Network(format!("starting the DNS server: {e}")))?;
    // The server reports back by taking the lock; give it a moment so the container's first query finds it.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if FileLock::try_exclusive(&dir.join("lock"))?.is_none() {
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    crate::reap::release(child);
    Ok(())
}

/// Stops the network's server, if one runs (network rm).
pub(crate) fn stop_server(engine: &Engine, network_id: &str) {
    let dir = server_dir(engine, network_id);
    if let Ok(pid) = std::fs::read_to_string(dir.join("pid")) {
        if let Some(pid) = pid.trim().parse().ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

/// When the names were read, addresses by name, names by address.
type Cache = (
    Option<Instant>,
    HashMap<String, Vec<Ipv4Addr>>,
    HashMap<Ipv4Addr, String>,
);

/// The names of one network's containers, read from the database (and cached briefly).
struct NetworkNames {
    root: PathBuf,
    runroot: PathBuf,
    network_id: String,
    cache: Mutex<Cache>,
}

impl NetworkNames {
    fn refreshed(&self) -> std::sync::MutexGuard<'_, Cache> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0.is_none_or(|at| at.elapsed() > REFRESH) {
            if let Ok((names, reverse)) = self.load() {
                cache.1 = names;
                cache.2 = reverse;
            }
            cache.0 = Some(Instant::now());
        }
        cache
    }

    #[allow(clippy::type_complexity)]
    fn load(&self) -> Result<(HashMap<String, Vec<Ipv4Addr>>, HashMap<Ipv4Addr, String>)> {
        let engine = Engine::open(crate::Options {
            root: self.root.clone(),
            runroot: self.runroot.clone(),
        })?;
        let mut names: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
        let mut reverse = HashMap::new();
        let endpoints = rows::endpoints_of_network(&*engine.store().db()?, &self.network_id)?;
        for e in endpoints {
            let Ok(ip) = e.ip.parse::<Ipv4Addr>() else { continue };
            let Ok(c) = engine.container(&e.container_id) else {
                continue;
            };
            let aliases: Vec<String> = serde_json::from_str(&e.aliases).unwrap_or_default();
            let mut all = vec![c.row.name.clone(), c.short_id().to_string()];
            all.extend(aliases);
            reverse.insert(ip, c.row.name.clone());
            for name in all {
                names.entry(berth_dns::normalize(&name)).or_default().push(ip);
            }
        }
        Ok((names, reverse))
    }
}

impl Names for NetworkNames {
    fn lookup_v4(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.refreshed().1.get(name).cloned()
    }

    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        self.refreshed().2.get(&ip).cloned()
    }
}

/// `berth network-dns ID`: serves until the network has no containers left.
pub fn serve(engine: &Engine, network_id: &str) -> Result<()> {
    let dir = server_dir(engine, network_id);
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    let Some(_lock) = FileLock::try_exclusive(&dir.join("lock"))? else {
        return Ok(());
    };
    let network =
        rows::get(&*engine.store().db()?, network_id)?.ok_or_else(|| Error::NoSuchNetwork(network_id.into()))?;
    let gateway: Ipv4Addr = network
        .gateway
        .parse()
        .map_err(|_| Error::InvalidArgument(format!("network {} has a bad gateway", network.name)))?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let names = Arc::new(NetworkNames {
        root: engine.root().to_path_buf(),
        runroot: engine.runroot().to_path_buf(),
        network_id: network_id.to_string(),
        cache: Mutex::new((None, HashMap::new(), HashMap::new())),
    });
    let (root, runroot, id) = (
        engine.root().to_path_buf(),
        engine.runroot().to_path_buf(),
        network_id.to_string(),
    );
    let idle = move || -> bool {
        let Ok(engine) = Engine::open(crate::Options {
            root: root.clone(),
            runroot: runroot.clone(),
        }) else {
            return false;
        };
        let Ok(db) = engine.store().db() else {
            return false;
        };
        match rows::get(&db, &id) {
            Ok(None) => true,
            Ok(Some(_)) => rows::endpoints_of_network(&db, &id).is_ok_and(|e| e.is_empty()),
            Err(_) => false,
        }
    };
    let server = Server::bind(
        Config {
            listen: vec![SocketAddr::from((gateway, 53))],
            upstreams: berth_dns::host_upstreams(&host_resolv),
            idle_check: Some((IDLE_CHECK, Box::new(idle))),
            ..Config::default()
        },
        names,
    )
    .map_err(|e| Error::Network(format!("DNS server for network {}: {e}", network.name)))?;
    let _ = std::fs::write(dir.join("pid"), std::process::id().to_string());
    let result = server
        .run()
        .map_err(|e| Error::Network(format!("DNS server for network {}: {e}", network.name)));
    let _ = std::fs::remove_file(dir.join("pid"));
    result
}
