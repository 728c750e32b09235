"""Running a backend's ``run_flow`` on a chain of flows: logged, under a deadline, stoppable.

Each case chains its flows into one (:func:`run_chain`), runs it on a thread so a hanging
driver is reported after :data:`DEADLINE` instead of hanging the suite, and keeps the value or
the error for the transcript. :func:`stop_after` is what a backend uses for ``abort_after``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeAlias, TypeVar, cast

from sansio_registry.errors import (
    BlobUnknown,
    BodyTooLarge,
    RegistryClientError,
    TransportError,
    Unauthorized,
)
from sansio_registry.flow import Done, Effect, Flow, FlowState, Reply, Steps
from sansio_registry.session import RegistryState
from sansio_registry_driverkit.conformance.report import ConformanceFailure

__all__ = ["DEADLINE", "Later", "Result", "RunFlow", "run_chain", "stop_after"]

T = TypeVar("T")

#: ``run_flow(flow, state, abort_after) -> (value, body of a final Open or None)``.
RunFlow: TypeAlias = Callable[[Flow[Any], RegistryState, int | None], tuple[Any, bytes | None]]

#: How long one ``run_flow`` call may take before the case reports a hang.
DEADLINE: Final = 15.0

# --- stopping a driver after N effects --------------------------------------------------------


class _Stopping(Generic[T]):
    """Looks like the :class:`Flow` it wraps; calls ``stop()`` when effect ``limit + 1`` comes."""

    def __init__(self, flow: Flow[T], limit: int, stop: Callable[[], None]) -> None:
        self._flow, self._limit, self._stop = flow, limit, stop
        self.produced = 0

    @property
    def state(self) -> FlowState:
        return self._flow.state

    @property
    def pending(self) -> Effect | None:
        return self._flow.pending

    def begin(self, *, at: float | None = None) -> Effect | Done[T]:
        return self._count(self._flow.begin(at=at))

    def reply(self, reply: Reply) -> Effect | Done[T]:
        return self._count(self._flow.reply(reply))

    def fail(self, exc: RegistryClientError) -> Effect | Done[T]:
        return self._count(self._flow.fail(exc))

    def abort(self) -> None:
        self._flow.abort()

    def _count(self, step: Effect | Done[T]) -> Effect | Done[T]:
        if not isinstance(step, Done):
            self.produced += 1
            if self.produced == self._limit + 1:
                self._stop()  # raise (a sync driver's interrupt) or cancel a scope (async)
        return step


def stop_after(flow: Flow[T], limit: int, stop: Callable[[], None]) -> Flow[T]:
    """``flow`` as a driver sees it, calling ``stop()`` once ``limit`` effects were performed.

    ``stop`` raises (what a sync driver sees on an interrupt) or cancels a scope (async); the
    driver must then call ``flow.abort()``, as it must on any cancellation.
    """
    return cast(Flow[T], _Stopping(flow, limit, stop))


# --- running a flow under a deadline ------------------------------------------------------


@dataclass(slots=True)
class Result:
    flow: Flow[Any]
    log: list[Effect]
    value: Any = None
    body: bytes | None = None
    error: BaseException | None = None


def logged(inner: Flow[T], log: list[Effect]) -> Steps[T]:
    """Re-yield ``inner``'s effects (recording them); closing this aborts ``inner``."""
    step = inner.begin()
    try:
        while not isinstance(step, Done):
            log.append(step)
            try:
                reply = yield step
            except RegistryClientError as exc:
                step = inner.fail(exc)
            else:
                step = inner.reply(reply)
        return step.value
    finally:
        inner.abort()


class Later:
    """A flow built from the previous flow's value, when the chain gets there."""

    def __init__(self, make: Callable[[Any], Flow[Any]]) -> None:
        self.make = make


def run_chain(
    run_flow: RunFlow,
    parts: Sequence[Flow[Any] | Later],
    state: RegistryState,
    abort: int | None = None,
) -> Result:
    """Chain ``parts`` into one logged flow, run it under :data:`DEADLINE`, keep the outcome."""
    log: list[Effect] = []

    def chained() -> Steps[Any]:
        value: Any = None
        for part in parts:
            flow = part.make(value) if isinstance(part, Later) else part
            value = yield from logged(flow, log)
        return value

    flow: Flow[Any] = Flow(chained(), on_time=state.observe)  # the driver's times reach state
    result = Result(flow, log)

    def target() -> None:
        try:
            result.value, result.body = run_flow(flow, state, abort)
        except BaseException as exc:  # reported in the transcript, never lost in a thread
            result.error = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        raise ConformanceFailure(
            f"run_flow did not return within {DEADLINE:g} s (flow {flow.state.value}): "
            "the driver hangs"
        )
    return result


def outcome(result: Result, describe: Callable[[Any, bytes | None], str]) -> str:
    if result.error is not None:
        return f"=> raised {error_name(result.error)}"
    return "=> " + describe(result.value, result.body)


def error_name(exc: BaseException) -> str:
    for cls in (BodyTooLarge, TransportError, BlobUnknown, Unauthorized):
        if isinstance(exc, cls):
            return cls.__name__
    return f"{type(exc).__name__}: {exc}"


# --- the image the scripted registry serves ------------------------------------------------
