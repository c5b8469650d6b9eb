"""The Docker SDK for Python attaching over a websocket (`attach_socket(..., ws=True)`, which
uses the websocket-client package) to `berth serve`. Run by websocket.rs with the socket as its
argument; any failure raises.

The SDK makes a ws:// URL out of its base URL, and for a unix socket (http+docker://) there is
nothing to dial: its `_create_websocket_connection`, the one place it opens the connection, is
given one made on the socket instead, the URL's path and query kept as the SDK built them."""

import socket
import sys
import time

import docker
import websocket
from websocket import ABNF

path = sys.argv[1]


def over_unix_socket(url):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    scheme_end = url.index("://") + 3
    return websocket.create_connection(
        "ws://localhost" + url[url.index("/", scheme_end):], socket=sock, timeout=30
    )


def client_at(version):
    client = docker.DockerClient(base_url="unix://" + path, version=version)
    client.api._create_websocket_connection = over_unix_socket
    return client


def read_until(ws, text, opcode=ABNF.OPCODE_BINARY):
    """Frames until `text` has come; each must be a data frame of `opcode`."""
    seen = b""
    while text not in seen:
        got, frame = ws.recv_data_frame()
        assert got == opcode, (got, frame, seen)
        seen += frame.data
    return seen


client = client_at("auto")
c = client.containers.run(
    "busybox", ["sh", "-c", "echo ready; echo warn >&2; exec cat"], detach=True, stdin_open=True
)
deadline = time.time() + 20
while b"ready" not in c.logs():
    assert time.time() < deadline, c.logs()
    time.sleep(0.1)

# The log replayed, then the stream: raw (no 8-byte headers), stdout and stderr both, binary frames.
ws = client.api.attach_socket(
    c.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "logs": 1}, ws=True
)
replay = read_until(ws, b"warn\n")
assert replay in (b"ready\nwarn\n", b"warn\nready\n"), replay

# Input: a binary frame, a text frame, a message in three fragments with a ping between them.
ws.send_binary(b"binary in\n")
assert read_until(ws, b"binary in\n") == b"binary in\n"
ws.send("text in\n")
assert read_until(ws, b"text in\n") == b"text in\n"
ws.send_frame(ABNF.create_frame(b"frag", ABNF.OPCODE_BINARY, fin=0))
ws.send_frame(ABNF.create_frame(b"men", ABNF.OPCODE_CONT, fin=0))
ws.ping(b"still there?")
ws.send_frame(ABNF.create_frame(b"ted\n", ABNF.OPCODE_CONT, fin=1))
# cat echoes each fragment as it comes, so output may arrive before the pong.
echoed = b""
while True:
    got, frame = ws.recv_data_frame(control_frame=True)
    if got == ABNF.OPCODE_PONG:
        assert frame.data == b"still there?", frame.data
        break
    assert got == ABNF.OPCODE_BINARY, (got, frame, echoed)
    echoed += frame.data
while b"fragmented\n" not in echoed:
    got, frame = ws.recv_data_frame()
    assert got == ABNF.OPCODE_BINARY, (got, frame, echoed)
    echoed += frame.data
assert echoed == b"fragmented\n", echoed

# Closing is answered with a close, and the container runs on (its stdin is not closed).
ws.close()
c.reload()
assert c.status == "running", c.status

# Before API 1.28 the frames are text; before 1.42 every stream is attached whatever the query.
old = client_at("1.27")
ws = old.api.attach_socket(c.id, params={"stream": 1}, ws=True)
ws.send_binary(b"old client\n")
assert read_until(ws, b"old client\n", ABNF.OPCODE_TEXT) == b"old client\n"
ws.close()

c.kill()
c.remove(force=True)

# Attached before the start (as a client that wants all the output does); the server closes with
# 1000 once the container's output ends.
c = client.containers.create("busybox", ["sh", "-c", "echo early; echo late >&2"])
ws = client.api.attach_socket(c.id, params={"stdout": 1, "stream": 1}, ws=True)
c.start()
assert read_until(ws, b"early\n") == b"early\n"
got, frame = ws.recv_data_frame()
assert got == ABNF.OPCODE_CLOSE and frame.data[:2] == b"\x03\xe8", (got, frame)
assert c.wait()["StatusCode"] == 0
c.remove()
print("ws ok")
