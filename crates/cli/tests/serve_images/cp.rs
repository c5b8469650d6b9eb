//! `docker cp` both ways and `docker export` through the server, and archives that try to write
//! outside the directory they are unpacked in.

use std::path::Path;

use crate::common::served::{docker_clients, Served};
use crate::common::with_busybox;
use crate::{have_clients, stderr, stdout};

/// A tar whose entries are named as given, `..` included (the tar crate refuses to write such
/// names, so they go into the header by hand): (name, symlink target or None, content).
fn hostile_tar(entries: &[(&str, Option<&str>, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, link, content) in entries {
        let mut header = tar::Header::new_old();
        let raw = &mut header.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_mode(0o644);
        match link {
            Some(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_link_name(target).expect("link name");
                header.set_size(0);
                header.set_cksum();
                builder.append(&header, std::io::empty()).expect("entry");
            }
            None => {
                header.set_size(content.len() as u64);
                header.set_cksum();
                builder.append(&header, content.as_bytes()).expect("entry");
            }
        }
    }
    builder.into_inner().expect("tar")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn docker_cp_copies_both_ways_and_export_writes_the_filesystem() {
    if !have_clients() {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let server = Served::start(&berth);
    berth.ok(&[
        "run",
        "--name",
        "box",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo inside > /data/file && echo deep > /data/sub/deep && ln -s file /data/link",
    ]);
    let host = berth.path("host");
    std::fs::create_dir_all(host.join("dir/nested")).expect("host dir");
    std::fs::write(host.join("note.txt"), "from the host\n").expect("host file");
    std::fs::write(host.join("dir/nested/n.txt"), "nested\n").expect("host file");

    for (i, client) in docker_clients().into_iter().enumerate() {
        let out_dir = berth.path(&format!("out{i}"));
        std::fs::create_dir_all(&out_dir).expect("out dir");
        let out = out_dir.to_str().expect("path");
        // Out: a file under a new name, a directory into a directory.
        server.client_ok(client, &["cp", "box:/data/file", &format!("{out}/copied")]);
        assert_eq!(read(&out_dir.join("copied")), "inside\n");
        server.client_ok(client, &["cp", "box:/data", out]);
        assert_eq!(read(&out_dir.join("data/sub/deep")), "deep\n");
        assert_eq!(
            std::fs::read_link(out_dir.join("data/link")).expect("a link stays a link"),
            Path::new("file")
        );
        // In: a file under a new name, a directory into a directory; the berth CLI reads them.
        let note = host.join("note.txt");
        server.client_ok(
            client,
            &["cp", note.to_str().expect("path"), &format!("box:/data/note{i}")],
        );
        let back = berth.path(&format!("back{i}"));
        berth.ok(&["cp", &format!("box:/data/note{i}"), back.to_str().expect("path")]);
        assert_eq!(read(&back), "from the host\n");
        let dir = host.join("dir");
        server.client_ok(client, &["cp", dir.to_str().expect("path"), &format!("box:/in{i}")]);
        let shown = stdout(&berth.run(&["cp", &format!("box:/in{i}/nested/n.txt"), "-"]));
        assert!(shown.contains("nested\n"), "{shown}");
        // A missing path: the 404 in the client's words (20.10 reads only the HEAD's status).
        let missing = server.docker_with(client, &["cp", "box:/nothing", out]);
        assert!(!missing.status.success());
        let said = stderr(&missing).to_lowercase();
        assert!(
            said.contains("could not find the file") || said.contains("no such container:path: box:/nothing"),
            "{client}: {}",
            stderr(&missing)
        );
    }

    // The stat header: base64 JSON of Docker's ContainerPathStat; a missing path is a 404.
    let (status, headers) = head(&server, "/containers/box/archive?path=/data/link");
    assert_eq!(status, 200);
    let stat = headers
        .lines()
        .find(|l| l.to_lowercase().starts_with("x-docker-container-path-stat:"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, value)| value)
        .expect("stat header");
    let text = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().expect("stdin").write_all(stat.trim().as_bytes())?;
            c.wait_with_output()
        })
        .expect("base64");
    let stat: serde_json::Value = serde_json::from_slice(&text.stdout).expect("stat json");
    assert_eq!(stat["name"], "link");
    assert_eq!(stat["linkTarget"], "file");
    assert_eq!(head(&server, "/containers/box/archive?path=/nothing").0, 404);
    assert_eq!(head(&server, "/containers/nobox/archive?path=/").0, 404);

    // Copies out of one stopped container side by side: each request mounts a view of its own.
    let copies: Vec<_> = (0..4)
        .map(|i| {
            let file = berth.path(&format!("side{i}.tar"));
            let child = std::process::Command::new("curl")
                .args(["-s", "--fail", "--max-time", "60", "-o"])
                .arg(&file)
                .arg("--unix-socket")
                .arg(server.socket())
                .arg("http://berth/containers/box/archive?path=/data")
                .spawn()
                .expect("curl");
            (file, child)
        })
        .collect();
    for (file, mut child) in copies {
        assert!(child.wait().expect("curl").success(), "{}", server.log_text());
        let mut archive = tar::Archive::new(std::fs::File::open(&file).expect("tar"));
        let names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|e| e.expect("entry").path().expect("path").display().to_string())
            .collect();
        assert!(names.iter().any(|n| n == "data/sub/deep"), "{names:?}");
    }

    // and takes it away again.
    let id = berth.ok(&["inspect", "-f", "{{.Id}}", "box"]);
    let views: Vec<_> = std::fs::read_dir(berth.root().join("containers").join(id.trim()))
        .expect("container dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cp-"))
        .collect();
    assert!(views.is_empty(), "views left: {views:?}");

    // export: the whole filesystem, what the container wrote included.
    let exported = berth.path("export.tar");
    server.client_ok(
        docker_clients()[0],
        &["export", "-o", exported.to_str().expect("path"), "box"],
    );
    let mut archive = tar::Archive::new(std::fs::File::open(&exported).expect("export"));
    let names: Vec<String> = archive
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry").path().expect("path").display().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.trim_start_matches("./") == "data/file"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.trim_start_matches("./") == "bin/busybox"),
        "{names:?}"
    );
}

