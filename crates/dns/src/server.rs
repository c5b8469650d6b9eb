//! Sockets and threads. One thread polls every listening socket plus a
//! wake-up eventfd: it answers our own names inline (a map lookup), hands
//! forwarded UDP queries to short-lived threads so a slow upstream never
//! holds up other clients, and gives each TCP connection a thread. Idle, the
//! process sleeps in poll(2): no timers unless an idle check is configured.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};

use crate::answer::{answer, Action, Forward, Transport};
use crate::{forward, Error, Names, Result};

/// Docker's TTL for container names.
pub const DEFAULT_TTL: u32 = 600;
/// How long one upstream gets to answer before the next is tried.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Forwarded UDP queries in flight at once; more are dropped (the client
/// retries), which bounds threads when upstreams hang.
const MAX_FORWARDS: usize = 64;
/// Open TCP connections at once; more are closed on accept.
const MAX_TCP_CONNECTIONS: usize = 32;
/// A TCP client silent this long is disconnected (RFC 7766 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// UDP datagrams handled per socket per wake-up, so one busy socket cannot
/// starve the others or the shutdown check.
const UDP_BATCH: usize = 64;
/// Largest query we read over UDP; well above what stubs send.
const UDP_QUERY_BUF: usize = 4096;
/// Worker threads only parse and copy buffers held on the heap.
const WORKER_STACK: usize = 256 * 1024;

pub type IdleCheck = (Duration, Box<dyn Fn() -> bool + Send>);

pub struct Config {
    /// Addresses to serve on, each over UDP and TCP (same port; with port 0
    /// the kernel picks one free for both).
    pub listen: Vec<SocketAddr>,
    /// Resolvers for names that are not ours, tried in order. Addresses the
    /// server itself listens on are left out (they would loop).
    pub upstreams: Vec<SocketAddr>,
    /// TTL of our answers.
    pub ttl: u32,
    /// Per upstream, per query.
    pub upstream_timeout: Duration,
    /// Every interval, `run` asks the function and returns when it says true
    /// (e.g. the network has no containers left).
    pub idle_check: Option<IdleCheck>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: Vec::new(),
            upstreams: Vec::new(),
            ttl: DEFAULT_TTL,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            idle_check: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("upstreams", &self.upstreams)
            .field("ttl", &self.ttl)
            .field("upstream_timeout", &self.upstream_timeout)
            .field("idle_check", &self.idle_check.as_ref().map(|(interval, _)| interval))
            .finish()
    }
}

/// Stops a running server from any thread (or a signal-handling thread).
#[derive(Clone)]
pub struct Shutdown(Arc<ShutdownInner>);

struct ShutdownInner {
    requested: AtomicBool,
    /// Written to wake the poll; never read, since the server exits.
    wake: OwnedFd,
}

impl Shutdown {
    fn new() -> Result<Shutdown> {
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map_err(|e| Error::Io {
            context: "creating the shutdown eventfd",
            source: e.into(),
        })?;
        Ok(Shutdown(Arc::new(ShutdownInner {
            requested: AtomicBool::new(false),
            wake,
        })))
    }

    /// Makes `run` return soon. Idempotent.
    pub fn trigger(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        // Only fails if the counter would overflow, i.e. it is already set.
        let _ = rustix::io::write(&self.0.wake, &1u64.to_ne_bytes());
    }

