//! `docker build` (the classic builder) through the server, and contexts that are not archives.

use crate::common::served::{docker_clients, Served};
use crate::common::with_busybox;
use crate::{context_dir, have_clients, stderr, stdout};

#[test]
fn docker_build_streams_the_classic_builders_lines() {
    if !have_clients() {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let server = Served::start(&berth);
    let context = context_dir(&berth);
    let context = context.to_str().expect("path");
    for (i, client) in docker_clients().into_iter().enumerate() {
        let (one, two) = (format!("one:{i}"), format!("two:{i}"));
        let greeting = format!("GREETING=howdy{i}");
        let out = server.client_ok(
            client,
            &["build", "-t", &one, "-t", &two, "--build-arg", &greeting, context],
        );
        for line in [
            "Step 1/5 : FROM busybox",
            "Step 4/5 : RUN echo \"$GREETING from run\"",
            " ---> Running in ",
            "Removing intermediate container ",
            "Successfully built ",
            &format!("Successfully tagged {one}"),
            &format!("Successfully tagged {two}"),
        ] {
            assert!(out.contains(line), "{client}: no {line:?} in\n{out}");
        }
        // The other front door runs what this one built: the arg reached RUN, .dockerignore held.
        let ran = berth.ok(&["run", "--rm", &one, "cat", "/greeting", "/listing"]);
        assert!(ran.contains(&format!("howdy{i} from run")), "{ran}");
        assert!(ran.contains("kept.txt") && !ran.contains("secret.txt"), "{ran}");
    }

    let client = docker_clients()[0];
    // -q prints the image ID alone.
    let quiet = server.client_ok(client, &["build", "-q", "-t", "quiet:1", context]);
    let id = server.client_ok(client, &["image", "inspect", "-f", "{{.Id}}", "quiet:1"]);
    assert_eq!(quiet.trim(), id.trim());

    // A Dockerfile outside the context: the client adds it to the archive it sends.
    let outside = berth.path("Dockerfile.outside");
    std::fs::write(&outside, "FROM busybox\nRUN echo outside > /where\n").expect("Dockerfile");
    let outside = outside.to_str().expect("path");
    server.client_ok(client, &["build", "-f", outside, "-t", "outside:1", context]);
    assert_eq!(
        berth.ok(&["run", "--rm", "outside:1", "cat", "/where"]).trim(),
        "outside"
    );

    // A failing RUN: its output, Docker's error text, and its exit code, as with dockerd.
    let failing = berth.path("Dockerfile.fail");
    std::fs::write(&failing, "FROM busybox\nRUN echo before-failing && exit 3\n").expect("Dockerfile");
    for client in docker_clients() {
        let out = server.docker_with(client, &["build", "-f", failing.to_str().expect("path"), context]);
        assert_eq!(out.status.code(), Some(3), "{client}: {}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("before-failing"), "{}", stdout(&out));
        assert!(
            stderr(&out).contains("The command '/bin/sh -c echo before-failing && exit 3' returned a non-zero code: 3"),
            "{}",
            stderr(&out)
        );
    }
    // No step's container is left behind.
    assert_eq!(berth.ok(&["ps", "-a", "-q"]).trim(), "");

    // The build cache goes with builder prune, through the API.
    let (status, body) = server.curl_file("POST", "/build/prune", None);
    assert_eq!(status, 200, "{body}");
    let pruned: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(
        pruned["CachesDeleted"].is_array() && pruned["SpaceReclaimed"].is_u64(),
        "{body}"
    );
}

#[test]
fn a_context_that_is_no_archive_or_dockerfile_is_a_400_and_changes_nothing() {
    if !have_clients() {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let server = Served::start(&berth);
    let before = berth.store_state();
    let garbage = berth.path("garbage");
    std::fs::write(&garbage, [0xff, 0xfe, 0x00, 0x81, 0x13, 0x37].repeat(200)).expect("garbage");
    let (status, body) = server.curl_file("POST", "/build?t=bad:1", Some(&garbage));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    // Text is taken for a Dockerfile, as dockerd does; one that does not parse is a 400 too.
    let text = berth.path("text");
    std::fs::write(&text, "this is not a Dockerfile\n").expect("text");
    let (status, body) = server.curl_file("POST", "/build?t=bad:1", Some(&text));
    assert_eq!(status, 400, "{body}");
    // A gzip stream that is cut short.
    let cut = berth.path("cut.gz");
    std::fs::write(&cut, [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]).expect("gzip head");
    let (status, body) = server.curl_file("POST", "/build?t=bad:1", Some(&cut));
    assert_eq!(status, 400, "{body}");
    assert_eq!(berth.store_state(), before);
    assert_eq!(berth.ok(&["ps", "-a", "-q"]).trim(), "");
    assert!(server.answers());
}
