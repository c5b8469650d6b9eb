//! `build` end to end: Dockerfiles built on the real engine (RUN steps run in containers), the build
//! cache, multi-stage builds, and bad input.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use common::*;

/// A build context in the test's directory with these files.
fn context(berth: &Berth, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = berth.path(name);
    for (path, content) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
        std::fs::write(&file, content).expect("write");
    }
    dir
}

fn build(berth: &Berth, dir: &Path, tag: &str) -> String {
    berth.ok(&["build", "-t", tag, dir.to_str().expect("path")])
}

/// The contents of a file in an image (through a container that is never started).
fn file_in(berth: &Berth, image: &str, path: &str) -> String {
    let id = berth.ok(&["create", image, "true"]).trim().to_string();
    let out = berth.cmd(&["cp", &format!("{id}:{path}"), "-"]).output().expect("cp");
    berth.ok(&["rm", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let mut text = String::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.header().entry_type().is_file() {
            std::io::Read::read_to_string(&mut entry, &mut text).expect("read");
        }
    }
    text
}

#[test]
fn multi_stage_build_into_scratch() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("greeting.txt", "hello\n"),
            (
                "Dockerfile",
                "FROM busybox AS prepare\n\
                 RUN mkdir /out && echo made > /out/made.txt\n\
                 COPY greeting.txt /out/\n\
                 FROM scratch\n\
                 COPY --from=prepare /out /data\n\
                 CMD [\"/data/made.txt\"]\n",
            ),
        ],
    );
    let out = build(&berth, &dir, "two-stage:1");
    assert!(out.contains("Step 1/6 : FROM busybox AS prepare"), "{out}");
    assert!(out.contains("Step 4/6 : FROM scratch"), "{out}");
    assert!(out.contains("Successfully tagged two-stage:1"), "{out}");
    // Only the copied files are in the final image: one layer, no busybox.
    let layers = berth.ok(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", "two-stage:1"]);
    assert_eq!(layers.trim(), "1");
    assert_eq!(file_in(&berth, "two-stage:1", "/data/made.txt"), "made\n");
    assert_eq!(file_in(&berth, "two-stage:1", "/data/greeting.txt"), "hello\n");
    let cmd = berth.ok(&["image", "inspect", "-f", "{{json .Config.Cmd}}", "two-stage:1"]);
    assert_eq!(cmd.trim(), r#"["/data/made.txt"]"#);
    // --target builds only what the named stage needs.
    let first = berth.ok(&[
        "build",
        "--target",
        "prepare",
        "-t",
        "first:1",
        dir.to_str().expect("path"),
    ]);
    assert!(first.contains("Step 1/3"), "{first}");
    assert!(!first.contains("FROM scratch"), "{first}");
    assert_eq!(berth.ok(&["run", "--rm", "first:1", "cat", "/out/made.txt"]), "made\n");
}

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
fn the_cache_reuses_steps_until_a_copied_file_changes() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("one.txt", "1\n"),
            ("two.txt", "2\n"),
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN echo base > /base\n\
                 COPY one.txt /files/\n\
                 RUN cat /files/one.txt > /from-one\n\
                 COPY two.txt /files/\n\
                 RUN cat /files/two.txt > /from-two\n",
            ),
        ],
    );
    build(&berth, &dir, "cached:1");
    let id = berth.ok(&["image", "inspect", "-f", "{{.Id}}", "cached:1"]);
    // Nothing changed: every step after FROM is a cache hit and the same image comes out.
    let again = build(&berth, &dir, "cached:1");
    assert_eq!(again.matches("Using cache").count(), 5, "{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert_eq!(berth.ok(&["image", "inspect", "-f", "{{.Id}}", "cached:1"]), id);
    // The second copied file changes: the steps before it are still cached, it and what follows run.
    std::fs::write(dir.join("two.txt"), "two\n").expect("write");
    let changed = build(&berth, &dir, "cached:2");
    let steps: Vec<&str> = changed.split("Step ").skip(1).collect();
    assert_eq!(steps.len(), 6);
    for step in &steps[1..4] {
        assert!(step.contains("Using cache"), "{step}");
    }
    for step in &steps[4..] {
        assert!(!step.contains("Using cache"), "{step}");
    }
    assert_eq!(berth.ok(&["run", "--rm", "cached:2", "cat", "/from-two"]), "two\n");
    // --no-cache runs everything again.
    let fresh = berth.ok(&["build", "--no-cache", "-t", "cached:3", dir.to_str().expect("path")]);
    assert!(!fresh.contains("Using cache"), "{fresh}");
    // `system df` counts the steps only the cache keeps; `builder prune` forgets them.
    let cache_row = |berth: &Berth| {
        berth
            .ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"])
            .lines()
            .find_map(|l| l.strip_prefix("Build Cache=").map(str::to_owned))
            .expect("build cache row")
    };
    assert_ne!(cache_row(&berth), "0");
    // `image prune` leaves the build cache alone.
    berth.ok(&["image", "prune", "-f"]);
    assert_ne!(cache_row(&berth), "0");
    berth.ok(&["builder", "prune", "-f"]);
    assert_eq!(cache_row(&berth), "0");
    let after = build(&berth, &dir, "cached:4");
    assert!(!after.contains("Using cache"), "{after}");
}

