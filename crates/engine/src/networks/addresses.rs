//! MAC addresses (given or derived from the IP address) and the names of containers' host veths.

use std::net::Ipv4Addr;

use berth_network::link;
use berth_store::networks::EndpointRow;

pub(super) fn mac_text(ip: Ipv4Addr) -> String {
    link::mac_for(ip)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The endpoint's MAC (`--mac-address`, else derived from its address).
pub(super) fn endpoint_mac(endpoint: &EndpointRow, ip: Ipv4Addr) -> [u8; 6] {
    parse_mac(&endpoint.mac).unwrap_or_else(|| link::mac_for(ip))
}

/// "02:42:ac:11:00:02" -> bytes.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in &mut out {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The host end of a container's n-th veth.
pub(super) fn veth_name(id: &str, n: usize) -> String {
    format!("vb{}{n}", &id[..10.min(id.len())])
}
