//! `berth serve` driven by real clients: the stock `docker` CLI (the machine's 28 and, when
//! installed, Debian's 20.10) and curl over the unix socket. Each test serves its own data root
//! on its own socket, and what the berth CLI does must show through the API and back.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::served::Served;
use common::Berth;

fn have_clients() -> bool {
    common::need("docker") && common::need("curl")
}

fn lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn docker_negotiates_and_shows_the_server() {
    if !have_clients() {
        return;
    }
    let berth = Berth::new();
    let server = Served::start(&berth);
    // The client (docker 28 speaks API 1.50) downgrades to what the server speaks; an older client
    // (Debian's 20.10 alone on PATH speaks 1.41) keeps its own.
    let client = server.docker_ok(&["version", "--format", "{{.Client.APIVersion}}"]);
    let minor: u32 = client
        .trim()
        .strip_prefix("1.")
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("client API version {client:?}"));
    assert!((41..=47).contains(&minor), "negotiated {client}");
    let server_version = server.docker_ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
    ]);
    assert_eq!(server_version.trim(), "1.47 1.24");
    let plain = server.docker_ok(&["version"]);
    assert!(plain.contains("Engine:"), "{plain}");
    // A client pinned to an old version is served; one older than the minimum gets Docker's words.
    let old = Command::new("docker")
        .env("DOCKER_CONFIG", &server.docker_config)
        .env("DOCKER_API_VERSION", "1.24")
        .arg("-H")
        .arg(format!("unix://{}", server.socket().display()))
        .args(["info", "--format", "{{.Containers}}"])
        .output()
        .expect("docker");
    assert!(old.status.success(), "{}", String::from_utf8_lossy(&old.stderr));
    let info = server.docker_ok(&[
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}} {{.DockerRootDir}} {{.OSType}}",
    ]);
    assert_eq!(info.trim(), format!("inactive {} linux", berth.root().display()));
    let pretty = server.docker_ok(&["info"]);
    assert!(pretty.contains("Swarm: inactive"), "{pretty}");
    // Debian's docker.io client (20.10, API 1.41) too, where installed.
    if Path::new("/usr/bin/docker").exists() {
        let out = server.docker_with("/usr/bin/docker", &["version", "--format", "{{.Server.APIVersion}}"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.47");
    }
}

#[test]
fn both_front_doors_see_and_control_the_same_containers() {
    if !have_clients() {
        return;
    }
    let Some(berth) = common::with_busybox() else {
        return;
    };
    let server = Served::start(&berth);
    berth.ok(&["create", "--name", "made", "busybox", "true"]);
    berth.ok(&["run", "-d", "--name", "runs", "busybox", "sleep", "1000"]);
    berth.ok(&["run", "-d", "--name", "doomed", "busybox", "sleep", "1000"]);
    let format = "{{.ID}} {{.Image}} {{.Command}} {{.Names}}";
    let through_docker = server.docker_ok(&["ps", "-a", "--no-trunc", "--format", format]);
    let through_berth = berth.ok(&["ps", "-a", "--no-trunc", "--format", format]);
    assert_eq!(lines(&through_docker), lines(&through_berth));
    assert_eq!(through_docker.lines().count(), 3, "{through_docker}");
    let running = server.docker_ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(lines(&running), ["doomed", "runs"]);
    let filtered = server.docker_ok(&["ps", "-a", "--filter", "status=created", "--format", "{{.Names}}"]);
    assert_eq!(filtered.trim(), "made");
    let inspected = server.docker_ok(&["inspect", "--format", "{{.Name}} {{.State.Status}}", "runs"]);
    assert_eq!(inspected.trim(), "/runs running");

    // Stopped through the API, seen stopped by the CLI; sleep ignores SIGTERM as pid 1, hence -t 1.
    assert_eq!(server.docker_ok(&["stop", "-t", "1", "runs"]).trim(), "runs");
    let state = berth.ok(&["inspect", "--format", "{{.State.Status}}", "runs"]);
    assert_eq!(state.trim(), "exited");
    // Removed while running.
    assert_eq!(server.docker_ok(&["rm", "-f", "doomed"]).trim(), "doomed");
    assert!(berth.fails(&["inspect", "doomed"]).contains("No such"));
    // Renamed through the API, seen renamed by the CLI; then prune takes every stopped one.
    server.docker_ok(&["rename", "runs", "ran"]);
    assert_eq!(
        berth
            .ok(&["ps", "-a", "--filter", "name=ran", "--format", "{{.Names}}"])
            .trim(),
        "ran"
    );
    let pruned = server.docker_ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert_eq!(berth.ok(&["ps", "-aq"]).trim(), "");
    // Unknown containers: Docker's message and a failure.
    let out = server.docker(&["stop", "nosuch"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container: nosuch"));
    // Debian's older client lists the same rows.
    if Path::new("/usr/bin/docker").exists() {
        berth.ok(&["create", "--name", "again", "busybox", "true"]);
        let out = server.docker_with("/usr/bin/docker", &["ps", "-a", "--format", "{{.Names}}"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "again");
    }
}

#[test]
fn images_are_listed_inspected_tagged_and_removed() {
    if !have_clients() {
        return;
    }
    let Some(berth) = common::with_busybox() else {
        return;
    };
    let server = Served::start(&berth);
    let id = berth.ok(&["images", "--no-trunc", "-q", "busybox"]).trim().to_string();
    let listed = server.docker_ok(&["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(listed.trim(), format!("busybox:latest {id}"));
    let inspected = server.docker_ok(&["image", "inspect", "--format", "{{.Id}} {{.Os}}", "busybox"]);
    assert_eq!(inspected.trim(), format!("{id} linux"));
    let history = server.docker_ok(&["history", "-q", "busybox"]);
    assert_eq!(history.lines().count(), 1, "{history}");

    server.docker_ok(&["tag", "busybox", "example.test:5000/team/app:v1"]);
    let tags = berth.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(lines(&tags), ["busybox:latest", "example.test:5000/team/app:v1"]);
    // A name with a registry and slashes reaches the right image.
    let by_long_name = server.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "example.test:5000/team/app:v1",
    ]);
    assert_eq!(by_long_name.trim(), id);
    let untagged = server.docker_ok(&["rmi", "example.test:5000/team/app:v1"]);
    assert_eq!(untagged.trim(), "Untagged: example.test:5000/team/app:v1");
    let out = server.docker(&["image", "inspect", "nosuch:latest"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such image"));

    // Removing the last tag deletes the image.
    let removed = server.docker_ok(&["rmi", "busybox"]);
    assert!(removed.contains("Untagged: busybox:latest"), "{removed}");
    assert!(removed.contains(&format!("Deleted: {id}")), "{removed}");
    assert_eq!(berth.ok(&["images", "-q"]).trim(), "");
    berth.assert_consistent();
}

#[test]
fn volumes_through_docker() {
    if !have_clients() {
        return;
    }
    let berth = Berth::new();
    let server = Served::start(&berth);
    assert_eq!(
        server.docker_ok(&["volume", "create", "--label", "k=v", "data"]).trim(),
        "data"
    );
    berth.ok(&["volume", "create", "other"]);
    let listed = server.docker_ok(&["volume", "ls", "--format", "{{.Name}}"]);
    assert_eq!(lines(&listed), ["data", "other"]);
    let labelled = server.docker_ok(&["volume", "ls", "--filter", "label=k=v", "--format", "{{.Name}}"]);
    assert_eq!(labelled.trim(), "data");
    let inspected = server.docker_ok(&["volume", "inspect", "--format", "{{.Driver}} {{.Mountpoint}}", "data"]);
    let mountpoint = berth.root().join("volumes/data/_data");
    assert_eq!(inspected.trim(), format!("local {}", mountpoint.display()));
    assert_eq!(server.docker_ok(&["volume", "rm", "data"]).trim(), "data");
    assert!(berth.fails(&["volume", "inspect", "data"]).contains("no such volume"));
    let out = server.docker(&["volume", "inspect", "data"]);
    assert!(!out.status.success());
    // Named volumes go only with all=true (what docker 23+'s `-a` sends; older clients lack the flag).
    let pruned = server.docker_ok(&["volume", "prune", "--filter", "all=true", "-f"]);
    assert!(pruned.contains("other"), "{pruned}");
    assert_eq!(berth.ok(&["volume", "ls", "-q"]).trim(), "");
}

#[test]
fn networks_through_docker() {
    if !have_clients() {
        return;
    }
    let Some(berth) = common::with_busybox() else {
        return;
    };
    let server = Served::start(&berth);
    let id = server.docker_ok(&["network", "create", "--label", "k=v", "apinet"]);
    let listed = server.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(lines(&listed), ["apinet", "bridge", "host", "none"]);
    let by_berth = berth.ok(&["network", "inspect", "--format", "{{.Id}}", "apinet"]);
    assert_eq!(by_berth.trim(), id.trim());
    let inspected = server.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{.Driver}} {{index .Labels \"k\"}}",
        "apinet",
    ]);
    assert_eq!(inspected.trim(), "bridge v");
    // Connected and disconnected through the API; the CLI sees the endpoint come and go.
    berth.ok(&["create", "--name", "member", "busybox", "true"]);
    server.docker_ok(&["network", "connect", "--alias", "m1", "apinet", "member"]);
    let networks = berth.ok(&[
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        "member",
    ]);
    assert!(networks.contains("apinet"), "{networks}");
    let members = server.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{range .Containers}}{{.Name}}{{end}}",
        "apinet",
    ]);
    assert_eq!(members.trim(), "member");
    server.docker_ok(&["network", "disconnect", "apinet", "member"]);
    let networks = berth.ok(&[
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        "member",
    ]);
    assert!(!networks.contains("apinet"), "{networks}");
    berth.ok(&["rm", "member"]);
    assert_eq!(server.docker_ok(&["network", "rm", "apinet"]).trim(), "apinet");
    assert!(!berth.ok(&["network", "ls", "--format", "{{.Name}}"]).contains("apinet"));
    let out = server.docker(&["network", "inspect", "apinet"]);
    assert!(!out.status.success());
}

#[test]
fn events_made_by_the_cli_reach_docker_events_and_df_counts_them() {
    if !have_clients() {
        return;
    }
    let Some(berth) = common::with_busybox() else {
        return;
    };
    let server = Served::start(&berth);
    let since = chrono::Utc::now().timestamp() - 1;
    berth.ok(&["volume", "create", "evvol"]);
    berth.ok(&["tag", "busybox", "evimage:1"]);
    berth.ok(&["create", "--name", "evc", "busybox", "true"]);
    // Past the last event's second, so --until (whole seconds) covers them all.
    std::thread::sleep(Duration::from_millis(1100));
    let until = chrono::Utc::now().timestamp();
    let events = server.docker_ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--format",
        "{{.Type}} {{.Action}}",
    ]);
    for want in ["volume create", "image tag", "container create"] {
        assert!(events.lines().any(|l| l == want), "no {want:?} in:\n{events}");
    }
    let only_volumes = server.docker_ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "type=volume",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}}",
    ]);
    assert_eq!(only_volumes.trim(), "volume create evvol");

    let df = server.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert_eq!(
        lines(&df),
        ["Build Cache 0", "Containers 1", "Images 1", "Local Volumes 1"],
        "{df}"
    );
    let verbose = server.docker_ok(&["system", "df", "-v"]);
    assert!(verbose.contains("evc") && verbose.contains("evvol"), "{verbose}");
}

