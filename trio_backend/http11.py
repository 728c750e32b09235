"""One HTTP/1.1 exchange at a time over a trio stream, driven by h11.

This module is also the one place where IO failures become the core's
:class:`~sansio_registry.errors.TransportError` (:func:`map_io_errors`): ``OSError`` (``ssl``
errors included), trio's broken/closed-resource errors and h11's protocol errors, each turned
into ``"<action> <origin>: <short reason>"`` and raised ``from`` the original. ``trio.Cancelled``
is never caught.

Memory stays bounded: at most :data:`CHUNK_SIZE` bytes are read per receive (or the caller's
buffer size, :meth:`HTTP11Connection.receive_data_into`), and h11 refuses a response head larger
than :data:`MAX_HEAD_SIZE` (a hostile server cannot make us buffer unbounded headers).

A body framed by ``Content-Length`` (RFC 9112 §6.3; what registries send for blobs) is read
straight from the stream, into the caller's buffer when it has one: h11 would copy every byte
twice through its own buffer. h11 still parses every head and every other framing.
"""

from __future__ import annotations

import errno
import math
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final, final

import h11
import trio

from sansio_registry.errors import TransportError
from sansio_registry.http import Headers, Origin, ResponseHead
from sansio_registry_driverkit.h11_helpers import field_value
from trio_backend.proxy import Proxy

__all__ = [
    "CHUNK_SIZE",
    "MAX_HEAD_SIZE",
    "HTTP11Connection",
    "describe_io_error",
    "map_io_errors",
]

#: Bytes asked of the socket per receive (and so the largest body chunk h11 hands us).
CHUNK_SIZE: Final = 256 * 1024
#: Largest response head (status line + headers) or chunk header h11 may buffer.
MAX_HEAD_SIZE: Final = 64 * 1024

_MAPPED: Final = (
    OSError,  # includes ssl.SSLError and ssl.CertificateError
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    h11.RemoteProtocolError,
    h11.LocalProtocolError,
)


@contextmanager
def map_io_errors(action: str, *, before_response: bool = False) -> Iterator[None]:
    """Turn IO and HTTP framing failures inside the block into ``TransportError``.

    ``before_response`` marks failures the server cannot have acted on (e.g. connecting).

    ``action`` names what was being done and to whom, e.g.
    ``"connecting to https://127.0.0.1:5000"``; the message becomes
    ``"<action>: <reason>"``. ``trio.Cancelled`` and our own errors pass through untouched.
    """
    try:
        yield
    except _MAPPED as exc:
        raise TransportError(
            f"{action}: {describe_io_error(exc)}", before_response=before_response
        ) from exc


