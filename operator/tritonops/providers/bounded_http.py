"""HTTP GET with a total deadline on the whole request, not on each socket read.

A per-read timeout does not bound a peer that accepts the connection and then sends a byte now and
then: every read returns in time and the request lasts as long as the peer likes. Here one watchdog
thread shuts down the socket of any request still running at its deadline, so that a read blocked
in the headers or the body returns at once, for http and https alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import itertools
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator

MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # far above any /metrics page or query answer: memory stays bounded
_CHUNK = 64 * 1024
# How often the watchdog looks again at a request past its deadline whose socket did not exist yet.
_RECHECK_SECONDS = 0.05


@dataclasses.dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock by which some work must be over."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def within(self, seconds: float) -> Deadline:
        """This deadline, or `seconds` from now if that comes first."""
        return Deadline(min(self.at, time.monotonic() + seconds))


class UnusableURL(ValueError):
    """Not an http(s) URL with a host."""


def _shown(url: str) -> str:
    """The URL for messages: without user:password@, which status, events and logs must never see."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


class DeadlineExceeded(TimeoutError):
    """The work was not over by its deadline (a TimeoutError, so an OSError: callers that treat an
    unreachable peer as "no answer" treat a slow one the same way)."""


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    reason: str
    body: bytes


class _Watchdog:
    """One daemon thread, started on first use, that shuts the sockets of requests past their deadline."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._guarded: dict[int, tuple[float, http.client.HTTPConnection]] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def guard(self, connection: http.client.HTTPConnection, deadline: Deadline) -> Iterator[None]:
        ident = next(self._ids)
        with self._condition:
            self._guarded[ident] = (deadline.at, connection)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tritonops-http-deadlines", daemon=True)
                self._thread.start()
            self._condition.notify()
        try:
            yield
        finally:
            # Unguarded before the caller closes the connection: the watchdog never touches a closed socket
            # (whose descriptor number another socket may already reuse).
            with self._condition:
                del self._guarded[ident]

    def _run(self) -> None:
        while True:
            with self._condition:
                now = time.monotonic()
                wait = 1.0
                for at, connection in self._guarded.values():
                    if at > now:
                        wait = min(wait, at - now)
                        continue
                    wait = min(wait, _RECHECK_SECONDS)  # it may still be connecting: look again soon
                    sock = connection.sock
                    if isinstance(sock, socket.socket):
                        # The plain socket's shutdown, also under TLS: ssl.SSLSocket's own would drop its
                        # SSL object while the reading thread still uses it.
                        with contextlib.suppress(OSError):
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)
                self._condition.wait(timeout=wait)


_WATCHDOG = _Watchdog()


def get(url: str, *, deadline: Deadline, max_bytes: int = MAX_RESPONSE_BYTES) -> Response:
    """GET `url`, over by `deadline` whatever the peer does; DeadlineExceeded when it was not."""
    parts = urllib.parse.urlsplit(url)
    connection_class = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}.get(parts.scheme)
    if connection_class is None or not parts.hostname:
        raise UnusableURL(f"not an http(s) URL with a host: {_shown(url)}")
    if "@" in parts.netloc:
        # Nothing here sends them, and they must not reach status, events or logs either.
        raise UnusableURL(f"credentials in the URL are not supported: {_shown(url)}")
    if deadline.expired:
        raise DeadlineExceeded(f"no time was left to fetch {_shown(url)}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The socket timeout only bounds connecting and each read; the watchdog bounds them all together.
    connection = connection_class(parts.hostname, parts.port, timeout=max(deadline.remaining(), 0.001))
    try:
        with _WATCHDOG.guard(connection, deadline):
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            chunks: list[bytes] = []
            received = 0
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise OSError(f"{_shown(url)} sent more than {max_bytes} bytes")
                chunks.append(chunk)
                if deadline.expired:
                    break
            if deadline.expired:
                raise DeadlineExceeded(f"{_shown(url)} did not answer in full within its deadline")
            return Response(status=response.status, reason=response.reason, body=b"".join(chunks))
    except (OSError, http.client.HTTPException, ValueError) as error:
        # A socket shut by the watchdog surfaces as whatever http.client and ssl make of a cut connection.
        if deadline.expired and not isinstance(error, DeadlineExceeded):
            raise DeadlineExceeded(f"{_shown(url)} did not answer within its deadline") from error
        if isinstance(error, http.client.HTTPException):
            raise OSError(f"{_shown(url)}: {error!r}") from error
        raise  # an OSError, or a ValueError from the peer's answer, not from the deadline
    finally:
        connection.close()
