//! (issue 13) logs: a container fills its own log, as fast and as far as it likes, so reading that log
//! must cost the reader a bounded amount of memory whatever its size. Before, `berth logs` parsed every
//! entry into memory first (a 541 MB log took 1.15 GB). Also the rotation defaults of berth's config
//! file, which keep a chatty container's log small in the first place.

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::*;

/// The peak RSS a `berth logs` may reach, in KiB: the CLI itself is ~10 MB; the log is 500 MB.
const RSS_BOUND_KIB: i64 = 64 * 1024;

/// Removes a file when dropped, so a 500 MB log goes as soon as the test ends, passed or failed.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// What a `berth` run printed, counted as it streamed by (never kept whole), and its peak memory.
struct Streamed {
    lines: u64,
    bytes: u64,
    head: String,
    tail: String,
    stderr: String,
    success: bool,
    max_rss_kib: i64,
}

impl Streamed {
    fn last_lines(&self, n: usize) -> Vec<&str> {
        let lines: Vec<&str> = self.tail.lines().collect();
        lines[lines.len().saturating_sub(n)..].to_vec()
    }
}

/// Runs berth, counts its stdout as it comes and reaps it with wait4 to learn its peak RSS.
// Reaped by wait4, which clippy does not see (Child::wait could not report the rusage).
#[allow(clippy::zombie_processes)]
#[allow(unsafe_code)]
fn stream(berth: &Berth, args: &[&str]) -> Streamed {
    let mut child = berth
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (mut lines, mut bytes) = (0u64, 0u64);
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = stdout.read(&mut buf).expect("read berth's stdout");
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        bytes += n as u64;
        if head.len() < 4096 {
            head.extend_from_slice(&chunk[..chunk.len().min(4096 - head.len())]);
        }
        tail.extend_from_slice(chunk);
        if tail.len() > 8192 {
            tail.drain(..tail.len() - 4096);
        }
    }
    let stderr = errors.join().expect("stderr reader");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child (Child never waited for it); status and usage are valid
    // places for the kernel to write. Dropping `child` afterwards does not wait again.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    Streamed {
        lines,
        bytes,
        head: String::from_utf8_lossy(&head).into_owned(),
        tail: String::from_utf8_lossy(&tail).into_owned(),
        stderr,
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: usage.ru_maxrss,
    }
}

/// Appends `count` stdout entries of `text_len` bytes each (newline included) in the json-file format
/// berth's writer uses; returns the bytes of log text they hold.
fn append_entries(log: &Path, count: u64, text_len: usize) -> u64 {
    let file = OpenOptions::new()
        .append(true)
        .open(log)
        .expect("open the container's log");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let pad = "x".repeat(text_len - "filler 00000000 \n".len());
    for i in 0..count {
        writeln!(
            out,
            r#"{{"log":"filler {i:08} {pad}\n","stream":"stdout","time":"2024-05-01T12:00:00.123456789Z"}}"#
        )
        .expect("write the log");
    }
    out.flush().expect("flush the log");
    count * text_len as u64
}

#[test]
fn logs_of_a_huge_log_stream_in_bounded_memory() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&["run", "-d", "busybox", "sh", "-c", "echo known-1; echo known-2"]);
    let id = id.trim();
    assert_eq!(berth.ok(&["wait", id]).trim(), "0");
    let log = PathBuf::from(berth.ok(&["inspect", "--format", "{{.LogPath}}", id]).trim());
    let _remove = RemoveOnDrop(log.clone());
    // ~500 MB of log: 2.2 million entries of 160 bytes of text (~235 bytes of JSON each), then three
    // known last lines.
    let count = 2_200_000;
    let mut text_bytes = "known-1\nknown-2\n".len() as u64 + append_entries(&log, count, 160);
    {
        let mut out = OpenOptions::new().append(true).open(&log).expect("open the log");
        for end in ["end-1", "end-2", "end-3"] {
            writeln!(
                out,
                r#"{{"log":"{end}\n","stream":"stdout","time":"2024-05-01T12:00:01Z"}}"#
            )
            .expect("write the log");
            text_bytes += end.len() as u64 + 1;
        }
    }
    let size = fs::metadata(&log).expect("log").len();
    assert!(size > 500_000_000, "the log is {size} bytes");

    let all = stream(&berth, &["logs", id]);
    assert!(all.success, "berth logs failed: {}", all.stderr);
    assert_eq!(all.lines, 2 + count + 3, "stderr: {}", all.stderr);
    assert_eq!(all.bytes, text_bytes);
    assert!(
        all.head.starts_with("known-1\nknown-2\nfiller 00000000 xxx"),
        "{:.100}",
        all.head
    );
    assert_eq!(all.last_lines(4)[1..], ["end-1", "end-2", "end-3"]);
    assert!(
        all.max_rss_kib < RSS_BOUND_KIB,
        "berth logs of a {size}-byte log peaked at {} KiB",
        all.max_rss_kib
    );

    let tail = stream(&berth, &["logs", "--tail", "3", id]);
    assert!(tail.success, "berth logs --tail 3 failed: {}", tail.stderr);
    assert_eq!(tail.tail, "end-1\nend-2\nend-3\n");
    assert!(
        tail.max_rss_kib < RSS_BOUND_KIB,
        "berth logs --tail 3 of a {size}-byte log peaked at {} KiB",
        tail.max_rss_kib
    );
    drop(_remove);
    berth.ok(&["rm", id]);
}

