//! Instructions and what they leave in the image: MAINTAINER, EXPOSE, ENTRYPOINT, ARG and ENV
//! substitution, ONBUILD triggers, HEALTHCHECK, and the platform args.

use crate::common::*;
use crate::{build, context};

#[test]
fn the_seed_pattern_maintainer_run_expose_entrypoint() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             MAINTAINER Jane Doe <jane@example.com>\n\
             RUN echo 'echo served' > /serve.sh && chmod +x /serve.sh\n\
             EXPOSE 8080\n\
             ENTRYPOINT [\"sh\", \"/serve.sh\"]\n",
        )],
    );
    build(&berth, &dir, "seed:1");
    assert_eq!(berth.ok(&["run", "--rm", "seed:1"]), "served\n");
    let config = berth.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Author}} {{json .Config.ExposedPorts}}",
        "seed:1",
    ]);
    assert_eq!(config.trim(), r#"Jane Doe <jane@example.com> {"8080/tcp":{}}"#);
    let history = berth.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "seed:1"]);
    assert!(
        history.contains("/bin/sh -c echo 'echo served' > /serve.sh"),
        "{history}"
    );
    assert!(history.contains("#(nop)  EXPOSE 8080/tcp"), "{history}");
    // As Docker writes it (Go's %q of the list).
    assert!(
        history.contains(r#"#(nop)  ENTRYPOINT ["sh" "/serve.sh"]"#),
        "{history}"
    );
}

#[test]
fn args_env_and_substitution() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[(
            "Dockerfile",
            "ARG BASE=busybox\n\
             FROM $BASE\n\
             ARG FLAVOUR=plain\n\
             ENV APP_HOME=/opt/app GREETING=\"hello ${FLAVOUR:-none}\"\n\
             WORKDIR $APP_HOME\n\
             WORKDIR sub\n\
             RUN echo \"$GREETING from $(pwd) ${UNSET:-fallback} ${FLAVOUR:+set}\" > out.txt\n",
        )],
    );
    build(&berth, &dir, "subst:1");
    assert_eq!(
        berth.ok(&["run", "--rm", "subst:1", "cat", "out.txt"]),
        "hello plain from /opt/app/sub fallback set\n"
    );
    // A build arg changes the value, and the ENV keeps it; the ARG itself is not in the image's env.
    berth.ok(&[
        "build",
        "--build-arg",
        "FLAVOUR=spicy",
        "-t",
        "subst:2",
        dir.to_str().expect("path"),
    ]);
    assert_eq!(
        berth.ok(&["run", "--rm", "subst:2", "cat", "out.txt"]),
        "hello spicy from /opt/app/sub fallback set\n"
    );
    let env = berth.ok(&["image", "inspect", "-f", "{{json .Config.Env}}", "subst:2"]);
    assert!(
        env.contains("GREETING=hello spicy") && !env.contains("FLAVOUR"),
        "{env}"
    );
}

#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let Some(berth) = with_busybox() else { return };
    // The seed's `FROM ruby:2.2-onbuild` pattern: the base copies whatever context the child has.
    let base = context(
        &berth,
        "base",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             WORKDIR /app\n\
             ONBUILD COPY . /app/\n\
             ONBUILD RUN cat /app/hello.txt > /app/seen\n\
             HEALTHCHECK --interval=5s --retries=2 CMD test -f /app/seen\n",
        )],
    );
    build(&berth, &base, "onbase:1");
    let triggers = berth.ok(&["image", "inspect", "-f", "{{json .Config.OnBuild}}", "onbase:1"]);
    assert_eq!(
        triggers.trim(),
        r#"["COPY . /app/","RUN cat /app/hello.txt > /app/seen"]"#
    );
    let health = berth.ok(&["image", "inspect", "-f", "{{json .Config.Healthcheck}}", "onbase:1"]);
    assert_eq!(
        health.trim(),
        r#"{"Test":["CMD-SHELL","test -f /app/seen"],"Interval":5000000000,"Retries":2}"#
    );
    let child = context(
        &berth,
        "child",
        &[
            ("hello.txt", "hello from the child\n"),
            ("Dockerfile", "FROM onbase:1\nENTRYPOINT [\"cat\", \"/app/seen\"]\n"),
        ],
    );
    let out = build(&berth, &child, "onchild:1");
    assert!(out.contains("# Executing 2 build triggers"), "{out}");
    assert_eq!(berth.ok(&["run", "--rm", "onchild:1"]), "hello from the child\n");
    // The child does not pass the triggers on.
    let inherited = berth.ok(&["image", "inspect", "-f", "{{json .Config.OnBuild}}", "onchild:1"]);
    assert_eq!(inherited.trim(), "null");
}

