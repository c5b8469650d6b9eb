//! `ps` filters, served by the engine's container list; listings and streams to a reader that stops
//! early (`berth images | head -1`).

mod common;

fn names(out: &str) -> Vec<&str> {
    out.lines().collect()
}

#[test]
fn ps_filters_by_order_volume_network_exit_and_label() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    berth.ok(&[
        "create",
        "--name",
        "first",
        "--network",
        "none",
        "-v",
        "data:/data",
        "busybox",
        "true",
    ]);
    berth.ok(&["create", "--name", "second", "--label", "tier=front", "busybox", "true"]);
    berth.run(&[
        "run",
        "--name",
        "third",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 4",
    ]);
    let ps = |filters: &[&str]| {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        berth.ok(&args)
    };
    assert_eq!(names(&ps(&[])), ["third", "second", "first"], "newest first");
    assert_eq!(names(&ps(&["before=third"])), ["second", "first"]);
    assert_eq!(names(&ps(&["since=first"])), ["third", "second"]);
    assert_eq!(names(&ps(&["since=first", "before=third"])), ["second"]);
    assert_eq!(names(&ps(&["volume=data"])), ["first"]);
    assert_eq!(names(&ps(&["volume=/data"])), ["first"]);
    assert_eq!(names(&ps(&["network=none"])), ["third", "first"]);
    assert_eq!(names(&ps(&["exited=4"])), ["third"]);
    assert_eq!(names(&ps(&["status=created", "label=tier=front"])), ["second"]);
    assert_eq!(names(&ps(&["health=none", "name=ir"])), ["third", "first"]);
    assert_eq!(
        names(&berth.ok(&["ps", "-n", "2", "--format", "{{.Names}}"])),
        ["third", "second"]
    );
    assert_eq!(
        names(&berth.ok(&["ps", "--latest", "--format", "{{.Names}}"])),
        ["third"]
    );
    assert_eq!(
        berth.ok(&["ps", "--format", "{{.Names}}"]),
        "",
        "only running ones without -a"
    );
    let err = berth.fails(&["ps", "--filter", "colour=red"]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    let err = berth.fails(&["ps", "--filter", "before=nothing"]);
    assert!(err.contains("No such container: nothing"), "{err}");
    let status = berth.ok(&["ps", "-a", "--filter", "name=third", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Exited (4) "), "{status}");
}

/// Runs berth with stdout on a pipe whose reader keeps `keep` bytes (0: closes it before anything is
/// written) and then closes it; returns the exit code and stderr. Fails the test past 60 seconds.
/// Stderr goes to a file: a container's monitor keeps an attached run's stdio open as long as the
/// container runs, so a pipe's end would not come with berth's.
fn into_closing_pipe(berth: &common::Berth, args: &[&str], keep: usize) -> (Option<i32>, String) {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let errors = berth.path("stderr.txt");
    let mut child = berth
        .cmd(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&errors).expect("stderr file"))
        .spawn()
        .expect("berth");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut kept = vec![0u8; keep];
    let read = stdout.read_exact(&mut kept);
    drop(stdout);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth {args:?} went on after its reader left");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&errors).expect("stderr");
    if let Err(e) = read {
        panic!("berth {args:?}: reading its first bytes: {e} ({status}): {stderr}");
    }
    (status.code(), stderr)
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let Some(berth) = common::with_busybox() else {
        return;
    };
    // Enough output to outgrow a pipe's buffer: a long log, and a few dozen tags and containers.
    berth.ok(&[
        "run",
        "--name",
        "counter",
        "--network",
        "none",
        "busybox",
        "seq",
        "1",
        "100000",
    ]);
    for i in 0..40 {
        berth.ok(&["tag", "busybox", &format!("many:{i}")]);
    }
    for _ in 0..3 {
        berth.ok(&["create", "--network", "none", "busybox", "true"]);
    }
    let until = (unix_now() + 1).to_string();
    // (command, whether its output outgrows a pipe's buffer, so that a reader that left after two
    // bytes must have ended it too; a small output may be all written before)
    let commands: Vec<(Vec<&str>, bool)> = vec![
        (vec!["images"], false),
        (vec!["ps", "-a", "--no-trunc"], false),
        (vec!["events", "--since", "2000-01-01", "--until", &until], false),
        (vec!["history", "busybox"], false),
        (vec!["inspect", "busybox"], false),
        (vec!["version"], false),
        (vec!["logs", "counter"], true),
        (vec!["save", "busybox"], true),
        (vec!["export", "counter"], true),
        // Output that another process writes, the container's relay: `yes` would never end.
        (vec!["run", "--network", "none", "busybox", "yes"], true),
    ];
    for (args, big) in &commands {
        for keep in [0, 2] {
            let (code, stderr) = into_closing_pipe(&berth, args, keep);
            let what = format!("berth {args:?} (the reader kept {keep} bytes): {code:?} {stderr}");
            // 128 + SIGPIPE, what a shell shows for docker's client; nothing said on stderr.
            if *big {
                assert_eq!(code, Some(141), "{what}");
            } else {
                assert!(matches!(code, Some(141 | 0)), "{what}");
            }
            assert!(stderr.is_empty(), "{what}");
        }
    }
    // Nothing was left half done: the next commands work (and stop the `yes` containers).
    for id in berth.ok(&["ps", "-q"]).lines() {
        berth.ok(&["rm", "-f", id]);
    }
    assert_eq!(
        berth.ok(&["images", "many"]).lines().count(),
        41,
        "a heading and 40 tags"
    );
    assert!(berth.ok(&["logs", "counter"]).ends_with("100000\n"));
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
