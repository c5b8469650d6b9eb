//! End-to-end: a container's changes through diff, commit and export.

mod common;

use std::process::Command;

use common::*;

#[test]
fn diff_commit_export_roundtrip() {
    let berth = Berth::new();
    let Some(_) = import_busybox(&berth, "busybox:latest") else {
        return;
    };
    let id = berth.ok(&[
        "create",
        "busybox",
        "sh",
        "-c",
        "echo new > /tmp/new; echo changed >> /etc/group; rm /etc/passwd.hardlink; mkdir /made",
    ]);
    let id = id.trim();
    berth.ok(&["start", "-a", id]);

    let diff = berth.ok(&["diff", id]);
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines,
        vec![
            "C /etc",
            "C /etc/group",
            "D /etc/passwd.hardlink",
            "A /made",
            "C /tmp",
            "A /tmp/new"
        ],
        "runtime mount points are not changes"
    );

    let new_id = berth.ok(&[
        "commit",
        "-m",
        "the change",
        "-a",
        "Tester <t@example.com>",
        "-c",
        "ENV COMMITTED=yes",
        id,
        "committed:1",
    ]);
    assert!(new_id.trim().starts_with("sha256:"));
    let seen = berth.ok(&[
        "run",
        "--rm",
        "committed:1",
        "sh",
        "-c",
        "cat /tmp/new; tail -n 1 /etc/group; ls /etc/passwd.hardlink 2>&1; ls -d /made; echo $COMMITTED",
    ]);
    let seen: Vec<&str> = seen.lines().collect();
    assert_eq!(seen[0], "new");
    assert_eq!(seen[1], "changed");
    assert!(seen[2].contains("No such file"), "{seen:?}");
    assert_eq!(&seen[3..], &["/made", "yes"]);
    let history = berth.ok(&["history", "--format", "{{.Comment}}|{{.CreatedBy}}", "committed:1"]);
    assert!(
        history
            .lines()
            .next()
            .unwrap_or_default()
            .starts_with("the change|sh -c echo new"),
        "{history}"
    );
    assert_eq!(
        berth
            .ok(&[
                "inspect",
                "--format",
                "{{.Author}} {{len .RootFS.Layers}}",
                "committed:1"
            ])
            .trim(),
        "Tester <t@example.com> 2"
    );
    // The image a container uses cannot be deleted from under it.
    let err = berth.fails(&["rmi", "busybox"]);
    assert!(err.contains("conflict"), "{err}");

    // export: the merged view as a tar, which imports and runs again.
    let exported = berth.path("exported.tar");
    berth.ok(&["export", "-o", exported.to_str().unwrap_or_default(), id]);
    let listing = Command::new("tar").arg("tf").arg(&exported).output().expect("tar");
    let names = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        names.lines().any(|l| l == "tmp/new") && names.lines().any(|l| l == "bin/busybox"),
        "{names}"
    );
    assert!(!names.contains("passwd.hardlink") && !names.contains(".wh."), "{names}");
    berth.ok(&["import", exported.to_str().unwrap_or_default(), "reimported:1"]);
    assert_eq!(
        berth.ok(&["run", "--rm", "reimported:1", "cat", "/tmp/new"]).trim(),
        "new"
    );

    // A running container commits too (paused meanwhile) and keeps running.
    let live = berth.ok(&["run", "-d", "busybox", "sh", "-c", "echo live > /live; sleep 100"]);
    let live = live.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !berth.run(&["exec", live, "cat", "/live"]).status.success() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    berth.ok(&["commit", live, "live:1"]);
    assert_eq!(
        berth.ok(&["inspect", "--format", "{{.State.Status}}", live]).trim(),
        "running"
    );
    assert_eq!(berth.ok(&["run", "--rm", "live:1", "cat", "/live"]).trim(), "live");
    berth.ok(&["rm", "-f", live]);
    berth.ok(&["rm", id]);

    // Bad input: nothing is created.
    let before = berth.store_state();
    let out = berth.run(&["commit", "nosuchcontainer", "x:1"]);
    assert_ne!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container"));
    assert_eq!(berth.store_state(), before);
}

