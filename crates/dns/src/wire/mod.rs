//! The DNS wire format (RFC 1035, plus the EDNS0 OPT record of RFC 6891),
//! only as much as a server that answers a few names and relays the rest
//! needs: headers, questions, skipping records, A and PTR answers.
//!
//! Every read is bounds-checked and returns `Error::Malformed`; nothing here
//! may panic on bytes from the network.
//!
//! - `reader`: a bounds-checked cursor over a message (integers, questions, records);
//! - `header`: the fixed 12-byte header and its flags;
//! - `name`: domain names: presentation form, labels, reading compressed names;
//! - `message`: questions and queries (with EDNS0) as they arrive;
//! - `response`: our answers, error replies and truncated relays.

mod header;
mod message;
mod name;
mod reader;
mod response;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use header::Header;
pub(crate) use message::{first_question, Query, Question};
pub(crate) use name::Name;
pub(crate) use response::{build_response, error_reply, truncate_response, Rdata};

pub(crate) const HEADER_LEN: usize = 12;
const MAX_NAME_LEN: usize = 255;
const MAX_LABEL_LEN: usize = 63;

pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_PTR: u16 = 12;
pub(crate) const TYPE_OPT: u16 = 41;
pub(crate) const TYPE_ANY: u16 = 255;
pub(crate) const CLASS_IN: u16 = 1;
pub(crate) const CLASS_ANY: u16 = 255;

pub(crate) const NOERROR: u16 = 0;
pub(crate) const FORMERR: u16 = 1;
pub(crate) const SERVFAIL: u16 = 2;
pub(crate) const NOTIMP: u16 = 4;
pub(crate) const REFUSED: u16 = 5;
/// Extended rcode (needs an OPT record to carry its upper bits).
pub(crate) const BADVERS: u16 = 16;

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
const CD: u16 = 0x0010;
const OPCODE_MASK: u16 = 0x7800;

/// The UDP payload size we advertise and never exceed for our own answers:
/// the DNS flag day 2020 value, small enough to avoid IP fragmentation.
pub(crate) const OUR_UDP_SIZE: u16 = 1232;
/// Without EDNS a UDP message may not exceed 512 bytes (RFC 1035 4.2.1).
pub(crate) const CLASSIC_UDP_SIZE: usize = 512;
