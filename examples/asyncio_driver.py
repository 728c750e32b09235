"""An asyncio driver for sansio_registry: the standard library (asyncio streams, ssl) plus h11.

The sync driver's twin, awaited. No timeout arguments: wrap calls in ``asyncio.timeout()``; a
cancellation aborts the flow and closes the connection it was using.
"""

from __future__ import annotations

import asyncio
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
_IO_ERRORS = (OSError, h11.ProtocolError)  # ssl.SSLError and ConnectionResetError are OSErrors
_UNVERIFIED = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # for insecure endpoints: the core decides
_UNVERIFIED.check_hostname, _UNVERIFIED.verify_mode = False, ssl.CERT_NONE  # no CAs loaded


class _Conn:
    """One HTTP/1.1 connection: asyncio streams (TLS unless plain http) and h11's state."""

    def __init__(
        self, key: tuple[Origin, bool], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.key, self.reader, self.writer = key, reader, writer
        self.h11 = h11.Connection(h11.CLIENT)

    async def send(self, *events: h11.Event) -> None:
        self.writer.write(b"".join(self.h11.send(event) or b"" for event in events))  # one write
        await self.writer.drain()

    async def next_event(self) -> h11.Event:
        while (event := self.h11.next_event()) is h11.NEED_DATA:
            self.h11.receive_data(await self.reader.read(256 * 1024))
        assert isinstance(event, h11.Event)  # never PAUSED: one exchange at a time
        return event

    def close(self) -> None:
        """Drop it at once (no TLS goodbye, nothing to await): fine in ``finally``."""
        self.writer.transport.abort()


class Body:
    """A response body still on its connection: :meth:`read` it to the end, or close it."""

    def __init__(self, conns: Connections, conn: _Conn) -> None:
        self._conns = conns
        self._conn: _Conn | None = conn

    async def read(self) -> bytes:
        """The next chunk; ``b""`` at the end (the connection then goes back to the pool)."""
        if (conn := self._conn) is None:
            return b""
        try:
            event = await conn.next_event()
        except BaseException as exc:  # an IO error, or cancelled mid-body: the rest is lost
            self.close()
            if isinstance(exc, _IO_ERRORS):
                raise TransportError(f"reading the response body: {exc}") from exc
            raise
        if isinstance(event, h11.Data):
            return bytes(event.data)
        self._conn = None
        self._conns.release(conn)
        return b""

    async def buffered(self, head: ResponseHead, limit: int, cut: bool = False) -> Response:
        """``head`` with the rest of the body: over ``limit`` bytes BodyTooLarge (or ``cut``)."""
        kept = BoundedBody(limit)
        while not kept.full and (chunk := await self.read()):
            kept.add(chunk)
        self.close()  # a no-op when read to the end; else the rest is not wanted
        return kept.response(head, cut)

    def close(self) -> None:
        """Give up on the rest: the connection is closed (it cannot carry another request)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class Connections:
    """Keep-alive: one idle connection per (origin, TLS verification); ``aclose()`` when done."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = ssl.create_default_context() if tls is None else tls  # for verified TLS
        self._idle: dict[tuple[Origin, bool], _Conn] = {}

    async def exchange(self, request: Request) -> tuple[ResponseHead, Body]:
        """Send ``request``; return the head and the body still to read. No redirects."""
        origin, key = request.origin, (request.origin, request.tls_verify)
        start = h11_request(request)
        tls = None if origin.scheme == "http" else self.tls if request.tls_verify else _UNVERIFIED
        while True:
            conn = self._idle.pop(key, None)
            reused = conn is not None
            try:
                if conn is None:
                    streams = await asyncio.open_connection(origin.host, origin.port, ssl=tls)
                    conn = _Conn(key, *streams)
                await conn.send(start, h11.Data(data=request.body), h11.EndOfMessage())
                while not isinstance(event := await conn.next_event(), h11.Response):
                    if not isinstance(event, h11.InformationalResponse):
                        raise h11.RemoteProtocolError("connection closed before a response")
                head = response_head(event, received_at=time.monotonic())  # the driver's clock
                return head, Body(self, conn)
            except BaseException as exc:  # an IO error, or cancelled: the connection is lost
                if conn is not None:
                    conn.close()
                if not isinstance(exc, _IO_ERRORS):
                    raise
                if not (reused and request.method in ("GET", "HEAD")):  # else: stale, retry
                    raise TransportError(f"{request.method} {origin}: {exc}") from exc

    def release(self, conn: _Conn) -> None:
        """Keep ``conn`` after a clean exchange (if none is idle for its key); else close it."""
        clean = conn.h11.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}
        if clean and conn.key not in self._idle:
            conn.h11.start_next_cycle()
            self._idle[conn.key] = conn
        else:
            conn.close()

    async def aclose(self) -> None:
        """Close every idle connection and wait until their sockets are closed."""
        idle, self._idle = list(self._idle.values()), {}
        for conn in idle:
            conn.close()
        for conn in idle:
            await conn.writer.wait_closed()


async def run_streamed(flow: Flow[T], conns: Connections) -> tuple[T, Body | None]:
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
                    await asyncio.sleep(step.seconds)
                elif is_file_url(step.request.url):
                    answer = await asyncio.to_thread(file_exchange, step.request)
                    reply = replace(answer, received_at=time.monotonic())
                else:
                    head, body = await conns.exchange(step.request)
                    if isinstance(step, Open) and 200 <= head.status < 300:
                        reply, kept = head, body
                    else:  # a Fetch, or an Open's error answer (cut): read in full, bounded
                        limit, cut = step.request.max_body, isinstance(step, Open)
                        reply = await body.buffered(head, limit, cut)
            except RegistryClientError as exc:  # TransportError, BodyTooLarge
                step = flow.fail(exc)
                continue
            step = flow.reply(reply)
        return step.value, kept
    finally:
        flow.abort()  # a no-op once done; after a cancellation it closes the flow's generator
        if kept is not None and flow.state is not FlowState.DONE:  # else it is the caller's
            kept.close()


async def run(flow: Flow[T], conns: Connections | None = None) -> T:
    """Run ``flow`` to the end and return its value (or raise its error)."""
    pool = Connections() if conns is None else conns
    try:
        value, body = await run_streamed(flow, pool)
        if body is not None:
            body.close()
        return value
    finally:
        if conns is None:
            await pool.aclose()
