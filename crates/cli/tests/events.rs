//! `berth events`: what other berth processes did, streamed as Docker streams it, and replayed
//! with `--since`/`--until`, filtered and formatted.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Berth;
use serde_json::Value;

/// A `berth events` follower whose lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(berth: &Berth, args: &[&str]) -> Follower {
        let mut child = berth
            .cmd(&[&["events"], args].concat())
            .stdout(Stdio::piped())
            .spawn()
            .expect("berth events");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // The follower starts at the end of the log: give it time to open it before anything happens.
        std::thread::sleep(Duration::from_millis(300));
        Follower { child, lines }
    }

    /// Lines until `count` have come, or 20 s have passed.
    fn take(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while got.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => got.push(line),
                Err(_) => break,
            }
        }
        got
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not an event ({e}): {line}"))
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{} {}", e["Type"].as_str().unwrap(), e["Action"].as_str().unwrap()))
        .collect()
}

#[test]
fn a_follower_sees_what_other_processes_do_in_order() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    let follower = Follower::start(&berth, &["--format", "json"]);
    berth.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        "once",
        "--label",
        "tier=front",
        "busybox",
        "true",
    ]);
    berth.ok(&["volume", "create", "v1"]);
    berth.ok(&["tag", "busybox", "other:1"]);
    berth.ok(&["rmi", "other:1"]);
    let events: Vec<Value> = follower.take(7).iter().map(|l| parse(l)).collect();
    assert_eq!(
        actions(&events),
        [
            "container create",
            "container start",
            "container die",
            "container destroy",
            "volume create",
            "image tag",
            "image untag"
        ]
    );
    let create = &events[0];
    assert_eq!(
        create["status"], "create",
        "container events carry Docker's legacy fields"
    );
    assert_eq!(create["from"], "busybox");
    assert_eq!(create["Actor"]["Attributes"]["name"], "once");
    assert_eq!(create["Actor"]["Attributes"]["tier"], "front");
    assert_eq!(create["scope"], "local");
    assert_eq!(events[2]["Actor"]["Attributes"]["exitCode"], "0");
    assert!(events[4].get("status").is_none(), "volume events have no legacy fields");
    let times: Vec<i64> = events.iter().map(|e| e["timeNano"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "out of order: {times:?}");
}

#[test]
fn since_and_until_replay_the_past_filtered_and_formatted() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    berth.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "box",
        "busybox",
        "sleep",
        "100",
    ]);
    let out = berth.run(&["exec", "box", "sh", "-c", "exit 3"]);
    assert_eq!(common::code(&out), 3);
    berth.ok(&["rm", "-f", "box"]);
    berth.ok(&["volume", "create", "kept"]);

    // Past events, then the stream ends at --until.
    let all = berth.ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--format",
        "{{.Type}} {{.Action}}",
    ]);
    let lines: Vec<&str> = all.lines().collect();
    for want in [
        "container create",
        "container start",
        "container exec_create: sh -c exit 3",
        "container exec_start: sh -c exit 3",
        "container exec_die",
        "container kill",
        "container die",
        "container destroy",
        "volume create",
    ] {
        assert!(lines.contains(&want), "{want:?} missing from {lines:?}");
    }

    // Filters: keys AND, values of one key OR; event= matches exec's "exec_start: cmd" by its verb.
    let died = berth.ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--filter",
        "container=box",
        "--filter",
        "event=die",
        "--filter",
        "event=exec_die",
        "--format",
        "{{.Action}} {{.Actor.Attributes.exitCode}}",
    ]);
    assert_eq!(died.lines().collect::<Vec<_>>(), ["exec_die 3", "die 137"]);
    let exec_start = berth.ok(&["events", "--since", "10m", "--until", "0s", "-f", "event=exec_start"]);
    assert_eq!(exec_start.lines().count(), 1, "{exec_start}");
    let volumes = berth.ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "-f",
        "type=volume",
        "-f",
        "volume=kept",
    ]);
    // Docker's default line: RFC 3339 time with nanoseconds, type, action, actor, sorted attributes.
    let line = volumes.trim();
    let (time, rest) = line.split_once(' ').expect("a line");
    assert_eq!(rest, "volume create kept (driver=local)");
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.len() >= 30,
        "{time}"
    );

    // Nothing before --since.
    let none = berth.ok(&["events", "--since", "2000000000", "--until", "0s"]);
    assert_eq!(none, "");
    // Bad filters and times are refused, as Docker refuses them.
    let err = berth.fails(&["events", "--filter", "colour=red", "--until", "0s"]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    let err = berth.fails(&["events", "--since", "yesterday"]);
    assert!(err.contains("invalid time"), "{err}");
}

#[test]
fn events_from_processes_writing_at_once_stay_whole_lines() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    // Eight processes, each creating a container with a long label: lines from processes appending
    // at once must never interleave.
    let label = format!("note={}", "x".repeat(2000));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let name = format!("w{w}");
            let args = [
                "create",
                "--network",
                "none",
                "--label",
                &label,
                "--name",
                &name,
                "busybox",
                "true",
            ];
            berth.cmd(&args).stdout(Stdio::null()).spawn().expect("create")
        })
        .collect();
    for mut w in workers {
        assert!(w.wait().expect("wait").success());
    }
    let all = berth.ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "-f",
        "type=container",
        "--format",
        "json",
    ]);
    let events: Vec<Value> = all.lines().map(parse).collect();
    assert_eq!(events.len(), 8);
    assert!(events
        .iter()
        .all(|e| e["Actor"]["Attributes"]["note"].as_str().map(str::len) == Some(2000)));
}
