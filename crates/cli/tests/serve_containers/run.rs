//! `docker run`, `run -d`, `logs -f`, `exec`, `wait`, `create` with host options, and both front
//! doors seeing the same containers.

use std::time::{Duration, Instant};

use crate::common::code;
use crate::{said, serve_busybox, text};

#[test]
fn docker_run_prints_the_output_and_exits_with_the_code() {
    let Some((berth, server)) = serve_busybox() else {
        return;
    };
    let out = server.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code(&out), 3, "{}", said(&out));
    let out = server.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!((code(&out), text(&out.stdout).as_str()), (0, "hi\n"), "{}", said(&out));
    // stdout and stderr arrive on their own streams.
    let out = server.docker(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(text(&out.stdout), "out\n", "{}", said(&out));
    assert_eq!(text(&out.stderr), "err\n", "{}", said(&out));
    // Without --rm the container stays, exited with its code, for both front doors.
    let out = server.docker(&["run", "--name", "kept", "busybox", "sh", "-c", "exit 2"]);
    assert_eq!(code(&out), 2, "{}", said(&out));
    let status = berth.ok(&["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "kept"]);
    assert_eq!(status.trim(), "exited 2");
    berth.ok(&["rm", "kept"]);
    assert_eq!(berth.ok(&["ps", "-aq"]).trim(), "", "--rm containers are gone");
    // Debian's older client runs containers the same way.
    if std::path::Path::new("/usr/bin/docker").exists() {
        let out = server.docker_with(
            "/usr/bin/docker",
            &["run", "--rm", "busybox", "sh", "-c", "echo old; exit 4"],
        );
        assert_eq!((code(&out), text(&out.stdout).as_str()), (4, "old\n"), "{}", said(&out));
    }
}

#[test]
fn detached_containers_stream_logs_run_execs_and_are_waited_for() {
    let Some((berth, server)) = serve_busybox() else {
        return;
    };
    let id = server.docker_ok(&[
        "run",
        "-d",
        "--name",
        "bg",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; sleep 3; echo three; exit 4",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let exec = server.docker(&["exec", "bg", "sh", "-c", "echo in-exec; exit 7"]);
    assert_eq!(
        (code(&exec), text(&exec.stdout).as_str()),
        (7, "in-exec\n"),
        "{}",
        said(&exec)
    );
    let exec = server.docker(&["exec", "-e", "X=42", "-w", "/tmp", "bg", "sh", "-c", "echo $X $(pwd)"]);
    assert_eq!(text(&exec.stdout), "42 /tmp\n", "{}", said(&exec));
    // `logs -f` follows until the container ends, each line on its own stream.
    let started = Instant::now();
    let logs = server.docker(&["logs", "-f", "bg"]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "logs -f did not end with the container"
    );
    assert_eq!(text(&logs.stdout), "one\nthree\n", "{}", said(&logs));
    assert_eq!(text(&logs.stderr), "two\n", "{}", said(&logs));
    assert_eq!(server.docker_ok(&["wait", "bg"]).trim(), "4");
    let tail = server.docker_ok(&["logs", "--tail", "1", "bg"]);
    assert_eq!(tail, "three\n");
    let stamped = server.docker_ok(&["logs", "-t", "bg"]);
    assert!(stamped.starts_with("20") && stamped.contains("Z one"), "{stamped}");
    // The CLI sees what the API did.
    let state = berth.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(state.starts_with("bg Exited (4)"), "{state}");
    // An exec into a container that does not run is refused as dockerd refuses it.
    let out = server.docker(&["exec", "bg", "true"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not running"), "{}", said(&out));
}

#[test]
fn create_options_round_trip_through_inspect_and_both_front_doors() {
    let Some((berth, server)) = serve_busybox() else {
        return;
    };
    server.docker_ok(&[
        "create",
        "--name",
        "opts",
        "--restart",
        "on-failure:2",
        "--ulimit",
        "nofile=100:200",
        "--tmpfs",
        "/run:size=1m",
        "--mount",
        "type=volume,source=vol,target=/v",
        "-p",
        "127.0.0.1:18080:80",
        "-e",
        "A=1",
        "--label",
        "k=v",
        "busybox",
        "true",
    ]);
    let format = "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} \
                  {{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}}{{end}} \
                  {{index .HostConfig.Tmpfs \"/run\"}} \
                  {{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}}{{end}} \
                  {{range $p, $b := .HostConfig.PortBindings}}{{$p}}={{(index $b 0).HostIp}}:{{(index $b 0).HostPort}}{{end}} \
                  {{index .Config.Labels \"k\"}} {{range .Config.Env}}{{if eq . \"A=1\"}}A=1{{end}}{{end}}";
    let want = "on-failure:2 nofile=100:200 size=1m volume:vol:/v 80/tcp=127.0.0.1:18080 v A=1";
    assert_eq!(server.docker_ok(&["inspect", "--format", format, "opts"]).trim(), want);
    assert_eq!(berth.ok(&["inspect", "--format", format, "opts"]).trim(), want);
    // Made through the API, listed by the CLI; made by the CLI, listed through the API.
    berth.ok(&["create", "--name", "by-cli", "busybox", "true"]);
    let names = |listing: String| {
        let mut names: Vec<String> = listing.lines().map(str::to_string).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(berth.ok(&["ps", "-a", "--format", "{{.Names}}"])),
        ["by-cli", "opts"]
    );
    assert_eq!(
        names(server.docker_ok(&["ps", "-a", "--format", "{{.Names}}"])),
        ["by-cli", "opts"]
    );
    // Started through the API, waited for by the CLI.
    server.docker_ok(&["start", "by-cli"]);
    assert_eq!(berth.ok(&["wait", "by-cli"]).trim(), "0");
    // Docker's name conflict.
    let out = server.docker(&["create", "--name", "opts", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is already in use"), "{}", said(&out));
}
