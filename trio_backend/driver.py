"""Interpret a core :class:`~sansio_registry.flow.Flow` with trio IO.

The driver is deliberately small: it performs each effect through an :class:`AsyncTransport`,
maps nothing itself (the transport already raises the core's ``TransportError`` /
``BodyTooLarge``), hands time in as the contract says (``begin(at=trio.current_time())``;
heads carry ``received_at`` from the same clock, so ``MockClock`` works), and always aborts
the flow in ``finally`` so cancellation never leaves a generator suspended.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Hashable
from typing import Final, Protocol, TypeVar

import trio

from sansio_registry.errors import BodyTooLarge, RegistryClientError, TransportError
from sansio_registry.flow import Done, Fetch, Flow, Open, Sleep
from sansio_registry.http import Request, Response, ResponseHead, is_file_url
from sansio_registry_driverkit.files import file_exchange

__all__ = ["AsyncBody", "AsyncTransport", "Coalescer", "drive", "drive_streamed"]

T = TypeVar("T")

#: Back-off waits the core asks for (429, retries), in the ``--debug`` trace.
SLEEP_LOG: Final = logging.getLogger("trio_backend.http")


class AsyncBody(Protocol):
    """A streamed response body the driver hands on (``StreamedResponse`` in the pool)."""

    @property
    def head(self) -> ResponseHead:
        """Status and headers."""
        ...

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The next body bytes; ``b""`` at the end."""
        ...

    async def receive_into(self, buffer: memoryview) -> int:
        """Up to ``len(buffer)`` next body bytes written at its start: how many; 0 at the end."""
        ...

    async def read_all(self, limit: int) -> bytes:
        """The rest of the body, at most ``limit`` bytes (BodyTooLarge beyond)."""
        ...

    async def read_prefix(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the rest of the body; past that it is cut and closed."""
        ...

    def discard(self) -> None:
        """Close now unless the body was read to its end."""
        ...


class AsyncTransport(Protocol):
    """What the driver needs from the HTTP layer."""

    async def fetch(self, request: Request) -> Response:
        """One buffered exchange, body bounded by ``request.max_body``."""
        ...

    async def open(self, request: Request) -> AsyncBody:
        """One streamed exchange: returns once the head arrived."""
        ...


class _InFlight:
    __slots__ = ("done", "error", "response")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.response: Response | None = None
        self.error: RegistryClientError | None = None


class Coalescer:
    """Single-flight for requests that carry a ``coalesce_key`` (docs/design.md#drivers).

    Concurrent identical requests share one exchange and one immutable response. No lock is
    held across anything but that exchange.
    """

    def __init__(self) -> None:
        self._inflight: dict[Hashable, _InFlight] = {}
        self.shared = 0

    async def fetch(self, transport: AsyncTransport, request: Request) -> Response:
        """Fetch, or wait for an identical fetch already under way."""
        key = request.coalesce_key
        if key is None:
            return await transport.fetch(request)
        waiting = self._inflight.get(key)
        if waiting is not None:
            self.shared += 1
            await waiting.done.wait()
            if waiting.response is not None:
                return waiting.response
            shared = _fresh_copy(waiting.error)
            if shared is not None:
                raise shared from waiting.error
            return await transport.fetch(request)  # the leader was cancelled: go ourselves
        mine = _InFlight()
        self._inflight[key] = mine
        try:
            mine.response = await transport.fetch(request)
            return mine.response
        except RegistryClientError as exc:
            mine.error = exc
            raise
        finally:
            del self._inflight[key]
            mine.done.set()


def _fresh_copy(error: RegistryClientError | None) -> RegistryClientError | None:
    """A new exception object for each waiter: flows add notes to what they catch."""
    if isinstance(error, BodyTooLarge):
        return BodyTooLarge(error.limit)
    if isinstance(error, TransportError):
        return TransportError(str(error), before_response=error.before_response)
    return None


async def drive(flow: Flow[T], transport: AsyncTransport, coalescer: Coalescer | None = None) -> T:
    """Run ``flow`` to completion and return its value (or raise its error)."""
    value, body = await drive_streamed(flow, transport, coalescer)
    if body is not None:
        body.discard()
    return value


async def _error_body(body: AsyncBody, limit: int) -> Response:
    """A non-2xx answer to ``Open``, read in full for the core to decode (cut at ``limit``)."""
    try:
        data = await body.read_prefix(limit)
    finally:
        body.discard()
    head = body.head
    return Response(
        status=head.status,
        headers=head.headers,
        reason=head.reason,
        received_at=head.received_at,
        body=data,
    )


async def drive_streamed(
    flow: Flow[T], transport: AsyncTransport, coalescer: Coalescer | None = None
) -> tuple[T, AsyncBody | None]:
    """Run ``flow``; also return the body of its last ``Open`` if the flow ended right there.

    A 2xx body kept for an ``Open`` is discarded as soon as the flow asks for anything else
    (abandoned bodies close their connection unless already complete: the driver contract).
    """
    kept: AsyncBody | None = None
    try:
        step = flow.begin(at=trio.current_time())
        while True:
            if kept is not None and not isinstance(step, Done):
                kept.discard()
                kept = None
            match step:
                case Done(value=value):
                    body, kept = kept, None
                    return value, body
                case Fetch(request=request):
                    try:
                        if is_file_url(request.url):
                            response = dataclasses.replace(
                                await trio.to_thread.run_sync(file_exchange, request),
                                received_at=trio.current_time(),
                            )
                        elif coalescer is not None:
                            response = await coalescer.fetch(transport, request)
                        else:
                            response = await transport.fetch(request)
                    except RegistryClientError as exc:
                        step = flow.fail(exc)
                        continue
                    step = flow.reply(response)
                case Open(request=request):
                    try:
                        opened = await transport.open(request)
                        if 200 <= opened.head.status < 300:
                            kept, reply = opened, opened.head
                        else:
                            reply = await _error_body(opened, request.max_body)
                    except RegistryClientError as exc:
                        step = flow.fail(exc)
                        continue
                    step = flow.reply(reply)
                case Sleep(seconds=seconds):
                    SLEEP_LOG.debug("waiting %.3g s before trying again", seconds)
                    await trio.sleep(seconds)
                    step = flow.reply(None)
    finally:
        flow.abort()
        if kept is not None:
            kept.discard()
