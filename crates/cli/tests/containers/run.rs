//! `run` itself: what the process sees (pid 1, hostname, env, user), Docker's exit codes, the
//! flags that shape the container, signals and `--init`, and an external runtime.

use std::time::{Duration, Instant};

use crate::assert_gone;
use crate::common::*;

#[test]
fn run_basics_pid_one_hostname_env_workdir_user() {
    let Some(berth) = with_busybox() else { return };
    assert_eq!(berth.ok(&["run", "--rm", "busybox", "sh", "-c", "echo $$"]).trim(), "1");
    let ps = berth.ok(&["run", "--rm", "busybox", "ps", "-o", "pid"]);
    assert!(
        ps.lines().count() <= 3,
        "the container sees only its own processes:\n{ps}"
    );
    assert_eq!(
        berth
            .ok(&["run", "--rm", "--hostname", "box1", "busybox", "hostname"])
            .trim(),
        "box1"
    );
    let env_file = berth.path("env.list");
    std::fs::write(&env_file, "FROM_FILE=yes\n# comment\n").expect("write");
    let out = berth.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "--env-file",
        env_file.to_str().unwrap_or_default(),
        "-w",
        "/tmp",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING $FROM_FILE $(pwd)",
    ]);
    assert_eq!(out.trim(), "hi yes /tmp");
    assert_eq!(
        berth
            .ok(&["run", "--rm", "-u", "1000:1000", "busybox", "id", "-u"])
            .trim(),
        "1000"
    );
    assert_eq!(
        berth
            .ok(&["run", "--rm", "-u", "1000:1000", "busybox", "id", "-g"])
            .trim(),
        "1000"
    );
    let alice = berth.ok(&["run", "--rm", "-u", "alice", "busybox", "id"]);
    assert!(
        alice.contains("uid=1001") && alice.contains("gid=1002") && alice.contains("2000"),
        "{alice}"
    );
    // The default hostname is the short container ID.
    let id = berth.ok(&["run", "-d", "busybox", "hostname"]).trim().to_string();
    assert_eq!(berth.ok(&["wait", &id]).trim(), "0");
    assert_eq!(berth.ok(&["logs", &id]).trim(), &id[..12]);
    berth.ok(&["rm", &id]);
    assert_gone(&berth, &id);
}

#[test]
fn exit_codes_follow_docker() {
    let Some(berth) = with_busybox() else { return };
    assert_eq!(code(&berth.run(&["run", "--rm", "busybox", "true"])), 0);
    assert_eq!(code(&berth.run(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])), 3);
    assert_eq!(code(&berth.run(&["run", "--rm", "busybox", "nosuchcommand"])), 127);
    assert_eq!(code(&berth.run(&["run", "--rm", "busybox", "/etc/passwd"])), 126);
    assert_eq!(code(&berth.run(&["run", "--rm", "nosuchimage"])), 125);
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--memory", "abc", "busybox", "true"])),
        125
    );
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--cpus", "-1", "busybox", "true"])),
        125
    );
    let out = berth.run(&["run", "--rm", "-u", "nosuchuser", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchuser"));
    // A program that only a bind mount brings is found, by path and on PATH, and exec sees it too.
    let tools = berth.path("tools");
    std::fs::create_dir_all(&tools).expect("tools");
    std::fs::write(tools.join("hello"), "#!/bin/sh\necho bound\n").expect("script");
    std::fs::set_permissions(tools.join("hello"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let bind = format!("{}:/opt/tools:ro", tools.display());
    assert_eq!(
        berth.ok(&["run", "--rm", "-v", &bind, "busybox", "/opt/tools/hello"]),
        "bound\n"
    );
    let file_bind = format!("{}:/usr/local/bin/hello:ro", tools.join("hello").display());
    assert_eq!(
        berth.ok(&["run", "--rm", "-v", &file_bind, "busybox", "hello"]),
        "bound\n"
    );
    let id = berth
        .ok(&["run", "-d", "-v", &bind, "busybox", "sleep", "100"])
        .trim()
        .to_string();
    assert_eq!(berth.ok(&["exec", &id, "/opt/tools/hello"]), "bound\n");
    assert_eq!(code(&berth.run(&["exec", &id, "/opt/tools/nothere"])), 127);
    berth.ok(&["kill", &id]);
    assert_eq!(berth.ok(&["wait", &id]).trim(), "137");
    berth.ok(&["rm", &id]);
    // Failed runs leave no container behind.
    assert_eq!(berth.ok(&["ps", "-a", "-q"]).trim(), "", "no half-created containers");
}

#[test]
fn init_forwards_signals_and_reaps_orphans() {
    let Some(berth) = with_busybox() else { return };
    let out = berth.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "echo $$; cat /proc/1/cmdline",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("2"), "the command runs under the init: {out}");
    assert!(
        lines.next().unwrap_or_default().starts_with("/sbin/docker-init"),
        "{out}"
    );
    // An orphan that exits is reaped by the init: no zombie remains.
    let zombies = berth.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "sh -c 'sleep 0.2 & exit 0'; sleep 1; ps -o stat | grep -c Z || true",
    ]);
    assert_eq!(zombies.trim(), "0");
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"])),
        7
    );
    // The init passes SIGTERM on, so stop needs no timeout.
    let id = berth.ok(&["run", "-d", "--init", "busybox", "sleep", "100"]);
    // Once the init runs its command it holds every signal; before that a
    // pid 1 drops TERM, as with any init.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !berth.ok(&["top", id.trim()]).contains("sleep 100") {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    berth.ok(&["stop", id.trim()]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(berth.ok(&["wait", id.trim()]).trim(), "143");
    berth.ok(&["rm", id.trim()]);
}