/// A busybox image whose /srv/app holds a file owned by 1000:1000, and which
/// declares /cache a VOLUME.
fn image_with_content(berth: &Berth) -> Option<()> {
    let rootfs = busybox_rootfs(berth.dir.path())?;
    std::fs::create_dir_all(rootfs.join("srv/app")).ok()?;
    std::fs::write(rootfs.join("srv/app/seed"), "from the image\n").ok()?;
    std::os::unix::fs::chown(rootfs.join("srv/app"), Some(1000), Some(1000)).ok()?;
    let tarball = berth.path("content.tar");
    tar_dir(&rootfs, &tarball);
    berth.ok(&["import", "-c", "VOLUME /cache", tarball.to_str()?, "content:1"]);
    Some(())
}

#[test]
fn volumes_named_anonymous_bind_and_mounts() {
    let berth = Berth::new();
    if image_with_content(&berth).is_none() {
        return;
    }
    // A new named volume starts with the image's content there, owner included.
    let out = berth.ok(&[
        "run",
        "--rm",
        "-v",
        "appdata:/srv/app",
        "content:1",
        "sh",
        "-c",
        "cat /srv/app/seed; stat -c %u /srv/app; echo mine > /srv/app/mine",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["from the image", "1000"]);
    // The data outlives the container; a non-empty volume is not refilled.
    berth.ok(&[
        "run",
        "--rm",
        "-v",
        "appdata:/srv/app",
        "content:1",
        "rm",
        "/srv/app/seed",
    ]);
    let out = berth.ok(&["run", "--rm", "-v", "appdata:/srv/app", "content:1", "ls", "/srv/app"]);
    assert_eq!(out.trim(), "mine");
    // nocopy leaves a new volume empty.
    let out = berth.ok(&[
        "run",
        "--rm",
        "-v",
        "empty1:/srv/app:nocopy",
        "content:1",
        "ls",
        "/srv/app",
    ]);
    assert_eq!(out.trim(), "");
    // :ro denies writes.
    let ro = berth.run(&[
        "run",
        "--rm",
        "-v",
        "appdata:/srv/app:ro",
        "content:1",
        "touch",
        "/srv/app/x",
    ]);
    assert_ne!(code(&ro), 0);
    // A bind mount shows host changes live, and -v creates a missing host dir.
    let host = berth.path("hostdir");
    let spec = format!("{}:/h", host.display());
    let id = berth.ok(&["run", "-d", "-v", &spec, "content:1", "sleep", "100"]);
    let id = id.trim();
    assert!(host.is_dir(), "-v creates the host directory");
    std::fs::write(host.join("live"), "changed on the host\n").expect("write");
    assert_eq!(berth.ok(&["exec", id, "cat", "/h/live"]).trim(), "changed on the host");
    let mounts = berth.ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}",
        id,
    ]);
    assert!(
        mounts.contains("bind:/h") && mounts.contains("volume:/cache"),
        "{mounts}"
    );
    // The image's VOLUME became an anonymous volume; rm -v removes it.
    let anon = berth.ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{if eq .Destination \"/cache\"}}{{.Name}}{{end}}{{end}}",
        id,
    ]);
    let anon = anon.trim().to_string();
    assert_eq!(anon.len(), 64);
    let err = berth.fails(&["volume", "rm", &anon]);
    assert!(err.contains("volume is in use"), "{err}");
    berth.ok(&["rm", "-f", "-v", id]);
    assert!(berth.fails(&["volume", "inspect", &anon]).contains("no such volume"));
    // --mount, each type.
    let bind = format!("type=bind,source={},target=/b,readonly", host.display());
    let out = berth.ok(&[
        "run",
        "--rm",
        "--mount",
        &bind,
        "--mount",
        "type=volume,source=mounted,target=/v",
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1m",
        "content:1",
        "sh",
        "-c",
        "cat /b/live; echo v > /v/f; grep ' /t ' /proc/mounts; touch /b/no 2>/dev/null || echo ro",
    ]);
    assert!(
        out.contains("changed on the host") && out.contains("size=1024k") && out.contains("ro"),
        "{out}"
    );
    let missing = berth.run(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,source=/nonexistent-berth-path,target=/x",
        "content:1",
        "true",
    ]);
    assert_eq!(code(&missing), 125);
    // --volumes-from shares another container's volumes.
    let src = berth.ok(&["create", "-v", "shared:/shared", "content:1", "true"]);
    let out = berth.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        src.trim(),
        "content:1",
        "sh",
        "-c",
        "echo hi > /shared/f; cat /shared/f",
    ]);
    assert_eq!(out.trim(), "hi");
    berth.ok(&["rm", src.trim()]);
    // volume commands.
    berth.ok(&["volume", "create", "--label", "team=core", "labelled"]);
    assert_eq!(
        berth.ok(&["volume", "ls", "-q", "--filter", "label=team=core"]).trim(),
        "labelled"
    );
    assert_eq!(
        berth
            .ok(&[
                "volume",
                "inspect",
                "--format",
                "{{.Driver}} {{.Labels.team}}",
                "labelled"
            ])
            .trim(),
        "local core"
    );
    // Plain `inspect` finds volumes too, after containers and images.
    assert_eq!(
        berth
            .ok(&["inspect", "--format", "{{.Name}} {{.Scope}}", "labelled"])
            .trim(),
        "labelled local"
    );
    let bad = berth.run(&["volume", "create", "bad/name"]);
    assert_ne!(code(&bad), 0);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid characters"));
    let bad = berth.run(&["run", "--rm", "-v", "x:/y", "content:1", "true"]);
    assert_eq!(code(&bad), 125);
    let pruned = berth.ok(&["volume", "prune", "-a", "-f"]);
    assert!(pruned.contains("labelled") && pruned.contains("appdata"), "{pruned}");
    assert_eq!(berth.ok(&["volume", "ls", "-q"]).trim(), "");
}

