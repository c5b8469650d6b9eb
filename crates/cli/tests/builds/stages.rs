//! Multi-stage builds: `COPY --from`, `--target`, independent stages built side by side, and
//! `rmi` of a base image that other builds stand on.

use crate::common::*;
use crate::{build, context};

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
