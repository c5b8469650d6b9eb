//! `--userns`: whether a container's root is the host's root (`host`, the default) or an unprivileged
//! range of host ids of its own (`auto`), handed out from a pool and kept for the container's life.

use berth_store::{id_ranges, IdRange};

use crate::{Error, Result};

/// How many ids a container gets unless `auto:size=N` says otherwise: enough for every id an image's
/// files and passwd use in practice (0-65535).
pub const DEFAULT_SIZE: u32 = 65536;

/// Where ranges come from unless berth's config sets `userns-pool`: the upper half of the id space,
/// clear of the ids distributions give users (below 2^31 in practice, /etc/subuid's included), with
/// the top 65536 ids (and -1) left out.
pub const DEFAULT_POOL: IdRange = IdRange {
    base: 1 << 31,
    size: (1 << 31) - DEFAULT_SIZE,
};

/// A container's user namespace mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsernsMode {
    /// The host's user namespace: container root is host root.
    Host,
    /// A new user namespace over a range of `size` host ids of its own.
    Auto { size: u32 },
}

impl UsernsMode {
    /// `--userns`'s value; empty means berth's configured default (`userns` in its config file).
    pub fn parse(text: &str) -> Result<UsernsMode> {
        let text = text.trim();
        if text.is_empty() {
            let default = crate::config::load().userns.unwrap_or_default();
            return match default.is_empty() {
                true => Ok(UsernsMode::Host),
                false => Self::parse_explicit(&default)
                    .map_err(|e| Error::InvalidArgument(format!("berth's config file, \"userns\": {e}"))),
            };
        }
        Self::parse_explicit(text)
    }

    fn parse_explicit(text: &str) -> Result<UsernsMode> {
        let bad = || {
            Error::InvalidArgument(format!(
                "invalid --userns {text:?}: use host, auto, or auto:size=N (N ids, 1 to {})",
                1u32 << 30
            ))
        };
        match text.split_once(':') {
            None if text == "host" => Ok(UsernsMode::Host),
            None if text == "auto" => Ok(UsernsMode::Auto { size: DEFAULT_SIZE }),
            Some(("auto", options)) => {
                let mut size = DEFAULT_SIZE;
                for option in options.split(',') {
                    match option.split_once('=') {
                        Some(("size", n)) => {
                            size = n.parse().ok().filter(|n| (1..=1 << 30).contains(n)).ok_or_else(bad)?
                        }
                        _ => return Err(bad()),
                    }
                }
                Ok(UsernsMode::Auto { size })
            }
            _ => Err(bad()),
        }
    }

    /// How the mode is recorded in the container's configuration (Docker's `HostConfig.UsernsMode`).
    pub fn as_config(&self) -> String {
        match self {
            UsernsMode::Host => String::new(),
            UsernsMode::Auto { size } if *size == DEFAULT_SIZE => "auto".into(),
            UsernsMode::Auto { size } => format!("auto:size={size}"),
        }
    }
}

/// The pool ranges come from: `userns-pool` ("BASE:SIZE") in berth's config file, else [`DEFAULT_POOL`].
pub fn pool() -> Result<IdRange> {
    let Some(text) = crate::config::load().userns_pool else {
        return Ok(DEFAULT_POOL);
    };
    parse_range(&text).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "berth's config file, \"userns-pool\": {text:?} is not BASE:SIZE within the 32-bit id space"
        ))
    })
}

fn parse_range(text: &str) -> Option<IdRange> {
    let (base, size) = text.split_once(':')?;
    let range = IdRange {
        base: base.trim().parse().ok()?,
        size: size.trim().parse().ok()?,
    };
    (range.size > 0 && range.end() < u64::from(u32::MAX)).then_some(range)
}

/// The ranges the host hands out itself (/etc/subuid and /etc/subgid: `name:start:count` lines), which
/// no container's range may overlap.
pub fn host_ranges() -> Vec<IdRange> {
    ["/etc/subuid", "/etc/subgid"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(subid_entry)
                .map(|(_, range)| range)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One `name:start:count` line of /etc/subuid or /etc/subgid: its owner and its range.
pub(crate) fn subid_entry(line: &str) -> Option<(&str, IdRange)> {
    let mut fields = line.trim().splitn(3, ':');
    let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
    Some((owner, parse_range(&format!("{start}:{count}"))?))
}

/// Gives `path` to the range's root (host id `base`, users and groups alike): a container's upper and
/// work directories, and the files bound into it, which its root may rewrite as without a user namespace.
pub(crate) fn give_to_root(path: &std::path::Path, range: IdRange) -> Result<()> {
    let (uid, gid) = (
        rustix::fs::Uid::from_raw(range.base),
        rustix::fs::Gid::from_raw(range.base),
    );
    rustix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// Hands `container_id` a range of `size` ids inside the create transaction `tx`.
pub(crate) fn allocate(tx: &berth_store::rusqlite::Transaction, container_id: &str, size: u32) -> Result<IdRange> {
    let pool = pool()?;
    id_ranges::allocate(tx, container_id, pool, size, &host_ranges())?.ok_or_else(|| {
        Error::Conflict(format!(
            "no free range of {size} ids is left for --userns=auto in the pool {}:{}: remove containers, or \
             give berth's config file a larger \"userns-pool\"",
            pool.base, pool.size
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_docker_and_podman_spell_them() {
        assert_eq!(UsernsMode::parse_explicit("host").unwrap(), UsernsMode::Host);
        assert_eq!(
            UsernsMode::parse_explicit("auto").unwrap(),
            UsernsMode::Auto { size: DEFAULT_SIZE }
        );
        assert_eq!(
            UsernsMode::parse_explicit("auto:size=1024").unwrap(),
            UsernsMode::Auto { size: 1024 }
        );
        for bad in [
            "keep-id",
            "auto:size=0",
            "auto:size=x",
            "auto:uidmapping=0:1:1",
            "ns:/proc/1/ns/user",
            "Auto",
        ] {
            let e = UsernsMode::parse_explicit(bad).unwrap_err().to_string();
            assert!(e.contains("use host, auto"), "{bad}: {e}");
        }
        assert_eq!(UsernsMode::Auto { size: 1024 }.as_config(), "auto:size=1024");
        assert_eq!(UsernsMode::Auto { size: DEFAULT_SIZE }.as_config(), "auto");
        assert_eq!(UsernsMode::Host.as_config(), "");
    }

    #[test]
    fn host_ranges_come_from_subid_lines() {
        assert_eq!(
            subid_entry("alice:100000:65536"),
            Some((
                "alice",
                IdRange {
                    base: 100000,
                    size: 65536
                }
            ))
        );
        assert_eq!(subid_entry("# a comment"), None);
        assert_eq!(subid_entry("bob:x:1"), None);
        assert_eq!(parse_range("4294967295:1"), None);
        assert_eq!(parse_range("7:0"), None);
    }

    #[test]
    fn the_default_pool_stays_clear_of_minus_one() {
        assert!(DEFAULT_POOL.end() < u64::from(u32::MAX));
        assert_eq!(DEFAULT_POOL.size % DEFAULT_SIZE, 0);
    }
}
