//! Where the Dockerfile and the context come from: stdin, a tar on stdin (with here-documents), a
//! URL, a git repository.

use std::os::unix::process::CommandExt;

use crate::common::*;
use crate::{build, context};

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
#[allow(unsafe_code)]
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
