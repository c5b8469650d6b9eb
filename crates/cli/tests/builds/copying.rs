//! Files into the image: `.dockerignore`, ADD (archives, URLs, checksums), COPY's `--chown`,
//! `--exclude` and `--parents`, and wildcards in sources.

use crate::common::*;
use crate::{build, context};

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
fn copy_wildcards_match_in_every_part_of_the_source() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("src/api/conf/app.yml", "api\n"),
            ("src/db/conf/db.yml", "db\n"),
            ("src/db/conf/notes.txt", "not yaml\n"),
            ("src/web/other/web.yml", "elsewhere\n"),
            ("src/db/conf/deeper/x.yml", "one level too deep\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY src/*/conf/*.yml /dst/\nCOPY --parents src/*/conf/*.yml /tree/\n",
            ),
        ],
    );
    build(&berth, &dir, "wild:1");
    let files = |path: &str| {
        let listing = berth.ok(&["run", "--rm", "wild:1", "busybox", "find", path, "-type", "f"]);
        let mut files: Vec<String> = listing.lines().map(String::from).collect();
        files.sort();
        files
    };
    assert_eq!(files("/dst"), ["/dst/app.yml", "/dst/db.yml"]);
    assert_eq!(
        files("/tree"),
        ["/tree/src/api/conf/app.yml", "/tree/src/db/conf/db.yml"]
    );
    assert_eq!(
        berth.ok(&["run", "--rm", "wild:1", "cat", "/dst/app.yml", "/dst/db.yml"]),
        "api\ndb\n"
    );
    // Nothing matched, and a malformed pattern, are errors that name the source.
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nCOPY src/*/none/*.yml /dst/\n").expect("Dockerfile");
    let err = berth.fails(&["build", dir.to_str().expect("path")]);
    assert!(
        err.contains("no source files were specified: src/*/none/*.yml"),
        "{err}"
    );
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nCOPY src/[a-/conf /dst/\n").expect("Dockerfile");
    let err = berth.fails(&["build", dir.to_str().expect("path")]);
    assert!(err.contains("invalid source pattern \"src/[a-/conf\""), "{err}");
}