#[test]
fn dockerignore_with_exceptions() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("app/keep.txt", "keep\n"),
            ("app/skip.log", "skip\n"),
            ("app/important.log", "important\n"),
            ("secret/key", "secret\n"),
            (".dockerignore", "secret\n**/*.log\n!app/important.log\n"),
            ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
        ],
    );
    build(&berth, &dir, "ignored:1");
    let listing = berth.ok(&["run", "--rm", "ignored:1", "busybox", "find", "/ctx", "-type", "f"]);
    let mut files: Vec<&str> = listing.lines().collect();
    files.sort();
    assert_eq!(
        files,
        [
            "/ctx/.dockerignore",
            "/ctx/Dockerfile",
            "/ctx/app/important.log",
            "/ctx/app/keep.txt"
        ]
    );
}

#[test]
fn a_failing_run_leaves_no_image_and_no_container() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo before\nRUN exit 3\nRUN echo after\n",
        )],
    );
    let before = berth.ok(&["images", "-q"]);
    let out = berth.run(&["build", "-t", "broken:1", dir.to_str().expect("path")]);
    assert_eq!(code(&out), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("after"));
    assert!(berth.fails(&["image", "inspect", "broken:1"]).contains("No such image"));
    assert_eq!(berth.ok(&["ps", "-a", "-q"]), "", "no build container is left");
    assert_eq!(berth.ok(&["images", "-q"]), before, "no new image is listed");
}

