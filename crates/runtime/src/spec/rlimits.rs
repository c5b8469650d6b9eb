//! Resource limits (rlimits): Docker's --ulimit names, parsing them, and clamping them to the host.

use oci_spec::runtime::{PosixRlimit, PosixRlimitBuilder, PosixRlimitType};
use rustix::process::Resource;

use crate::Error;

use super::{invalid, Host, Ulimit, DEFAULT_NOFILE};

/// Docker's --ulimit names.
pub(super) const ULIMITS: [(&str, PosixRlimitType, Resource); 15] = [
    ("core", PosixRlimitType::RlimitCore, Resource::Core),
    ("cpu", PosixRlimitType::RlimitCpu, Resource::Cpu),
    ("data", PosixRlimitType::RlimitData, Resource::Data),
    ("fsize", PosixRlimitType::RlimitFsize, Resource::Fsize),
    ("locks", PosixRlimitType::RlimitLocks, Resource::Locks),
    ("memlock", PosixRlimitType::RlimitMemlock, Resource::Memlock),
    ("msgqueue", PosixRlimitType::RlimitMsgqueue, Resource::Msgqueue),
    ("nice", PosixRlimitType::RlimitNice, Resource::Nice),
    ("nofile", PosixRlimitType::RlimitNofile, Resource::Nofile),
    ("nproc", PosixRlimitType::RlimitNproc, Resource::Nproc),
    ("rss", PosixRlimitType::RlimitRss, Resource::Rss),
    ("rtprio", PosixRlimitType::RlimitRtprio, Resource::Rtprio),
    ("rttime", PosixRlimitType::RlimitRttime, Resource::Rttime),
    ("sigpending", PosixRlimitType::RlimitSigpending, Resource::Sigpending),
    ("stack", PosixRlimitType::RlimitStack, Resource::Stack),
];

/// The hard limit of this process for a Docker ulimit name (getrlimit); `None` for an unknown name or
/// no limit (RLIM_INFINITY).
pub fn host_hard_limit(resource: &str) -> Option<u64> {
    let (_, _, res) = ULIMITS.iter().find(|(name, _, _)| *name == resource)?;
    rustix::process::getrlimit(*res).maximum
}

fn ulimit_entry(name: &str) -> Option<&'static (&'static str, PosixRlimitType, Resource)> {
    ULIMITS.iter().find(|(n, _, _)| *n == name)
}

fn show_limit(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".to_string()
    } else {
        v.to_string()
    }
}

/// RLIMIT_NOFILE clamped to the host, then the --ulimit values (the last one per name wins).
pub(super) fn rlimits(ulimits: &[Ulimit], host: &Host) -> Result<Vec<PosixRlimit>, Error> {
    let nofile = host
        .hard_limits
        .get("nofile")
        .copied()
        .unwrap_or(DEFAULT_NOFILE)
        .min(DEFAULT_NOFILE);
    let mut limits: Vec<(&'static str, PosixRlimitType, u64, u64)> =
        vec![("nofile", PosixRlimitType::RlimitNofile, nofile, nofile)];
    for u in ulimits {
        let (name, typ, _) =
            ulimit_entry(&u.name).ok_or_else(|| invalid(format!("invalid ulimit type: {}", u.name)))?;
        if u.soft > u.hard {
            return Err(invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                show_limit(u.soft),
                show_limit(u.hard)
            )));
        }
        if let Some(&max) = host.hard_limits.get(name) {
            if u.hard > max && !host.can_raise_limits {
                return Err(invalid(format!(
                    "ulimit {name}: hard limit {} is above this host's maximum of {max} for {name}, which berth \
                     cannot raise (it lacks CAP_SYS_RESOURCE); use --ulimit {name}={}:{max} or lower",
                    show_limit(u.hard),
                    u.soft.min(max)
                )));
            }
        }
        limits.retain(|(n, ..)| n != name);
        limits.push((name, *typ, u.soft, u.hard));
    }
    limits
        .into_iter()
        .map(|(_, typ, soft, hard)| {
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(soft)
                .hard(hard)
                .build()
                .map_err(|e| Error::Runtime(format!("building the OCI spec: {e}")))
        })
        .collect()
}

/// Docker's --ulimit: "nofile=1024:2048", "nproc=512", "core=-1" (unlimited).
pub fn parse_ulimit(s: &str) -> Result<Ulimit, Error> {
    let (name, values) = s
        .split_once('=')
        .ok_or_else(|| invalid(format!("invalid ulimit argument: {s}")))?;
    if ulimit_entry(name).is_none() {
        return Err(invalid(format!("invalid ulimit type: {name}")));
    }
    let parts: Vec<&str> = values.split(':').collect();
    if parts.len() > 2 {
        return Err(invalid(format!(
            "too many limit value arguments - {values}, can only have up to two, `soft[:hard]`"
        )));
    }
    let value = |v: &str| -> Result<i64, Error> {
        v.trim().parse::<i64>().map_err(|_| {
            invalid(format!(
                "invalid ulimit value {v:?} in {s}: use a number, or -1 for unlimited"
            ))
        })
    };
    let soft = value(parts[0])?;
    let hard = match parts.get(1) {
        Some(h) => value(h)?,
        None => soft,
    };
    ulimit(name, soft, hard)
}

/// A limit as Docker's API gives it (`{"Name": "nofile", "Soft": 1024, "Hard": 2048}`, -1 for unlimited),
/// checked: a known name, no other negative value, soft at most hard.
pub fn ulimit(name: &str, soft: i64, hard: i64) -> Result<Ulimit, Error> {
    if ulimit_entry(name).is_none() {
        return Err(invalid(format!("invalid ulimit type: {name}")));
    }
    let value = |v: i64| -> Result<u64, Error> {
        match v {
            -1 => Ok(u64::MAX),
            v => u64::try_from(v).map_err(|_| {
                invalid(format!(
                    "invalid ulimit value {v} for {name}: use a number, or -1 for unlimited"
                ))
            }),
        }
    };
    let (soft, hard) = (value(soft)?, value(hard)?);
    if soft > hard {
        return Err(invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {} > {}",
            show_limit(soft),
            show_limit(hard)
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}
