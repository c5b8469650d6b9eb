//! Debian's docker-compose (1.29, on the Python SDK) against `berth serve`: a project of two
//! busybox services on a user network, where a client reaches a web server by its service name,
//! a named volume, a port published on an ephemeral host port and fetched from the host; `up -d`,
//! `logs`, `exec`, `run --rm` (a one-off container with legacy links), a changed service recreated,
//! `--scale web=3` and `down -v`, after which nothing of the project is left.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::served::Served;
use crate::common::{self, Berth};
use crate::{said, text};

const PROJECT: &str = "bcompose";

/// Two services on the network `back`: `web` serves a page naming its container from the volume
/// `pages`, published on 127.0.0.1 at a port the engine picks (so it scales); `client` fetches it
/// by the name `web` once a second and prints it (and stops at once on SIGTERM, as pid 1). `client`
/// links to `web` as `www`, a name only the link gives.
const COMPOSE_FILE: &str = r#"version: "2.4"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo hello from $$(hostname) > /www/index.html && exec busybox httpd -f -p 80 -h /www"]
    volumes:
      - pages:/www
    ports:
      - "127.0.0.1::80"
    networks: [back]
  client:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do wget -qO- http://web/ && sleep 1 || sleep 0.2; done"]
    links: ["web:www"]
    networks: [back]
networks:
  back: {}
volumes:
  pages: {}
"#;

/// docker-compose on the project, pointed at the server only (no context, no user config).
struct Compose<'a> {
    server: &'a Served,
    file: PathBuf,
    /// `COMPOSE_API_VERSION`, when not the version compose negotiates (berth's newest).
    api_version: Option<&'static str>,
}

impl Compose<'_> {
    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new("timeout");
        if let Some(version) = self.api_version {
            command.env("COMPOSE_API_VERSION", version);
        }
        command
            .arg("120")
            .arg("docker-compose")
            .arg("-p")
            .arg(PROJECT)
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.server.socket().display()))
            .env("DOCKER_CONFIG", &self.server.docker_config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .output()
            .expect("run docker-compose")
    }

    /// Runs docker-compose and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}\nserver log:\n{}",
            said(&out),
            self.server.log_text()
        );
        text(&out.stdout)
    }
}

