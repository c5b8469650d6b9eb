//! The Docker SDK for Python (the `docker` package) against the server: pull, build from a file
//! object and from a directory, save in chunks, load, commit, put_archive and get_archive, and the
//! errors it raises.

use std::process::Command;

use crate::common::served::Served;
use crate::common::with_busybox;
use crate::{context_dir, have_clients, source_in, stderr, stdout};

const SCRIPT: &str = r#"
import io, sys
import docker

socket, registry, context = sys.argv[1:4]
client = docker.DockerClient(base_url="unix://" + socket)

pulled = client.images.pull(registry + "/test/busybox", tag="1")
assert registry + "/test/busybox:1" in pulled.tags, pulled.tags

dockerfile = io.BytesIO(b"FROM busybox\nRUN echo hi > /hi\nLABEL made=by-sdk\n")
image, logs = client.images.build(fileobj=dockerfile, tag="sdk:1", rm=True)
assert image.labels.get("made") == "by-sdk", image.labels
assert any("Step 1/3 : FROM busybox" in line.get("stream", "") for line in logs)

from_dir, _ = client.images.build(path=context, tag="sdk:2", buildargs={"GREETING": "sdk"})
assert "sdk:2" in from_dir.tags

chunks = list(client.images.get("sdk:1").save(named=True))
assert len(chunks) > 1, len(chunks)
client.images.remove("sdk:1")
loaded = client.images.load(b"".join(chunks))
assert [i.id for i in loaded] == [image.id], (loaded, image.id)
assert "sdk:1" in client.images.get(image.id).tags

container = client.containers.get("made")
committed = container.commit(repository="sdk-commit", tag="x", message="m", conf={"Cmd": ["cat", "/made"], "Labels": {"k": "v"}})
assert committed.attrs["Config"]["Cmd"] == ["cat", "/made"], committed.attrs["Config"]
assert committed.labels.get("k") == "v"

import tarfile
payload = io.BytesIO()
with tarfile.open(fileobj=payload, mode="w") as tar:
    data = b"put by the sdk\n"
    info = tarfile.TarInfo("sdk.txt")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
assert container.put_archive("/", payload.getvalue())
stream, stat = container.get_archive("/sdk.txt")
assert stat["name"] == "sdk.txt" and stat["size"] == len(data), stat
with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
    assert tar.extractfile("sdk.txt").read() == data

try:
    client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 4\n"))
    raise SystemExit("a failing build raised nothing")
except docker.errors.BuildError as e:
    assert "returned a non-zero code: 4" in e.msg, e.msg

try:
    client.images.pull(registry + "/test/nothing", tag="1")
    raise SystemExit("a missing image raised nothing")
except docker.errors.NotFound as e:
    assert "manifest unknown" in str(e), str(e)
print("sdk ok")
"#;

fn have_sdk() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: the Docker SDK for Python is not installed (scripts/deps.sh installs it)");
    }
    found
}

#[test]
fn the_python_sdk_pulls_builds_saves_loads_commits_and_copies() {
    if !have_clients() || !have_sdk() {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let registry = crate::registry(&berth, None);
    source_in(&registry, &berth);
    berth.ok(&["rmi", &format!("{}/test/busybox:1", registry.host())]);
    let server = Served::start(&berth);
    let context = context_dir(&berth);
    berth.ok(&["run", "--name", "made", "busybox", "sh", "-c", "echo made > /made"]);
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(server.socket())
        .arg(registry.host())
        .arg(&context)
        .output()
        .expect("python3");
    assert!(
        out.status.success() && stdout(&out).contains("sdk ok"),
        "stdout: {}\nstderr: {}\nserver log:\n{}",
        stdout(&out),
        stderr(&out),
        server.log_text()
    );
}
