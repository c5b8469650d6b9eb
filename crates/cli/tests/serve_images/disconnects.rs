//! Clients that go away half-way through a pull or a build: the server keeps serving, the operation
//! finishes or changes nothing, and the store stays consistent.

use std::time::Duration;

use crate::common::served::{docker_clients, Served};
use crate::common::{with_busybox, Berth};
use crate::{check_clean, eventually, have_clients, source_in, tar_of};

#[test]
fn a_client_that_leaves_mid_pull_leaves_the_server_serving_and_a_later_pull_works() {
    if !have_clients() {
        return;
    }
    let Some(source) = with_busybox() else { return };
    let registry = crate::registry(&source, None);
    let digest = source_in(&registry, &source);
    let berth = Berth::new();
    let server = Served::start(&berth);
    let path = format!("/images/create?fromImage={}/test/busybox&tag=1", registry.host());
    for _ in 0..3 {
        let mut conn = server.raw_request("POST", &path, b"");
        let seen = Served::read_until(&mut conn, "Pulling from");
        assert!(seen.contains("200 OK"), "{seen}");
        drop(conn);
    }
    assert!(server.answers());
    // Each pull runs to its end without its client (three `pull` events); then the store is whole
    // and nothing is left in the downloads, and a pull now completes.
    let pull_events = || {
        let until = (chrono::Utc::now().timestamp() + 1).to_string();
        berth.ok(&[
            "events",
            "--since",
            "1",
            "--until",
            &until,
            "--filter",
            "event=pull",
            "--format",
            "{{.Action}}",
        ])
    };
    assert!(
        eventually(Duration::from_secs(30), || pull_events().lines().count() == 3),
        "the pulls did not end: {:?}\nimages: {}\n{}",
        pull_events(),
        berth.ok(&["images", "-a"]),
        server.log_text()
    );
    check_clean(&berth);
    let out = server.client_ok(
        docker_clients()[0],
        &["pull", &format!("{}/test/busybox:1", registry.host())],
    );
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
}

#[test]
fn a_client_that_leaves_mid_build_leaves_no_container_and_a_consistent_store() {
    if !have_clients() {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let server = Served::start(&berth);
    let context = tar_of(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo started && sleep 2 && echo done > /done\nRUN echo second\n",
    )]);
    let mut conn = server.raw_request("POST", "/build?t=left:1", &context);
    let seen = Served::read_until(&mut conn, "Running in");
    assert!(seen.contains("Running in"), "{seen}");
    drop(conn);
    assert!(server.answers());
    // The build runs to its end on its own: its containers go, the image is whole.
    assert!(
        eventually(Duration::from_secs(60), || berth
            .ok(&["ps", "-a", "-q"])
            .trim()
            .is_empty()
            && berth.run(&["image", "inspect", "left:1"]).status.success()),
        "containers left: {}\nserver log:\n{}",
        berth.ok(&["ps", "-a"]),
        server.log_text()
    );
    check_clean(&berth);
    // And the server builds again.
    let mut conn = server.raw_request("POST", "/build?t=again:1", &context);
    let seen = Served::read_until(&mut conn, "Successfully tagged again:1");
    assert!(seen.contains("Successfully tagged again:1"), "{seen}");
}
