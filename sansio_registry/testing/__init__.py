"""Test doubles: drive the core with no network, against in-memory registries.

``run_sync(flow, transport)`` interprets a :class:`~sansio_registry.flow.Flow` with a plain
function ``transport(request) -> Response`` (or raising a ``RegistryClientError``); it is the
smallest correct driver, and the model the trio backend's driver follows. ``fake`` holds
in-memory registries and token servers, ``transcript`` scripted exchanges.

Only tests use this package. Drivers take what they need (``file://`` answers, the
conformance suite) from :mod:`sansio_registry_driverkit`.
smallest correct driver, and the model the trio backend's driver follows. Time: the flow is
begun at ``clock()`` when a clock is given; the transport stamps ``received_at`` (the model
registry does, from its own clock).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sansio_registry.errors import BodyTooLarge, RegistryClientError
from sansio_registry.flow import Done, Fetch, Flow, Open, Sleep
from sansio_registry.http import Request, Response, is_file_url
from sansio_registry_driverkit.files import file_exchange

__all__ = ["Transport", "run_sync"]

T = TypeVar("T")

Transport = Callable[[Request], Response]


def run_sync(
    flow: Flow[T],
    transport: Transport,
    *,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    max_steps: int = 10_000,
) -> T:
    """Run ``flow`` to the end against ``transport``; return its value or raise its error.

    ``Open`` effects are answered with the full :class:`Response` too (a ``Response`` is a
    ``ResponseHead``), so blob flows can be tested without a streaming transport. Whatever the
    transport raises, the flow is aborted on the way out (never left suspended).
    """
    try:
        step = flow.begin(at=None if clock is None else clock())
        for _ in range(max_steps):
            match step:
                case Done(value=value):
                    return value
                case Fetch(request=request) | Open(request=request):
                    try:
                        if is_file_url(request.url):
                            response = file_exchange(request)
                        else:
                            response = transport(request)
                    except RegistryClientError as exc:
                        step = flow.fail(exc)
                        continue
                    if isinstance(step, Fetch) and len(response.body) > request.max_body:
                        step = flow.fail(BodyTooLarge(request.max_body))
                        continue
                    step = flow.reply(response)
                case Sleep(seconds=seconds):
                    if sleep is not None:
                        sleep(seconds)
                    step = flow.reply(None)
        raise AssertionError(f"flow did not finish within {max_steps} steps")
    finally:
        flow.abort()  # a no-op when done; else (the transport raised) the flow ends here
