//! `docker save`, `docker load`, `docker import` (stdin and a URL) and `docker commit` through the
//! server.

use std::process::Stdio;

use crate::common::served::{docker_clients, Served};
use crate::common::{busybox_rootfs, serve_http, tar_dir, with_busybox};
use crate::{check_clean, have_clients, stderr, stdout};

#[test]
fn save_and_load_round_trip_and_a_cut_archive_changes_nothing() {
    if !have_clients() {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let server = Served::start(&berth);
    let client = docker_clients()[0];
    let id = server.client_ok(client, &["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    server.client_ok(client, &["tag", "busybox", "other:2"]);

    // docker save | docker load, two clients at once (the images stay: load takes them again).
    let mut save = server
        .docker_command(client, &["save", "busybox", "other:2"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker save");
    let archive = save.stdout.take().expect("save stdout");
    let load = server
        .docker_command(client, &["load"])
        .stdin(Stdio::from(archive))
        .output()
        .expect("docker load");
    assert!(save.wait().expect("save").success());
    let loaded = server.ok(client, load, &["load"]);
    assert!(loaded.contains("Loaded image: busybox:latest"), "{loaded}");
    assert!(loaded.contains("Loaded image: other:2"), "{loaded}");

    // -o, rmi, then -i, with each client: the images come back with their IDs.
    let file = berth.path("saved.tar");
    let file = file.to_str().expect("path");
    for client in docker_clients() {
        server.client_ok(client, &["save", "-o", file, "busybox", "other:2"]);
        server.client_ok(client, &["rmi", "busybox", "other:2"]);
        let out = server.client_ok(client, &["load", "-i", file]);
        assert!(out.contains("Loaded image: busybox:latest"), "{client}: {out}");
        assert!(out.contains("Loaded image: other:2"), "{client}: {out}");
        let again = server.client_ok(client, &["image", "inspect", "-f", "{{.Id}}", "other:2"]);
        assert_eq!(again, id, "{client}");
    }

    // Several names in one archive through the API's own form.
    let (status, body) = server.curl_file("GET", "/images/get?names=busybox&names=other:2", None);
    assert_eq!(status, 200);
    assert!(body.contains("manifest.json"), "not an archive");

    // An archive cut in half: an error, and the store as it was.
    let whole = berth.path("saved.tar");
    let bytes = std::fs::read(&whole).expect("archive");
    let cut = berth.path("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("cut archive");
    server.client_ok(client, &["rmi", "other:2"]);
    let before = berth.store_state();
    let out = server.docker_with(client, &["load", "-i", cut.to_str().expect("path")]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(!stderr(&out).is_empty());
    assert_eq!(berth.store_state(), before);
    // A missing image is a 404 before any byte of an archive.
    let (status, body) = server.curl_file("GET", "/images/nothing:1/get", None);
    assert_eq!(status, 404, "{body}");
    check_clean(&berth);
}

#[test]
fn docker_import_reads_stdin_and_commit_makes_an_image_of_a_container() {
    if !have_clients() {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let server = Served::start(&berth);
    let Some(rootfs) = busybox_rootfs(&berth.path("import")) else {
        return;
    };
    let tarball = berth.path("rootfs.tar");
    tar_dir(&rootfs, &tarball);
    let bytes = std::fs::read(&tarball).expect("tarball");
    for (i, client) in docker_clients().into_iter().enumerate() {
        let name = format!("imported:{i}");
        let out = server.docker_stdin(
            client,
            &["import", "-c", "CMD [\"sh\"]", "-m", "from stdin", "-", &name],
            &bytes,
        );
        let id = server.ok(client, out, &["import"]);
        assert!(id.trim().starts_with("sha256:"), "{id}");
        let shown = server.client_ok(client, &["image", "inspect", "-f", "{{.Id}} {{.Config.Cmd}}", &name]);
        assert_eq!(shown.trim(), format!("{} [sh]", id.trim()));
    }

    // From a URL: the server fetches it (the docker client sends fromSrc=URL).
    let (base, fetched) = serve_http(vec![("/rootfs.tar", bytes.clone())]);
    let url = format!("{base}/rootfs.tar");
    let id = server.client_ok(docker_clients()[0], &["import", "-m", "from a url", &url, "fromurl:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(fetched.load(std::sync::atomic::Ordering::Relaxed), 1);
    let comment = server.client_ok(
        docker_clients()[0],
        &["image", "inspect", "-f", "{{.Comment}}", "fromurl:1"],
    );
    assert_eq!(comment.trim(), "from a url");

    berth.ok(&["run", "--name", "made", "busybox", "sh", "-c", "echo made > /made"]);
    for (i, client) in docker_clients().into_iter().enumerate() {
        let name = format!("committed:{i}");
        let out = server.client_ok(client, &["commit", "-c", "ENV X=1", "-m", "a message", "made", &name]);
        assert!(out.trim().starts_with("sha256:"), "{out}");
        let ran = berth.ok(&["run", "--rm", &name, "sh", "-c", "cat /made; echo $X"]);
        assert_eq!(ran, "made\n1\n");
        let comment = server.client_ok(client, &["image", "inspect", "-f", "{{.Comment}}", &name]);
        assert_eq!(comment.trim(), "a message");
    }
    // A commit of no container is Docker's 404.
    let (status, body) = server.curl_file("POST", "/commit?container=nothing&repo=x", None);
    assert_eq!(status, 404, "{body}");
}