#[test]
fn bad_input_is_refused_with_the_line() {
    let Some(berth) = with_busybox() else { return };
    let cases: &[(&str, &str)] = &[
        ("FROM busybox\nFOO bar\n", "Dockerfile:2: unknown instruction: FOO"),
        ("RUN true\n", "Dockerfile:1"),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "forbidden path outside the build context",
        ),
        ("FROM busybox\nCOPY missing.txt /x\n", "missing.txt"),
        // An unknown --from is an image name, as in Docker (pulled from a closed loopback port here).
        (
            "FROM busybox\nCOPY --from=127.0.0.1:1/nostage /a /b\n",
            "127.0.0.1:1/nostage",
        ),
        // A base image that is nowhere (a registry on a closed loopback port, so nothing leaves the machine).
        ("FROM 127.0.0.1:1/nothere:1\n", "127.0.0.1:1/nothere:1"),
    ];
    for (i, (dockerfile, expected)) in cases.iter().enumerate() {
        let dir = context(&berth, &format!("bad{i}"), &[("Dockerfile", dockerfile)]);
        let before = berth.ok(&["images", "-a", "-q"]);
        let out = berth.run(&["build", "-t", "bad:1", dir.to_str().expect("path")]);
        assert_ne!(code(&out), 0, "{dockerfile}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{dockerfile}: {err}");
        assert!(berth.run(&["image", "inspect", "bad:1"]).status.code() != Some(0));
        if i < 2 {
            assert_eq!(
                berth.ok(&["images", "-a", "-q"]),
                before,
                "a parse error builds nothing"
            );
        }
    }
    let missing = berth.run(&["build", berth.path("no-such-dir").to_str().expect("path")]);
    assert_ne!(code(&missing), 0);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-dir"));
    // --target that is not there.
    let dir = context(&berth, "targets", &[("Dockerfile", "FROM busybox AS a\n")]);
    let err = berth.fails(&["build", "--target", "b", dir.to_str().expect("path")]);
    assert!(err.contains(r#"target stage "b" could not be found"#), "{err}");
    assert_eq!(berth.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn dockerfile_from_stdin_and_quiet() {
    let Some(berth) = with_busybox() else { return };
    let out = berth.run_stdin(
        &["build", "-q", "-t", "piped:1", "-"],
        b"FROM busybox\nRUN echo noisy\nLABEL via=stdin\n",
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.trim().starts_with("sha256:") && !stdout.contains("noisy"),
        "{stdout}"
    );
    assert_eq!(
        berth
            .ok(&["image", "inspect", "-f", "{{.Config.Labels.via}}", "piped:1"])
            .trim(),
        "stdin"
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

#[test]
fn add_extracts_local_archives_and_downloads_urls() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(&berth, "ctx", &[("plain.txt", "not an archive\n")]);
    // A gzipped tar in the context.
    let src = berth.path("tree");
    std::fs::create_dir_all(src.join("inner")).expect("dirs");
    std::fs::write(src.join("inner/a.txt"), "from the archive\n").expect("write");
    let status = std::process::Command::new("tar")
        .args([
            "-czf",
            dir.join("bundle.tar.gz").to_str().expect("path"),
            "-C",
            src.to_str().expect("path"),
            "inner",
        ])
        .status()
        .expect("tar");
    assert!(status.success());
    // A web server on loopback for ADD's URL form.
    let (base, _) = serve_http(vec![("/", b"downloaded\n".to_vec())]);
    let url = format!("{base}/files/remote.txt");
    let sum = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"downloaded\n"))
    );
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM busybox\nADD bundle.tar.gz /opt/\nADD plain.txt /opt/\nADD --checksum={sum} {url} /opt/\n"),
    )
    .expect("Dockerfile");
    build(&berth, &dir, "added:1");
    assert_eq!(
        berth.ok(&[
            "run",
            "--rm",
            "added:1",
            "cat",
            "/opt/inner/a.txt",
            "/opt/plain.txt",
            "/opt/remote.txt"
        ]),
        "from the archive\nnot an archive\ndownloaded\n"
    );
    assert_eq!(
        berth
            .ok(&[
                "run",
                "--rm",
                "added:1",
                "busybox",
                "stat",
                "-c",
                "%a",
                "/opt/remote.txt"
            ])
            .trim(),
        "600"
    );
    // A checksum that does not match fails the build.
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM busybox\nADD --checksum=sha256:{} {url} /opt/\n", "0".repeat(64)),
    )
    .expect("Dockerfile");
    let err = berth.fails(&["build", dir.to_str().expect("path")]);
    assert!(err.contains("--checksum"), "{err}");
}

