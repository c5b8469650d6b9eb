//! Push and pull through docker-registry: the round trip, by digest, `run` pulling what is missing,
//! skopeo as the other client, htpasswd login and logout, `--all-tags`.

use std::process::Command;

use crate::common::*;
use crate::{client, image_id, push, skopeo_digest, stderr, Registry};

#[test]
fn push_and_pull_keep_the_image_and_run_pulls_what_is_missing() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    let name = format!("{}/team/busybox:1.0", registry.host());
    berth.ok(&["tag", "busybox", &name]);
    let id = image_id(&berth, "busybox");
    let (pushed, digest) = push(&berth, &name);
    assert!(
        pushed.contains(&format!(
            "The push refers to repository [{}/team/busybox]",
            registry.host()
        )),
        "{pushed}"
    );
    assert!(pushed.contains(": Pushed"), "{pushed}");
    // A plain tar layer (import made it) goes out gzipped, as Docker pushes it.
    let sent = client(&registry.host())
        .get_manifest("team/busybox", "1.0", berth_registry::MANIFEST_ACCEPT)
        .expect("manifest");
    let sent: serde_json::Value = serde_json::from_slice(&sent.bytes).expect("json");
    assert_eq!(
        sent["layers"][0]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "{sent}"
    );
    // Pushing again sends nothing.
    assert!(berth.ok(&["push", &name]).contains("Layer already exists"));

    berth.ok(&["rmi", &name, "busybox"]);
    let pulled = berth.ok(&["pull", &name]);
    assert!(pulled.contains("1.0: Pulling from team/busybox"), "{pulled}");
    assert!(pulled.contains("Pull complete"), "{pulled}");
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
    assert!(pulled.ends_with(&format!("{name}\n")), "{pulled}");
    assert_eq!(image_id(&berth, &name), id, "the same image comes back");
    let digests = berth.ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &name]);
    assert!(digests.contains(&digest), "{digests}");
    assert!(berth.ok(&["pull", &name]).contains("Status: Image is up to date"));
    assert_eq!(berth.ok(&["run", "--rm", &name, "echo", "pulled"]), "pulled\n");
    berth.assert_consistent();

    // By digest, and `-q`.
    berth.ok(&["rmi", &name]);
    let by_digest = format!("{}/team/busybox@{digest}", registry.host());
    assert_eq!(berth.ok(&["pull", "-q", &by_digest]).trim(), by_digest);
    assert_eq!(image_id(&berth, &by_digest), id);

    // `run` pulls a missing image, with Docker's lines on stderr and the container's output alone on stdout.
    berth.ok(&["rmi", &by_digest]);
    let out = berth.run(&["run", "--rm", &name, "echo", "hello"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert!(
        stderr(&out).contains(&format!("Unable to find image '{name}' locally")),
        "{}",
        stderr(&out)
    );
    // --pull never refuses, --pull always pulls again.
    berth.ok(&["rmi", &name]);
    let never = berth.run(&["run", "--rm", "--pull", "never", &name, "true"]);
    assert_eq!(code(&never), 125);
    let always = berth.run(&["run", "--rm", "--pull", "always", &name, "true"]);
    assert_eq!(code(&always), 0, "{}", stderr(&always));
    // A missing repository: exit 125 from run, 1 from pull, nothing stored.
    let before = berth.store_state();
    let missing = format!("{}/team/nothere:1", registry.host());
    assert_eq!(code(&berth.run(&["run", "--rm", &missing, "true"])), 125);
    let err = berth.fails(&["pull", &missing]);
    assert!(err.contains("not found") || err.contains("unknown"), "{err}");
    assert_eq!(berth.store_state(), before);
}

#[test]
fn skopeo_and_berth_read_each_others_pushes() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    if !need("skopeo") {
        return;
    }
    // skopeo pushes an archive berth saved; berth pulls and runs it.
    let archive = berth.path("busybox.tar");
    berth.ok(&["save", "-o", archive.to_str().expect("path"), "busybox"]);
    let id = image_id(&berth, "busybox");
    let dest = format!("docker://{}/skopeo/busybox:s", registry.host());
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            &format!("docker-archive:{}", archive.display()),
            &dest,
        ])
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "{}", stderr(&out));
    let name = format!("{}/skopeo/busybox:s", registry.host());
    berth.ok(&["pull", &name]);
    assert_eq!(image_id(&berth, &name), id);
    assert_eq!(
        berth.ok(&["run", "--rm", &name, "echo", "from skopeo"]),
        "from skopeo\n"
    );

    // berth pushes; skopeo sees the same manifest digest berth reported.
    let mine = format!("{}/berth/busybox:b", registry.host());
    berth.ok(&["tag", "busybox", &mine]);
    let (_, digest) = push(&berth, &mine);
    assert_eq!(skopeo_digest(&mine), digest);
}

