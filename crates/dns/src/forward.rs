//! Relaying queries that are not ours to the upstream resolvers, one at a
//! time in order, each with its own deadline.
//!
//! Each attempt uses a fresh socket (new random source port) and a fresh
//! random ID, and only accepts a response from that upstream whose ID and
//! question match: a spoofed or stale packet cannot poison the answer.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::answer::Forward;
use crate::wire::{self, Header};

/// The largest DNS message (TCP length prefix, UDP datagram).
const MAX_MESSAGE: usize = 65535;

/// Forwards a UDP query; returns what to send to the client: the first
/// usable response (ID restored, cut to TC if too big) or SERVFAIL.
pub(crate) fn udp(query: &[u8], fwd: &Forward, upstreams: &[SocketAddr], timeout: Duration) -> Vec<u8> {
    relay(query, fwd, upstreams, |packet, upstream| {
        udp_exchange(packet, upstream, timeout, fwd)
    })
}

/// Forwards a TCP query over TCP (the client chose TCP because the answer
/// may be big, or after a truncated UDP answer).
pub(crate) fn tcp(query: &[u8], fwd: &Forward, upstreams: &[SocketAddr], timeout: Duration) -> Vec<u8> {
    relay(query, fwd, upstreams, |packet, upstream| {
        tcp_exchange(packet, upstream, timeout, fwd)
    })
}

fn relay(
    query: &[u8],
    fwd: &Forward,
    upstreams: &[SocketAddr],
    mut exchange: impl FnMut(&[u8], SocketAddr) -> io::Result<Vec<u8>>,
) -> Vec<u8> {
    let mut fallback = None;
    for &upstream in upstreams {
        let mut packet = query.to_vec();
        let id: u16 = rand::random();
        packet[..2].copy_from_slice(&id.to_be_bytes());
        let mut response = match exchange(&packet, upstream) {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(%upstream, error = %e, "DNS upstream failed");
                continue;
            }
        };
        response[..2].copy_from_slice(&fwd.client_id.to_be_bytes());
        if response.len() > fwd.limit {
            match wire::truncate_response(&response) {
                Some(cut) => response = cut,
                None => continue,
            }
        }
        // A server that failed or refused may just be the wrong one (e.g. a
        // VPN resolver for internal names only): try the next, but keep its
        // answer in case none does better.
        let rcode = Header::parse(&response).map(|h| h.rcode()).unwrap_or(wire::SERVFAIL);
        if matches!(rcode, wire::SERVFAIL | wire::REFUSED | wire::NOTIMP) {
            fallback = Some(response);
            continue;
        }
        return response;
    }
    fallback.unwrap_or_else(|| fwd.servfail.clone())
}

/// Whether `msg` is the response to our query `id` for `fwd.question`.
fn is_response_to(msg: &[u8], id: u16, fwd: &Forward) -> bool {
    let Ok(header) = Header::parse(msg) else {
        return false;
    };
    if header.id != id || !header.is_response() {
        return false;
    }
    match header.qdcount {
        1 => wire::first_question(msg).is_ok_and(|q| q.matches(&fwd.question)),
        // Some servers drop the question from error responses.
        0 => header.rcode() != wire::NOERROR,
        _ => false,
    }
}

