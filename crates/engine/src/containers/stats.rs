//! `stats`: Docker's `ContainerStatsResponse`, read from the container's cgroups (v1 or v2), the host's
//! CPU time and the container's network namespace. The engine reports raw counters, as dockerd does;
//! percentages are the client's to compute from two readings (`cpu_stats` against `precpu_stats`), as
//! the docker CLI does.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

use super::monitor;
use crate::{time, Engine, Result};

/// Docker's zero time, for `preread` of a first reading.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// Linux's USER_HZ: the unit of /proc/stat and cpuacct.stat.
const TICKS_PER_SECOND: u64 = 100;
const NANOS_PER_TICK: u64 = 1_000_000_000 / TICKS_PER_SECOND;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    pub name: String,
    pub id: String,
    pub read: String,
    pub preread: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    pub num_procs: u32,
    pub storage_stats: BTreeMap<String, u64>,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    /// By interface; absent without a network of the container's own (host, none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PidsStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// None when unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioStats {
    /// `null` when the kernel reports nothing, as dockerd.
    pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    /// "read" or "write" (dockerd's lower case).
    pub op: String,
    pub value: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    /// The host's CPU time in nanoseconds, all CPUs (absent in a first reading's `precpu_stats`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_cpu_usage: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_cpus: Option<u32>,
    pub throttling_data: ThrottlingData,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Nanoseconds of CPU the container's processes used.
    pub total_usage: u64,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    /// memory.stat's counters (v1 `total_inactive_file`, v2 `inactive_file`: the page cache the
    /// client takes off the usage).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    /// The limit, or the host's memory when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