/// GET / from `address` (ADDRESS:PORT, as `docker-compose port` prints it), retried for a while:
/// the server in the container may not listen yet.
fn fetch(address: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = TcpStream::connect(address).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")?;
            let mut reply = String::new();
            s.read_to_string(&mut reply)?;
            Ok(reply)
        });
        match attempt {
            Ok(reply) if reply.starts_with("HTTP/1.") => return reply,
            other => assert!(Instant::now() < deadline, "no page from {address}: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The lines of berth's `ps -q` (or any id listing) with `args`.
fn ids(berth: &Berth, args: &[&str]) -> Vec<String> {
    berth.ok(args).lines().map(str::to_string).collect()
}

fn project_label() -> String {
    format!("label=com.docker.compose.project={PROJECT}")
}

#[test]
fn docker_compose_brings_a_project_up_scales_it_and_takes_it_down() {
    if !common::need("docker-compose") {
        return;
    }
    let Some(berth) = common::with_busybox() else {
        return;
    };
    let server = Served::start(&berth);
    let dir = berth.path("project");
    std::fs::create_dir_all(&dir).expect("project dir");
    let file = dir.join("compose.yml");
    std::fs::write(&file, COMPOSE_FILE).expect("compose file");
    let compose = Compose {
        server: &server,
        file: file.clone(),
        api_version: None,
    };

    compose.ok(&["up", "-d"]);
    let label = project_label();
    assert_eq!(ids(&berth, &["ps", "-q", "--filter", &label]).len(), 2);
    assert_eq!(
        berth.ok(&["volume", "ls", "-q", "--filter", &label]).trim(),
        format!("{PROJECT}_pages")
    );
    assert_eq!(ids(&berth, &["network", "ls", "-q", "--filter", &label]).len(), 1);

    // The published port, from the host.
    let address = compose.ok(&["port", "web", "80"]).trim().to_string();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    let page = fetch(&address);
    assert!(page.contains("hello from "), "{page}");

    // The client reaches web by its service name on the project's network; its output is in logs.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = compose.ok(&["logs", "--no-color", "client"]);
        if logs.contains("hello from ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client never got the page by the name web: {logs}\nserver log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        compose.ok(&["exec", "-T", "web", "cat", "/www/index.html"]).trim(),
        page.lines().last().unwrap_or_default().trim()
    );

    // A one-off container: compose links it to web (`www`, `web_1`, `bcompose_web_1`) and to the
    // running client, in HostConfig.Links and the endpoint's Links. Names only the links give
    // resolve in it, and its exit code is compose's.
    let out = compose.run(&[
        "run",
        "--rm",
        "-T",
        "client",
        "sh",
        "-c",
        "wget -qO- http://www/ && wget -qO- http://web_1/ && cat /etc/hosts && exit 7",
    ]);
    let said_run = said(&out);
    assert_eq!(
        out.status.code(),
        Some(7),
        "docker-compose run: {said_run}\nserver log:\n{}",
        server.log_text()
    );
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("hello from ").count(), 2, "{said_run}");
    assert!(
        stdout.contains("\tweb_1\n") && stdout.contains("\tclient_1\n"),
        "{said_run}"
    );
    let one_off = "label=com.docker.compose.oneoff=True";
    assert_eq!(
        berth.ok(&["ps", "-aq", "--filter", one_off]),
        "",
        "the one-off container stayed"
    );
    assert_eq!(ids(&berth, &["ps", "-aq", "--filter", &label]).len(), 2);

    // A changed service is recreated: the old container renamed and removed, a new one made. Compose
    // reads the image's ContainerConfig for it, which API 1.45 and later leave out (dockerd 25 and
    // later too), so this client asks for 1.44.
    let before = ids(
        &berth,
        &["ps", "-q", "--filter", "label=com.docker.compose.service=client"],
    );
    let changed = COMPOSE_FILE.replace(
        "    networks: [back]\nnetworks:",
        "    networks: [back]\n    environment: [ROUND=2]\nnetworks:",
    );
    assert_ne!(changed, COMPOSE_FILE);
    std::fs::write(&file, changed).expect("changed compose file");
    let older = Compose {
        api_version: Some("1.44"),
        ..compose
    };
    let out = older.run(&["up", "-d"]);
    assert!(
        out.status.success() && text(&out.stderr).contains("Recreating"),
        "up -d of a changed service: {}\nserver log:\n{}",
        said(&out),
        server.log_text()
    );
    let after = ids(
        &berth,
        &["ps", "-q", "--filter", "label=com.docker.compose.service=client"],
    );
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before);
    let env = berth.ok(&["inspect", "-f", "{{json .Config.Env}}", &after[0]]);
    assert!(env.contains("ROUND=2"), "{env}");
    assert_eq!(ids(&berth, &["ps", "-aq", "--filter", &label]).len(), 2);
    let compose = Compose {
        api_version: None,
        ..older
    };

    // Three web containers, each on its own host port, sharing the volume.
    compose.ok(&["up", "-d", "--scale", "web=3"]);
    let webs = compose.ok(&["ps", "-q", "web"]);
    assert_eq!(webs.lines().count(), 3, "{webs}");
    let service = "label=com.docker.compose.service=web";
    assert_eq!(
        ids(&berth, &["ps", "-q", "--filter", &label, "--filter", service]).len(),
        3
    );
    let mut addresses = Vec::new();
    for index in 1..=3 {
        let at = compose.ok(&["port", &format!("--index={index}"), "web", "80"]);
        let page = fetch(at.trim());
        assert!(page.contains("hello from "), "web {index}: {page}");
        addresses.push(at.trim().to_string());
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        3,
        "the web containers share a host port: {addresses:?}"
    );
    let ps = compose.ok(&["ps"]);
    assert_eq!(ps.matches(&format!("{PROJECT}_web_")).count(), 3, "{ps}");

    // down -v: containers, network and volume go.
    compose.ok(&["down", "-v"]);
    assert_eq!(berth.ok(&["ps", "-aq"]), "");
    assert_eq!(berth.ok(&["volume", "ls", "-q"]), "");
    let networks = berth.ok(&["network", "ls", "--format", "{{.Name}}"]);
    let mut networks: Vec<&str> = networks.lines().collect();
    networks.sort();
    assert_eq!(networks, ["bridge", "host", "none"]);
    // Nor mounts, namespaces, cgroups, bridges or firewall rules: berth's own check finds nothing.
    let check = berth.run(&["system", "check"]);
    assert!(check.status.success(), "system check after down -v: {}", said(&check));
}
