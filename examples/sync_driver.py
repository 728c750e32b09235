"""A synchronous driver for sansio_registry: the standard library (socket, ssl) plus h11.

The core decides every request, redirect, retry and credential; this moves bytes and reads
the clock (``begin(at=…)`` and ``received_at``: the only way time reaches the core).
``run_streamed`` also hands over the body kept for a final ``Open`` (a blob).
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import replace
from typing import TypeVar

import h11

from sansio_registry import Done, Flow, FlowState, Open, Sleep
from sansio_registry.errors import RegistryClientError, TransportError
from sansio_registry.http import Origin, Request, Response, ResponseHead, is_file_url
from sansio_registry_driverkit.files import file_exchange
from sansio_registry_driverkit.h11_helpers import BoundedBody, h11_request, response_head

__all__ = ["Body", "Connections", "run", "run_streamed"]

T = TypeVar("T")
_IO_ERRORS = (OSError, h11.ProtocolError)  # ssl.SSLError and socket timeouts are OSErrors
_UNVERIFIED = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # for insecure endpoints: the core decides
_UNVERIFIED.check_hostname, _UNVERIFIED.verify_mode = False, ssl.CERT_NONE  # no CAs loaded


class _Conn:
    """One HTTP/1.1 connection: a socket (TLS unless plain http) and its h11 state machine."""

    def __init__(self, origin: Origin, verify: bool, timeout: float) -> None:
        self.key = (origin, verify)
        sock = socket.create_connection((origin.host, origin.port), timeout=timeout)
        if origin.scheme == "https":
            ctx = ssl.create_default_context() if verify else _UNVERIFIED
            sock = ctx.wrap_socket(sock, server_hostname=origin.host)  # closes itself on failure
        self.sock, self.h11 = sock, h11.Connection(h11.CLIENT)

    def send(self, *events: h11.Event) -> None:
        self.sock.sendall(b"".join(self.h11.send(event) or b"" for event in events))  # one write

    def next_event(self) -> h11.Event:
        while (event := self.h11.next_event()) is h11.NEED_DATA:
            self.h11.receive_data(self.sock.recv(256 * 1024))
        assert isinstance(event, h11.Event)  # never PAUSED: one exchange at a time
        return event


class Body:
    """A response body still on its connection: :meth:`read` it to the end, or close it."""

    def __init__(self, conns: Connections, conn: _Conn) -> None:
        self._conns = conns
        self._conn: _Conn | None = conn

    def read(self) -> bytes:
        """The next chunk; ``b""`` at the end (the connection then goes back to the pool)."""
        if (conn := self._conn) is None:
            return b""
        try:
            event = conn.next_event()
        except _IO_ERRORS as exc:
            self.close()
            raise TransportError(f"reading the response body: {exc}") from exc
        if isinstance(event, h11.Data):
            return bytes(event.data)
        self._conn = None
        self._conns.release(conn)
        return b""

    def buffered(self, head: ResponseHead, limit: int, cut: bool = False) -> Response:
        """``head`` with the rest of the body: over ``limit`` bytes BodyTooLarge (or ``cut``)."""
        kept = BoundedBody(limit)
        while not kept.full and (chunk := self.read()):
            kept.add(chunk)
        self.close()  # a no-op when read to the end; else the rest is not wanted
        return kept.response(head, cut)

    def close(self) -> None:
        """Give up on the rest: the connection is closed (it cannot carry another request)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.sock.close()


class Connections:
    """Keep-alive: one idle connection per (origin, TLS verification) is kept for reuse."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._idle: dict[tuple[Origin, bool], _Conn] = {}

    def exchange(self, request: Request) -> tuple[ResponseHead, Body]:
        """Send ``request``; return the head and the body still to read. No redirects."""
        origin = request.origin
        start = h11_request(request)
        while True:
            conn = self._idle.pop((origin, request.tls_verify), None)
            reused = conn is not None
            try:
                if conn is None:
                    conn = _Conn(origin, request.tls_verify, self.timeout)
                conn.send(start, h11.Data(data=request.body), h11.EndOfMessage())
                while not isinstance(event := conn.next_event(), h11.Response):
                    if not isinstance(event, h11.InformationalResponse):
                        raise h11.RemoteProtocolError("connection closed before a response")
                head = response_head(event, received_at=time.monotonic())  # the driver's clock
                return head, Body(self, conn)
            except _IO_ERRORS as exc:
                if conn is not None:
                    conn.sock.close()
                if not (reused and request.method in ("GET", "HEAD")):  # else: stale, retry
                    failed, connected = f"{request.method} {origin}: {exc}", conn is not None
                    raise TransportError(failed, before_response=not connected) from exc

    def release(self, conn: _Conn) -> None:
        """Keep ``conn`` after a clean exchange (if none is idle for its key); else close it."""
        clean = conn.h11.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}
        if clean and conn.key not in self._idle:
            conn.h11.start_next_cycle()
            self._idle[conn.key] = conn
        else:
            conn.sock.close()

    def close(self) -> None:
        """Close every idle connection."""
        for conn in self._idle.values():
            conn.sock.close()
        self._idle.clear()


def run_streamed(flow: Flow[T], conns: Connections) -> tuple[T, Body | None]:
    """Run ``flow``; also return the body of its last ``Open`` if the flow ended right there."""
    kept: Body | None = None
    try:
        step = flow.begin(at=time.monotonic())
        while not isinstance(step, Done):
            if kept is not None:  # the flow moved on: that body is abandoned
                kept.close()
                kept = None
            reply: ResponseHead | None = None
            try:
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                elif is_file_url(step.request.url):
                    reply = replace(file_exchange(step.request), received_at=time.monotonic())
                else:
                    head, body = conns.exchange(step.request)
                    if isinstance(step, Open) and 200 <= head.status < 300:
                        reply, kept = head, body
                    else:  # a Fetch, or an Open's error answer (cut): read in full, bounded
                        reply = body.buffered(head, step.request.max_body, isinstance(step, Open))
            except RegistryClientError as exc:  # TransportError, BodyTooLarge
                step = flow.fail(exc)
                continue
            step = flow.reply(reply)
        return step.value, kept
    finally:
        flow.abort()  # a no-op once done; after an interrupt it closes the flow's generator
        if kept is not None and flow.state is not FlowState.DONE:  # else it is the caller's
            kept.close()


def run(flow: Flow[T], conns: Connections | None = None) -> T:
    """Run ``flow`` to the end and return its value (or raise its error)."""
    pool = Connections() if conns is None else conns
    try:
        value, body = run_streamed(flow, pool)
        if body is not None:
            body.close()
        return value
    finally:
        if conns is None:
            pool.close()
