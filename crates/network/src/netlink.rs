//! A small synchronous NETLINK_ROUTE client: one request at a time, waiting
//! for its acknowledgement (or the end of a dump) before returning.
//!
//! The socket belongs to the network namespace of the thread that opened it,
//! so a `Netlink` opened inside `netns::run_in` talks to that namespace.

use std::io;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Error, Result};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_DUMP_INTR: u16 = 16;
/// Set by the kernel on an error message that carries extended-ack TLVs.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// Set by the kernel when it echoed only the request's header.
const NLM_F_CAPPED: u16 = 0x100;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
/// Dumps come in datagrams of at most 32 KiB; twice that leaves room.
const RECV_BUF: usize = 64 * 1024;

pub(crate) struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

/// Why a request failed: the kernel's errno and its extended-ack text.
pub(crate) struct NlFailure {
    pub errno: i32,
    pub detail: Option<String>,
}

impl Netlink {
    pub fn open() -> Result<Self> {
        let fail = |source: io::Error| Error::Netlink {
            op: "open a netlink socket".into(),
            source,
            detail: None,
        };
        // Opened on the host side: every request on it acts there, whatever thread sends it.
        let mut socket = crate::host::on_host_side(|| Socket::new(NETLINK_ROUTE).map_err(fail))?;
        socket.bind_auto().map_err(fail)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(fail)?;
        // Both are best effort: older kernels lack them and requests work
        // without (errors just carry less text).
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(Netlink {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Sends a request that changes something and waits for the ack.
    /// `flags` are added to NLM_F_REQUEST | NLM_F_ACK (e.g. NLM_F_CREATE).
    pub fn request(&mut self, msg: RouteNetlinkMessage, flags: u16, op: &str) -> Result<()> {
        self.request_raw(msg, flags, op)
            .and_then(|r| r.map_err(|f| to_error(op, f)))
            .map(|_| ())
    }

    /// Like `request`, but hands the kernel's refusal back so the caller
    /// can treat some errnos (EEXIST, ENODEV, ...) as success.
    pub fn request_raw(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &str,
    ) -> Result<std::result::Result<Vec<RouteNetlinkMessage>, NlFailure>> {
        self.transact(msg, NLM_F_REQUEST | NLM_F_ACK | flags, op)
    }

    /// Sends a dump request and collects every answer. Retries when the
    /// kernel says the dump was interrupted by a concurrent change.
    pub fn dump(&mut self, msg: RouteNetlinkMessage, op: &str) -> Result<Vec<RouteNetlinkMessage>> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.transact(msg.clone(), NLM_F_REQUEST | NLM_F_DUMP, op)? {
                Ok(msgs) => return Ok(msgs),
                Err(f) if f.errno == libc::EINTR && attempts < 5 => continue,
                Err(f) => return Err(to_error(op, f)),
            }
        }
    }

    fn transact(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &str,
    ) -> Result<std::result::Result<Vec<RouteNetlinkMessage>, NlFailure>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket.send(&out, 0).map_err(|source| Error::Netlink {
            op: op.to_string(),
            source,
            detail: None,
        })?;

        let mut answers = Vec::new();
        let mut interrupted = false;
        loop {
            let n = {
                let mut slice: &mut [u8] = &mut self.buf[..];
                self.socket
                    .recv(&mut slice, libc::MSG_TRUNC)
                    .map_err(|source| Error::Netlink {
                        op: op.to_string(),
                        source,
                        detail: None,
                    })?
            };
            if n > self.buf.len() {
                return Err(protocol(op, format!("reply of {n} bytes did not fit the buffer")));
            }
            let mut offset = 0;
            while offset < n {
                let bytes = &self.buf[offset..n];
                let nl =
                    NetlinkBuffer::new_checked(bytes).map_err(|e| protocol(op, format!("bad message header: {e}")))?;
                let len = nl.length() as usize;
                if len < NLMSG_HDRLEN || len > bytes.len() {
                    return Err(protocol(op, format!("bad message length {len}")));
                }
                // Align to 4 bytes for the next message in this datagram.
                offset += (len + 3) & !3;
                if nl.sequence_number() != seq {
                    // A late answer to an earlier request: not ours.
                    continue;
                }
                if nl.flags() & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                let payload = &bytes[NLMSG_HDRLEN..len];
                match nl.message_type() {
                    NLMSG_ERROR => {
                        let code = read_i32(payload).ok_or_else(|| protocol(op, "short error message".into()))?;
                        if code == 0 {
                            return Ok(Ok(answers));
                        }
                        let detail = if nl.flags() & NLM_F_ACK_TLVS != 0 {
                            ext_ack_message(payload, nl.flags())
                        } else {
                            None
                        };
                        return Ok(Err(NlFailure {
                            errno: code.saturating_neg(),
                            detail,
                        }));
                    }
                    NLMSG_DONE => {
                        let code = read_i32(payload).unwrap_or(0);
                        if code < 0 {
                            return Ok(Err(NlFailure {
                                errno: code.saturating_neg(),
                                detail: None,
                            }));
                        }
                        if interrupted {
                            return Ok(Err(NlFailure {
                                errno: libc::EINTR,
                                detail: Some("dump interrupted".into()),
                            }));
                        }
                        return Ok(Ok(answers));
                    }
                    _ => match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[..len]) {
                        Ok(m) => {
                            if let NetlinkPayload::InnerMessage(inner) = m.payload {
                                answers.push(inner);
                            }
                        }
                        // A kernel newer than the parser can send attributes
                        // it cannot decode; skip that one entry.
                        Err(e) => tracing::warn!("{op}: skipping a netlink message: {e}"),
                    },
                }
            }
        }
    }
}

fn read_i32(payload: &[u8]) -> Option<i32> {
    let b: [u8; 4] = payload.get(..4)?.try_into().ok()?;
    Some(i32::from_ne_bytes(b))
}

/// Finds NLMSGERR_ATTR_MSG in an error message. The TLVs follow the echoed
/// request: just its header when the kernel capped it (NLM_F_CAPPED), the
/// whole request otherwise.
fn ext_ack_message(payload: &[u8], flags: u16) -> Option<String> {
    let echoed = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        let len = u32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?) as usize;
        (len + 3) & !3
    };
    let mut rest = payload.get(4 + echoed..)?;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &rest[4..len];
            let text = text.split(|&b| b == 0).next().unwrap_or(text);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
    }
    None
}

fn protocol(op: &str, reason: String) -> Error {
    Error::NetlinkProtocol {
        op: op.to_string(),
        reason,
    }
}

pub(crate) fn to_error(op: &str, f: NlFailure) -> Error {
    Error::Netlink {
        op: op.to_string(),
        source: io::Error::from_raw_os_error(f.errno),
        detail: f.detail,
    }
}