#[test]
fn cp_both_ways_and_never_through_symlinks_to_the_host() {
    let berth = Berth::new();
    let Some(_) = import_busybox(&berth, "busybox:latest") else {
        return;
    };
    let host = berth.path("host");
    let outside = berth.path("outside");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("secret"), "host secret\n").expect("write");
    let outside_str = outside.to_string_lossy().into_owned();
    // The container plants links that point at the host's directories.
    let script = format!(
        "ln -s / /escape; ln -s {outside_str} /abs; mkdir -p {outside_str}; ln -s ../../../../../../.. /up; \
         mkdir -p /d/sub; echo in-d > /d/sub/f; echo cfile > /cfile"
    );
    let id = berth.ok(&["create", "busybox", "sh", "-c", &script]);
    let id = id.trim();
    berth.ok(&["start", "-a", id]);
    let c = |p: &str| format!("{id}:{p}");
    let h = |p: &str| host.join(p).to_string_lossy().into_owned();

    // Out of a stopped container: a file, a directory, a directory's contents, a tar stream.
    berth.ok(&["cp", &c("/cfile"), &h("out1")]);
    assert_eq!(std::fs::read_to_string(host.join("out1")).expect("read"), "cfile\n");
    berth.ok(&["cp", &c("/d"), &format!("{}/", host.display())]);
    assert_eq!(std::fs::read_to_string(host.join("d/sub/f")).expect("read"), "in-d\n");
    berth.ok(&["cp", &c("/d/."), &h("dcontents")]);
    assert!(host.join("dcontents/sub/f").is_file());
    let tar = berth.cmd(&["cp", &c("/d"), "-"]).output().expect("cp to stdout");
    let names: Vec<String> = tar::Archive::new(&tar.stdout[..])
        .entries()
        .expect("tar")
        .map(|e| e.expect("entry").path().expect("path").to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.trim_end_matches('/') == "d/sub/f"), "{names:?}");

    // Reading through links stays in the container.
    for (link, wanted) in [("/escape/etc/passwd", "pw1"), ("/up/etc/passwd", "pw2")] {
        berth.ok(&["cp", &c(link), &h(wanted)]);
        let got = std::fs::read_to_string(host.join(wanted)).expect("read");
        assert!(got.contains("alice:x:1001"), "{link} read the host's file: {got}");
    }
    // /abs names the host's directory, but inside the container that path
    // is the container's own (empty) directory.
    let err = berth.fails(&["cp", &c("/abs/secret"), &h("stolen")]);
    assert!(err.contains("Could not find"), "{err}");
    assert!(!host.join("stolen").exists());

    // Into the container: files, directories, a tar stream; links never lead out.
    std::fs::write(host.join("in.txt"), "to the container\n").expect("write");
    std::fs::create_dir_all(host.join("tree/inner")).expect("mkdir");
    std::fs::write(host.join("tree/inner/x"), "x\n").expect("write");
    berth.ok(&["cp", &h("in.txt"), &c("/tmp/")]);
    berth.ok(&["cp", &h("tree"), &c("/tmp/tree-copy")]);
    berth.ok(&["cp", &h("in.txt"), &c("/abs/")]);
    berth.ok(&["cp", &h("in.txt"), &c("/up/tmp/via-up")]);
    let mut stream = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(7);
    header.set_mode(0o644);
    header.set_cksum();
    stream
        .append_data(&mut header, "streamed", &b"stream\n"[..])
        .expect("append");
    let out = berth.run_stdin(&["cp", "-", &c("/tmp")], &stream.into_inner().expect("tar"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_dir(&outside).expect("read").count(),
        1,
        "something was written to the host"
    );
    let check = |p: &str| {
        let out = berth.cmd(&["cp", &c(p), "-"]).output().expect("cp");
        out.status.success()
    };
    assert!(check("/tmp/in.txt") && check("/tmp/tree-copy/inner/x") && check("/tmp/streamed"));
    assert!(
        check(&format!("{outside_str}/in.txt")),
        "/abs/ resolved inside the container"
    );
    assert!(check("/tmp/via-up"), "/up/ resolved inside the container");

    // A running container too, in and out.
    let running = berth.ok(&["run", "-d", "busybox", "sleep", "100"]);
    let running = running.trim();
    berth.ok(&["cp", &h("in.txt"), &format!("{running}:/tmp/live.txt")]);
    assert_eq!(
        berth.ok(&["exec", running, "cat", "/tmp/live.txt"]),
        "to the container\n"
    );
    berth.ok(&["exec", running, "sh", "-c", "echo made inside > /tmp/made"]);
    berth.ok(&["cp", &format!("{running}:/tmp/made"), &h("made")]);
    assert_eq!(
        std::fs::read_to_string(host.join("made")).expect("read"),
        "made inside\n"
    );
    berth.ok(&["rm", "-f", running, id]);
}