/// The Debian mirror's address, resolved on the host (containers get it through --add-host and send no DNS
/// queries of their own).
fn mirror_address() -> Option<String> {
    let out = std::process::Command::new("getent")
        .args(["ahostsv4", "deb.debian.org"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

#[test]
fn apt_get_in_a_build_on_a_debootstrapped_debian() {
    if !need("debootstrap") {
        return;
    }
    let Some(mirror) = mirror_address() else {
        eprintln!("skipping: deb.debian.org does not resolve on this host");
        return;
    };
    let berth = Berth::new();
    // A Debian base image: debootstrap on the host (it talks to the mirror itself), imported.
    let rootfs = berth.path("debian");
    let boot = std::process::Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "bookworm",
            rootfs.to_str().expect("path"),
            "http://deb.debian.org/debian",
        ])
        .output()
        .expect("debootstrap");
    if !boot.status.success() {
        eprintln!(
            "skipping: debootstrap could not reach the mirror: {}",
            String::from_utf8_lossy(&boot.stderr)
        );
        return;
    }
    let tarball = berth.path("debian.tar");
    tar_dir(&rootfs, &tarball);
    berth.ok(&[
        "import",
        "--change",
        "CMD [\"bash\"]",
        tarball.to_str().expect("path"),
        "debian:test",
    ]);
    let dir = context(
        &berth,
        "ctx",
        &[(
            "Dockerfile",
            "FROM debian:test\n\
             RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*\n\
             CMD [\"hello\"]\n",
        )],
    );
    let out = berth.ok(&[
        "build",
        "--add-host",
        &format!("deb.debian.org:{mirror}"),
        "-t",
        "hello:apt",
        dir.to_str().expect("path"),
    ]);
    assert!(out.contains("Setting up hello"), "{out}");
    assert_eq!(berth.ok(&["run", "--rm", "hello:apt"]), "Hello, world!\n");
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
    berth.ok(&["rm", "-f", "svc", "off", "flagged"]);
}

#[test]
fn here_documents_and_a_context_tar_on_stdin() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             ARG WHO=world\n\
             RUN <<EOF\n\
             echo \"hello $WHO\" > /greeting\n\
             echo second line >> /greeting\n\
             EOF\n\
             COPY <<-CONF /etc/app.conf\n\
             \tname=$WHO\n\
             CONF\n\
             COPY <<'RAW' /raw.txt\n\
             kept $WHO\n\
             RAW\n",
        )],
    );
    build(&berth, &dir, "heredoc:1");
    assert_eq!(
        berth.ok(&[
            "run",
            "--rm",
            "heredoc:1",
            "cat",
            "/greeting",
            "/etc/app.conf",
            "/raw.txt"
        ]),
        "hello world\nsecond line\nname=world\nkept $WHO\n"
    );
    // The same context as a tar on stdin (`build -`), with -f naming the Dockerfile inside it.
    std::fs::rename(dir.join("Dockerfile"), dir.join("Build.file")).expect("rename");
    let tarball = berth.path("ctx.tar");
    tar_dir(&dir, &tarball);
    let out = berth.run_stdin(
        &["build", "-f", "Build.file", "-t", "heredoc:2", "-"],
        &std::fs::read(&tarball).expect("tar"),
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        berth.ok(&["run", "--rm", "heredoc:2", "cat", "/raw.txt"]),
        "kept $WHO\n"
    );
}

#[test]
fn run_mounts_bind_cache_and_tmpfs() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("data/x.txt", "from the context\n"),
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/x.txt > /from-bind\n\
                 RUN --mount=type=bind,source=data,target=/mnt/rw,rw sh -c 'echo scribble > /mnt/rw/x.txt'\n\
                 RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/log; wc -l < /cache/log > /count'\n\
                 RUN --mount=type=tmpfs,target=/scratch sh -c 'touch /scratch/tmp; ls /scratch > /listed'\n",
            ),
        ],
    );
    build(&berth, &dir, "mounts:1");
    let run = |cmd: &str| berth.ok(&["run", "--rm", "mounts:1", "sh", "-c", cmd]);
    assert_eq!(run("cat /from-bind"), "from the context\n");
    assert_eq!(run("cat /listed"), "tmp\n");
    // Mounted things are not in the image, and a writable bind never writes back to the context.
    // (Their mount points stay as empty directories, as with BuildKit.)
    assert_eq!(run("busybox find /mnt /cache /scratch -type f | wc -l").trim(), "0");
    assert_eq!(
        std::fs::read_to_string(dir.join("data/x.txt")).expect("read"),
        "from the context\n"
    );
    // The cache directory outlives the build.
    assert_eq!(run("cat /count").trim(), "1");
    berth.ok(&["build", "--no-cache", "-t", "mounts:2", dir.to_str().expect("path")]);
    assert_eq!(berth.ok(&["run", "--rm", "mounts:2", "cat", "/count"]).trim(), "2");
    // A secret is readable in its step, and in no layer of the image.
    let secret_file = berth.path("token.txt");
    std::fs::write(&secret_file, "s3cr3t").expect("secret");
    let with_secret = context(
        &berth,
        "secret",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /token-length\n\
             RUN --mount=type=secret,id=token,env=TOKEN sh -c 'echo ${#TOKEN} > /env-length'\n\
             RUN --mount=type=secret,id=absent sh -c 'test ! -s /run/secrets/absent'\n",
        )],
    );
    let secret_arg = format!("id=token,src={}", secret_file.display());
    berth.ok(&[
        "build",
        "--secret",
        &secret_arg,
        "-t",
        "secret:1",
        with_secret.to_str().expect("path"),
    ]);
    assert_eq!(
        berth.ok(&["run", "--rm", "secret:1", "cat", "/token-length", "/env-length"]),
        "6\n6\n"
    );
    let saved = berth.cmd(&["save", "secret:1"]).output().expect("save");
    assert!(
        !String::from_utf8_lossy(&saved.stdout).contains("s3cr3t"),
        "the secret leaked into the image"
    );
    // A required secret that was not given stops the build with a clear message.
    let needs = context(
        &berth,
        "needs",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=secret,id=key,required cat /run/secrets/key\n",
        )],
    );
    assert!(berth
        .fails(&["build", needs.to_str().expect("path")])
        .contains("secret key is required"));
}