/// HEAD through curl: (status, the header lines).
fn head(server: &Served, path: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-I", "--max-time", "20", "--unix-socket"])
        .arg(server.socket())
        .arg(format!("http://berth{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text)
}

#[test]
fn archives_that_reach_outside_their_directory_are_refused_and_write_nothing_outside() {
    if !have_clients() {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let server = Served::start(&berth);
    berth.ok(&["run", "--name", "box", "busybox", "mkdir", "-p", "/target/inner"]);
    let outside = berth.path("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    let outside_text = outside.to_str().expect("path");
    let before = berth.store_state();

    // `..` in a name: refused, and nothing lands outside.
    let depth = "../".repeat(outside.components().count() + 8);
    let escape = format!("{depth}{}/escaped", outside_text.trim_start_matches('/'));
    let tar = berth.path("dotdot.tar");
    std::fs::write(
        &tar,
        hostile_tar(&[("ok-first", None, "fine\n"), (&escape, None, "pwned\n")]),
    )
    .expect("tar");
    let (status, body) = server.curl_file("PUT", "/containers/box/archive?path=/target", Some(&tar));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("outside its directory"), "{body}");

    // A symlink to the host's directory, then a file through it: resolved inside the container.
    let tar = berth.path("symlink.tar");
    std::fs::write(
        &tar,
        hostile_tar(&[
            ("up", Some(outside_text), ""),
            ("up/through-link", None, "pwned\n"),
            ("rel", Some("../../../../../../../.."), ""),
            ("rel/through-relative", None, "pwned\n"),
        ]),
    )
    .expect("tar");
    let (status, body) = server.curl_file("PUT", "/containers/box/archive?path=/target/inner", Some(&tar));
    // Whether refused or kept inside, nothing reaches the host.
    assert!(status == 200 || status == 400 || status == 404, "{status}: {body}");
    assert_eq!(
        std::fs::read_dir(&outside).expect("outside").count(),
        0,
        "something was written outside the container"
    );
    assert!(!Path::new("/through-relative").exists());

    // A file where a directory is, with the docker client's noOverwriteDirNonDir.
    let tar = berth.path("swap.tar");
    std::fs::write(&tar, hostile_tar(&[("inner", None, "not a dir\n")])).expect("tar");
    let (status, body) = server.curl_file(
        "PUT",
        "/containers/box/archive?path=/target&noOverwriteDirNonDir=true",
        Some(&tar),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("cannot overwrite directory"), "{body}");

    // Not a tar at all, and a target that is no directory.
    let garbage = berth.path("garbage");
    std::fs::write(&garbage, [0x13u8, 0x37].repeat(700)).expect("garbage");
    let (status, _) = server.curl_file("PUT", "/containers/box/archive?path=/target", Some(&garbage));
    assert!(status >= 400, "{status}");
    let (status, _) = server.curl_file("PUT", "/containers/box/archive?path=/nothing", Some(&tar));
    assert_eq!(status, 404);
    assert_eq!(berth.store_state(), before);
    assert!(server.answers());
}

#[test]
fn docker_cp_reaches_a_running_container_and_its_volumes() {
    if !have_clients() {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let server = Served::start(&berth);
    berth.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "-v",
        "vol:/vol",
        "busybox",
        "sh",
        "-c",
        "echo running > /vol/state; sleep 60",
    ]);
    let client = docker_clients()[0];
    let note = berth.path("note.txt");
    std::fs::write(&note, "into a running one\n").expect("note");
    server.client_ok(client, &["cp", note.to_str().expect("path"), "live:/vol/note.txt"]);
    let shown = berth.ok(&["exec", "live", "cat", "/vol/note.txt"]);
    assert_eq!(shown, "into a running one\n");
    let out = berth.path("state");
    server.client_ok(client, &["cp", "live:/vol/state", out.to_str().expect("path")]);
    assert_eq!(read(&out), "running\n");
    berth.ok(&["rm", "-f", "live"]);
}
