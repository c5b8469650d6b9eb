//! RFC 6455 websocket framing, for `GET /containers/{id}/attach/ws`: the handshake's checks and
//! accept key, the client's frames decoded, the server's encoded.
//!
//! The client is not trusted: its frames must be masked (section 5.1), and each is judged from its
//! header before any of its payload is kept, so a frame claiming 2^63 bytes costs ten bytes of
//! buffer and a close frame, never an allocation of what it claims. What is refused carries the
//! close code the server answers with ([`Violation::close_code`]).

use axum::http::{header, HeaderMap};
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// What the accept key is hashed with (section 1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version there is (section 4.1); others are refused naming it.
pub const VERSION: &str = "13";

/// The largest client frame accepted: stdin comes in small pieces, and this bounds what one frame
/// can make the server hold.
pub const MAX_FRAME: usize = 1 << 20;

/// Close codes (section 7.4.1).
pub const NORMAL: u16 = 1000;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const INVALID_DATA: u16 = 1007;
pub const TOO_BIG: u16 = 1009;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A frame from the client, its payload unmasked.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: Opcode,
    pub payload: Vec<u8>,
}

/// Why the client's input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("reserved bits set without an extension")]
    Reserved,
    #[error("unknown opcode {0:#x}")]
    Opcode(u8),
    #[error("client frames must be masked")]
    Unmasked,
    #[error("fragmented control frame")]
    FragmentedControl,
    #[error("control frame over 125 bytes")]
    LongControl,
    #[error("64-bit length with its top bit set")]
    LengthTopBit,
    #[error("frame of {0} bytes is over the limit of {MAX_FRAME}")]
    TooBig(u64),
    #[error("continuation frame outside a fragmented message")]
    StrayContinuation,
    #[error("new message inside a fragmented one")]
    Interleaved,
    #[error("malformed close frame")]
    BadClose,
    #[error("close reason is not UTF-8")]
    CloseReasonNotUtf8,
}

impl Violation {
    /// The close code the server sends before it hangs up.
    pub fn close_code(&self) -> u16 {
        match self {
            Violation::TooBig(_) => TOO_BIG,
            Violation::CloseReasonNotUtf8 => INVALID_DATA,
            _ => PROTOCOL_ERROR,
        }
    }
}

/// Reads the client's frames out of the bytes received so far, keeping the state fragmentation
/// needs (whether a data message is open).
#[derive(Debug)]
pub struct Decoder {
    max_frame: usize,
    in_message: bool,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new(MAX_FRAME)
    }
}

impl Decoder {
    pub fn new(max_frame: usize) -> Decoder {
        Decoder {
            max_frame,
            in_message: false,
        }
    }

    /// The first frame in `buf`, removed from it; `None` while it has not all arrived (nothing is
    /// consumed then). Everything the header can tell is checked as soon as the header is in.
    pub fn decode(&mut self, buf: &mut Vec<u8>) -> Result<Option<Frame>, Violation> {
        let [b0, b1, ..] = buf[..] else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        if b0 & 0x70 != 0 {
            return Err(Violation::Reserved);
        }
        let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(Violation::Opcode(b0 & 0x0F))?;
        if b1 & 0x80 == 0 {
            return Err(Violation::Unmasked);
        }
        let short_len = b1 & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(Violation::FragmentedControl);
            }
            if short_len > 125 {
                return Err(Violation::LongControl);
            }
        } else if opcode == Opcode::Continuation && !self.in_message {
            return Err(Violation::StrayContinuation);
        } else if opcode != Opcode::Continuation && self.in_message {
            return Err(Violation::Interleaved);
        }
        let (len, len_end) = match short_len {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => (u64::from_be_bytes(b), 10),
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if len >> 63 != 0 {
            return Err(Violation::LengthTopBit);
        }
        let len = match usize::try_from(len) {
            Ok(n) if n <= self.max_frame => n,
            _ => return Err(Violation::TooBig(len)),
        };
        let start = len_end + 4;
        let Some(masked) = buf.get(start..start + len) else {
            return Ok(None);
        };
        let key = &buf[len_end..start];
        let payload: Vec<u8> = masked.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k).collect();
        buf.drain(..start + len);
        if opcode == Opcode::Close {
            check_close(&payload)?;
        }
        if !opcode.is_control() {
            self.in_message = !fin;
        }
        Ok(Some(Frame { fin, opcode, payload }))
    }
}

