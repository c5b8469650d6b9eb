"""The Docker SDK for Python against `berth serve`: run, detach, stream logs, exec, attach, wait,
remove. Run by python.rs with the socket as its argument; any failure raises."""

import sys

import docker

client = docker.DockerClient(base_url="unix://" + sys.argv[1], version="auto")

out = client.containers.run("busybox", "echo hi", remove=True)
assert out == b"hi\n", out

c = client.containers.run(
    "busybox", ["sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.2; done; sleep 30"], detach=True
)
lines = c.logs(stream=True, follow=True)
got = [next(lines), next(lines), next(lines)]
assert got == [b"n1\n", b"n2\n", b"n3\n"], got

result = c.exec_run(["sh", "-c", "echo ex; echo err >&2; exit 4"])
assert result.exit_code == 4, result
assert b"ex\n" in result.output and b"err\n" in result.output, result.output
demuxed = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
assert demuxed.output == (b"o\n", b"e\n"), demuxed.output

# attach with the log replayed first, then what comes next.
attached = c.attach(stream=True, stdout=True, stderr=True, logs=True)
assert next(attached) == b"n1\n"

c.kill()
status = c.wait()
assert status["StatusCode"] == 137, status
c.remove(force=True)
assert not client.containers.list(all=True), client.containers.list(all=True)

# attach before the output comes.
c = client.containers.run("busybox", ["sh", "-c", "sleep 1; echo late; exit 2"], detach=True)
attached = c.attach(stream=True, stdout=True, stderr=True)
assert b"".join(attached) == b"late\n"
assert c.wait()["StatusCode"] == 2
c.remove()
print("sdk ok")