impl StatsResponse {
    /// Memory in use without the page cache, as the docker CLI shows it.
    pub fn memory_without_cache(&self) -> u64 {
        let usage = self.memory_stats.usage.unwrap_or(0);
        let stats = &self.memory_stats.stats;
        let cache = stats
            .get("total_inactive_file")
            .or_else(|| stats.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        if cache < usage {
            usage - cache
        } else {
            usage
        }
    }

    /// CPU use since the previous reading, in percent of one CPU, as the docker CLI computes it.
    pub fn cpu_percent(&self) -> f64 {
        let cpu = self.cpu_stats.cpu_usage.total_usage as f64 - self.precpu_stats.cpu_usage.total_usage as f64;
        let system = self.cpu_stats.system_cpu_usage.unwrap_or(0) as f64
            - self.precpu_stats.system_cpu_usage.unwrap_or(0) as f64;
        let cpus = self.cpu_stats.online_cpus.unwrap_or(1) as f64;
        if cpu > 0.0 && system > 0.0 {
            cpu / system * cpus * 100.0
        } else {
            0.0
        }
    }

    /// Bytes read and written, over every device.
    pub fn block_io(&self) -> (u64, u64) {
        let entries = self.blkio_stats.io_service_bytes_recursive.iter().flatten();
        entries.fold((0, 0), |(r, w), e| match e.op.as_str() {
            "read" => (r + e.value, w),
            "write" => (r, w + e.value),
            _ => (r, w),
        })
    }

    /// Bytes received and sent, over every interface.
    pub fn network_io(&self) -> (u64, u64) {
        let networks = self.networks.iter().flat_map(|n| n.values());
        networks.fold((0, 0), |(rx, tx), n| (rx + n.rx_bytes, tx + n.tx_bytes))
    }
}

/// Where the counters come from: the kernel's files, or a test's.
pub trait StatsSource {
    /// A file of the container's cgroup: `controller` is the v1 hierarchy (`memory`, `cpuacct`, `pids`,
    /// `blkio`); v2 has one directory for all, which `v2_file` reads.
    fn v1_file(&self, controller: &str, file: &str) -> Option<String>;
    fn v2_file(&self, file: &str) -> Option<String>;
    /// /proc/stat, /proc/meminfo, and /proc/PID/net/dev of the container's init.
    fn proc_file(&self, path: &str) -> Option<String>;
    fn online_cpus(&self) -> u32;
}

/// The real kernel's files for one container.
struct Kernel {
    cgroup: String,
}

impl StatsSource for Kernel {
    fn v1_file(&self, controller: &str, file: &str) -> Option<String> {
        fs::read_to_string(format!("/sys/fs/cgroup/{controller}{}/{file}", self.cgroup)).ok()
    }
    fn v2_file(&self, file: &str) -> Option<String> {
        fs::read_to_string(format!("/sys/fs/cgroup{}/{file}", self.cgroup)).ok()
    }
    fn proc_file(&self, path: &str) -> Option<String> {
        fs::read_to_string(format!("/proc/{path}")).ok()
    }
    fn online_cpus(&self) -> u32 {
        std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
    }
}

impl Engine {
    /// One reading of a container's counters; `previous` (the last reading) fills `precpu_stats` and
    /// `preread`. A container that is not running reads as zeros, as in dockerd.
    pub fn container_stats(&self, name: &str, previous: Option<&StatsResponse>) -> Result<StatsResponse> {
        let c = self.container(name)?;
        let mut stats = StatsResponse {
            name: format!("/{}", c.name()),
            id: c.id().to_string(),
            read: ZERO_TIME.into(),
            preread: ZERO_TIME.into(),
            ..StatsResponse::default()
        };
        if c.state().is_live() {
            let kernel = Kernel {
                cgroup: monitor::cgroups_path(c.id()),
            };
            let own_network = !matches!(c.config.host.network_mode.as_str(), "host" | "none");
            read_counters(&kernel, c.pid(), own_network, &mut stats);
            stats.read = time::now();
        }
        if let Some(previous) = previous {
            stats.precpu_stats = previous.cpu_stats.clone();
            stats.preread = previous.read.clone();
        }
        Ok(stats)
    }
}

/// Fills `stats` from `source`: cgroup v2 where its files are, else v1.
pub fn read_counters(source: &dyn StatsSource, pid: i32, own_network: bool, stats: &mut StatsResponse) {
    let number = |text: Option<String>| text.and_then(|t| t.trim().parse::<u64>().ok());
    let keyed = |text: &str| -> BTreeMap<String, u64> {
        text.lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect()
    };
    let v2 = source.v2_file("memory.current").is_some();
    let cpu = &mut stats.cpu_stats;
    if v2 {
        let cpu_stat = source.v2_file("cpu.stat").map(|t| keyed(&t)).unwrap_or_default();
        let micros = |key: &str| cpu_stat.get(key).copied().unwrap_or(0) * 1000;
        cpu.cpu_usage = CpuUsage {
            total_usage: micros("usage_usec"),
            usage_in_kernelmode: micros("system_usec"),
            usage_in_usermode: micros("user_usec"),
        };
        cpu.throttling_data = ThrottlingData {
            periods: cpu_stat.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: cpu_stat.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: micros("throttled_usec"),
        };
        stats.memory_stats.usage = number(source.v2_file("memory.current"));
        stats.memory_stats.limit = number(source.v2_file("memory.max"));
        stats.memory_stats.stats = source.v2_file("memory.stat").map(|t| keyed(&t)).unwrap_or_default();
        stats.pids_stats.current = number(source.v2_file("pids.current"));
        stats.pids_stats.limit = number(source.v2_file("pids.max"));
        stats.blkio_stats.io_service_bytes_recursive = source.v2_file("io.stat").map(|t| io_stat(&t));
    } else {
        let ticks = source
            .v1_file("cpuacct", "cpuacct.stat")
            .map(|t| keyed(&t))
            .unwrap_or_default();
        let in_ns = |key: &str| ticks.get(key).copied().unwrap_or(0) * NANOS_PER_TICK;
        cpu.cpu_usage = CpuUsage {
            total_usage: number(source.v1_file("cpuacct", "cpuacct.usage")).unwrap_or(0),
            usage_in_kernelmode: in_ns("system"),
            usage_in_usermode: in_ns("user"),
        };
        let throttled = source.v1_file("cpu", "cpu.stat").map(|t| keyed(&t)).unwrap_or_default();
        cpu.throttling_data = ThrottlingData {
            periods: throttled.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: throttled.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: throttled.get("throttled_time").copied().unwrap_or(0),
        };
        stats.memory_stats.usage = number(source.v1_file("memory", "memory.usage_in_bytes"));
        stats.memory_stats.limit = number(source.v1_file("memory", "memory.limit_in_bytes"));
        stats.memory_stats.stats = source
            .v1_file("memory", "memory.stat")
            .map(|t| keyed(&t))
            .unwrap_or_default();
        stats.pids_stats.current = number(source.v1_file("pids", "pids.current"));
        stats.pids_stats.limit = number(source.v1_file("pids", "pids.max"));
        stats.blkio_stats.io_service_bytes_recursive = source
            .v1_file("blkio", "blkio.throttle.io_service_bytes_recursive")
            .or_else(|| source.v1_file("blkio", "blkio.throttle.io_service_bytes"))
            .map(|t| v1_blkio(&t));
    }
    let cpu = &mut stats.cpu_stats;
    cpu.system_cpu_usage = source.proc_file("stat").and_then(|t| system_cpu_ns(&t));
    cpu.online_cpus = Some(source.online_cpus());
    // No limit (v1's huge number, v2's "max") shows as the host's memory, as in dockerd.
    let host_memory = source.proc_file("meminfo").and_then(|t| mem_total(&t));
    if let Some(host) = host_memory {
        if stats.memory_stats.limit.is_none_or(|l| l > host) {
            stats.memory_stats.limit = Some(host);
        }
    }
    if own_network && pid > 0 {
        stats.networks = source.proc_file(&format!("{pid}/net/dev")).map(|t| net_dev(&t));
    }
}

/// The first line of /proc/stat: the host's CPU time, all CPUs, in nanoseconds.
fn system_cpu_ns(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    Some(ticks * NANOS_PER_TICK)
}

fn mem_total(text: &str) -> Option<u64> {
    let kb = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    kb.trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// v2 io.stat: "MAJ:MIN rbytes=N wbytes=N ..." per device.
fn io_stat(text: &str) -> Vec<BlkioEntry> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(device_numbers) else {
            continue;
        };
        for field in fields {
            let op = match field.split_once('=') {
                Some(("rbytes", n)) => ("read", n),
                Some(("wbytes", n)) => ("write", n),
                _ => continue,
            };
            entries.push(BlkioEntry {
                major,
                minor,
                op: op.0.into(),
                value: op.1.parse().unwrap_or(0),
            });
        }
    }
    entries
}