/// A close frame's payload is empty, or a code a peer may send and an UTF-8 reason (5.5.1, 7.4).
fn check_close(payload: &[u8]) -> Result<(), Violation> {
    match payload {
        [] => Ok(()),
        [_] => Err(Violation::BadClose),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            // 1004-1006 and 1015 are reserved or only ever reported locally; below 1000 unused.
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(Violation::BadClose);
            }
            std::str::from_utf8(reason).map_err(|_| Violation::CloseReasonNotUtf8)?;
            Ok(())
        }
    }
}

/// The code of a (checked) close frame's payload, if it has one.
pub fn close_code(payload: &[u8]) -> Option<u16> {
    match payload {
        [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// `payload` as one whole, unmasked frame, as a server sends it.
pub fn encode(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode.bits());
    match payload.len() {
        n @ 0..=125 => out.push(n as u8),
        n @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A close frame with `code` and as much of `reason` as fits in a control frame.
pub fn encode_close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode(Opcode::Close, &payload)
}

/// Why a request is not a websocket handshake this server can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("not a websocket handshake: send Connection: Upgrade and Upgrade: websocket")]
    NotWebSocket,
    #[error("unsupported websocket version: this server speaks version 13")]
    Version,
    #[error("missing or malformed Sec-WebSocket-Key")]
    Key,
}

/// The client's key, if the request's headers make a version 13 handshake (section 4.2.1).
pub fn handshake_key(headers: &HeaderMap) -> Result<&str, HandshakeError> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return Err(HandshakeError::NotWebSocket);
    }
    let version = headers.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok());
    if version.map(str::trim) != Some(VERSION) {
        return Err(HandshakeError::Version);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or(HandshakeError::Key)?;
    // A nonce of 16 bytes, base64-encoded (section 4.1).
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(nonce) if nonce.len() == 16 => Ok(key),
        _ => Err(HandshakeError::Key),
    }
}

