//! A container's user namespace mapping: container ids 0..size are host ids base..base+size.

use serde::{Deserialize, Serialize};

/// The overflow id the kernel shows for an id with no mapping (`/proc/sys/kernel/overflowuid`).
pub const OVERFLOW_ID: u32 = 65534;

/// One contiguous mapping, the same for users and groups: container id N is host id `base + N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub base: u32,
    pub size: u32,
}

impl IdRange {
    /// The host id a container id is stored as; `None` when the container cannot have that id.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        (id < self.size).then(|| self.base + id)
    }

    /// The container's view of a host id: ids outside the range show as the overflow id, as the
    /// kernel shows them inside the namespace.
    pub fn to_container(&self, id: u32) -> u32 {
        match id.checked_sub(self.base) {
            Some(n) if n < self.size => n,
            _ => OVERFLOW_ID,
        }
    }

    /// One past the last host id.
    pub fn end(&self) -> u64 {
        u64::from(self.base) + u64::from(self.size)
    }

    /// Whether the two ranges share a host id.
    pub fn overlaps(&self, other: &IdRange) -> bool {
        u64::from(self.base) < other.end() && u64::from(other.base) < self.end()
    }

    /// The one line of `/proc/PID/uid_map` (and gid_map) this range writes.
    pub fn map_line(&self) -> String {
        format!("0 {} {}\n", self.base, self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cross_the_boundary_both_ways() {
        let r = IdRange {
            base: 100_000,
            size: 65536,
        };
        assert_eq!(r.to_host(0), Some(100_000));
        assert_eq!(r.to_host(65535), Some(165_535));
        assert_eq!(r.to_host(65536), None);
        assert_eq!(r.to_container(101_000), 1000);
        assert_eq!(r.to_container(0), OVERFLOW_ID);
        assert_eq!(r.to_container(165_536), OVERFLOW_ID);
        let top = IdRange {
            base: u32::MAX - 10,
            size: 10,
        };
        assert_eq!(top.to_host(9), Some(u32::MAX - 1));
        assert_eq!(top.end(), u64::from(u32::MAX) - 1 + 1);
    }

    #[test]
    fn overlap_is_a_shared_id() {
        let a = IdRange { base: 10, size: 10 };
        assert!(!a.overlaps(&IdRange { base: 20, size: 5 }));
        assert!(!a.overlaps(&IdRange { base: 0, size: 10 }));
        assert!(a.overlaps(&IdRange { base: 19, size: 1 }));
        assert!(a.overlaps(&IdRange { base: 0, size: 100 }));
    }
}