/// Waits (up to 20 s) until the container's health status is `want`.
fn wait_health(berth: &Berth, name: &str, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = berth.ok(&["inspect", "-f", "{{.State.Health.Status}}", name]);
        if status.trim() == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "health stayed {status:?}, wanted {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn healthcheck_makes_a_container_healthy_then_unhealthy() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nHEALTHCHECK --interval=1s --timeout=5s --retries=1 CMD test -f /tmp/ok && echo fine\n",
        )],
    );
    build(&berth, &dir, "checked:1");
    berth.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "checked:1",
        "sh",
        "-c",
        "touch /tmp/ok; exec sleep 60",
    ]);
    wait_health(&berth, "svc", "healthy");
    assert!(berth.ok(&["ps"]).contains("(healthy)"));
    let log = berth.ok(&[
        "inspect",
        "-f",
        "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}",
        "svc",
    ]);
    assert_eq!(log.trim(), "0 fine");
    berth.ok(&["exec", "svc", "rm", "/tmp/ok"]);
    wait_health(&berth, "svc", "unhealthy");
    assert!(berth.ok(&["ps"]).contains("(unhealthy)"));
    // --no-healthcheck turns the image's check off; --health-cmd sets one on an image without.
    berth.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "checked:1",
        "sleep",
        "60",
    ]);
    let off = berth.ok(&["inspect", "-f", "{{json .State.Health}}", "off"]);
    assert_eq!(off.trim(), "null");
    berth.ok(&[
        "run",
        "-d",
        "--name",
        "flagged",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "60",
    ]);
    wait_health(&berth, "flagged", "healthy");
    // A container with a check is `starting` as soon as its start returns, before any check ran
    // (docker-compose's `service_healthy` reads no status as no check).
    berth.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "true",
        // Long enough that no check runs before the inspect, short enough that the checker (which
        // sleeps an interval before it looks again) is gone soon after the test.
        "--health-interval",
        "5s",
        "busybox",
        "sleep",
        "60",
    ]);
    let slow = berth.ok(&["inspect", "-f", "{{.State.Health.Status}}", "slow"]);
    assert_eq!(slow.trim(), "starting");
    berth.ok(&["rm", "-f", "slow"]);
    berth.ok(&["rm", "-f", "svc", "off", "flagged"]);
}

#[test]
fn platform_args_and_from_platform() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[(
            "Dockerfile",
            "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETARCH\nARG TARGETPLATFORM\nRUN echo $TARGETARCH $TARGETPLATFORM > /arch\n",
        )],
    );
    build(&berth, &dir, "plat:1");
    let host = berth.ok(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]);
    let arch = host.trim().rsplit('/').next().unwrap_or_default().to_string();
    assert_eq!(
        berth.ok(&["run", "--rm", "plat:1", "cat", "/arch"]),
        format!("{arch} {}\n", host.trim())
    );
    let other = context(
        &berth,
        "other",
        &[("Dockerfile", "FROM --platform=linux/s390x busybox\n")],
    );
    assert!(berth
        .fails(&["build", other.to_str().expect("path")])
        .contains("linux/s390x"));
}
