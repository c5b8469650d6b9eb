//! Kernel plumbing for berth's container networking, synchronous and
//! without a daemon:
//!
//! - [`netns`]: persistent network namespaces (bind-mounted nsfs files) and
//!   running code inside one.
//! - [`link`]: bridges, veth pairs, addresses and routes over rtnetlink;
//!   a few sysctls.
//! - [`firewall`]: NAT, inter-network isolation and published ports in
//!   berth's own nftables table, through `nft -j`; host port reservation.
//!
//! A bridge network needs, in this order: `set_sysctl("net/ipv4/ip_forward",
//! "1")`, [`link::ensure_bridge`] (which also sets route_localnet=1 on the
//! bridge), [`firewall::Firewall::add_network`]. A container then needs
//! [`netns::create`], [`link::attach_veth`] and, for `-p`,
//! [`firewall::reserve_port`] plus [`firewall::Firewall::publish_all`].

mod error;
pub mod firewall;
pub mod host;
pub mod link;
mod netlink;
pub mod netns;
mod nft;
pub mod slirp;

pub use error::{Error, Result};
pub use firewall::{reserve_port, Firewall, NetworkRules, PortForward, Proto};
pub use host::{host_side, on_host_side, set_host_side};
pub use link::VethConfig;
pub use nft::RuleInfo;
