"""The Flow wrapper: every (state x call) pair behaves as documented (h2's idea)."""

from __future__ import annotations

import pytest

from sansio_registry.errors import LocalProtocolError, RegistryClientError, TransportError
from sansio_registry.flow import Done, Fetch, Flow, FlowState, Open, Sleep, Steps, fetch, sleep
from sansio_registry.http import Request, Response, ResponseHead
from sansio_registry.testing import run_sync

REQ = Request(method="GET", url="https://r.test/v2/")


def two_fetches() -> Steps[int]:
    first = yield from fetch(REQ)
    yield from sleep(1.5)
    second = yield from fetch(REQ)
    return first.status + second.status


def failing() -> Steps[int]:
    yield from fetch(REQ)
    raise TransportError("boom")


def catches() -> Steps[str]:
    try:
        yield from fetch(REQ)
    except TransportError as exc:
        return f"caught {exc}"
    return "no error"


def test_flow_runs_to_done_and_reports_value() -> None:
    flow = Flow(two_fetches())
    assert flow.state is FlowState.NEW
    step = flow.begin()
    assert step == Fetch(REQ) and flow.pending == step and flow.state is FlowState.AWAITING
    step = flow.reply(Response(status=200))
    assert step == Sleep(1.5)
    step = flow.reply(None)
    assert isinstance(step, Fetch)
    step = flow.reply(Response(status=404))
    assert step == Done(604)
    assert flow.state is FlowState.DONE and flow.pending is None


@pytest.mark.parametrize(
    ("reply", "ok"),
    [(Response(status=200), True), (ResponseHead(status=200), False), (None, False)],
)
def test_flow_fetch_needs_a_full_response(reply: Response | ResponseHead | None, ok: bool) -> None:
    flow = Flow(two_fetches())
    flow.begin()
    if ok:
        assert flow.reply(reply) == Sleep(1.5)
    else:
        with pytest.raises(LocalProtocolError):
            flow.reply(reply)
        assert flow.state is FlowState.AWAITING  # a wrong reply does not consume the effect


def test_flow_sleep_needs_none() -> None:
    flow = Flow(two_fetches())
    flow.begin()
    flow.reply(Response(status=200))
    with pytest.raises(LocalProtocolError):
        flow.reply(Response(status=200))


def test_flow_open_accepts_head() -> None:
    def opener() -> Steps[int]:
        reply = yield Open(REQ)
        assert isinstance(reply, ResponseHead)
        return reply.status

    flow = Flow(opener())
    assert isinstance(flow.begin(), Open)
    assert flow.reply(ResponseHead(status=206)) == Done(206)


def test_flow_calls_out_of_turn_raise() -> None:
    flow = Flow(two_fetches())
    with pytest.raises(LocalProtocolError):
        flow.reply(Response(status=200))
    with pytest.raises(LocalProtocolError):
        flow.fail(TransportError("x"))
    flow.begin()
    with pytest.raises(LocalProtocolError):
        flow.begin()


def test_flow_after_done_every_call_raises() -> None:
    flow = Flow(catches())
    flow.begin()
    assert flow.reply(Response(status=200)) == Done("no error")
    for call in (flow.begin, lambda: flow.reply(None), lambda: flow.fail(TransportError("x"))):
        with pytest.raises(LocalProtocolError):
            call()
    flow.abort()  # idempotent, harmless after the end
    assert flow.state is FlowState.DONE


def test_flow_fail_is_thrown_into_the_operation() -> None:
    flow = Flow(catches())
    flow.begin()
    assert flow.fail(TransportError("refused")) == Done("caught refused")


def test_flow_error_raised_by_operation_marks_failed() -> None:
    flow = Flow(failing())
    flow.begin()
    with pytest.raises(TransportError, match="boom"):
        flow.reply(Response(status=200))
    assert flow.state is FlowState.FAILED
    with pytest.raises(LocalProtocolError):
        flow.reply(Response(status=200))


def test_flow_fail_rejects_foreign_exceptions() -> None:
    flow = Flow(catches())
    flow.begin()
    with pytest.raises(LocalProtocolError):
        flow.fail(ValueError("not ours"))  # type: ignore[arg-type]


def test_flow_abort_closes_generator_and_is_idempotent() -> None:
    closed: list[bool] = []

    def watched() -> Steps[None]:
        try:
            yield from fetch(REQ)
        finally:
            closed.append(True)

    flow = Flow(watched())
    flow.begin()
    flow.abort()
    flow.abort()
    assert closed == [True]
    assert flow.state is FlowState.ABORTED
    with pytest.raises(LocalProtocolError):
        flow.reply(Response(status=200))


def test_flow_rejects_non_effect_yields() -> None:
    def bad() -> Steps[None]:
        yield "not an effect"  # type: ignore[misc]

    with pytest.raises(LocalProtocolError):
        Flow(bad()).begin()


def test_run_sync_drives_and_sleeps() -> None:
    slept: list[float] = []
    statuses = iter([200, 201])
    value = run_sync(
        Flow(two_fetches()),
        lambda request: Response(status=next(statuses)),
        sleep=slept.append,
    )
    assert value == 401 and slept == [1.5]


def test_run_sync_enforces_max_body() -> None:
    limited = Request(method="GET", url="https://r.test/x", max_body=3)

    def one() -> Steps[str]:
        try:
            yield from fetch(limited)
        except LocalProtocolError:
            return "local"
        except RegistryClientError as exc:  # BodyTooLarge is what must arrive
            return type(exc).__name__
        return "fit"

    assert run_sync(Flow(one()), lambda r: Response(status=200, body=b"1234")) == "BodyTooLarge"
    assert run_sync(Flow(one()), lambda r: Response(status=200, body=b"123")) == "fit"


def test_time_reaches_on_time_from_begin_replies_and_sleeps_never_backwards() -> None:
    seen: list[float] = []
    flow = Flow(two_fetches(), on_time=seen.append)
    flow.begin(at=100.0)
    flow.reply(Response(status=200, received_at=102.0))  # then the Sleep of 1.5 s
    flow.reply(None)
    step = flow.reply(Response(status=200, received_at=50.0))  # an older stamp: ignored
    assert isinstance(step, Done)
    assert seen == [100.0, 102.0, 103.5, 103.5]


def test_time_is_not_invented_when_the_driver_gives_none() -> None:
    seen: list[float] = []
    flow = Flow(two_fetches(), on_time=seen.append)
    flow.begin()
    flow.reply(Response(status=200, received_at=7.0))
    assert seen == [7.0]


def test_run_sync_begins_at_its_clock() -> None:
    seen: list[float] = []
    run_sync(
        Flow(two_fetches(), on_time=seen.append), lambda r: Response(status=200), clock=lambda: 5.0
    )
    assert seen[0] == 5.0
