"""A tiny trio + h11 HTTP/1.1 server on 127.0.0.1 for the backend tests, and ``trio_test``.

Each test passes a handler that gets an :class:`Exchange` per request (keep-alive is on unless
the handler closes); a ``raw`` handler gets the bare stream to misbehave freely. The server
records every request and counts connections opened and closed, so tests can prove reuse.
"""

from __future__ import annotations

import functools
import http
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import h11
import trio

__all__ = [
    "TEST_TIMEOUT",
    "Exchange",
    "Loopback",
    "Recorded",
    "free_port",
    "serve",
    "trio_test",
]

#: Every test body runs under ``trio.fail_after(TEST_TIMEOUT)``.
TEST_TIMEOUT = 20.0


def trio_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test with ``trio.run`` (pytest-trio is not used), bounded by fail_after."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        async def main() -> None:
            with trio.fail_after(TEST_TIMEOUT):
                await fn(*args, **kwargs)

        trio.run(main)

    return wrapper


def free_port() -> int:
    """A loopback port nobody listens on (connecting to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass
class Recorded:
    """One request as the server saw it."""

    connection: int
    method: str
    target: str
    headers: list[tuple[str, str]]  # raw names, wire order
    body: bytes

    def header_values(self, name: str) -> list[str]:
        """Every line of header ``name`` (case-insensitive), in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


class Exchange:
    """The server side of one request: respond, stream, stall or drop the connection."""

    def __init__(
        self, server: Loopback, conn: h11.Connection, stream: trio.abc.Stream, recorded: Recorded
    ) -> None:
        self.server = server
        self.recorded = recorded
        self._conn = conn
        self._stream = stream
        self.closed = False

    @property
    def connection(self) -> int:
        """1-based index of the connection this request came on."""
        return self.recorded.connection

    async def _send(self, event: h11.Event) -> None:
        data = self._conn.send(event)
        if data:
            await self._stream.send_all(data)

    async def respond(
        self, status: int = 200, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> None:
        """A complete response; Content-Length is added unless the headers give framing."""
        hs = list(headers)
        names = {k.lower() for k, _ in hs}
        if "content-length" not in names and "transfer-encoding" not in names:
            hs.append(("Content-Length", str(len(body))))
        await self.send_head(status, hs)
        if body and self.recorded.method != "HEAD":
            await self.send_data(body)
        await self.end()

    async def send_head(self, status: int, headers: Sequence[tuple[str, str]]) -> None:
        """The status line and headers (the handler is responsible for framing)."""
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        await self._send(h11.Response(status_code=status, headers=list(headers), reason=reason))

    async def send_data(self, data: bytes) -> None:
        """A piece of the body."""
        await self._send(h11.Data(data=data))

    async def end(self) -> None:
        """End of the response body."""
        await self._send(h11.EndOfMessage())

    async def send_raw(self, data: bytes) -> None:
        """Bytes straight onto the wire, bypassing h11."""
        await self._stream.send_all(data)

    async def close(self) -> None:
        """Drop the connection now (whatever was sent so far stays sent)."""
        self.closed = True
        await trio.aclose_forcefully(self._stream)

    async def stall(self) -> NoReturn:
        """Never answer; when the client hangs up, drop the connection (counted as closed)."""
        while await self._stream.receive_some(65536):
            pass
        raise trio.BrokenResourceError("client hung up on a stalled exchange")


Handler = Callable[[Exchange], Awaitable[None]]
RawHandler = Callable[[trio.abc.Stream], Awaitable[None]]


@dataclass
class Loopback:
    """A running loopback server."""

    port: int
    scheme: str
    requests: list[Recorded] = field(default_factory=list)
    connections_opened: int = 0
    connections_closed: int = 0
    _closed_changed: trio.Event = field(default_factory=trio.Event)

    def _note_closed(self) -> None:
        self.connections_closed += 1
        self._closed_changed.set()
        self._closed_changed = trio.Event()

    def url(self, path: str = "/") -> str:
        """An absolute URL on this server."""
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    async def wait_closed(self, count: int) -> None:
        """Wait until at least ``count`` connections were closed on the server side."""
        while self.connections_closed < count:
            await self._closed_changed.wait()


async def _read_event(conn: h11.Connection, stream: trio.abc.Stream) -> h11.Event | None:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
            continue
        if event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
            return None
        assert isinstance(event, h11.Event)
        return event


@asynccontextmanager
async def serve(
    handler: Handler | None = None,
    *,
    raw: RawHandler | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Loopback]:
    """Run a server for the duration of the block."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    server = Loopback(port=port, scheme="https" if ssl_context else "http")

    async def on_connection(tcp: trio.SocketStream) -> None:
        server.connections_opened += 1
        index = server.connections_opened
        stream: trio.abc.Stream = tcp
        try:
            if ssl_context is not None:
                tls = trio.SSLStream(tcp, ssl_context, server_side=True, https_compatible=True)
                await tls.do_handshake()
                stream = tls
            if raw is not None:
                await raw(stream)
                return
            assert handler is not None
            await _serve_h11(stream, index)
        except (
            trio.BrokenResourceError,
            trio.ClosedResourceError,
            h11.RemoteProtocolError,
            OSError,
        ):
            pass
        finally:
            server._note_closed()
            await trio.aclose_forcefully(stream)

    async def _serve_h11(stream: trio.abc.Stream, index: int) -> None:
        assert handler is not None
        conn = h11.Connection(h11.SERVER)
        while True:
            request = await _read_event(conn, stream)
            if request is None:
                return
            assert isinstance(request, h11.Request)
            body = bytearray()
            while True:
                event = await _read_event(conn, stream)
                if isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    return
            recorded = Recorded(
                connection=index,
                method=request.method.decode(),
                target=request.target.decode(),
                headers=[(k.decode(), v.decode()) for k, v in request.headers.raw_items()],
                body=bytes(body),
            )
            server.requests.append(recorded)
            exchange = Exchange(server, conn, stream, recorded)
            await handler(exchange)
            if exchange.closed:
                return
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
            else:
                return

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, on_connection, listeners)
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()
