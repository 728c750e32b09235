"""The trio backend passes the conformance suite.

``drive_streamed`` with a :class:`ConnectionPool` runs inside one ``trio.run`` on a helper
thread for the whole case (one pool, one clock, as a real client has), and the suite's
synchronous ``run_flow`` calls reach it through ``trio.from_thread.run``. Aborting after N
effects cancels the enclosing scope when effect N + 1 comes out of the flow, exactly as a
caller's cancel scope would; the wrapper then checks that the driver itself called
``flow.abort()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
import trio

from sansio_registry.flow import Flow, FlowState
from sansio_registry.session import RegistryState
from sansio_registry_driverkit.conformance import (
    Case,
    ConformanceFailure,
    RunFlow,
    conformance_cases,
    stop_after,
)
from trio_backend.driver import Coalescer, drive_streamed
from trio_backend.pool import ConnectionPool
from trio_backend.timeouts import Timeouts
from trio_backend.tls import CertDirSearch, TLSConfig


class _ForgetsAbort:
    """A flow whose ``abort()`` does nothing: what a driver without ``finally`` amounts to."""

    def __init__(self, flow: Flow[Any]) -> None:
        self.flow = flow

    def __getattr__(self, name: str) -> Any:
        return getattr(self.flow, name)

    def abort(self) -> None:
        pass


@contextmanager
def trio_backend(*, forget_abort: bool = False) -> Iterator[RunFlow]:
    """A trio loop with one pool on a helper thread; yields the suite's ``run_flow``."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = trio.Event()
        tls = TLSConfig(cert_dirs=CertDirSearch(enabled=False))
        async with ConnectionPool(
            tls=tls, timeouts=Timeouts(connect=10, tls_handshake=10)
        ) as pool:
            box.update(pool=pool, token=trio.lowlevel.current_trio_token(), stop=stop)
            ready.set()
            await stop.wait()

    def host() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # surfaced by the test below, never lost in the thread
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=host, daemon=True)
    thread.start()
    assert ready.wait(10)
    assert "error" not in box, box.get("error")
    pool: ConnectionPool = box["pool"]
    token = box["token"]
    coalescer = Coalescer()

    async def run(
        flow: Flow[Any], state: RegistryState, abort_after: int | None
    ) -> tuple[Any, bytes | None]:
        with trio.fail_after(10):
            with trio.CancelScope() as scope:
                driven = (
                    flow if abort_after is None else stop_after(flow, abort_after, scope.cancel)
                )
                if forget_abort:
                    driven = cast(Flow[Any], _ForgetsAbort(driven))
                value, body = await drive_streamed(driven, pool, coalescer)
                if body is None:
                    return value, None
                try:
                    chunks = []
                    while chunk := await body.receive_some(65536):
                        chunks.append(chunk)
                    return value, b"".join(chunks)
                finally:
                    body.discard()
        # Cancelled by stop_after: the driver must have aborted the flow on its way out.
        assert scope.cancelled_caught
        assert flow.state is FlowState.ABORTED, f"the driver left the flow {flow.state.value}"
        return None, None

    def run_flow(
        flow: Flow[Any], state: RegistryState, abort_after: int | None
    ) -> tuple[Any, bytes | None]:
        return trio.from_thread.run(run, flow, state, abort_after, trio_token=token)

    try:
        yield run_flow
    finally:
        trio.from_thread.run_sync(box["stop"].set, trio_token=token)
        thread.join(10)
        assert "error" not in box, box.get("error")


#: Known driver bugs, kept visible: each xfail is strict, so a fix turns it into a failure
#: until the mark is removed.
KNOWN_BUGS: dict[str, str] = {}  # case name -> reason, for strict xfails


def _cases() -> list[Any]:
    return [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[c.name]))
        if c.name in KNOWN_BUGS
        else c
        for c in conformance_cases()
    ]


@pytest.mark.parametrize("case", _cases(), ids=str)
def test_trio_backend_passes(case: Case) -> None:
    with trio_backend() as run_flow:
        case.run(run_flow)


def test_the_suite_notices_a_driver_that_forgets_abort() -> None:
    case = next(c for c in conformance_cases() if c.name == "abort_everywhere")
    with trio_backend(forget_abort=True) as run_flow, pytest.raises(ConformanceFailure) as caught:
        case.run(run_flow)
    assert "-abort after 0 effects: flow aborted, returned" in str(caught.value)
    assert "the driver left the flow awaiting" in str(caught.value)