#[test]
fn config_file_sets_the_default_log_rotation() {
    let Some(berth) = with_busybox() else { return };
    let config = berth.path("config.json");
    fs::write(&config, r#"{"log-opts": {"max-size": "1k", "max-file": "2"}}"#).expect("write config");
    let run = |args: &[&str]| -> String {
        let out = berth
            .cmd(args)
            .env("BERTH_CONFIG", &config)
            .output()
            .expect("run berth");
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let log_config = |id: &str| -> serde_json::Value {
        serde_json::from_str(&berth.ok(&["inspect", "--format", "{{json .HostConfig.LogConfig}}", id]))
            .expect("LogConfig is JSON")
    };

    // 1000 lines of 10 bytes: 10 kB of output.
    let id = run(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq -w 1 1000); do echo line-$i; done",
    ]);
    assert_eq!(berth.ok(&["wait", &id]).trim(), "0");
    assert_eq!(
        log_config(&id),
        serde_json::json!({"Type": "json-file", "Config": {"max-size": "1k", "max-file": "2"}})
    );
    let log = PathBuf::from(berth.ok(&["inspect", "--format", "{{.LogPath}}", &id]).trim());
    let name = log.file_name().expect("log name").to_string_lossy().into_owned();
    let files: Vec<u64> = fs::read_dir(log.parent().expect("log dir"))
        .expect("container dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
        .map(|e| e.metadata().expect("log file").len())
        .collect();
    assert_eq!(files.len(), 2, "log files of sizes {files:?}");
    assert!(files.iter().all(|&len| len <= 1024), "{files:?}");
    // The rotated file was filled up to the limit; the current one is whatever came after.
    let full = fs::metadata(format!("{}.1", log.display())).expect("rotated log").len();
    assert!(full > 900, "{full}");
    let all = berth.ok(&["logs", &id]);
    assert!(all.ends_with("line-0999\nline-1000\n"), "{all}");
    assert!(!all.contains("line-0001"), "{all}");
    assert_eq!(berth.ok(&["logs", "--tail", "2", &id]), "line-0999\nline-1000\n");

    // A container's own option wins; the defaults fill in the rest; another driver takes none of them.
    let own = run(&["create", "--log-opt", "max-size=2k", "busybox", "true"]);
    assert_eq!(
        log_config(&own),
        serde_json::json!({"Type": "json-file", "Config": {"max-size": "2k", "max-file": "2"}})
    );
    let none = run(&["create", "--log-driver", "none", "busybox", "true"]);
    assert_eq!(log_config(&none), serde_json::json!({"Type": "none", "Config": {}}));

    // A malformed file is a warning, and containers get no defaults from it.
    fs::write(&config, r#"{"log-opts": {"max-size": "#).expect("write config");
    let out = berth
        .cmd(&["create", "busybox", "true"])
        .env("BERTH_CONFIG", &config)
        .output()
        .expect("run berth");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("config"),
        "no warning: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        log_config(&plain),
        serde_json::json!({"Type": "json-file", "Config": {}})
    );
}

#[test]
fn follow_reads_on_across_rotations_until_the_container_exits() {
    let Some(berth) = with_busybox() else { return };
    // 200 lines over ~4 s, rotating every ~13 lines; ten files hold ~130 lines, so the 100 ms polls of
    // `logs -f` keep up with room to spare.
    let id = berth.ok(&[
        "run",
        "-d",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=10",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq -w 1 200); do echo line-$i; sleep 0.02; done",
    ]);
    let id = id.trim();
    let out = berth.run(&["logs", "-f", id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<String> = (1..=200).map(|i| format!("line-{i:03}")).collect();
    let got: Vec<&str> = std::str::from_utf8(&out.stdout).expect("utf-8").lines().collect();
    assert_eq!(got, want, "every line once, in order");
    let log = berth.ok(&["inspect", "--format", "{{.LogPath}}", id]);
    assert!(Path::new(&format!("{}.5", log.trim())).exists(), "the log rotated");
    berth.ok(&["rm", id]);
}