#[test]
fn independent_stages_build_side_by_side() {
    let Some(berth) = with_busybox() else { return };
    // Each of the two stages waits for a sign from the other (through a shared cache mount): built one
    // after the other, the first would give up and fail the build.
    let wait_for = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id=sync,target=/sync sh -c 'touch /sync/{me}; i=0; \
             while [ ! -f /sync/{other} ]; do i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.1; done; echo {me} > /{me}'\n"
        )
    };
    let dockerfile = format!(
        "FROM busybox AS a\n{}FROM busybox AS b\n{}FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
        wait_for("a", "b"),
        wait_for("b", "a")
    );
    let dir = context(&berth, "ctx", &[("Dockerfile", &dockerfile)]);
    let out = build(&berth, &dir, "parallel:1");
    assert!(out.contains("Step 5/7 : FROM busybox"), "{out}");
    assert_eq!(berth.ok(&["run", "--rm", "parallel:1", "cat", "/a", "/b"]), "a\nb\n");
}

#[test]
fn chown_by_name_uses_the_images_passwd() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("file.txt", "owned\n"),
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && echo 'berthgrp:x:50:' >> /etc/group\n\
                 COPY --chown=app file.txt /one\n\
                 COPY --chown=app:berthgrp file.txt /two\n\
                 COPY --chown=7:8 --chmod=600 file.txt /three\n",
            ),
        ],
    );
    build(&berth, &dir, "owned:1");
    assert_eq!(
        berth.ok(&["run", "--rm", "owned:1", "busybox", "stat", "-c", "%u:%g %a", "/one", "/two", "/three"]),
        "1234:1234 644\n1234:50 644\n7:8 600\n"
    );
    let bad = context(
        &berth,
        "bad",
        &[
            ("f", "x"),
            ("Dockerfile", "FROM busybox\nCOPY --chown=nobody-here f /f\n"),
        ],
    );
    assert!(berth
        .fails(&["build", bad.to_str().expect("path")])
        .contains("nobody-here"));
}

#[test]
fn copy_exclude_leaves_matching_files_out() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("src/main.txt", "main\n"),
            ("src/debug.log", "log\n"),
            ("src/cache/blob", "cached\n"),
            ("src/keep/ok.txt", "ok\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY --exclude=*.log --exclude=cache src /dst/\n",
            ),
        ],
    );
    build(&berth, &dir, "excluded:1");
    let listing = berth.ok(&["run", "--rm", "excluded:1", "busybox", "find", "/dst", "-type", "f"]);
    let mut files: Vec<&str> = listing.lines().collect();
    files.sort();
    assert_eq!(files, ["/dst/keep/ok.txt", "/dst/main.txt"]);
}

