"""Shared plumbing for the lab's loopback servers (test infrastructure, stdlib only).

- `Service`: the context-manager pair every lab server had spelled out, built from the
  class's own ``start()`` (returning ``self``) and ``stop()``; `LoopbackService` adds the
  ``host``/``url`` of a server on ``127.0.0.1:<port>``.
- `BackgroundHTTPServer`: a ``ThreadingHTTPServer`` (subclass) bound to ``127.0.0.1:<free
  port>`` at construction, served from a daemon thread by ``start()``, stopped with bounded
  waits by ``stop()``. Binding first leaves a gap to configure the server (an owner attribute,
  a TLS-wrapped socket) before any request can arrive.
- `listen_loopback`: a listening TCP socket on ``127.0.0.1:<free port>`` for the raw-socket
  servers (proxies, silent servers).
- `ServedRequest` / `last_header`: one recorded request of a lab HTTP server, and the header
  look-up the request records share, so tests can assert on headers.

Nothing here imports the product.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from socketserver import BaseRequestHandler
from types import TracebackType
from typing import Generic, Self, TypeVar

__all__ = [
    "Service",
    "LoopbackService",
    "BackgroundHTTPServer",
    "ServedRequest",
    "last_header",
    "listen_loopback",
]

#: Seconds ``serve_forever`` waits between shutdown checks (keeps ``stop()`` quick).
POLL_INTERVAL = 0.05
#: Upper bound on waiting for a server thread to end.
JOIN_TIMEOUT = 5.0

S = TypeVar("S", bound=ThreadingHTTPServer)


class Service:
    """Mixin: ``with obj:`` means ``obj.start()`` ... ``obj.stop()``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LoopbackService(Service):
    """A `Service` listening on ``127.0.0.1:<port>`` (``port`` is 0 until started)."""

    port: int

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"


class BackgroundHTTPServer(Service, Generic[S]):
    """``server_class(("127.0.0.1", 0), handler)`` served from a daemon thread.

    Request threads are daemons too, so a hung handler never blocks interpreter exit.
    """

    def __init__(self, server_class: type[S], handler: Callable[..., BaseRequestHandler]) -> None:
        self.server: S = server_class(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        port: int = self.server.server_address[1]
        return port

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and wait (bounded) for the serving thread."""
        if self._thread is not None:
            self.server.shutdown()  # blocks until serve_forever returns; only if it runs
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT)
            self._thread = None


def listen_loopback(backlog: int = 64) -> socket.socket:
    """A TCP socket listening on ``127.0.0.1:<free port>`` (``getsockname()`` tells which)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock


@dataclass(frozen=True, slots=True)
class ServedRequest:
    """One request a lab HTTP server answered (itself or via an upstream)."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    status: int

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (case-insensitive), or None."""
        return last_header(self.headers, name)


def last_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The last value of header ``name`` (case-insensitive) in ``headers``, or None."""
    found = None
    for key, value in headers:
        if key.lower() == name.lower():
            found = value
    return found