/// v1 blkio: "MAJ:MIN Read N" lines (and Write, Sync, Async, Discard, Total).
fn v1_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let [device, op, value] = line.split_whitespace().collect::<Vec<_>>()[..] else {
                return None;
            };
            let (major, minor) = device_numbers(device)?;
            Some(BlkioEntry {
                major,
                minor,
                op: op.to_lowercase(),
                value: value.parse().ok()?,
            })
        })
        .filter(|e| e.op == "read" || e.op == "write")
        .collect()
}

fn device_numbers(text: &str) -> Option<(u64, u64)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// /proc/PID/net/dev: every interface but loopback.
fn net_dev(text: &str) -> BTreeMap<String, NetworkStats> {
    let mut networks = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let v: Vec<u64> = counters.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        if name == "lo" || v.len() < 12 {
            continue;
        }
        networks.insert(
            name.to_string(),
            NetworkStats {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    networks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel made of strings: v2 when it has `memory.current`.
    #[derive(Default)]
    struct Fake {
        v1: BTreeMap<String, String>,
        v2: BTreeMap<String, String>,
        proc: BTreeMap<String, String>,
    }

    impl StatsSource for Fake {
        fn v1_file(&self, controller: &str, file: &str) -> Option<String> {
            self.v1.get(&format!("{controller}/{file}")).cloned()
        }
        fn v2_file(&self, file: &str) -> Option<String> {
            self.v2.get(file).cloned()
        }
        fn proc_file(&self, path: &str) -> Option<String> {
            self.proc.get(path).cloned()
        }
        fn online_cpus(&self) -> u32 {
            2
        }
    }

    fn proc_files(fake: &mut Fake) {
        fake.proc.insert(
            "stat".into(),
            "cpu  100 0 50 850 0 0 0 0 0 0\ncpu0 50 0 25 425\n".into(),
        );
        fake.proc
            .insert("meminfo".into(), "MemTotal:        1024 kB\nMemFree: 10 kB\n".into());
        fake.proc.insert(
            "42/net/dev".into(),
            "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes ...\n\
             \x20   lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n  eth0: 1000 10 1 2 0 0 0 0 500 5 0 3 0 0 0 0\n"
                .into(),
        );
    }

    #[test]
    fn cgroup_v1_counters_read_as_dockerd_reports_them() {
        let mut fake = Fake::default();
        proc_files(&mut fake);
        for (file, text) in [
            ("cpuacct/cpuacct.usage", "3000000000\n"),
            ("cpuacct/cpuacct.stat", "user 200\nsystem 100\n"),
            ("memory/memory.usage_in_bytes", "4096\n"),
            ("memory/memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory/memory.stat", "cache 10\ntotal_inactive_file 1024\n"),
            ("pids/pids.current", "3\n"),
            ("pids/pids.max", "max\n"),
            (
                "blkio/blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 512\n8:0 Write 256\n8:0 Total 768\nTotal 768\n",
            ),
        ] {
            fake.v1.insert(file.into(), text.into());
        }
        let mut stats = StatsResponse::default();
        read_counters(&fake, 42, true, &mut stats);
        assert_eq!(stats.cpu_stats.cpu_usage.total_usage, 3_000_000_000);
        assert_eq!(stats.cpu_stats.cpu_usage.usage_in_usermode, 2_000_000_000);
        assert_eq!(stats.cpu_stats.system_cpu_usage, Some(1000 * NANOS_PER_TICK));
        assert_eq!(
            stats.memory_stats.limit,
            Some(1024 * 1024),
            "no limit reads as the host's memory"
        );
        assert_eq!(stats.memory_without_cache(), 4096 - 1024);
        assert_eq!((stats.pids_stats.current, stats.pids_stats.limit), (Some(3), None));
        assert_eq!(stats.block_io(), (512, 256));
        assert_eq!(stats.network_io(), (1000, 500), "loopback is left out");
        assert_eq!(stats.networks.as_ref().unwrap()["eth0"].tx_dropped, 3);
    }

    #[test]
    fn cgroup_v2_counters_and_the_cpu_percentage() {
        let mut fake = Fake::default();
        proc_files(&mut fake);
        for (file, text) in [
            ("memory.current", "8192\n"),
            ("memory.max", "4096\n"),
            ("memory.stat", "anon 100\ninactive_file 192\n"),
            (
                "cpu.stat",
                "usage_usec 500\nuser_usec 300\nsystem_usec 200\nnr_periods 4\n",
            ),
            ("pids.current", "2\n"),
            ("pids.max", "100\n"),
            ("io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n"),
        ] {
            fake.v2.insert(file.into(), text.into());
        }
        let mut first = StatsResponse::default();
        read_counters(&fake, 42, false, &mut first);
        assert_eq!(first.cpu_stats.cpu_usage.total_usage, 500_000);
        assert_eq!(first.memory_stats.limit, Some(4096));
        assert_eq!(first.memory_without_cache(), 8000);
        assert_eq!(first.pids_stats.limit, Some(100));
        assert_eq!(first.block_io(), (10, 20));
        assert!(first.networks.is_none(), "no network of its own");
        // A second reading: 0.5 s of container CPU in 2 s of host CPU over 2 CPUs is 50%.
        let mut second = first.clone();
        second.precpu_stats = first.cpu_stats.clone();
        second.cpu_stats.cpu_usage.total_usage += 500_000_000;
        second.cpu_stats.system_cpu_usage = first.cpu_stats.system_cpu_usage.map(|s| s + 2_000_000_000);
        assert!((second.cpu_percent() - 50.0).abs() < 1e-9);
        // Without a previous reading it is the average since boot, as the docker CLI computes it:
        // 0.5 ms of container CPU in 10 s of host CPU over 2 CPUs.
        assert!((first.cpu_percent() - 0.01).abs() < 1e-9);
    }

    #[test]
    fn dockers_json_field_names() {
        let json = serde_json::to_value(StatsResponse::default()).unwrap();
        for key in [
            "read",
            "preread",
            "pids_stats",
            "blkio_stats",
            "num_procs",
            "storage_stats",
            "cpu_stats",
            "precpu_stats",
            "memory_stats",
            "name",
            "id",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert_eq!(
            json["blkio_stats"]["io_service_bytes_recursive"],
            serde_json::Value::Null
        );
    }
}