/// The `Sec-WebSocket-Accept` answering `key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// `payload` as a client sends it: masked with `key`.
    fn client_frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut out = vec![b0];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        out
    }

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn the_rfcs_masked_hello_decodes() {
        // Section 5.7: a single-frame masked text message.
        let mut buf = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let frame = Decoder::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            (frame.fin, frame.opcode, &frame.payload[..]),
            (true, Opcode::Text, &b"Hello"[..])
        );
        assert!(buf.is_empty());
        assert_eq!(
            client_frame(0x81, b"Hello", KEY),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn partial_frames_wait_and_consume_nothing() {
        let whole = client_frame(0x82, &[7; 300], KEY);
        let mut decoder = Decoder::default();
        for cut in [0, 1, 2, 3, 4, 7, whole.len() - 1] {
            let mut buf = whole[..cut].to_vec();
            assert_eq!(decoder.decode(&mut buf), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
        }
        let mut buf = whole.clone();
        buf.extend(client_frame(0x89, b"p", KEY));
        let frame = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.payload, vec![7; 300]);
        assert_eq!(decoder.decode(&mut buf).unwrap().unwrap().opcode, Opcode::Ping);
        assert!(buf.is_empty());
    }

    #[test]
    fn sixteen_and_sixty_four_bit_lengths_both_ways() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (0xFFFF, 4), (0x10000, 10)] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let out = encode(Opcode::Binary, &payload);
            assert_eq!(out.len(), header + len, "{len}");
            assert_eq!(out[0], 0x82);
            // A server's frames are never masked.
            assert_eq!(out[1] & 0x80, 0);
            assert_eq!(&out[header..], &payload[..]);
            let mut buf = client_frame(0x82, &payload, KEY);
            let frame = Decoder::default().decode(&mut buf).unwrap().unwrap();
            assert_eq!(frame.payload, payload, "{len}");
        }
        assert_eq!(encode(Opcode::Text, &[0; 126])[1..4], [126, 0, 126]);
        assert_eq!(
            encode(Opcode::Text, &[0; 0x10000])[1..10],
            [127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn fragments_carry_one_message_with_control_frames_between() {
        let mut buf = client_frame(0x01, b"Hel", KEY);
        buf.extend(client_frame(0x89, b"are you there", KEY));
        buf.extend(client_frame(0x00, b"l", KEY));
        buf.extend(client_frame(0x80, b"o", KEY));
        buf.extend(client_frame(0x82, b"next", KEY));
        let mut decoder = Decoder::default();
        let mut got = Vec::new();
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            got.push((frame.fin, frame.opcode, frame.payload));
        }
        assert_eq!(
            got,
            [
                (false, Opcode::Text, b"Hel".to_vec()),
                (true, Opcode::Ping, b"are you there".to_vec()),
                (false, Opcode::Continuation, b"l".to_vec()),
                (true, Opcode::Continuation, b"o".to_vec()),
                (true, Opcode::Binary, b"next".to_vec()),
            ]
        );
    }

    #[test]
    fn fragmentation_out_of_order_is_refused() {
        let mut buf = client_frame(0x80, b"x", KEY);
        assert_eq!(Decoder::default().decode(&mut buf), Err(Violation::StrayContinuation));
        let mut buf = client_frame(0x01, b"a", KEY);
        buf.extend(client_frame(0x82, b"b", KEY));
        let mut decoder = Decoder::default();
        assert!(decoder.decode(&mut buf).unwrap().is_some());
        assert_eq!(decoder.decode(&mut buf), Err(Violation::Interleaved));
        let mut buf = client_frame(0x09, b"", KEY);
        assert_eq!(Decoder::default().decode(&mut buf), Err(Violation::FragmentedControl));
    }

    #[test]
    fn hostile_headers_are_refused_before_their_payload() {
        let refused = |bytes: &[u8]| Decoder::default().decode(&mut bytes.to_vec());
        // Unmasked, as only a server may send.
        assert_eq!(refused(&encode(Opcode::Binary, b"hi")), Err(Violation::Unmasked));
        // Ten bytes claiming 2^63 and 2^63 - 1 bytes: no mask key or payload needed to say no.
        let mut huge = vec![0x82, 0xFF];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(refused(&huge), Err(Violation::LengthTopBit));
        huge[2..].copy_from_slice(&(u64::MAX >> 1).to_be_bytes());
        assert_eq!(refused(&huge), Err(Violation::TooBig(u64::MAX >> 1)));
        assert_eq!(Violation::TooBig(0).close_code(), TOO_BIG);
        let mut over = vec![0x82, 0xFF];
        over.extend_from_slice(&(MAX_FRAME as u64 + 1).to_be_bytes());
        assert_eq!(refused(&over), Err(Violation::TooBig(MAX_FRAME as u64 + 1)));
        let mut small = Decoder::new(4);
        assert_eq!(small.decode(&mut vec![0x82, 0x85]), Err(Violation::TooBig(5)));
        for rsv in [0x40, 0x20, 0x10] {
            assert_eq!(refused(&client_frame(0x82 | rsv, b"", KEY)), Err(Violation::Reserved));
        }
        for op in [0x3, 0x7, 0xB, 0xF] {
            assert_eq!(refused(&client_frame(0x80 | op, b"", KEY)), Err(Violation::Opcode(op)));
        }
        assert_eq!(refused(&[0x89, 0xFE, 0, 200]), Err(Violation::LongControl));
        assert_eq!(Violation::Unmasked.close_code(), PROTOCOL_ERROR);
    }

    #[test]
    fn close_frames_are_checked() {
        let decode = |payload: &[u8]| Decoder::default().decode(&mut client_frame(0x88, payload, KEY));
        assert_eq!(decode(b"").unwrap().unwrap().payload, b"");
        let frame = decode(&[0x03, 0xE8, b'b', b'y', b'e']).unwrap().unwrap();
        assert_eq!(close_code(&frame.payload), Some(NORMAL));
        assert_eq!(decode(&[0x03]), Err(Violation::BadClose));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            assert_eq!(decode(&code.to_be_bytes()), Err(Violation::BadClose), "{code}");
        }
        assert_eq!(decode(&[0x03, 0xE8, 0xFF]), Err(Violation::CloseReasonNotUtf8));
        let close = encode_close(PROTOCOL_ERROR, &"é".repeat(100));
        assert_eq!(close[1] as usize, close.len() - 2);
        assert!(close.len() - 2 <= 125);
        assert_eq!(&close[2..4], &PROTOCOL_ERROR.to_be_bytes());
        assert!(std::str::from_utf8(&close[4..]).is_ok());
    }

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_handshake_answers_the_rfcs_key() {
        // Section 1.3's example.
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let good = [
            (header::UPGRADE, "WebSocket"),
            (header::CONNECTION, "keep-alive, Upgrade"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
            (header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        assert_eq!(handshake_key(&headers(&good)), Ok("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(handshake_key(&headers(&good[1..])), Err(HandshakeError::NotWebSocket));
        let mut old = good.clone();
        old[2].1 = "8";
        assert_eq!(handshake_key(&headers(&old)), Err(HandshakeError::Version));
        let mut short = good.clone();
        short[3].1 = "c2hvcnQ=";
        assert_eq!(handshake_key(&headers(&short)), Err(HandshakeError::Key));
        assert_eq!(handshake_key(&headers(&good[..3])), Err(HandshakeError::Key));
    }
}