fn unspecified_for(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

fn udp_exchange(packet: &[u8], upstream: SocketAddr, timeout: Duration, fwd: &Forward) -> io::Result<Vec<u8>> {
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let sock = UdpSocket::bind(unspecified_for(upstream))?;
    // Connected: the kernel drops datagrams from anyone else, and an ICMP
    // port unreachable surfaces as ECONNREFUSED instead of a timeout.
    sock.connect(upstream)?;
    sock.send(packet)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        sock.set_read_timeout(Some(left))?;
        match sock.recv(&mut buf) {
            Ok(n) if is_response_to(&buf[..n], id, fwd) => {
                buf.truncate(n);
                return Ok(buf);
            }
            // Stale or forged: keep waiting for the real one.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn tcp_exchange(packet: &[u8], upstream: SocketAddr, timeout: Duration, fwd: &Forward) -> io::Result<Vec<u8>> {
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&upstream, timeout)?;
    let left = |deadline: Instant| {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::from(io::ErrorKind::TimedOut))
        } else {
            Ok(left)
        }
    };
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(left(deadline)?))?;
    let len = u16::try_from(packet.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut out = Vec::with_capacity(2 + packet.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    stream.write_all(&out)?;
    loop {
        let mut len = [0u8; 2];
        stream.set_read_timeout(Some(left(deadline)?))?;
        stream.read_exact(&mut len)?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.set_read_timeout(Some(left(deadline)?))?;
        stream.read_exact(&mut msg)?;
        if is_response_to(&msg, id, fwd) {
            return Ok(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{answer, Action, Transport};
    use crate::wire::tests::query;
    use crate::wire::{build_response, Query, Rdata, TYPE_A};
    use crate::Table;
    use std::thread;

    fn forward_of(msg: &[u8]) -> Forward {
        match answer(msg, &Table::new(), 600, Transport::Udp) {
            Action::Forward(f) => f,
            other => panic!("{other:?}"),
        }
    }

    /// Builds one reply from the query the fake upstream received.
    type MakeReply = fn(&[u8]) -> Vec<u8>;

    /// A fake upstream: for the query it receives, sends each of `replies`
    /// in turn.
    fn fake_upstream(replies: Vec<MakeReply>) -> (SocketAddr, thread::JoinHandle<()>) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let t = thread::spawn(move || {
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4096];
            let (n, peer) = sock.recv_from(&mut buf).unwrap();
            for make in replies {
                sock.send_to(&make(&buf[..n]), peer).unwrap();
            }
        });
        (addr, t)
    }

    fn ok_reply(q: &[u8]) -> Vec<u8> {
        let q = Query::parse(q).unwrap();
        let ips: Vec<_> = (1..=40).map(|i| Rdata::A(Ipv4Addr::new(192, 0, 2, i))).collect();
        build_response(&q, wire::NOERROR, false, &ips, 60, 65535)
    }

    #[test]
    fn ignores_forged_and_garbage_then_relays() {
        let (up, t) = fake_upstream(vec![
            |q| {
                let mut r = ok_reply(q);
                r[0] ^= 0xff; // wrong ID
                r
            },
            |_| vec![0xde, 0xad],
            |q| {
                let mut r = ok_reply(&query(u16::from_be_bytes([q[0], q[1]]), "other.example", TYPE_A, None));
                r[2] |= 0x80;
                r // right ID, wrong question
            },
            |q| q.to_vec(), // our own query echoed (QR clear)
            ok_reply,
        ]);
        let msg = query(0x4242, "deb.example", TYPE_A, Some(4096));
        let reply = udp(&msg, &forward_of(&msg), &[up], Duration::from_secs(3));
        t.join().unwrap();
        let h = Header::parse(&reply).unwrap();
        assert_eq!((h.id, h.rcode(), h.ancount), (0x4242, wire::NOERROR, 40));
    }

    #[test]
    fn big_relayed_answers_are_truncated_for_udp_clients() {
        let (up, t) = fake_upstream(vec![ok_reply]);
        let msg = query(7, "deb.example", TYPE_A, None);
        let reply = udp(&msg, &forward_of(&msg), &[up], Duration::from_secs(3));
        t.join().unwrap();
        assert!(reply.len() <= 512);
        let h = Header::parse(&reply).unwrap();
        assert_eq!((h.id, h.ancount, h.flags & 0x0200), (7, 0, 0x0200));
    }

    #[test]
    fn servfail_from_one_upstream_falls_through() {
        let (bad, t1) = fake_upstream(vec![|q| {
            let q = Query::parse(q).unwrap();
            build_response(&q, wire::SERVFAIL, false, &[], 0, 512)
        }]);
        let (good, t2) = fake_upstream(vec![ok_reply]);
        let msg = query(9, "deb.example", TYPE_A, Some(4096));
        let fwd = forward_of(&msg);
        let reply = udp(&msg, &fwd, &[bad, good], Duration::from_secs(3));
        assert_eq!(Header::parse(&reply).unwrap().ancount, 40);
        t1.join().unwrap();
        t2.join().unwrap();
        // Only a failing upstream: its SERVFAIL, with our client's ID.
        let (bad, t) = fake_upstream(vec![|q| {
            let q = Query::parse(q).unwrap();
            build_response(&q, wire::REFUSED, false, &[], 0, 512)
        }]);
        let reply = udp(&msg, &fwd, &[bad], Duration::from_secs(3));
        t.join().unwrap();
        let h = Header::parse(&reply).unwrap();
        assert_eq!((h.id, h.rcode()), (9, wire::REFUSED));
        // Nothing at all: SERVFAIL.
        let reply = udp(&msg, &fwd, &[], Duration::from_secs(3));
        assert_eq!(Header::parse(&reply).unwrap().rcode(), wire::SERVFAIL);
    }
}
