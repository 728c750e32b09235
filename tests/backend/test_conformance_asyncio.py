"""The asyncio example driver (``examples/asyncio_driver.py``) passes the conformance suite.

One event loop on a helper thread holds one ``Connections`` for the whole case (keep-alive
across its flows, as a real client has); the suite's synchronous ``run_flow`` calls reach it
through ``asyncio.run_coroutine_threadsafe``. Aborting after N effects cancels the task running
the driver when effect N + 1 comes out of the flow, as a caller's ``asyncio.timeout()`` would;
the wrapper then checks that the driver itself aborted the flow and let the cancellation out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from examples.asyncio_driver import Body, Connections, run_streamed
from sansio_registry.flow import Flow, FlowState
from sansio_registry.http import Request, ResponseHead
from sansio_registry_driverkit.conformance import (
    Case,
    ConformanceFailure,
    RunFlow,
    conformance_cases,
    stop_after,
)

T = TypeVar("T")
CASES = conformance_cases()


async def _read_all(body: Body) -> bytes:
    chunks = []
    try:
        while chunk := await body.read():
            chunks.append(chunk)
    finally:
        body.close()
    return b"".join(chunks)


@contextmanager
def asyncio_example() -> Iterator[RunFlow]:
    """An event loop with one ``Connections`` on a helper thread; yields the suite's run_flow.

    The suite's ``state`` is the flows' own: the driver never sees it.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    conns = Connections()

    def on_loop(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    async def drive(flow: Flow[Any]) -> tuple[Any, bytes | None]:
        value, body = await run_streamed(flow, conns)
        return value, None if body is None else await _read_all(body)

    async def run(flow: Flow[Any], abort_after: int | None) -> tuple[Any, bytes | None]:
        driving: asyncio.Task[tuple[Any, bytes | None]] | None = None

        def cancel() -> None:
            assert driving is not None
            driving.cancel()

        driven = flow if abort_after is None else stop_after(flow, abort_after, cancel)
        driving = asyncio.create_task(drive(driven))
        done, _ = await asyncio.wait([driving], timeout=10)
        if not done:
            driving.cancel()
            raise AssertionError("the driver did not finish within 10 s")
        if not driving.cancelled():
            return driving.result()  # the value, or the flow's error
        # Cancelled by stop_after: the driver must have aborted the flow on its way out.
        assert flow.state is FlowState.ABORTED, f"the driver left the flow {flow.state.value}"
        return None, None

    try:
        yield lambda flow, _state, abort_after: on_loop(run(flow, abort_after))
    finally:
        on_loop(conns.aclose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_asyncio_example_passes(case: Case) -> None:
    with asyncio_example() as run_flow:
        case.run(run_flow)


def test_the_suite_notices_a_driver_that_forgets_abort(monkeypatch: pytest.MonkeyPatch) -> None:
    """Aborting does nothing: what the driver would amount to without its ``finally``."""
    monkeypatch.setattr(Flow, "abort", lambda self: None)
    case = next(c for c in CASES if c.name == "abort_everywhere")
    with asyncio_example() as run_flow, pytest.raises(ConformanceFailure) as caught:
        case.run(run_flow)
    assert "-abort after 0 effects: flow aborted, returned" in str(caught.value)
    assert "the driver left the flow awaiting" in str(caught.value)


def test_asyncio_example_keeps_connections_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """One keep-alive connection per origin carries a whole token dance and blob download."""
    used: list[object] = []
    original = Connections.exchange

    async def recording(self: Connections, request: Request) -> tuple[ResponseHead, Body]:
        head, body = await original(self, request)
        used.append(body._conn)
        return head, body

    monkeypatch.setattr(Connections, "exchange", recording)
    with asyncio_example() as run_flow:
        next(c for c in CASES if c.name == "token_dance").run(run_flow)
    # ping + manifest + config blob on A, token on B: two connections for four requests
    assert len(used) == 4
    assert len({id(c) for c in used}) == 2