    pub fn is_triggered(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

/// State the serving threads share.
struct Shared {
    names: Arc<dyn Names>,
    upstreams: Vec<SocketAddr>,
    ttl: u32,
    timeout: Duration,
    forwards: Arc<AtomicUsize>,
    tcp_connections: Arc<AtomicUsize>,
    shutdown: Shutdown,
}

pub struct Server {
    udp: Vec<Arc<UdpSocket>>,
    tcp: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    idle_check: Option<IdleCheck>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .field("upstreams", &self.shared.upstreams)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds every socket now, so the caller can report a taken port or a
    /// missing address before it detaches.
    pub fn bind(config: Config, names: Arc<dyn Names>) -> Result<Server> {
        if config.listen.is_empty() {
            return Err(Error::NoListen);
        }
        if config
            .idle_check
            .as_ref()
            .is_some_and(|(interval, _)| interval.is_zero())
        {
            return Err(Error::InvalidConfig("idle check interval must not be zero"));
        }
        if config.upstream_timeout.is_zero() {
            return Err(Error::InvalidConfig("upstream timeout must not be zero"));
        }
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut addrs = Vec::new();
        for &addr in &config.listen {
            let (u, t, actual) = bind_pair(addr)?;
            udp.push(Arc::new(u));
            tcp.push(t);
            addrs.push(actual);
        }
        let mut upstreams = config.upstreams;
        upstreams.retain(|u| !addrs.contains(u));
        Ok(Server {
            udp,
            tcp,
            addrs,
            idle_check: config.idle_check,
            shared: Arc::new(Shared {
                names,
                upstreams,
                ttl: config.ttl,
                timeout: config.upstream_timeout,
                forwards: Arc::new(AtomicUsize::new(0)),
                tcp_connections: Arc::new(AtomicUsize::new(0)),
                shutdown: Shutdown::new()?,
            }),
        })
    }

    /// The bound addresses (UDP and TCP share each), in `listen` order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn shutdown_handle(&self) -> Shutdown {
        self.shared.shutdown.clone()
    }

    /// Serves until the idle check says so or the shutdown handle is
    /// triggered. Forwarded queries already in flight finish on their own
    /// threads (bounded by the upstream timeouts); TCP connections close
    /// after their current query.
    pub fn run(self) -> Result<()> {
        let result = self.serve();
        // Tell worker threads to stop too, whatever ended the loop.
        self.shared.shutdown.trigger();
        result
    }

    fn serve(&self) -> Result<()> {
        let shutdown = &self.shared.shutdown;
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(1 + self.udp.len() + self.tcp.len());
        fds.push(PollFd::new(&shutdown.0.wake, PollFlags::IN));
        fds.extend(self.udp.iter().map(|s| PollFd::new(s, PollFlags::IN)));
        fds.extend(self.tcp.iter().map(|l| PollFd::new(l, PollFlags::IN)));
        let mut buf = vec![0u8; UDP_QUERY_BUF];
        let mut next_check = self.idle_check.as_ref().map(|(interval, _)| Instant::now() + *interval);
        loop {
            let timeout = next_check.map(|at| {
                let left = at.saturating_duration_since(Instant::now());
                Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: i64::MAX,
                    tv_nsec: 0,
                })
            });
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(Error::Io {
                        context: "waiting for DNS queries",
                        source: e.into(),
                    })
                }
            }
            if shutdown.is_triggered() {
                return Ok(());
            }
            let ready = |i: usize| fds[i].revents().intersects(PollFlags::IN | PollFlags::ERR);
            for (i, sock) in self.udp.iter().enumerate() {
                if ready(1 + i) {
                    self.serve_udp(sock, &mut buf);
                }
            }
            for (i, listener) in self.tcp.iter().enumerate() {
                if ready(1 + self.udp.len() + i) {
                    self.accept_tcp(listener);
                }
            }
            if let (Some(at), Some((interval, check))) = (next_check, &self.idle_check) {
                let now = Instant::now();
                if now >= at {
                    if check() {
                        tracing::debug!("DNS server idle, stopping");
                        return Ok(());
                    }
                    next_check = Some(now + *interval);
                }
            }
        }
    }

    fn serve_udp(&self, sock: &Arc<UdpSocket>, buf: &mut [u8]) {
        for _ in 0..UDP_BATCH {
            let (n, peer) = match sock.recv_from(buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock: drained. Anything else (a stale ICMP error) is
                // per-datagram and already cleared by reading it.
                Err(_) => return,
            };
            let query = &buf[..n];
            match guarded_answer(query, &self.shared, Transport::Udp) {
                Action::Drop => {}
                Action::Reply(reply) => {
                    let _ = sock.send_to(&reply, peer);
                }
                Action::Forward(fwd) if self.shared.upstreams.is_empty() => {
                    let _ = sock.send_to(&fwd.servfail, peer);
                }
                Action::Forward(fwd) => self.spawn_forward(sock, peer, query.to_vec(), fwd),
            }
        }
    }

    fn spawn_forward(&self, sock: &Arc<UdpSocket>, peer: SocketAddr, query: Vec<u8>, fwd: Forward) {
        let Some(permit) = Permit::acquire(&self.shared.forwards, MAX_FORWARDS) else {
            tracing::debug!(%peer, "too many forwarded DNS queries in flight, dropping one");
            return;
        };
        let sock = Arc::clone(sock);
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name("dns-forward".into())
            .stack_size(WORKER_STACK)
            .spawn(move || {
                let _permit = permit;
                let reply = forward::udp(&query, &fwd, &shared.upstreams, shared.timeout);
                // The socket is non-blocking; if its buffer is full the client retries.
                let _ = sock.send_to(&reply, peer);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a DNS forwarding thread");
        }
    }

    fn accept_tcp(&self, listener: &TcpListener) {
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let Some(permit) = Permit::acquire(&self.shared.tcp_connections, MAX_TCP_CONNECTIONS) else {
                        tracing::debug!(%peer, "too many DNS TCP connections, closing one");
                        continue;
                    };
                    let shared = Arc::clone(&self.shared);
                    let spawned = thread::Builder::new()
                        .name("dns-tcp".into())
                        .stack_size(WORKER_STACK)
                        .spawn(move || {
                            let _permit = permit;
                            serve_tcp(stream, &shared);
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "cannot start a DNS TCP thread");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                Err(e) => {
                    // Out of file descriptors or memory: the listener stays
                    // readable, so pause instead of spinning on it.
                    tracing::warn!(error = %e, "DNS TCP accept failed");
                    thread::sleep(Duration::from_millis(100));
                    return;
                }
            }
        }
    }
}

