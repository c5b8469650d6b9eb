//! berth's per-network DNS server, in the role of Docker's embedded DNS or
//! Podman's aardvark-dns: containers on a user-defined network resolve each
//! other's names through it, and every other name is forwarded to the
//! host's resolvers.
//!
//! - A (and ANY) queries for our names get every address, authoritative,
//!   with the configured TTL; other types for our names get NODATA (NOERROR,
//!   no answers), never NXDOMAIN, so resolvers keep the A record.
//! - PTR queries for our addresses get the name from [`Names::reverse`].
//! - Anything else is relayed verbatim (new random ID, original ID restored)
//!   to the upstreams in order, UDP over UDP and TCP over TCP; SERVFAIL when
//!   none answers.
//! - Malformed queries are dropped or answered FORMERR; UDP answers that
//!   do not fit the client's size are truncated with TC set.
//!
//! The wire format is implemented here (RFC 1035, EDNS0 OPT from RFC 6891);
//! the server is plain blocking std code: one poll thread, plus threads for
//! forwarded queries and TCP connections.

mod answer;
mod error;
mod forward;
mod names;
mod resolv;
mod server;
mod wire;

pub use error::{Error, Result};
pub use names::{normalize, Names, Table};
pub use resolv::host_upstreams;
pub use server::{Config, IdleCheck, Server, Shutdown, DEFAULT_TTL, DEFAULT_UPSTREAM_TIMEOUT};