#[test]
fn http_answers_as_dockerd_does() {
    if !have_clients() {
        return;
    }
    let berth = Berth::new();
    let server = Served::start(&berth);
    let (status, headers, body) = server.curl("GET", "/_ping", None);
    assert_eq!((status, body.as_str()), (200, "OK"));
    for header in [
        "api-version: 1.47",
        "ostype: linux",
        "builder-version: 1",
        "docker-experimental: false",
        "cache-control: no-cache, no-store, must-revalidate",
        "pragma: no-cache",
    ] {
        assert!(headers.iter().any(|h| h == header), "no {header:?} in {headers:?}");
    }
    let (status, headers, body) = server.curl("HEAD", "/_ping", None);
    assert_eq!(status, 200);
    assert!(body.is_empty(), "{body:?}");
    assert!(headers.iter().any(|h| h == "api-version: 1.47"), "{headers:?}");

    let (status, _, body) = server.curl("GET", "/v1.41/version", None);
    assert_eq!(status, 200);
    let version: serde_json::Value = serde_json::from_str(&body).expect("version JSON");
    assert_eq!(version["ApiVersion"], "1.47");
    assert_eq!(version["MinAPIVersion"], "1.24");
    assert_eq!(version["Os"], "linux");
    assert_eq!(version["Components"][0]["Name"], "Engine");

    let message = |body: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        v["message"].as_str().expect("message").to_string()
    };
    let (status, _, body) = server.curl("GET", "/v1.23/version", None);
    assert_eq!(status, 400);
    assert_eq!(
        message(&body),
        "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
    );
    let (status, _, body) = server.curl("GET", "/v1.99/info", None);
    assert_eq!(status, 400);
    assert_eq!(
        message(&body),
        "client version 1.99 is too new. Maximum supported API version is 1.47"
    );
    let (status, _, body) = server.curl("GET", "/v1.47/no/such/path", None);
    assert_eq!((status, message(&body).as_str()), (404, "page not found"));
    let (status, _, body) = server.curl("GET", "/services", None);
    assert_eq!(status, 503);
    assert!(
        message(&body).starts_with("This node is not a swarm manager."),
        "{body}"
    );
    let (status, _, _) = server.curl("POST", "/v1.47/swarm/init", Some("{}"));
    assert_eq!(status, 503);
    let (status, _, body) = server.curl("GET", "/plugins", None);
    assert_eq!(status, 501);
    assert!(message(&body).contains("plugins"), "{body}");

    let (status, _, body) = server.curl("POST", "/volumes/create", Some("{\"Name\": "));
    assert_eq!(status, 400);
    assert!(message(&body).starts_with("invalid JSON"), "{body}");
    let (status, _, body) = server.curl("POST", "/networks/create", Some(r#"{"Name":"n","Internal":"yes"}"#));
    assert_eq!(status, 400);
    assert!(message(&body).contains("Internal"), "{body}");
    let (status, _, body) = server.curl("GET", "/containers/json?filters=%7Bnot-json", None);
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = server.curl("GET", "/containers/json?limit=many", None);
    assert_eq!(status, 400, "{body}");
    // Nothing was made by the refused requests.
    assert_eq!(berth.ok(&["volume", "ls", "-q"]).trim(), "");
    assert!(!berth.ok(&["network", "ls"]).contains(" n "));

    let (status, _, body) = server.curl("GET", "/containers/x/json", None);
    assert_eq!((status, message(&body).as_str()), (404, "No such container: x"));
    let (status, _, body) = server.curl("POST", "/v1.47/containers/x/stop", None);
    assert_eq!((status, message(&body).as_str()), (404, "No such container: x"));
    let (status, _, body) = server.curl("GET", "/images/nosuch/json", None);
    assert_eq!(status, 404);
    assert!(message(&body).contains("No such image"), "{body}");
}

#[test]
fn the_server_keeps_serving_after_clients_drop_event_streams() {
    if !have_clients() {
        return;
    }
    let berth = Berth::new();
    let server = Served::start(&berth);
    for _ in 0..3 {
        // curl gives up after half a second, closing the stream mid-way.
        let out = Command::new("curl")
            .args(["-s", "--max-time", "0.5", "--unix-socket"])
            .arg(server.socket())
            .arg("http://berth/events")
            .output()
            .expect("curl");
        assert_eq!(out.status.code(), Some(28), "curl should time out on a followed stream");
    }
    let (status, _, body) = server.curl("GET", "/_ping", None);
    assert_eq!((status, body.as_str()), (200, "OK"));
    // Each stream's reader saw its client go and ended.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.log_text().matches("events stream ended").count() < 3 {
        assert!(
            Instant::now() < deadline,
            "event readers still running:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // And one that was never dropped still gets what happens next.
    let mut follower = Command::new("curl")
        .args(["-s", "-N", "--max-time", "20", "--unix-socket"])
        .arg(server.socket())
        .arg("http://berth/events?filters=%7B%22type%22%3A%5B%22volume%22%5D%7D")
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    std::thread::sleep(Duration::from_millis(300));
    berth.ok(&["volume", "create", "late"]);
    let mut stdout = follower.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut stdout), &mut line).expect("event line");
    let _ = follower.kill();
    let _ = follower.wait();
    let event: serde_json::Value = serde_json::from_str(&line).expect("event JSON");
    assert_eq!(
        (event["Type"].as_str(), event["Action"].as_str()),
        (Some("volume"), Some("create"))
    );
    assert_eq!(event["Actor"]["ID"], "late");
}