/// One TCP client: length-prefixed queries, answered in order (RFC 7766).
fn serve_tcp(mut stream: TcpStream, shared: &Shared) {
    // Accepted sockets do not inherit O_NONBLOCK on Linux; be explicit.
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(TCP_IDLE)).is_err()
        || stream.set_write_timeout(Some(TCP_IDLE)).is_err()
    {
        return;
    }
    let _ = stream.set_nodelay(true);
    while !shared.shutdown.is_triggered() {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).is_err() {
            return;
        }
        let reply = match guarded_answer(&query, shared, Transport::Tcp) {
            Action::Drop => return,
            Action::Reply(reply) => reply,
            Action::Forward(fwd) => forward::tcp(&query, &fwd, &shared.upstreams, shared.timeout),
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(2 + reply.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&reply);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

/// `answer` should never panic, and is fuzzed; but the `Names` behind it is
/// someone else's code, and one bad query must not take name resolution
/// down for the whole network.
fn guarded_answer(query: &[u8], shared: &Shared, transport: Transport) -> Action {
    panic::catch_unwind(AssertUnwindSafe(|| {
        answer(query, &*shared.names, shared.ttl, transport)
    }))
    .unwrap_or_else(|_| {
        tracing::error!("panic while answering a DNS query; dropped");
        Action::Drop
    })
}

/// A slot counted in `counter`, released on drop (also if the thread panics
/// or never starts).
struct Permit(Arc<AtomicUsize>);

impl Permit {
    fn acquire(counter: &Arc<AtomicUsize>, max: usize) -> Option<Permit> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Permit(Arc::clone(counter)))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Binds UDP and TCP on the same address and port. With port 0, UDP picks
/// the port and TCP follows; if that port is taken for TCP, try another.
fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr)> {
    let attempts = if addr.port() == 0 { 16 } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let bind_err = |proto, source| Error::Bind { proto, addr, source };
        let udp = UdpSocket::bind(addr).map_err(|e| bind_err("UDP", e))?;
        let actual = udp.local_addr().map_err(|e| bind_err("UDP", e))?;
        let tcp = match TcpListener::bind(actual) {
            Ok(tcp) => tcp,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < attempts => continue,
            Err(e) => return Err(bind_err("TCP", e)),
        };
        // The poll loop must never block in recv or accept.
        udp.set_nonblocking(true).map_err(|e| bind_err("UDP", e))?;
        tcp.set_nonblocking(true).map_err(|e| bind_err("TCP", e))?;
        return Ok((udp, tcp, actual));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::query;
    use crate::wire::{Header, TYPE_A};
    use crate::Table;
    use std::net::Ipv4Addr;

    fn table() -> Arc<Table> {
        let t = Arc::new(Table::new());
        t.insert("web", Ipv4Addr::new(10, 0, 0, 2));
        t
    }

    fn config(upstreams: Vec<SocketAddr>) -> Config {
        Config {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            upstreams,
            upstream_timeout: Duration::from_millis(500),
            ..Config::default()
        }
    }

    fn exchange(server: SocketAddr, msg: &[u8]) -> Vec<u8> {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sock.send_to(msg, server).unwrap();
        let mut buf = vec![0u8; 65535];
        let n = sock.recv(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn config_errors() {
        let err = Server::bind(Config::default(), table()).unwrap_err();
        assert_eq!(err.kind(), berth_types::ErrorKind::InvalidArgument);
        let mut c = config(vec![]);
        c.idle_check = Some((Duration::ZERO, Box::new(|| true)));
        assert!(matches!(Server::bind(c, table()), Err(Error::InvalidConfig(_))));
        let first = Server::bind(config(vec![]), table()).unwrap();
        let mut c = config(vec![]);
        c.listen = first.local_addrs().to_vec();
        let err = Server::bind(c, table()).unwrap_err();
        assert_eq!(err.kind(), berth_types::ErrorKind::Conflict, "{err}");
    }

    #[test]
    fn serves_udp_and_tcp_on_the_same_port() {
        let server = Server::bind(config(vec![]), table()).unwrap();
        let addr = server.local_addrs()[0];
        let stop = server.shutdown_handle();
        let runner = thread::spawn(move || server.run());
        let reply = exchange(addr, &query(11, "web", TYPE_A, None));
        assert_eq!(Header::parse(&reply).unwrap().ancount, 1);

        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for id in [1u16, 2] {
            let q = query(id, "WEB", TYPE_A, None);
            tcp.write_all(&[&(q.len() as u16).to_be_bytes()[..], &q].concat())
                .unwrap();
            let mut len = [0u8; 2];
            tcp.read_exact(&mut len).unwrap();
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
            tcp.read_exact(&mut reply).unwrap();
            let h = Header::parse(&reply).unwrap();
            assert_eq!((h.id, h.ancount), (id, 1));
        }
        // Unknown names with no upstreams: SERVFAIL right away.
        let reply = exchange(addr, &query(12, "nowhere.example", TYPE_A, None));
        assert_eq!(Header::parse(&reply).unwrap().rcode(), crate::wire::SERVFAIL);
        // Garbage gets no reply but does not stop the server.
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(&[0xff; 5], addr).unwrap();
        let reply = exchange(addr, &query(13, "web", TYPE_A, None));
        assert_eq!(Header::parse(&reply).unwrap().id, 13);

        stop.trigger();
        runner.join().unwrap().unwrap();
    }

    #[test]
    fn forwards_and_fails_over() {
        // A fake upstream that answers every query with itself as one A record.
        let upstream = Server::bind(config(vec![]), {
            let t = Arc::new(Table::new());
            t.insert("deb.example", Ipv4Addr::new(192, 0, 2, 1));
            t
        })
        .unwrap();
        let up_addr = upstream.local_addrs()[0];
        let up_stop = upstream.shutdown_handle();
        let up_runner = thread::spawn(move || upstream.run());
        // First upstream: a closed port (refused), second: the fake.
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let server = Server::bind(config(vec![closed, up_addr]), table()).unwrap();
        let addr = server.local_addrs()[0];
        let stop = server.shutdown_handle();
        let runner = thread::spawn(move || server.run());

        let reply = exchange(addr, &query(0xbeef, "deb.example", TYPE_A, None));
        let h = Header::parse(&reply).unwrap();
        assert_eq!((h.id, h.rcode(), h.ancount), (0xbeef, 0, 1));

        stop.trigger();
        up_stop.trigger();
        runner.join().unwrap().unwrap();
        up_runner.join().unwrap().unwrap();
    }

    #[test]
    fn own_address_is_not_an_upstream() {
        let probe = Server::bind(config(vec![]), table()).unwrap();
        let addr = probe.local_addrs()[0];
        drop(probe);
        let mut c = config(vec![addr, "192.0.2.53:53".parse().unwrap()]);
        c.listen = vec![addr];
        let server = Server::bind(c, table()).unwrap();
        assert_eq!(
            server.shared.upstreams,
            ["192.0.2.53:53".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn permits_are_bounded_and_released() {
        let counter = Arc::new(AtomicUsize::new(0));
        let a = Permit::acquire(&counter, 2).unwrap();
        let b = Permit::acquire(&counter, 2).unwrap();
        assert!(Permit::acquire(&counter, 2).is_none());
        drop(a);
        let _c = Permit::acquire(&counter, 2).unwrap();
        drop(b);
        assert_eq!(counter.load(Ordering::SeqCst), 1);
    }
}
