"""A per-origin keep-alive pool of HTTP/1.1 connections, and the two ways to send a request.

:meth:`ConnectionPool.fetch` buffers a whole body (bounded by ``Request.max_body``);
:meth:`ConnectionPool.open` hands the body out as a :class:`StreamedResponse`. A connection
goes back to the pool only after a clean h11 cycle (body read to the end, no
``Connection: close``); an early close, a cancellation or an error closes it instead.

A reused connection that dies before the first response byte (the server dropped an idle
keep-alive connection) is retried once, on a fresh connection, whatever the method: the
server closed it without reading the request (RFC 9112 §9.3.1), so nothing was acted on.
Idle connections older than ``Timeouts.idle_connection`` are closed instead of reused.

At most ``max_connections_per_origin`` exchanges run per origin at once (a request holds its
slot from sending until its body is read or discarded); further requests wait in a FIFO queue,
and a cancelled waiter simply leaves it. A batch of thousands of references thus opens a
handful of connections per registry instead of one per task, and stays under rate limits.

Proxies (:mod:`trio_backend.proxy`) are chosen per origin as Go's ``ProxyFromEnvironment``
does: an https origin is reached through a ``CONNECT`` tunnel with TLS end to end under the
registry's own name, a plain-http origin with absolute-form requests to the proxy. The
proxy's credentials go to the proxy only (``Proxy-Authorization``).

No ``timeout=`` on any call: each wait is bounded by the pool's :class:`Timeouts`, and callers
bound whole calls with trio cancel scopes.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self, final

import trio

from sansio_registry.errors import BodyTooLarge, LocalProtocolError, ProxyError, TransportError
from sansio_registry.http import Origin, Request, Response, ResponseHead, content_length
from trio_backend.http11 import HTTP11Connection, map_io_errors
from trio_backend.proxy import Proxy, ProxySettings, open_tunnel
from trio_backend.timeouts import Timeouts
from trio_backend.tls import TLSConfig

__all__ = [
    "ConnectionPool",
    "PoolStatistics",
    "StreamedResponse",
]

#: Exchanges in flight per origin unless the caller says otherwise (each needs one connection).
DEFAULT_CONNECTIONS_PER_ORIGIN: Final = 16

# RFC 9110 §8.6: a user agent should send Content-Length for these even when the body is empty.
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolStatistics:
    """A snapshot of the pool (trio's ``statistics()`` convention).

    Attributes:
        idle: idle connections per origin, origins sorted.
        active: connections currently carrying an exchange.
        connections_opened: TCP (and TLS) connections established so far.
        requests_sent: request messages written (a retried request counts twice).
        retries: requests re-sent after a stale keep-alive connection.
        waiting: requests queued for a free slot of their origin.
    """

    idle: tuple[tuple[Origin, int], ...]
    active: int
    connections_opened: int
    requests_sent: int
    retries: int
    waiting: int = 0

    def idle_for(self, origin: Origin) -> int:
        """Idle connections kept for ``origin``."""
        return dict(self.idle).get(origin, 0)


@final
class _SniffingStream(trio.abc.Stream):
    """Passes bytes through, remembering the first ones received (to spot a plain-HTTP server)."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.first_bytes = b""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        if len(self.first_bytes) < 5:
            self.first_bytes += bytes(data[: 5 - len(self.first_bytes)])
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


@final
class ConnectionPool:
    """Keep-alive HTTP/1.1 connections per origin; sends :class:`Request` values.

    Use as ``async with ConnectionPool(tls=TLSConfig()) as pool:``; leaving the block closes
    every idle connection. Redirects are not followed (the core does that).

    Args:
        tls: TLS settings per host (verification on by default).
        max_per_origin: most idle connections kept per origin; more are closed when released
            (default: ``max_connections_per_origin``, so a full batch reuses every one).
        max_connections_per_origin: most exchanges (hence connections) in flight per origin;
            further requests queue, first come first served, until one is released.
        user_agent: sent as ``User-Agent`` when a request carries none.
        timeouts: the deadline of each wait (connect, TLS handshake, response head, idle
            reads, idle pooled connections). A dead mirror then fails as a TransportError and
            the next pull source is tried, instead of using up the caller's whole cancel scope.
        proxies: which proxy each origin goes through; default: the environment's
            ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (``ProxySettings()`` means none).
    """

    def __init__(
        self,
        *,
        tls: TLSConfig | None = None,
        max_per_origin: int | None = None,
        max_connections_per_origin: int = DEFAULT_CONNECTIONS_PER_ORIGIN,
        user_agent: str | None = None,
        timeouts: Timeouts | None = None,
        proxies: ProxySettings | None = None,
    ) -> None:
        if max_per_origin is not None and max_per_origin < 0:
            raise LocalProtocolError("max_per_origin must not be negative")
        if max_connections_per_origin < 1:
            raise LocalProtocolError("max_connections_per_origin must be at least 1")
        self._max_in_flight = max_connections_per_origin
        # One FIFO semaphore per origin seen (trio's ParkingLot queue; cancellation-safe).
        self._slots: dict[Origin, trio.Semaphore] = {}
        self._tls = tls if tls is not None else TLSConfig()
        self._max_idle = max_connections_per_origin if max_per_origin is None else max_per_origin
        self._user_agent = user_agent
        self.timeouts = timeouts if timeouts is not None else Timeouts()
        self.proxies = proxies if proxies is not None else ProxySettings.from_environment()
        self._idle: dict[Origin, list[HTTP11Connection]] = {}
        self._active = 0
        self._opened = 0
        self._sent = 0
        self._retries = 0
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close_idle()
        self._closed = True

    async def aclose(self) -> None:
        """Close every idle connection and refuse further requests."""
        self.close_idle()
        self._closed = True
        await trio.lowlevel.checkpoint()

    def close_idle(self) -> None:
        """Close every idle connection now (active ones close when their owners finish)."""
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close_now()

    def statistics(self) -> PoolStatistics:
        """A frozen snapshot: idle connections per origin, totals of connections and requests."""
        return PoolStatistics(
            idle=tuple(sorted((o, len(c)) for o, c in self._idle.items() if c)),
            active=self._active,
            connections_opened=self._opened,
            requests_sent=self._sent,
            retries=self._retries,
            waiting=sum(slot.statistics().tasks_waiting for slot in self._slots.values()),
        )

    async def fetch(self, request: Request) -> Response:
        """Send ``request`` and read the whole body, at most ``request.max_body`` bytes.

        Raises:
            BodyTooLarge: the body is longer than ``request.max_body`` (the connection is closed
                without reading the rest).
            TransportError: connecting, TLS, sending or receiving failed.
        """
        streamed = await self.open(request)
        try:
            body = await streamed.read_all(request.max_body)
        finally:
            streamed.discard()
        head = streamed.head
        return Response(
            status=head.status,
            headers=head.headers,
            reason=head.reason,
            received_at=head.received_at,
            body=body,
        )

    async def open(self, request: Request) -> StreamedResponse:
        """Send ``request`` and return once the response head arrived; the body streams.

        The caller must ``aclose()`` the result (or use ``async with await pool.open(req)``,
        a trio ``AsyncResource``). The connection
        returns to the pool only if the body is read to its end.

        Waits first for one of the origin's ``max_connections_per_origin`` slots; the slot
        is given back when the body is read to its end or the response is closed.

        Raises:
            TransportError: connecting, TLS, sending or receiving the head failed.
        """
        if self._closed:
            raise LocalProtocolError("the connection pool is closed")
        slot = self._slot_for(request.origin)
        await slot.acquire()
        try:
            return await self._exchange(request)
        except BaseException:
            slot.release()
            raise

    def _slot_for(self, origin: Origin) -> trio.Semaphore:
        slot = self._slots.get(origin)
        if slot is None:
            slot = self._slots[origin] = trio.Semaphore(self._max_in_flight)
        return slot

    async def _exchange(self, request: Request) -> StreamedResponse:
        """Send ``request`` on a pooled or new connection (the caller holds a slot)."""
        origin = request.origin
        headers = self._headers_for(request, origin)
        retried = False
        while True:
            conn = None if retried else self._checkout(origin, request.tls_verify)
            if conn is None:
                conn = await self._connect(origin, request.tls_verify)
            self._active += 1
            try:
                target, sent_headers = request.target, headers
                if conn.proxy is not None:  # plain http through a proxy (RFC 9112 §3.2.2)
                    target = request.url.partition("#")[0]
                    if conn.proxy.authorization:
                        auth = ("Proxy-Authorization", conn.proxy.authorization)
                        sent_headers = [*headers, auth]
                await conn.send_request(request.method, target, sent_headers, request.body)
                self._sent += 1
                head = await conn.receive_head()
                if conn.proxy is not None and head.status == 407:
                    conn.close_now()
                    raise ProxyError(
                        f"proxy {conn.proxy.redacted()} refused {request.method} "
                        f"{origin.netloc}: 407 proxy authentication required"
                    )
            except TransportError as exc:
                self._active -= 1
                conn.close_now()
                # Sending failed, or the connection ended before any response byte (and not
                # by our own deadline): the server cannot have answered, so the core may
                # resend a retry-safe request.
                silent = conn.received == 0 and not conn.timed_out
                exc.before_response = exc.before_response or silent
                stale = conn.is_reused and silent
                if stale and not retried:
                    retried = True
                    self._retries += 1
                    continue
                raise
            except BaseException:
                self._active -= 1
                conn.close_now()
                raise
            return StreamedResponse(self, conn, head, request)

    def _headers_for(self, request: Request, origin: Origin) -> list[tuple[str, str]]:
        # Host first (RFC 9112 §3.2); caller headers keep their order and repeats (six Accept
        # lines stay six lines). No Accept-Encoding: bodies must arrive as stored.
        headers = [("Host", origin.netloc), *request.headers.without("Host")]
        if self._user_agent is not None and "User-Agent" not in request.headers:
            headers.append(("User-Agent", self._user_agent))
        if "Content-Length" not in request.headers and (
            request.body or request.method.upper() in _BODY_METHODS
        ):
            headers.append(("Content-Length", str(len(request.body))))
        return headers

    def _checkout(self, origin: Origin, verify: bool) -> HTTP11Connection | None:
        conns = self._idle.get(origin)
        if not conns:
            return None
        oldest = trio.current_time() - self.timeouts.idle_connection
        for index in range(len(conns) - 1, -1, -1):
            conn = conns[index]
            if conn.idle_since < oldest:
                conn.close_now()
            if conn.is_closed:
                del conns[index]
            elif conn.verified or not verify:
                del conns[index]
                return conn
        return None

    def _release(self, conn: HTTP11Connection) -> None:
        """Back to the idle list after a clean cycle; closed otherwise."""
        self._active -= 1
        self._slots[conn.origin].release()
        conns = self._idle.setdefault(conn.origin, [])
        if not self._closed and len(conns) < self._max_idle and conn.start_next_cycle():
            conn.idle_since = trio.current_time()
            conns.append(conn)
        else:
            conn.close_now()

    def _forget(self, conn: HTTP11Connection) -> None:
        self._active -= 1
        self._slots[conn.origin].release()
        conn.close_now()

    async def _connect(self, origin: Origin, verify: bool = True) -> HTTP11Connection:
        # Certificate material is loaded first: a broken certs directory fails before connecting.
        ctx = (
            self._tls.ssl_context_for(origin, verify=verify) if origin.scheme == "https" else None
        )
        proxy = self.proxies.proxy_for(origin.scheme, origin.host, origin.port)
        if proxy is None:
            tcp = await self._open_tcp(origin.host, origin.port, f"connecting to {origin}")
            stream: trio.abc.Stream = tcp
        else:
            tcp, stream = await self._reach_proxy(proxy, origin)
        self._opened += 1
        if ctx is None:
            conn = self._connection(stream, origin, tcp)
            conn.proxy = proxy
            return conn
        try:
            secured = await self._handshake(stream, origin, ctx)
        except BaseException:
            tcp.socket.close()
            raise
        conn = self._connection(secured, origin, tcp)
        conn.verified = verify
        return conn

    async def _open_tcp(self, host: str, port: int, action: str) -> trio.SocketStream:
        limit = self.timeouts.connect
        with (
            trio.move_on_after(limit),
            map_io_errors(action, before_response=True),
        ):
            return await trio.open_tcp_stream(host, port)
        raise TransportError(f"{action}: timed out after {limit:g} s", before_response=True)

    async def _reach_proxy(
        self, proxy: Proxy, origin: Origin
    ) -> tuple[trio.SocketStream, trio.abc.Stream]:
        """A connection to ``proxy`` (TLS to it for an https proxy) and, for an https
        ``origin``, a CONNECT tunnel through it; failures are :class:`ProxyError`."""
        where = f"proxy {proxy.redacted()}"
        proxy_origin = Origin(proxy.scheme, proxy.host, proxy.port)
        ctx = self._tls.ssl_context_for(proxy_origin) if proxy.scheme == "https" else None
        try:
            tcp = await self._open_tcp(proxy.host, proxy.port, f"connecting to {where}")
        except ProxyError:
            raise
        except TransportError as exc:
            raise ProxyError(str(exc), before_response=True) from exc.__cause__
        stream: trio.abc.Stream = tcp
        try:
            if ctx is not None:
                stream = await self._handshake(tcp, proxy_origin, ctx)
            if origin.scheme == "https":
                limit = self.timeouts.response_header
                with trio.move_on_after(limit) as scope:
                    await open_tunnel(stream, proxy, origin.host, origin.port)
                if scope.cancelled_caught:
                    raise ProxyError(
                        f"{where}: no answer to CONNECT {origin.netloc} within {limit:g} s"
                    )
        except TransportError as exc:
            tcp.socket.close()
            if isinstance(exc, ProxyError):
                raise
            raise ProxyError(f"{where}: {exc}") from exc.__cause__
        except BaseException:
            tcp.socket.close()
            raise
        return tcp, stream

    async def _handshake(
        self, stream: trio.abc.Stream, origin: Origin, ctx: ssl.SSLContext
    ) -> trio.SSLStream[_SniffingStream]:
        """TLS with ``origin`` over ``stream``, under the handshake deadline."""
        sniffer = _SniffingStream(stream)
        secured = trio.SSLStream(sniffer, ctx, server_hostname=origin.host, https_compatible=True)
        action = f"TLS handshake with {origin}"
        limit = self.timeouts.tls_handshake
        try:
            with trio.move_on_after(limit) as scope, map_io_errors(action):
                await secured.do_handshake()
            if scope.cancelled_caught:
                raise TransportError(f"{action}: timed out after {limit:g} s")
        except TransportError as exc:
            if sniffer.first_bytes.startswith(b"HTTP/"):
                # Go: "http: server gave HTTP response to HTTPS client".
                raise TransportError(
                    f"{action}: server gave HTTP response to HTTPS client"
                ) from exc.__cause__
            raise
        return secured

    def _connection(
        self, stream: trio.abc.Stream, origin: Origin, raw: trio.SocketStream
    ) -> HTTP11Connection:
        return HTTP11Connection(
            stream,
            origin,
            raw=raw,
            head_timeout=self.timeouts.response_header,
            idle_timeout=self.timeouts.idle,
        )


@final
class StreamedResponse(trio.abc.ReceiveStream):
    """A response whose body is read on demand; ``async for chunk in resp`` works.

    Memory stays bounded whatever the body size. Reaching the end of the body returns the
    connection to the pool; :meth:`aclose` (or :meth:`discard`) before that closes it.
    """

    def __init__(
        self, pool: ConnectionPool, conn: HTTP11Connection, head: ResponseHead, request: Request
    ) -> None:
        self.head = head
        self.request = request
        self.origin = conn.origin
        self._pool = pool
        self._conn: HTTP11Connection | None = conn
        self._buffer = b""
        self._pos = 0
        self._at_eof = False
        self._failed = False
        self._busy = False

    @property
    def is_complete(self) -> bool:
        """True once the whole body was received."""
        return self._at_eof

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Up to ``max_bytes`` more body bytes; ``b""`` at the end of the body.

        Raises:
            TransportError: the connection failed or the server closed it mid-body.
            trio.ClosedResourceError: the response was already closed.
        """
        if max_bytes is not None and max_bytes < 1:
            raise LocalProtocolError("max_bytes must be at least 1")
        if self._busy:
            raise trio.BusyResourceError("another task is already reading this response")
        self._busy = True
        try:
            return await self._receive(max_bytes)
        finally:
            self._busy = False

    async def _receive(self, max_bytes: int | None) -> bytes:
        if self._pos < len(self._buffer):
            await trio.lowlevel.checkpoint()
            return self._take(max_bytes)
        if self._at_eof:
            await trio.lowlevel.checkpoint()
            return b""
        conn = self._conn
        if conn is None:
            if self._failed:
                raise TransportError("reading response: the connection already failed")
            raise trio.ClosedResourceError("the response was closed")
        try:
            data = await conn.receive_data()
        except BaseException:
            self._fail()
            raise
        if data is None:
            self._end(conn)
            return b""
        self._buffer, self._pos = data, 0
        return self._take(max_bytes)

    def _fail(self) -> None:
        self._failed = True
        self.discard()

    def _end(self, conn: HTTP11Connection) -> None:
        """The whole body arrived: the connection goes back to the pool."""
        self._at_eof = True
        self._conn = None
        self._pool._release(conn)

    async def receive_into(self, buffer: memoryview) -> int:
        """Up to ``len(buffer)`` more body bytes written at its start: how many; 0 at the end.

        A ``Content-Length`` body on a plain connection goes from the kernel straight into
        ``buffer`` (no copy); any other is copied from what :meth:`receive_some` returns.
        """
        conn = self._conn
        if conn is None or not conn.reads_body_itself or self._pos < len(self._buffer):
            data = await self.receive_some(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        if self._busy:
            raise trio.BusyResourceError("another task is already reading this response")
        self._busy = True
        try:
            count = await conn.receive_data_into(buffer)
        except BaseException:
            self._fail()
            raise
        finally:
            self._busy = False
        if not count:
            self._end(conn)
        return count

    def _take(self, max_bytes: int | None) -> bytes:
        end = (
            len(self._buffer)
            if max_bytes is None
            else min(len(self._buffer), self._pos + max_bytes)
        )
        if self._pos == 0 and end == len(self._buffer):
            out = self._buffer
        else:
            out = memoryview(self._buffer)[self._pos : end].tobytes()
        self._pos = end
        if self._pos == len(self._buffer):
            self._buffer, self._pos = b"", 0
        return out

    async def read_prefix(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the rest of the body; a longer body is cut there.

        For error bodies, which the core decodes from what it is given: anything past
        ``limit`` is not read and the connection is closed.
        """
        chunks: list[bytes] = []
        total = 0
        while total < limit:
            conn = self._conn
            try:
                data = await self.receive_some(limit - total)
            except TransportError:
                if conn is not None and conn.truncated and not 200 <= self.head.status < 300:
                    break
                raise
            if not data:
                break
            chunks.append(data)
            total += len(data)
        self.discard()
        return b"".join(chunks)

    async def read_all(self, limit: int) -> bytes:
        """The rest of the body, at most ``limit`` bytes.

        A non-2xx body cut short by the server is returned as received (the connection is
        closed): error bodies are diagnostic, and some registries send a ``Content-Length``
        their body does not match (distribution's 416 answer to a Range request).

        Raises:
            BodyTooLarge: the body is longer than ``limit``; the rest is not read.
            TransportError: the connection failed (or a 2xx body was cut short).
        """
        declared = content_length(self.head.headers) if self._may_have_body() else None
        if declared is not None and declared > limit:
            self.discard()
            raise BodyTooLarge(limit)
        chunks: list[bytes] = []
        total = 0
        while True:
            conn = self._conn
            try:
                data = await self.receive_some()
            except TransportError:
                if conn is not None and conn.truncated and not 200 <= self.head.status < 300:
                    return b"".join(chunks)
                raise
            if not data:
                return b"".join(chunks)
            total += len(data)
            if total > limit:
                self.discard()
                raise BodyTooLarge(limit)
            chunks.append(data)

    def _may_have_body(self) -> bool:
        # RFC 9112 §6.3: HEAD answers, 1xx, 204 and 304 have no body whatever the headers say.
        status = self.head.status
        return self.request.method.upper() != "HEAD" and status >= 200 and status not in (204, 304)

    def discard(self) -> None:
        """Close the connection now unless the body was read to its end (no waiting)."""
        conn, self._conn = self._conn, None
        self._buffer, self._pos = b"", 0
        if conn is not None:
            self._pool._forget(conn)

    async def aclose(self) -> None:
        """Close the response; the connection is kept only if the body was fully read."""
        self.discard()
        await trio.lowlevel.checkpoint()