#[test]
fn sockets_are_made_as_asked_and_tcp_is_refused() {
    if !have_clients() {
        return;
    }
    let berth = Berth::new();
    let second = berth.path("second.sock");
    // A stale socket file (a killed server's) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&second).expect("stale socket"));
    let mut server = Served::start_with(
        &berth,
        &[berth.path("berth.sock"), second.clone()],
        &["--group", "daemon"],
    );
    for socket in &server.sockets {
        let meta = std::fs::metadata(socket).expect("socket");
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        assert_eq!(meta.uid(), 0);
        assert_eq!(meta.gid(), 1, "the daemon group");
        let out = Command::new("curl")
            .args(["-s", "--unix-socket"])
            .arg(socket)
            .arg("http://berth/_ping")
            .output()
            .expect("curl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "OK");
    }
    // A second server on a live socket is refused, and leaves it working.
    let refused = berth.run(&["serve", "--host", &format!("unix://{}", second.display())]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("another server is listening"));
    assert!(std::os::unix::net::UnixStream::connect(&second).is_ok());
    server.stop();
    assert!(!second.exists(), "the socket outlived its server");

    let tcp = berth.run(&["serve", "--host", "tcp://127.0.0.1:2375"]);
    assert!(!tcp.status.success());
    assert!(
        String::from_utf8_lossy(&tcp.stderr).contains("TLS"),
        "{}",
        String::from_utf8_lossy(&tcp.stderr)
    );
}

/// `docker top`, `stats`, `diff` and `update` of a container the berth CLI started: the processes,
/// the counters (with a CPU use computed from two readings), the changes dockerd would report, and
/// new limits the CLI then sees.
#[test]
fn top_stats_diff_and_update_of_a_container_the_cli_started() {
    if !have_clients() {
        return;
    }
    let Some(berth) = common::with_busybox() else {
        return;
    };
    let server = Served::start(&berth);
    let script = "echo x > /made; rm /bin/true; while true; do :; done";
    berth.ok(&["run", "-d", "--name", "busy", "busybox", "sh", "-c", script]);
    let top = server.docker_ok(&["top", "busy"]);
    assert!(top.lines().next().is_some_and(|h| h.contains("PID")), "{top}");
    assert!(top.contains("while true"), "{top}");
    let only_pids = server.docker_ok(&["top", "busy", "-o", "pid"]);
    assert_eq!(only_pids.lines().count(), 2, "{only_pids}");
    let stats = server.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.PIDs}} {{.MemUsage}}",
        "busy",
    ]);
    let fields: Vec<&str> = stats.split_whitespace().collect();
    assert_eq!(fields[0], "busy", "{stats}");
    let cpu: f64 = fields[1].trim_end_matches('%').parse().expect("a CPU percentage");
    assert!(cpu > 1.0, "a spinning shell uses CPU: {stats}");
    assert_eq!(fields[2], "1", "{stats}");
    // One reading as JSON: Docker's field names.
    let (status, _, body) = server.curl("GET", "/containers/busy/stats?stream=false&one-shot=true", None);
    assert_eq!(status, 200);
    let reading: serde_json::Value = serde_json::from_str(&body).expect("stats JSON");
    assert_eq!(reading["name"], "/busy");
    assert!(
        reading["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap_or(0) > 0,
        "{body}"
    );
    assert!(reading["memory_stats"]["limit"].as_u64().unwrap_or(0) > 0, "{body}");
    let diff = server.docker_ok(&["diff", "busy"]);
    assert!(diff.lines().any(|l| l == "A /made"), "{diff}");
    assert!(diff.lines().any(|l| l == "D /bin/true"), "{diff}");
    assert!(diff.lines().any(|l| l == "C /bin"), "{diff}");
    assert_eq!(
        diff,
        berth.ok(&["diff", "busy"]),
        "both front doors report the same changes"
    );
    // update through the API, seen by the CLI; what berth cannot change is refused by name.
    server.docker_ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--restart",
        "on-failure:2",
        "busy",
    ]);
    let updated = berth.ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        "busy",
    ]);
    assert_eq!(updated.trim(), format!("{} on-failure:2", 64 << 20));
    let out = server.docker(&["update", "--cpu-quota", "50000", "busy"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CpuQuota"));
    // A stopped container: zeros, not an error; top refuses as dockerd does.
    berth.ok(&["kill", "busy"]);
    let stopped = server.docker_ok(&["stats", "--no-stream", "--format", "{{.PIDs}}", "busy"]);
    assert_eq!(stopped.trim(), "0");
    let out = server.docker(&["top", "busy"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"));
    berth.ok(&["rm", "-f", "busy"]);
}

/// A CA (self-signed) and a certificate it signs, as PEM (cert, key): for the server with its
/// addresses, for a client with none.
fn signed_pair(
    ca: &rcgen::Certificate,
    ca_key: &rcgen::KeyPair,
    names: &[&str],
    purpose: rcgen::ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "berth test");
    params.extended_key_usages = vec![purpose];
    let cert = params.signed_by(&key, ca, ca_key).expect("sign");
    (cert.pem(), key.serialize_pem())
}

fn test_ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    (params.self_signed(&key).expect("CA"), key)
}

/// TCP is served only with TLS and client certificates: the docker client with a certificate the
/// CA signed gets through; one without a certificate, or with one another CA signed, does not; and
/// `tcp://` without `--tlsverify` is refused at start.
#[test]
fn tcp_needs_tls_and_a_client_certificate_the_ca_signed() {
    if !have_clients() {
        return;
    }
    let berth = Berth::new();
    let dir = berth.path("tls");
    std::fs::create_dir_all(&dir).expect("tls dir");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write pem");
        path
    };
    let (ca, ca_key) = test_ca("berth test CA");
    let ca_file = write("ca.pem", &ca.pem());
    let (cert, key) = signed_pair(
        &ca,
        &ca_key,
        &["localhost", "127.0.0.1"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (server_cert, server_key) = (write("server-cert.pem", &cert), write("server-key.pem", &key));
    let (cert, key) = signed_pair(&ca, &ca_key, &[], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let (client_cert, client_key) = (write("cert.pem", &cert), write("key.pem", &key));
    let (other_ca, other_key) = test_ca("someone else's CA");
    let (cert, key) = signed_pair(&other_ca, &other_key, &[], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let (stranger_cert, stranger_key) = (write("stranger-cert.pem", &cert), write("stranger-key.pem", &key));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    // Without --tlsverify: refused before anything listens.
    let out = berth.run(&["serve", "--host", &tcp]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"));
    let served = Served::start_with(
        &berth,
        &[berth.path("berth.sock")],
        &[
            "--host",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &ca_file.display().to_string(),
            "--tlscert",
            &server_cert.display().to_string(),
            "--tlskey",
            &server_key.display().to_string(),
        ],
    );
    let docker = |cert: Option<(&Path, &Path)>| {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_CONFIG", berth.path("docker-config"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .args(["-H", &tcp, "--tlsverify", "--tlscacert"])
            .arg(&ca_file);
        if let Some((cert, key)) = cert {
            cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        cmd.args(["version", "--format", "{{.Server.APIVersion}}"])
            .output()
            .expect("docker")
    };
    // The TCP listener comes up after the socket: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no TCP listener: {}", served.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    let ok = docker(Some((&client_cert, &client_key)));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "1.47");
    let stranger = docker(Some((&stranger_cert, &stranger_key)));
    assert!(
        !stranger.status.success(),
        "a certificate another CA signed got through"
    );
    let anonymous = docker(None);
    assert!(
        !anonymous.status.success(),
        "a client without a certificate got through"
    );
    // The unix socket beside it answers as before.
    let (status, _, _) = served.curl("GET", "/_ping", None);
    assert_eq!(status, 200);
}

/// `fd://`: systemd's socket activation (here `systemd-socket-activate`, which does what a .socket
/// unit does): the server answers on the socket it was handed, and leaves the socket file to its
/// owner when it stops.
#[test]
fn sockets_systemd_passes_are_served() {
    if !have_clients() || !common::need("systemd-socket-activate") {
        return;
    }
    let berth = Berth::new();
    let socket = berth.path("activated.sock");
    let log = berth.path("serve.log");
    let mut child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(berth.root())
        .arg("--runroot")
        .arg(berth.path("run"))
        .args(["serve", "--host", "fd://"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .process_group(0)
        .spawn()
        .expect("systemd-socket-activate");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first connection starts berth serve, which answers on the passed socket.
    let out = Command::new("docker")
        .env("DOCKER_CONFIG", berth.path("docker-config"))
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .expect("docker");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(out.status.success(), "{}\n{text}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.47");
    // Without passed sockets, fd:// is refused with the reason.
    let alone = berth.run(&["serve", "--host", "fd://"]);
    assert!(!alone.status.success());
    assert!(String::from_utf8_lossy(&alone.stderr).contains("systemd"));
    let _ =
        rustix::process::kill_process_group(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM);
    let _ = child.wait();
}

/// The server outlives the processes it starts (monitors, DNS servers, exec helpers) and must reap
/// them: none of its children may be left a zombie after their containers are gone.
#[test]
fn the_server_leaves_no_zombies_behind() {
    if !have_clients() {
        return;
    }
    let Some(berth) = common::with_busybox() else {
        return;
    };
    let server = Served::start(&berth);
    berth.ok(&["network", "create", "zombienet"]);
    for _ in 0..3 {
        server.docker_ok(&["run", "--rm", "--network", "zombienet", "busybox", "true"]);
    }
    server.docker_ok(&["run", "-d", "--name", "kept", "busybox", "sleep", "1000"]);
    server.docker_ok(&["exec", "kept", "true"]);
    server.docker_ok(&["rm", "-f", "kept"]);
    let pid = server.child.id().to_string();
    let zombies = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                // "PID (comm) STATE PPID ...": the fields after the command's closing parenthesis.
                let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
                let mut fields = rest.split_whitespace();
                fields.next() == Some("Z") && fields.next() == Some(pid.as_str())
            })
            .collect()
    };
    // A child that just ended is reaped within moments.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !zombies().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(zombies(), Vec::<String>::new(), "zombie children of berth serve");
    berth.ok(&["network", "rm", "zombienet"]);
}
