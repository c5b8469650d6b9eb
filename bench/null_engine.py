#!/usr/bin/env python3
"""A Docker Engine API server that does no work: the floor under any engine for `docker run --rm`.

It answers the calls `docker run --rm IMG CMD` makes (ping, create, attach, wait, start) at once,
as if the container ran and was removed in no time, so a benchmark can time the docker client's
own part of a run. Usage: null_engine.py SOCKET_PATH (serves until killed).
"""
import os
import socketserver
import sys

ID = "0" * 64
HEADERS = "Api-Version: 1.47\r\nOstype: linux\r\nDocker-Experimental: false\r\n"


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, path, _ = line.decode().split(" ", 2)
            length = 0
            while True:
                header = self.rfile.readline().decode().strip()
                if not header:
                    break
                name, _, value = header.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length:
                self.rfile.read(length)
            path = path.split("?")[0]
            if path.endswith("/_ping"):
                self.reply("200 OK", "text/plain", b"" if method == "HEAD" else b"OK")
            elif path.endswith("/containers/create"):
                self.reply("201 Created", "application/json", b'{"Id":"%s","Warnings":[]}' % ID.encode())
            elif path.endswith("/attach"):
                # The upgraded stream ends at once: the container said nothing.
                self.wfile.write(
                    ("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                     "Content-Type: application/vnd.docker.multiplexed-stream\r\n" + HEADERS + "\r\n").encode())
                self.wfile.flush()
                return
            elif path.endswith("/wait"):
                self.reply("200 OK", "application/json", b'{"StatusCode":0}\n')
            elif path.endswith("/start"):
                self.reply("204 No Content", None, b"")
            else:
                self.reply("404 Not Found", "application/json", b'{"message":"not in the null engine"}')

    def reply(self, status, content_type, body):
        head = f"HTTP/1.1 {status}\r\n{HEADERS}"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        if not status.startswith("204"):
            head += f"Content-Length: {len(body)}\r\n"
        self.wfile.write((head + "\r\n").encode() + body)
        self.wfile.flush()


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    with Server(path, Handler) as server:
        server.serve_forever()
