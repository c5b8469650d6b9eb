//! Builds that fail: a failing RUN and bad input leave no image and no container behind.

use crate::common::*;
use crate::context;

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
