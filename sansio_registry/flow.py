"""Effects, replies and the :class:`Flow` wrapper that every operation is driven through.

An operation is a generator that yields effects (:class:`Fetch`, :class:`Open`, :class:`Sleep`)
and receives replies; :class:`Flow` wraps it in an h11-like state machine so a driver can not
reply out of turn, with the wrong kind of reply, or after the end.

Time reaches a flow one way: as timestamps on what the driver hands in (``begin(at=…)`` and
each reply's ``received_at``; a ``Sleep`` counts as having lasted at least its seconds). The
flow passes the latest one to its ``on_time`` callback (a session's state), never backwards.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Final, Generic, TypeAlias, TypeVar, final

from sansio_registry.errors import LocalProtocolError, RegistryClientError
from sansio_registry.http import Request, Response, ResponseHead

__all__ = [
    "Done",
    "Effect",
    "Fetch",
    "Flow",
    "FlowState",
    "Open",
    "Reply",
    "Sleep",
    "Step",
    "Steps",
    "fetch",
    "open_",
    "sleep",
]

T = TypeVar("T")
U = TypeVar("U")
Arg = TypeVar("Arg")


@final
@dataclass(frozen=True, slots=True)
class Fetch:
    """Send ``request``; reply with a :class:`Response` whose body was read in full.

    A body longer than ``request.max_body`` must not be buffered: the driver fails the flow
    with :class:`~sansio_registry.errors.BodyTooLarge` instead.
    """

    request: Request


@final
@dataclass(frozen=True, slots=True)
class Open:
    """Send ``request``; reply with a :class:`ResponseHead` and keep the body for the caller.

    A non-2xx body may be read into a :class:`Response` instead (bounded by ``max_body``) so the
    core can decode the error.
    """

    request: Request


@final
@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` (for bounded retries); reply with ``None``.

    The flow then takes the time to be at least ``seconds`` later than the latest it knew.
    """

    seconds: float


@final
@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """The flow finished with ``value``."""

    value: T


Effect: TypeAlias = Fetch | Open | Sleep
_EFFECTS: Final = (Fetch, Open, Sleep)  # for isinstance: a tuple is checked faster than a union
Reply: TypeAlias = Response | ResponseHead | None
Step: TypeAlias = Fetch | Open | Sleep | Done[T]
Steps: TypeAlias = Generator[Effect, Reply, T]


def fetch(request: Request) -> Steps[Response]:
    """Sub-flow: one buffered exchange."""
    reply = yield Fetch(request)
    if not isinstance(reply, Response):  # Flow.reply already checks; this narrows the type
        raise LocalProtocolError("Fetch must be answered with a Response")
    return reply


def open_(request: Request) -> Steps[ResponseHead]:
    """Sub-flow: one streamed exchange (the body stays with the driver)."""
    reply = yield Open(request)
    if not isinstance(reply, ResponseHead):
        raise LocalProtocolError("Open must be answered with a ResponseHead")
    return reply


def sleep(seconds: float) -> Steps[None]:
    """Sub-flow: wait."""
    yield Sleep(seconds)


class FlowState(enum.Enum):
    """Where a :class:`Flow` is."""

    NEW = "new"
    AWAITING = "awaiting"
    DONE = "done"
    FAILED = "failed"
    ABORTED = "aborted"


@final
class Flow(Generic[T]):
    """Drive one operation step by step.

    ``begin(at=clock)`` gives the first step; each ``reply(x)`` or ``fail(exc)`` gives the
    next; a step is either an effect to perform or :class:`Done`. Exceptions raised by the
    operation come out of the call that caused them, and the flow is then ``FAILED``.

    ``on_time`` receives every time the flow learns (see the module docstring) before the
    operation resumes, so a cached token is judged by the time the flow was begun at.
    """

    __slots__ = ("_gen", "_now", "_on_time", "_pending", "_state")

    def __init__(
        self,
        gen: Generator[Effect, Reply, T],
        *,
        on_time: Callable[[float], None] | None = None,
    ) -> None:
        self._gen = gen
        self._state = FlowState.NEW
        self._pending: Effect | None = None
        self._on_time = on_time
        self._now: float | None = None

    @property
    def state(self) -> FlowState:
        """The current state."""
        return self._state

    @property
    def pending(self) -> Effect | None:
        """The effect waiting for a reply, if any."""
        return self._pending

    def begin(self, *, at: float | None = None) -> Effect | Done[T]:
        """Start the operation and return its first step.

        ``at`` is the driver's clock now: drivers pass it, so tokens cached by earlier flows
        are judged by the time this one starts (tests that use no tokens may leave it out).
        """
        if self._state is not FlowState.NEW:
            raise LocalProtocolError(f"begin() on a flow that is {self._state.value}")
        if at is not None:
            self._saw(at)
        return self._advance(self._gen.send, None)  # the same as next(): a first send

    def reply(self, reply: Reply) -> Effect | Done[T]:
        """Answer the pending effect and return the next step."""
        pending = self._require_awaiting("reply")
        if isinstance(pending, Fetch):
            ok = isinstance(reply, Response)
        elif isinstance(pending, Open):
            ok = isinstance(reply, ResponseHead)
        else:
            ok = reply is None
        if not ok:
            raise LocalProtocolError(
                f"{type(pending).__name__} cannot be answered with {type(reply).__name__}"
            )
        if isinstance(reply, ResponseHead):
            self._saw(reply.received_at)
        elif isinstance(pending, Sleep) and self._now is not None:
            self._saw(self._now + pending.seconds)
        return self._advance(self._gen.send, reply)

    def fail(self, exc: RegistryClientError) -> Effect | Done[T]:
        """Report that the pending effect failed (transport error, body too large)."""
        self._require_awaiting("fail")
        if not isinstance(exc, RegistryClientError):
            raise LocalProtocolError("fail() takes the core's own error types only")
        return self._advance(self._gen.throw, exc)

    def abort(self) -> None:
        """Give up (e.g. the caller was cancelled); valid in any state, idempotent."""
        if self._state in (FlowState.NEW, FlowState.AWAITING):
            self._state = FlowState.ABORTED
            self._pending = None
            self._gen.close()

    def _saw(self, at: float) -> None:
        if self._now is None or at > self._now:
            self._now = at
        if self._on_time is not None:
            self._on_time(self._now)

    def _require_awaiting(self, what: str) -> Effect:
        if self._state is not FlowState.AWAITING or self._pending is None:
            raise LocalProtocolError(f"{what}() on a flow that is {self._state.value}")
        return self._pending

    def _advance(self, step: Callable[[Arg], object], arg: Arg) -> Effect | Done[T]:
        try:
            effect = step(arg)
        except StopIteration as stop:
            self._state = FlowState.DONE
            self._pending = None
            value: T = stop.value
            return Done(value)
        except BaseException:
            self._state = FlowState.FAILED
            self._pending = None
            raise
        if not isinstance(effect, _EFFECTS):
            self._state = FlowState.FAILED
            self._gen.close()
            raise LocalProtocolError(f"a flow yielded {type(effect).__name__}, not an effect")
        self._state = FlowState.AWAITING
        self._pending = effect
        return effect