#[test]
fn a_context_from_a_url() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("hello.txt", "over http\n"),
            ("Dockerfile", "FROM busybox\nCOPY hello.txt /\n"),
        ],
    );
    let tarball = berth.path("ctx.tar");
    tar_dir(&dir, &tarball);
    let archive = std::fs::read(&tarball).expect("tar");
    let dockerfile = b"FROM busybox\nLABEL from=url\n".to_vec();
    // A web server on loopback: /ctx.tar is a whole context, /Dockerfile a Dockerfile alone.
    let (base, _) = serve_http(vec![("/ctx.tar", archive), ("/Dockerfile", dockerfile)]);
    berth.ok(&["build", "-t", "fromurl:1", &format!("{base}/ctx.tar")]);
    assert_eq!(
        berth.ok(&["run", "--rm", "fromurl:1", "cat", "/hello.txt"]),
        "over http\n"
    );
    berth.ok(&["build", "-t", "fromurl:2", &format!("{base}/Dockerfile")]);
    assert_eq!(
        berth
            .ok(&["image", "inspect", "-f", "{{.Config.Labels.from}}", "fromurl:2"])
            .trim(),
        "url"
    );
}

#[test]
fn copy_parents_keeps_source_paths() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("x/a.txt", "a\n"),
            ("y/z/b.txt", "b\n"),
            ("Dockerfile", "FROM busybox\nCOPY --parents x/a.txt y/z/b.txt /dst/\n"),
        ],
    );
    build(&berth, &dir, "parents:1");
    assert_eq!(
        berth.ok(&["run", "--rm", "parents:1", "cat", "/dst/x/a.txt", "/dst/y/z/b.txt"]),
        "a\nb\n"
    );
}

#[test]
fn a_context_from_a_git_repository() {
    let Some(berth) = with_busybox() else { return };
    if !need("git") {
        return;
    }
    // A repository served by `git daemon` on loopback, with the context in a subdirectory of a branch.
    let repos = berth.path("repos");
    let repo = repos.join("project");
    std::fs::create_dir_all(repo.join("app")).expect("dirs");
    std::fs::write(repo.join("app/Dockerfile"), "FROM busybox\nCOPY note.txt /\n").expect("write");
    std::fs::write(repo.join("app/note.txt"), "from git\n").expect("write");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=berth",
                "-c",
                "user.email=berth@test",
                "-C",
                repo.to_str().expect("path"),
            ])
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "release"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "context"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut daemon = std::process::Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", repos.display()),
            repos.to_str().expect("path"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // `git daemon` runs git-daemon as its child: killing the group takes both.
        .process_group(0)
        .spawn()
        .expect("git daemon");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "git daemon did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = format!("git://127.0.0.1:{port}/project#release:app");
    let out = berth.run(&["build", "-t", "fromgit:1", &url]);
    // SAFETY: kill(2) with a process group id and a signal number has no memory effects.
    unsafe { libc::kill(-(daemon.id() as i32), libc::SIGKILL) };
    let _ = daemon.wait();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        berth.ok(&["run", "--rm", "fromgit:1", "cat", "/note.txt"]),
        "from git\n"
    );
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

/// `rmi` of a base image other images were built on, by name, untags it and keeps the image as their
/// parent, as Docker does (the demo removes its ONBUILD base this way); by ID it is refused.
#[test]
fn rmi_of_a_base_image_by_name_untags_it_and_keeps_it_for_its_children() {
    let Some(berth) = with_busybox() else { return };
    let base = context(
        &berth,
        "base",
        &[("Dockerfile", "FROM busybox\nRUN echo base > /base\n")],
    );
    build(&berth, &base, "base:1");
    let base_id = berth
        .ok(&["image", "inspect", "-f", "{{.Id}}", "base:1"])
        .trim()
        .to_string();
    let child = context(
        &berth,
        "child",
        &[("Dockerfile", "FROM base:1\nRUN echo child > /child\n")],
    );
    build(&berth, &child, "child:1");
    let refused = berth.run(&["rmi", &base_id]);
    assert_eq!(code(&refused), 1);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("image has dependent child images"), "{stderr}");
    assert_eq!(berth.ok(&["rmi", "base:1"]), "Untagged: base:1\n");
    assert!(berth.ok(&["images", "-q", "base"]).trim().is_empty());
    assert_eq!(
        berth.ok(&["image", "inspect", "-f", "{{.Id}}", &base_id]).trim(),
        base_id
    );
    assert_eq!(
        berth.ok(&["run", "--rm", "child:1", "cat", "/base", "/child"]),
        "base\nchild\n"
    );
    berth.ok(&["rmi", "child:1"]);
}