def describe_io_error(exc: BaseException) -> str:
    """A short, lower-case reason for an IO failure (no secrets: nothing from headers)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or "unknown reason"
        return f"certificate verify failed: {detail}"
    if isinstance(exc, ssl.SSLError):
        if exc.reason:
            return f"TLS error: {exc.reason.lower().replace('_', ' ')}"
        return f"TLS error: {exc}"
    if isinstance(exc, trio.BrokenResourceError):
        # trio chains the socket or SSL error that broke the stream; that one says why.
        cause = exc.__cause__
        if cause is not None:
            return describe_io_error(cause)
        return "connection broken"
    if isinstance(exc, trio.ClosedResourceError):
        return "connection already closed"
    if isinstance(exc, h11.RemoteProtocolError):
        return f"malformed HTTP response: {exc}"
    if isinstance(exc, h11.LocalProtocolError):
        return f"invalid HTTP request: {exc}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host: {exc.strerror or exc}"
    if isinstance(exc, OSError):
        return _describe_os_error(exc)
    return str(exc) or type(exc).__name__


_ERRNO_TEXT: Final = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by peer",
    errno.EPIPE: "broken pipe",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network is unreachable",
}


def _describe_os_error(exc: OSError) -> str:
    if exc.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[exc.errno]
    # trio.open_tcp_stream raises a plain OSError chained from a group of per-address errors.
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup):
        leaves = _leaves(cause)
        reasons = sorted({describe_io_error(leaf) for leaf in leaves})
        if reasons:
            return "; ".join(reasons)
    if exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for sub in group.exceptions:
        if isinstance(sub, BaseExceptionGroup):
            out.extend(_leaves(sub))
        else:
            out.append(sub)
    return out


def _encode(text: str) -> bytes:
    # UTF-8 never fails; h11 then rejects bytes that are not legal in a header or target.
    return text.encode("utf-8", "surrogateescape")


@final
class HTTP11Connection:
    """One HTTP/1.1 connection to one origin, used for one exchange at a time.

    The pool owns it; :meth:`start_next_cycle` tells whether it may be reused. Closing is
    synchronous (:meth:`close_now`) so cleanup never has to wait inside a cancelled scope.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        origin: Origin,
        *,
        raw: trio.SocketStream,
        head_timeout: float = math.inf,
        idle_timeout: float = math.inf,
    ) -> None:
        self.origin = origin
        #: Seconds the whole response head may take once the request was sent.
        self.head_timeout = head_timeout
        #: Seconds any single receive (or send) may wait for progress.
        self.idle_timeout = idle_timeout
        #: ``trio.current_time()`` when the connection last went idle in the pool.
        self.idle_since = 0.0
        #: False for a TLS connection made without certificate verification: such a
        #: connection is never handed to a request that requires verification.
        self.verified = True
        #: The proxy a plain-http origin is reached through (absolute-form requests to it);
        #: ``None`` when direct or tunnelled.
        self.proxy: Proxy | None = None
        self._stream = stream
        self._raw = raw
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
        #: Completed request/response cycles before the current one (> 0 means "reused").
        self.cycles = 0
        #: Response bytes received in the current cycle (0 = the server never answered).
        self.received = 0
        #: The server closed the connection before the body was complete.
        self.truncated = False
        #: A deadline (head or idle) ended the current exchange, not the server.
        self.timed_out = False
        self._eof = False
        self._closed = False
        self._method = ""
        #: Bytes of a ``Content-Length`` body still to come when we read it ourselves (None:
        #: h11 reads the body).
        self._body_left: int | None = None
        #: Bytes of that body h11 had already received with the head.
        self._body_pending = b""
        #: The server sent bytes past that body: the connection is not reused.
        self._overrun = False

    @property
    def is_reused(self) -> bool:
        """True when an earlier exchange already used this connection."""
        return self.cycles > 0

    @property
    def is_closed(self) -> bool:
        """True once :meth:`close_now` ran."""
        return self._closed

    async def send_request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> None:
        """Write the whole request (head, body, end of message)."""
        self._method = method
        with map_io_errors(f"sending request to {self.origin}"):
            event = h11.Request(
                method=_encode(method),
                target=_encode(target),
                headers=[(_encode(k), _encode(field_value(v))) for k, v in headers],
            )
            events: list[h11.Event] = [event, h11.EndOfMessage()]
            if body:
                events.insert(1, h11.Data(data=body))
            wire = bytearray()
            for ev in events:
                wire += self._h11.send(ev) or b""
            with trio.move_on_after(self.idle_timeout) as scope:
                await self._stream.send_all(wire)
        if scope.cancelled_caught:
            self.timed_out = True
            self.close_now()
            raise TransportError(
                f"sending request to {self.origin}: no progress for {self.idle_timeout:g} s"
            )

    async def receive_head(self) -> ResponseHead:
        """Wait for the final response head (1xx informational responses are skipped)."""
        with trio.move_on_after(self.head_timeout):
            return await self._receive_head()
        self.timed_out = True
        self.close_now()
        raise TransportError(
            f"reading response from {self.origin}: no response head within {self.head_timeout:g} s"
        )

    async def _receive_head(self) -> ResponseHead:
        while True:
            event = await self._next_event()
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                self._check_head_size()
                self._frame_body(event)
                return ResponseHead(
                    status=event.status_code,
                    headers=Headers(
                        tuple(
                            (name.decode("latin-1"), value.decode("latin-1"))
                            for name, value in event.headers.raw_items()
                        )
                    ),
                    reason=event.reason.decode("latin-1"),
                    received_at=trio.current_time(),
                )
            raise TransportError(
                f"reading response from {self.origin}: unexpected {type(event).__name__}"
            )

    def _check_head_size(self) -> None:
        # h11 bounds only a head still incomplete after a read: one that arrives whole in a
        # single read of CHUNK_SIZE bytes is measured here (what was read, less the body).
        head_size = self.received - len(self._h11.trailing_data[0])
        if head_size > MAX_HEAD_SIZE:
            self.close_now()
            raise TransportError(
                f"reading response from {self.origin}: malformed HTTP response: "
                f"response head over {MAX_HEAD_SIZE} bytes"
            )

    def _frame_body(self, response: h11.Response) -> None:
        """Read the body ourselves when ``Content-Length`` alone frames it (RFC 9112 §6.3)."""
        self._body_left = None
        if self._method in ("HEAD", "CONNECT") or response.status_code in (204, 304):
            return  # no body, or not a message body: h11's rules apply
        length = None
        for name, value in response.headers:  # names lower-cased, lengths checked by h11
            if name == b"transfer-encoding":
                return
            if name == b"content-length":
                length = int(value)
        if length is None:
            return
        pending = self._h11.trailing_data[0]
        self._overrun = len(pending) > length
        self._body_pending = pending[:length]
        self._body_left = length

    @property
    def reads_body_itself(self) -> bool:
        """True while the body is read without h11 (:meth:`receive_data_into` copies nothing)."""
        return self._body_left is not None

    async def receive_data_into(self, buffer: memoryview) -> int:
        """Up to ``len(buffer)`` body bytes, written at its start: how many; 0 at the end.

        Only while :attr:`reads_body_itself`. On a plain socket the kernel writes them
        straight into ``buffer``.
        """
        left = self._body_left
        if left is None:
            raise h11.LocalProtocolError("the body is read through h11")
        view = buffer[: min(len(buffer), left)]
        if not view:
            return 0
        if self._body_pending:
            count = min(len(view), len(self._body_pending))
            view[:count] = self._take_pending(count)
        elif self._stream is self._raw:
            action = f"reading response from {self.origin}"
            with map_io_errors(action), trio.move_on_after(self.idle_timeout) as scope:
                count = await self._raw.socket.recv_into(view)
            if scope.cancelled_caught:
                raise self._stalled(action)
            self._count_body(count, action)
        else:
            data = await self._receive_body(len(view))
            count = len(data)
            view[:count] = data
        self._body_left = left - count
        return count

    async def _receive_body(self, max_bytes: int) -> bytes | bytearray:
        action = f"reading response from {self.origin}"
        with map_io_errors(action):
            data = await self._receive_some(action, max_bytes)
        self._count_body(len(data), action)
        return data

    def _count_body(self, count: int, action: str) -> None:
        self.received += count
        if not count:
            self._eof = True
            raise TransportError(f"{action}: {self._eof_reason(h11.SEND_BODY)}")

    def _take_pending(self, count: int) -> bytes:
        taken = self._body_pending[:count]
        self._body_pending = self._body_pending[count:]
        return taken

    async def receive_data(self) -> bytes | None:
        """The next piece of the body (at most CHUNK_SIZE bytes), or None at its end."""
        left = self._body_left
        if left is not None:
            if not left:
                return None
            if self._body_pending:
                data = self._take_pending(CHUNK_SIZE)
            else:
                data = bytes(await self._receive_body(min(CHUNK_SIZE, left)))
            self._body_left = left - len(data)
            return data
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                if event.data:
                    return bytes(event.data)
                continue
            if isinstance(event, h11.EndOfMessage):
                return None
            raise TransportError(
                f"reading response from {self.origin}: unexpected {type(event).__name__}"
            )

    async def _next_event(self) -> h11.Event:
        action = f"reading response from {self.origin}"
        with map_io_errors(action):
            while True:
                state = self._h11.their_state
                try:
                    event = self._h11.next_event()
                except h11.RemoteProtocolError as exc:
                    if self._eof:
                        raise TransportError(f"{action}: {self._eof_reason(state)}") from exc
                    raise
                if event is h11.NEED_DATA:
                    data = await self._receive_some(action)
                    self.received += len(data)
                    if not data:
                        self._eof = True
                    self._h11.receive_data(data if isinstance(data, bytes) else bytes(data))
                    continue
                if event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                    raise TransportError(f"{action}: {self._eof_reason(state)}")
                assert isinstance(event, h11.Event)
                return event

    async def _receive_some(self, action: str, max_bytes: int = CHUNK_SIZE) -> bytes | bytearray:
        with trio.move_on_after(self.idle_timeout) as scope:
            return await self._stream.receive_some(max_bytes)
        assert scope.cancelled_caught
        raise self._stalled(action)

    def _stalled(self, action: str) -> TransportError:
        """The idle deadline passed: the connection is closed."""
        self.timed_out = True
        self.close_now()
        return TransportError(f"{action}: no data for {self.idle_timeout:g} s")

    def _eof_reason(self, state: object) -> str:
        if state is h11.SEND_BODY:
            self.truncated = True
            return "server closed the connection mid-body"
        if self.received:
            return "server closed the connection mid-response"
        return "server closed the connection without sending a response"

    def start_next_cycle(self) -> bool:
        """Prepare for another exchange; False when this connection must not be reused.

        Only a cycle where both sides reached DONE (no ``Connection: close``, framing intact,
        body read to the end) qualifies.
        """
        if self._closed:
            return False
        if self._body_left is not None:
            # We read the body: h11 still waits for it, so a fresh h11 takes the next cycle.
            # Its our_state is DONE only if neither side asked to close (h11's keep-alive).
            if self._body_left or self._overrun or self._h11.our_state is not h11.DONE:
                return False
            self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
            self._body_left = None
        elif self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
            return False
        else:
            try:
                self._h11.start_next_cycle()
            except h11.LocalProtocolError:
                return False
        self.cycles += 1
        self.received = 0
        self.truncated = False
        return True

    def close_now(self) -> None:
        """Close the socket at once (no TLS close_notify; nothing to wait for)."""
        if not self._closed:
            self._closed = True
            self._raw.socket.close()