#[test]
fn volume_driver_options_and_data_across_replacement() {
    let berth = Berth::new();
    let Some(_) = import_busybox(&berth, "busybox:latest") else {
        return;
    };
    // The seed's pattern: data in a bind-mounted host directory outlives the container.
    let data = berth.path("data");
    let spec = format!("{}:/var/lib/DATA", data.display());
    let first = berth.ok(&[
        "run",
        "-d",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo kept > /var/lib/DATA/f; sleep 100",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !data.join("f").exists() {
        assert!(std::time::Instant::now() < deadline, "the container never wrote");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    berth.ok(&["rm", "-f", first.trim()]);
    assert_eq!(
        berth
            .ok(&["run", "--rm", "-v", &spec, "busybox", "cat", "/var/lib/DATA/f"])
            .trim(),
        "kept"
    );
    // --opt type=tmpfs: a volume in memory, with its size option.
    berth.ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=2m",
        "ram",
    ]);
    let mounts = berth.ok(&[
        "run",
        "--rm",
        "-v",
        "ram:/ram",
        "busybox",
        "grep",
        " /ram ",
        "/proc/mounts",
    ]);
    assert!(mounts.starts_with("tmpfs") && mounts.contains("size=2048k"), "{mounts}");
    // --opt type=none,o=bind,device=DIR: a named volume that is a host directory.
    let dir = berth.path("named-bind");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let device = format!("device={}", dir.display());
    berth.ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        "hostvol",
    ]);
    berth.ok(&[
        "run",
        "--rm",
        "-v",
        "hostvol:/hv",
        "busybox",
        "sh",
        "-c",
        "echo via-volume > /hv/f",
    ]);
    assert_eq!(std::fs::read_to_string(dir.join("f")).expect("read"), "via-volume\n");
    let bad = berth.run(&["volume", "create", "--opt", "type=nfs", "x1"]);
    assert_ne!(code(&bad), 0);
    assert_eq!(
        berth
            .ok(&["volume", "inspect", "--format", "{{.Options.type}}", "ram"])
            .trim(),
        "tmpfs"
    );
}

