"""Interpret a core :class:`~sansio_registry.flow.Flow` with trio IO.

The driver is deliberately small: it performs each effect through an :class:`AsyncTransport`,
maps nothing itself (the transport already raises the core's ``TransportError`` /
``BodyTooLarge``), reads time from ``trio.current_time()`` (so ``MockClock`` works), and always
aborts the flow in ``finally`` so cancellation never leaves a generator suspended.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol, TypeVar

import trio

from sansio_registry.errors import RegistryClientError
from sansio_registry.flow import Done, Fetch, Flow, Open, Sleep
from sansio_registry.http import Request, Response
from sansio_registry.session import RegistryState

__all__ = ["AsyncTransport", "Coalescer", "drive"]

T = TypeVar("T")


class AsyncTransport(Protocol):
    """What the driver needs from the HTTP layer."""

    async def fetch(self, request: Request) -> Response:
        """One buffered exchange, body bounded by ``request.max_body``."""
        ...


class _InFlight:
    __slots__ = ("done", "error", "response")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.response: Response | None = None
        self.error: RegistryClientError | None = None


class Coalescer:
    """Single-flight for requests that carry a ``coalesce_key`` (token fetches, DESIGN §3).

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
            if waiting.error is not None:
                raise waiting.error
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


async def drive(
    flow: Flow[T],
    transport: AsyncTransport,
    state: RegistryState,
    coalescer: Coalescer | None = None,
) -> T:
    """Run ``flow`` to completion and return its value (or raise its error)."""
    try:
        state.now = max(state.now, trio.current_time())
        step = flow.begin()
        while True:
            match step:
                case Done(value=value):
                    return value
                case Fetch(request=request) | Open(request=request):
                    try:
                        if coalescer is not None:
                            response = await coalescer.fetch(transport, request)
                        else:
                            response = await transport.fetch(request)
                    except RegistryClientError as exc:
                        step = flow.fail(exc)
                        continue
                    state.now = max(state.now, trio.current_time())
                    step = flow.reply(response)
                case Sleep(seconds=seconds):
                    await trio.sleep(seconds)
                    state.now = max(state.now, trio.current_time())
                    step = flow.reply(None)
    finally:
        flow.abort()
