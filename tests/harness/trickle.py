"""A real HTTP peer on loopback that answers slowly: each response goes out one byte at a time.

It stands in for a Triton pod or a Prometheus server that accepts a connection and then trickles bytes,
the case that a per-read socket timeout does not bound.
"""

from __future__ import annotations

import contextlib
import http.server
import random
import ssl
import threading
import time
from collections.abc import Iterator

from tritonops import constants


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    body: bytes
    byte_interval: float
    stopping: threading.Event
    requests: int

    @property
    def address(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Trickle(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.requests += 1
        head = f"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(self.server.body)}\r\n\r\n".encode()
        for byte in head + self.server.body:
            # Bounded by the response's length, and cut short when the test is over or the client left.
            if self.server.stopping.is_set():
                return
            try:
                self.wfile.write(bytes([byte]))
            except OSError:
                return
            time.sleep(self.server.byte_interval)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        return None


def _bind(*, body: bytes, byte_interval: float, address: str, port: int) -> _Server:
    server = _Server((address, port), _Trickle)
    server.body, server.byte_interval, server.stopping, server.requests = body, byte_interval, threading.Event(), 0
    return server


@contextlib.contextmanager
def _serving(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def trickling_server(*, body: bytes, byte_interval: float, tls: ssl.SSLContext | None = None) -> contextlib.AbstractContextManager[_Server]:
    """Serve `body` to every GET on 127.0.0.1 (any port), one byte each `byte_interval` seconds, headers
    included; over TLS when given a server context."""
    server = _bind(body=body, byte_interval=byte_interval, address="127.0.0.1", port=0)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    return _serving(server)


def trickling_pod(*, body: bytes, byte_interval: float) -> contextlib.AbstractContextManager[_Server]:
    """The same where the triton provider looks for a pod's metrics: a random 127.x address, port 8002.

    The pod's address is `server.address`."""
    for _ in range(20):  # bounded: another process may hold one address's port
        address = f"127.{random.randint(100, 199)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
        try:
            server = _bind(body=body, byte_interval=byte_interval, address=address, port=constants.METRICS_PORT)
        except OSError:
            continue
        return _serving(server)
    raise RuntimeError("no free 127.x address for a trickling pod")
