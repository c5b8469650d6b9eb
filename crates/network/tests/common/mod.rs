//! A test lab: unique names (random suffix), subnets that do not clash
//! with the host, and cleanup of everything it made, even on panic.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use berth_network::{link, netns, Firewall, VethConfig};

pub struct Lab {
    pub suffix: String,
    pub dir: tempfile::TempDir,
    pub fw: Firewall,
    netns: Mutex<Vec<PathBuf>>,
    links: Mutex<Vec<String>>,
    cleaned: Mutex<bool>,
}

pub struct Ctr {
    pub ns: PathBuf,
    pub ip: Ipv4Addr,
    pub veth: String,
}

/// A /24 (or smaller) the lab owns: network address and prefix length.
#[derive(Clone, Copy, Debug)]
pub struct Subnet {
    pub net: Ipv4Addr,
    pub len: u8,
}

impl Subnet {
    pub fn host(&self, n: u8) -> Ipv4Addr {
        let o = self.net.octets();
        Ipv4Addr::new(o[0], o[1], o[2], o[3] + n)
    }
    pub fn gateway(&self) -> Ipv4Addr {
        self.host(1)
    }
}

/// Hands out 10.2xx.y.0/24 blocks: xx random per process, y counting up,
/// skipping anything the host routes already.
fn next_subnet() -> Subnet {
    static SECOND: OnceLock<u8> = OnceLock::new();
    static THIRD: AtomicU32 = AtomicU32::new(u32::MAX);
    let second = *SECOND.get_or_init(|| 200 + (rand::random::<u8>() % 55));
    let _ = THIRD.compare_exchange(
        u32::MAX,
        u32::from(rand::random::<u8>()),
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let routes = link::host_routes_v4().expect("list host routes");
    loop {
        let third = (THIRD.fetch_add(1, Ordering::SeqCst) % 256) as u8;
        let net = Ipv4Addr::new(10, second, third, 0);
        let clash = routes.iter().any(|(dst, len, _)| {
            *len > 0 && {
                let m = u32::MAX << (32 - u32::from((*len).min(24)));
                u32::from(*dst) & m == u32::from(net) & m
            }
        });
        if !clash {
            return Subnet { net, len: 24 };
        }
    }
}

impl Lab {
    pub fn new() -> Lab {
        let suffix = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let dir = tempfile::tempdir().expect("tempdir");
        let fw = Firewall::new(&format!("berth_t{suffix}"), dir.path().join("fw.lock")).expect("firewall");
        Lab {
            suffix,
            dir,
            fw,
            netns: Mutex::new(Vec::new()),
            links: Mutex::new(Vec::new()),
            cleaned: Mutex::new(false),
        }
    }

    /// A 2-character tag plus the suffix: 8 characters, unique per lab.
    pub fn name(&self, tag: &str) -> String {
        format!("{tag}{}", self.suffix)
    }

    pub fn subnet(&self) -> Subnet {
        next_subnet()
    }

    pub fn netns(&self, tag: &str) -> PathBuf {
        let path = self.dir.path().join(format!("ns-{tag}"));
        self.netns.lock().unwrap().push(path.clone());
        netns::create(&path).expect("create netns");
        path
    }

    pub fn bridge(&self, tag: &str, subnet: Subnet) -> String {
        let name = self.name(tag);
        self.links.lock().unwrap().push(name.clone());
        link::ensure_bridge(&name, subnet.gateway(), subnet.len, 1500).expect("ensure bridge");
        name
    }

    /// A container namespace on `bridge` with address `subnet.host(n)`.
    pub fn container(&self, tag: &str, bridge: &str, subnet: Subnet, n: u8, gateway: bool) -> Ctr {
        let ns = self.netns(tag);
        let veth = format!("{}{}", self.name("v"), tag);
        assert!(veth.len() <= 15, "{veth} too long");
        self.links.lock().unwrap().push(veth.clone());
        let ip = subnet.host(n);
        link::attach_veth(&VethConfig {
            bridge: bridge.to_string(),
            host_ifname: veth.clone(),
            netns: ns.clone(),
            container_ifname: "eth0".into(),
            address: ip,
            prefix_len: subnet.len,
            gateway: gateway.then(|| subnet.gateway()),
            mac: link::mac_for(ip),
            mtu: 1500,
            alias: Some(format!("lab:{tag}")),
        })
        .expect("attach veth");
        Ctr { ns, ip, veth }
    }

    /// Removes everything the lab made; returns what failed.
    pub fn cleanup(&self) -> Vec<String> {
        let mut done = self.cleaned.lock().unwrap_or_else(|e| e.into_inner());
        let mut errors = Vec::new();
        if *done {
            return errors;
        }
        *done = true;
        if let Err(e) = self.fw.remove_all() {
            errors.push(format!("remove table: {e}"));
        }
        let links = self.links.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for l in links.iter().rev() {
            if let Err(e) = link::delete_link(l) {
                errors.push(format!("delete {l}: {e}"));
            }
        }
        let nss = self.netns.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for ns in nss {
            if let Err(e) = netns::remove(&ns) {
                errors.push(format!("remove {}: {e}", ns.display()));
            }
        }
        errors
    }

    /// Cleans up and checks that nothing with this lab's suffix is left.
    pub fn finish(self) {
        let errors = self.cleanup();
        assert!(errors.is_empty(), "cleanup failed: {errors:?}");
        let left: Vec<String> = link::list_link_names()
            .unwrap()
            .into_iter()
            .filter(|n| n.contains(&self.suffix))
            .collect();
        assert!(left.is_empty(), "interfaces left behind: {left:?}");
        assert!(!self.fw.exists().unwrap(), "table {} left behind", self.fw.table());
        for ns in self.netns.lock().unwrap().iter() {
            assert!(!ns.exists(), "{} left behind", ns.display());
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let errors = self.cleanup();
        if !errors.is_empty() {
            eprintln!("lab {} cleanup: {errors:?}", self.suffix);
        }
    }
}

pub fn enable_forwarding() {
    link::set_sysctl("net/ipv4/ip_forward", "1").expect("enable ip_forward");
}

/// A TCP listener inside `ns` (the socket stays in that namespace).
pub fn listen(ns: &Path, ip: Ipv4Addr, port: u16) -> TcpListener {
    let l = netns::run_in(ns, || {
        TcpListener::bind((ip, port)).map_err(|e| berth_network::Error::Netns {
            path: ns.to_path_buf(),
            op: "listen",
            source: e,
        })
    })
    .expect("listen in netns");
    l.set_nonblocking(true).unwrap();
    l
}

pub fn connect(from: Option<&Path>, to: SocketAddrV4, timeout: Duration) -> std::io::Result<TcpStream> {
    let go = move || TcpStream::connect_timeout(&SocketAddr::V4(to), timeout);
    match from {
        None => go(),
        Some(ns) => netns::run_in(ns, || Ok(go())).expect("run_in"),
    }
}

/// Connects from `from` (None: this thread's namespace) to `to`, checks
/// that `listener` gets the connection and the bytes, and returns the
/// peer address the listener saw.
pub fn reach(listener: &TcpListener, from: Option<&Path>, to: SocketAddrV4) -> SocketAddr {
    let mut s =
        connect(from, to, Duration::from_secs(3)).unwrap_or_else(|e| panic!("connect to {to} from {from:?}: {e}"));
    s.write_all(b"ping").unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let (mut conn, peer) = loop {
        match listener.accept() {
            Ok(c) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("listener did not get the connection to {to} from {from:?}: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    peer
}

/// Checks that a connection does not get through.
pub fn blocked(from: Option<&Path>, to: SocketAddrV4) {
    if let Ok(s) = connect(from, to, Duration::from_millis(700)) {
        panic!("connection to {to} from {from:?} got through: {:?}", s.peer_addr());
    }
}

/// The host's address on the interface of its default route, if any.
pub fn uplink_address() -> Option<Ipv4Addr> {
    let routes = link::host_routes_v4().ok()?;
    let (_, _, ifname) = routes.iter().find(|(_, len, _)| *len == 0)?;
    link::host_addresses_v4()
        .ok()?
        .into_iter()
        .find(|(_, _, name)| name == ifname)
        .map(|(ip, _, _)| ip)
}