#[test]
fn external_runtime_runc() {
    let Some(berth) = with_busybox() else { return };
    if !need("runc") {
        return;
    }
    assert_eq!(
        berth
            .ok(&["run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "echo $$"])
            .trim(),
        "1"
    );
    assert_eq!(
        code(&berth.run(&["run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "exit 5"])),
        5
    );
    let id = berth.ok(&["run", "-d", "--runtime", "runc", "busybox", "sleep", "100"]);
    let id = id.trim();
    assert_eq!(berth.ok(&["exec", id, "sh", "-c", "echo inside"]).trim(), "inside");
    assert_eq!(
        berth.ok(&["inspect", "--format", "{{.HostConfig.Runtime}}", id]).trim(),
        "runc"
    );
    berth.ok(&["rm", "-f", id]);
    assert_gone(&berth, id);
    assert!(
        !berth.dir.path().join("run/runtime-runc").join(id).exists(),
        "runc's state remains"
    );
    let out = berth.run(&["run", "--rm", "--runtime", "nosuchruntime", "busybox", "true"]);
    assert_eq!(code(&out), 125);
}

#[test]
fn run_flags_take_effect() {
    let Some(berth) = with_busybox() else { return };
    let cidfile = berth.path("cid");
    let out = berth.ok(&[
        "run",
        "--name",
        "flags",
        "--cidfile",
        cidfile.to_str().unwrap_or_default(),
        "--ulimit",
        "nofile=1024:2048",
        "--add-host",
        "db.example:10.1.2.3",
        "--group-add",
        "1234",
        "--label",
        "team=core",
        "--security-opt",
        "no-new-privileges",
        "--shm-size",
        "1m",
        "--tmpfs",
        "/scratch:size=2m",
        "--device",
        "/dev/null:/dev/mynull",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; grep db.example /etc/hosts; id -G; grep NoNewPrivs /proc/self/status; \
         grep /dev/shm /proc/mounts; grep /scratch /proc/mounts; echo x > /dev/mynull && echo device-ok",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1024");
    assert_eq!(lines[1], "2048");
    assert!(
        lines[2].starts_with("10.1.2.3") && lines[2].contains("db.example"),
        "{out}"
    );
    assert!(lines[3].split_whitespace().any(|g| g == "1234"), "{out}");
    assert!(lines[4].ends_with('1'), "{out}");
    assert!(lines[5].contains("size=1024k"), "{out}");
    assert!(lines[6].contains("size=2048k"), "{out}");
    assert_eq!(lines[7], "device-ok");
    let id = std::fs::read_to_string(&cidfile).expect("cidfile");
    assert_eq!(
        berth
            .ok(&["ps", "-a", "-q", "--no-trunc", "--filter", "label=team=core"])
            .trim(),
        id
    );
    berth.ok(&["rm", "flags"]);
    // An explicit limit above the host's hard limit is refused up front.
    let too_many = berth.run(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=999999999:999999999",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&too_many), 125);
    assert!(String::from_utf8_lossy(&too_many.stderr).contains("nofile"));
    // cgroup settings land in the container's cgroup.
    let id = berth.ok(&[
        "run",
        "-d",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "busybox",
        "sleep",
        "100",
    ]);
    let id = id.trim();
    let read = |f: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{f}")).map(|s| s.trim().to_string());
    if let Ok(quota) = read(&format!("cpu/berth/{id}/cpu.cfs_quota_us")) {
        assert_eq!(quota, "50000");
        assert_eq!(read(&format!("cpu/berth/{id}/cpu.shares")).unwrap_or_default(), "512");
        assert_eq!(read(&format!("cpuset/berth/{id}/cpuset.cpus")).unwrap_or_default(), "0");
    }
    // The stop signal is the container's.
    berth.ok(&["rm", "-f", id]);
    let id = berth.ok(&[
        "run",
        "-d",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "5",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 9' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !berth.ok(&["logs", id]).contains("ready") {
        assert!(Instant::now() < deadline, "the trap was never set");
        std::thread::sleep(Duration::from_millis(20));
    }
    berth.ok(&["stop", id]);
    assert_eq!(berth.ok(&["wait", id]).trim(), "9");
    berth.ok(&["rm", id]);
}

#[test]
fn sigpipe_is_default_and_workdir_is_created() {
    let Some(berth) = with_busybox() else { return };
    // berth itself ignores SIGPIPE (as Rust programs do); containers must not
    // inherit that, or `yes | head` never ends.
    let started = Instant::now();
    let out = berth.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "yes piped | head -c 100000 | wc -c",
    ]);
    assert_eq!(out.trim(), "100000");
    assert!(started.elapsed() < Duration::from_secs(20));
    let id = berth.ok(&["run", "-d", "busybox", "sleep", "100"]);
    assert_eq!(
        berth
            .ok(&["exec", id.trim(), "sh", "-c", "yes x | head -c 10 | wc -c"])
            .trim(),
        "10"
    );
    berth.ok(&["rm", "-f", id.trim()]);
    // A missing working directory is created, as docker does.
    assert_eq!(
        berth
            .ok(&["run", "--rm", "-w", "/made/by/berth", "busybox", "pwd"])
            .trim(),
        "/made/by/berth"
    );
}