#[test]
fn system_prune_removes_stopped_containers_unused_networks_dangling_images_and_anonymous_volumes() {
    let berth = Berth::new();
    let Some(_) = import_busybox(&berth, "busybox:latest") else {
        return;
    };
    let stopped = berth.ok(&["run", "-d", "-v", "/anon", "busybox", "true"]);
    berth.ok(&["wait", stopped.trim()]);
    berth.ok(&["network", "create", "unused"]);
    berth.ok(&["network", "create", "used"]);
    let running = berth.ok(&["run", "-d", "--network", "used", "busybox", "sleep", "100"]);
    let tarball = berth.path("rootfs.tar");
    let dangling = berth.ok(&["import", tarball.to_str().unwrap_or_default()]);
    let out = berth.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(
        out.contains(stopped.trim()) && out.contains(&format!("deleted: {}", dangling.trim())),
        "{out}"
    );
    assert!(out.contains("Deleted Volumes:"), "{out}");
    assert!(out.contains("Deleted Networks:\nunused\n"), "{out}");
    let networks = berth.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(networks.contains("used") && !networks.contains("unused"), "{networks}");
    assert_eq!(berth.ok(&["ps", "-a", "-q", "--no-trunc"]).trim(), running.trim());
    assert_eq!(berth.ok(&["volume", "ls", "-q"]).trim(), "");
    assert_eq!(berth.ok(&["images", "-q"]).lines().count(), 1, "the tagged image stays");
    berth.ok(&["rm", "-f", running.trim()]);
    berth.ok(&["network", "rm", "used"]);
}

/// `container prune` counts the space the removed containers' writable layers held (it always said 0B),
/// leaves running containers alone, and refuses filters Docker's does not take rather than ignoring them.
#[test]
fn container_prune_counts_what_it_reclaims_and_refuses_filters() {
    let berth = Berth::new();
    let Some(_) = import_busybox(&berth, "busybox:latest") else {
        return;
    };
    let stopped = berth.ok(&["run", "-d", "busybox", "sh", "-c", "head -c 2000000 /dev/zero > /data"]);
    berth.ok(&["wait", stopped.trim()]);
    let running = berth.ok(&["run", "-d", "busybox", "sleep", "100"]);
    let refused = berth.run(&["container", "prune", "-f", "--filter", "status=exited"]);
    assert_ne!(code(&refused), 0);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("invalid filter 'status'"));
    assert_eq!(
        berth.ok(&["ps", "-a", "-q"]).lines().count(),
        2,
        "a refused prune removed something"
    );
    let out = berth.ok(&["container", "prune", "-f"]);
    assert_eq!(
        out,
        format!(
            "Deleted Containers:\n{}\n\nTotal reclaimed space: 2MB\n",
            stopped.trim()
        )
    );
    assert_eq!(berth.ok(&["ps", "-a", "-q", "--no-trunc"]).trim(), running.trim());
    berth.ok(&["rm", "-f", running.trim()]);
}
