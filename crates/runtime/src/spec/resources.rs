//! cgroup resources (memory, CPU, pids) with dockerd's checks and defaults, and parsing --memory and --cpus.

use oci_spec::runtime::{LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxPids, LinuxResources};

use crate::Error;

use super::{invalid, Host, RunSpec};

/// dockerd refuses memory limits and reservations below 6 MiB.
const MIN_MEMORY: i64 = 6 << 20;
/// The CFS period --cpus is expressed in.
const CPU_PERIOD: u64 = 100_000;

/// "0-2,4" as the kernel's cpuset list format.
fn check_cpuset(list: &str) -> Result<(), Error> {
    let bad = || invalid(format!("invalid value {list} for cpuset cpus"));
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: u32 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u32 = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
    }
    Ok(())
}

fn positive(value: Option<i64>, what: &str) -> Result<Option<i64>, Error> {
    match value {
        None | Some(0) => Ok(None),
        Some(v) if v < 0 => Err(invalid(format!("invalid {what}: {v} (it must be positive)"))),
        Some(v) => Ok(Some(v)),
    }
}

/// cgroup limits with dockerd's checks and defaults.
pub(super) fn resources(run: &RunSpec, host: &Host, devices: Vec<LinuxDeviceCgroup>) -> Result<LinuxResources, Error> {
    let r = &run.resources;
    let limit = positive(r.memory, "memory limit")?;
    let reservation = positive(r.memory_reservation, "memory reservation")?;
    let swap = match r.memory_swap {
        None | Some(0) => None,
        Some(-1) => Some(-1),
        Some(v) if v < 0 => {
            return Err(invalid(format!(
                "invalid memory swap limit: {v} (use -1 for unlimited)"
            )))
        }
        Some(v) => Some(v),
    };
    if limit.is_some_and(|m| m < MIN_MEMORY) {
        return Err(invalid("minimum memory limit allowed is 6MB"));
    }
    if let Some(s) = swap.filter(|&s| s > 0) {
        match limit {
            None => {
                return Err(invalid(
                    "you should always set the memory limit when using memoryswap limit, see usage",
                ))
            }
            Some(m) if s < m => {
                return Err(invalid(
                    "minimum memoryswap limit should be larger than memory limit, see usage",
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(res) = reservation {
        if res < MIN_MEMORY {
            return Err(invalid("minimum memory reservation allowed is 6MB"));
        }
        if limit.is_some_and(|m| m < res) {
            return Err(invalid(
                "minimum memory limit can not be less than memory reservation limit, see usage",
            ));
        }
    }
    let swap = if host.swap_limit {
        // Docker: by default a container may use as much swap as memory.
        swap.or_else(|| limit.map(|m| m.saturating_mul(2)))
    } else {
        if swap.is_some() {
            tracing::warn!("this kernel cannot limit swap: the container is limited without swap");
        }
        None
    };
    let oom_kill_disable = if r.oom_kill_disable && host.cgroup2_only {
        tracing::warn!("cgroup v2 cannot disable the OOM killer: --oom-kill-disable ignored");
        false
    } else {
        r.oom_kill_disable
    };

    let mut out = LinuxResources::default();
    out.set_devices(Some(devices));
    if limit.is_some() || reservation.is_some() || swap.is_some() || oom_kill_disable {
        let mut memory = LinuxMemory::default();
        memory.set_limit(limit);
        memory.set_reservation(reservation);
        memory.set_swap(swap);
        memory.set_disable_oom_killer(oom_kill_disable.then_some(true));
        out.set_memory(Some(memory));
    }

    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    if let Some(nano) = r.nano_cpus.filter(|&n| n != 0) {
        let max = i64::from(host.cpus) * 1_000_000_000;
        if !(10_000_000..=max).contains(&nano) {
            return Err(invalid(format!(
                "range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available",
                n = host.cpus
            )));
        }
        let quota = i128::from(nano) * i128::from(CPU_PERIOD) / 1_000_000_000;
        cpu.set_quota(Some(quota as i64));
        cpu.set_period(Some(CPU_PERIOD));
        any_cpu = true;
    }
    if let Some(shares) = r.cpu_shares.filter(|&s| s > 0) {
        cpu.set_shares(Some(shares));
        any_cpu = true;
    }
    if let Some(list) = r.cpuset_cpus.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        check_cpuset(list)?;
        cpu.set_cpus(Some(list.to_string()));
        any_cpu = true;
    }
    if any_cpu {
        out.set_cpu(Some(cpu));
    }
    if let Some(pids) = r.pids_limit.filter(|&p| p > 0) {
        let mut p = LinuxPids::default();
        p.set_limit(pids);
        out.set_pids(Some(p));
    }
    Ok(out)
}

/// Docker's RAMInBytes: "32m", "1g", "1.5GiB", "512k", "1024b", "1024" -> bytes (binary units).
pub fn parse_memory(s: &str) -> Result<i64, Error> {
    let bad = || invalid(format!("invalid size: '{s}'"));
    let sep = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(bad)?;
    let (num, suffix) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        s.split_at(sep + 1)
    };
    if num.is_empty()
        || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || !num.bytes().any(|b| b.is_ascii_digit())
        || num.matches('.').count() > 1
    {
        return Err(bad());
    }
    let size: f64 = num.parse().map_err(|_| bad())?;
    let lower = suffix.to_ascii_lowercase();
    let multiplier: f64 = match lower.as_str() {
        "" | "b" => 1.0,
        _ => {
            let mut chars = lower.chars();
            let unit = match chars.next() {
                Some('k') => 1u64 << 10,
                Some('m') => 1 << 20,
                Some('g') => 1 << 30,
                Some('t') => 1 << 40,
                Some('p') => 1 << 50,
                _ => return Err(invalid(format!("invalid suffix: '{lower}'"))),
            };
            match chars.as_str() {
                "" | "b" | "ib" => unit as f64,
                _ => return Err(invalid(format!("invalid suffix: '{lower}'"))),
            }
        }
    };
    let bytes = size * multiplier;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// --memory-swap: like parse_memory, and "-1" for unlimited swap.
pub fn parse_memory_swap(s: &str) -> Result<i64, Error> {
    if s.trim() == "-1" {
        Ok(-1)
    } else {
        parse_memory(s)
    }
}

/// Docker's --cpus: a decimal ("1.5") or a fraction ("3/2") of CPUs -> nano CPUs.
pub fn parse_cpus(s: &str) -> Result<i64, Error> {
    let not_rational = || invalid(format!("failed to parse {s} as a rational number"));
    let decimal = |t: &str| -> Result<(bool, i128, i128), Error> {
        // (negative, numerator, denominator) of a plain decimal
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || int.len() + frac.len() > 30
        {
            return Err(not_rational());
        }
        let frac = frac.trim_end_matches('0');
        let digits = format!("{int}{frac}");
        let num: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| not_rational())?
        };
        let den = 10i128.checked_pow(frac.len() as u32).ok_or_else(not_rational)?;
        Ok((neg, num, den))
    };
    let s_trim = s.trim();
    let (neg, num, den) = match s_trim.split_once('/') {
        Some((n, d)) => {
            let (neg_n, n, dn) = decimal(n)?;
            let d: i128 = d.parse().map_err(|_| not_rational())?;
            if dn != 1 || d == 0 {
                return Err(not_rational());
            }
            (neg_n != (d < 0), n, d.abs())
        }
        None => decimal(s_trim)?,
    };
    let scaled = num
        .checked_mul(1_000_000_000)
        .ok_or_else(|| invalid(format!("value {s} is too large")))?;
    if scaled % den != 0 {
        return Err(invalid("value is too precise"));
    }
    let nano = scaled / den;
    if neg && nano != 0 {
        return Err(invalid(format!(
            "invalid value {s} for cpus: the number of CPUs cannot be negative"
        )));
    }
    i64::try_from(nano).map_err(|_| invalid(format!("value {s} is too large")))
}