#[test]
fn htpasswd_login_push_pull_logout() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(Some(("alice", "s3cret"))) else {
        return;
    };
    let name = format!("{}/private/busybox:1", registry.host());
    berth.ok(&["tag", "busybox", &name]);
    // No credentials: a clear refusal, nothing changes.
    let before = berth.store_state();
    let err = berth.fails(&["pull", &name]);
    assert!(err.to_lowercase().contains("auth") || err.contains("401"), "{err}");
    assert!(berth.fails(&["push", &name]).to_lowercase().contains("auth"));
    assert_eq!(berth.store_state(), before);
    // A wrong password is refused and stored nowhere.
    let wrong = berth.run_stdin(
        &["login", "-u", "alice", "--password-stdin", &registry.host()],
        b"nope\n",
    );
    assert_eq!(code(&wrong), 1);
    assert!(
        stderr(&wrong).to_lowercase().contains("unauthorized"),
        "{}",
        stderr(&wrong)
    );
    let config = berth.path("docker-config/config.json");
    assert!(!std::fs::read_to_string(&config)
        .unwrap_or_default()
        .contains(&registry.host()));
    // The right one works and is kept in Docker's config.json.
    let ok = berth.run_stdin(
        &["login", "-u", "alice", "--password-stdin", &registry.host()],
        b"s3cret\n",
    );
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "Login Succeeded\n");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("config.json")).expect("json");
    assert!(stored["auths"][registry.host()]["auth"].is_string(), "{stored}");
    berth.ok(&["push", &name]);
    berth.ok(&["rmi", &name]);
    berth.ok(&["pull", &name]);
    assert_eq!(
        berth.ok(&["logout", &registry.host()]),
        format!("Removing login credentials for {}\n", registry.host())
    );
    berth.ok(&["rmi", &name]);
    assert!(berth.fails(&["pull", &name]).to_lowercase().contains("auth"));
}

#[test]
fn all_tags_push_and_pull() {
    let Some(berth) = with_busybox() else { return };
    let Some(registry) = Registry::start(None) else { return };
    let repo = format!("{}/many/busybox", registry.host());
    for tag in ["a", "b", "c"] {
        berth.ok(&["tag", "busybox", &format!("{repo}:{tag}")]);
    }
    let pushed = berth.ok(&["push", "--all-tags", &repo]);
    for tag in ["a", "b", "c"] {
        assert!(pushed.contains(&format!("{tag}: digest: ")), "{pushed}");
    }
    assert!(berth
        .fails(&["push", "-a", &format!("{repo}:a")])
        .contains("--all-tags"));
    for tag in ["a", "b", "c"] {
        berth.ok(&["rmi", &format!("{repo}:{tag}")]);
    }
    let pulled = berth.ok(&["pull", "-a", &repo]);
    assert!(pulled.ends_with(&format!("{repo}\n")), "{pulled}");
    let tags = berth.ok(&["images", "--format", "{{.Tag}}", &repo]);
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["a", "b", "c"]);
}
