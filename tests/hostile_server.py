"""A local HTTP server on 127.0.0.1 that answers each path with raw bytes chosen by the test: a garbage
status line, oversized headers, a drip of one byte at a time, a redirect anywhere. Used by the tests of
the URL policy (``sources fetch`` and the HTTP store); nothing leaves the machine."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from typing import Callable, Iterable

#: path -> the answer: raw bytes sent as they are, or a callable given the connection's socket
Answer = bytes | Callable[[socket.socket], None]


def response(status: str = "200 OK", body: bytes = b"", headers: Iterable[tuple[str, str]] = (),
             length: bool = True) -> bytes:
    head = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers]
    if length:
        head.append(f"Content-Length: {len(body)}")
    head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def redirect(location: str, status: str = "302 Found") -> bytes:
    return response(status, b"", [("Location", location)])


def drip(data: bytes, every: float = 0.2) -> Callable[[socket.socket], None]:
    """Send ``data`` one byte every ``every`` seconds (until the client hangs up)."""

    def send(sock: socket.socket) -> None:
        for i in range(len(data)):
            sock.sendall(data[i:i + 1])
            time.sleep(every)

    return send


def stream(head: bytes, size: int, chunk: int = 1 << 20) -> Callable[[socket.socket], None]:
    """``head``, then ``size`` zero bytes in pieces (never built in memory at once)."""

    def send(sock: socket.socket) -> None:
        sock.sendall(head)
        left, block = size, b"\0" * chunk
        while left > 0:
            sock.sendall(block[:min(chunk, left)])
            left -= chunk

    return send


class Server:
    """``with Server({"/a": response(...)}) as s: s.url("/a")``; ``s.paths`` lists the paths asked,
    ``s.methods`` their methods. A path without an answer gets a 404."""

    def __init__(self, routes: dict[str, Answer] | None = None) -> None:
        self.routes: dict[str, Answer] = dict(routes or {})
        self.paths: list[str] = []
        self.methods: list[str] = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock = self.request
                sock.settimeout(5)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        part = sock.recv(4096)
                        if not part:
                            return
                        head += part
                    method, path = head.split(b" ", 2)[:2]
                    outer.methods.append(method.decode())
                    outer.paths.append(path.decode())
                    answer = outer.routes.get(path.decode())
                    if answer is None:
                        answer = response("404 Not Found", b"not here")
                    if callable(answer):
                        answer(sock)
                    else:
                        sock.sendall(answer)
                except OSError:  # the client hung up (a deadline, a refused redirect): nothing to do
                    pass

        class TCP(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.srv = TCP(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        # a short poll: shutdown() waits for the loop's next poll (half a second by default, per test)
        self.thread = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.srv.shutdown()
        self.srv.server_close()
