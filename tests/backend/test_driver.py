"""The trio driver: effects performed, errors fed back, flows aborted, time from trio's clock.

The first half drives hand-written flows against an in-memory async transport; the second runs
the real pipeline over loopback sockets on ``MockClock(autojump_threshold=0)``, where a 429
back-off and a token's lifetime pass in virtual time.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest
import trio
import trio.testing

from sansio_registry.errors import BodyTooLarge, RegistryClientError, TransportError
from sansio_registry.flow import Flow, FlowState, Steps, fetch, open_, sleep
from sansio_registry.http import Headers, Request, Response, ResponseHead
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing.fake import FakeRegistry, FakeTokenServer
from tests.backend.fake_server import OCI_MANIFEST, make_image, run_trio, serve_fake
from tests.backend.loopback import Exchange
from trio_backend.client import open_client
from trio_backend.driver import Coalescer, drive, drive_streamed

# --- an in-memory transport ------------------------------------------------------------------


def req(path: str = "/", *, key: str | None = None) -> Request:
    return Request(
        method="GET",
        url=f"https://registry.test{path}",
        coalesce_key=key,
    )


def ok(request: Request) -> Response:
    return Response(status=200, headers=Headers(), body=request.url.encode())


class MemoryTransport:
    """Answers with ``respond``; each exchange takes ``delay`` seconds and can be held."""

    def __init__(
        self,
        respond: Callable[[Request], Response] = ok,
        *,
        delay: float = 0.0,
        gate: trio.Event | None = None,
    ) -> None:
        self.respond = respond
        self.delay = delay
        self.gate = gate
        self.requests: list[Request] = []
        self.opened: list[MemoryBody] = []
        self.started = trio.Event()

    async def fetch(self, request: Request) -> Response:
        self.requests.append(request)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        await trio.sleep(self.delay)
        # a transport stamps the head's arrival on the driver's clock (the contract)
        return dataclasses.replace(self.respond(request), received_at=trio.current_time())

    async def open(self, request: Request) -> MemoryBody:
        """The same exchange, body handed out on demand (a ``StreamedResponse`` look-alike)."""
        response = await self.fetch(request)
        body = MemoryBody(response)
        self.opened.append(body)
        return body


class MemoryBody:
    """A buffered body behind the streamed-body interface; remembers being discarded."""

    def __init__(self, response: Response) -> None:
        self.response = response
        self.discarded = False
        self._pos = 0

    @property
    def head(self) -> ResponseHead:
        r = self.response
        return ResponseHead(
            status=r.status, headers=r.headers, reason=r.reason, received_at=r.received_at
        )

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        body = self.response.body
        end = len(body) if max_bytes is None else min(len(body), self._pos + max_bytes)
        chunk, self._pos = body[self._pos : end], end
        return chunk

    async def read_all(self, limit: int) -> bytes:
        await trio.lowlevel.checkpoint()
        rest = self.response.body[self._pos :]
        if len(rest) > limit:
            raise BodyTooLarge(limit)
        self._pos = len(self.response.body)
        return rest

    async def read_prefix(self, limit: int) -> bytes:
        await trio.lowlevel.checkpoint()
        rest = self.response.body[self._pos : self._pos + limit]
        self._pos += len(rest)
        return rest

    def discard(self) -> None:
        self.discarded = True


class Probe:
    """Records how a hand-written flow's generator ended."""

    def __init__(self) -> None:
        self.closed = False
        self.nows: list[float] = []


# --- drive() ----------------------------------------------------------------------------------


@run_trio()
async def test_drive_returns_value_and_answers_fetch_and_open() -> None:
    def flow() -> Steps[tuple[bytes, int]]:
        a = yield from fetch(req("/a"))
        head = yield from open_(req("/b"))
        return a.body, head.status

    transport = MemoryTransport()
    result = await drive(Flow(flow()), transport)
    assert result == (b"https://registry.test/a", 200)
    assert [r.url for r in transport.requests] == [
        "https://registry.test/a",
        "https://registry.test/b",
    ]


@run_trio()
async def test_transport_errors_are_thrown_into_the_flow() -> None:
    def failing(request: Request) -> Response:
        raise TransportError(f"connecting to {request.origin}: connection refused")

    def flow() -> Steps[str]:
        try:
            yield from fetch(req("/a"))
        except TransportError as exc:
            return f"caught: {exc}"
        return "not reached"

    result = await drive(Flow(flow()), MemoryTransport(failing))
    assert result == "caught: connecting to https://registry.test: connection refused"


@run_trio()
async def test_flow_errors_propagate_and_leave_the_flow_failed() -> None:
    def flow() -> Steps[None]:
        yield from fetch(req("/a"))
        raise RegistryClientError("the flow gives up")

    wrapped = Flow(flow())
    with pytest.raises(RegistryClientError, match="the flow gives up"):
        await drive(wrapped, MemoryTransport())
    assert wrapped.state is FlowState.FAILED


@run_trio()
async def test_unexpected_transport_exception_aborts_the_flow() -> None:
    probe = Probe()

    def broken(request: Request) -> Response:
        raise RuntimeError("bug in the transport")

    def flow() -> Steps[None]:
        try:
            yield from fetch(req("/a"))
        finally:
            probe.closed = True

    wrapped = Flow(flow())
    with pytest.raises(RuntimeError, match="bug in the transport"):
        await drive(wrapped, MemoryTransport(broken))
    assert probe.closed
    assert wrapped.state is FlowState.ABORTED


@run_trio()
async def test_cancellation_aborts_the_suspended_flow() -> None:
    probe = Probe()
    after_yield = []

    def flow() -> Steps[None]:
        try:
            yield from fetch(req("/a"))
            after_yield.append("resumed")
        except GeneratorExit:
            probe.closed = True
            raise

    transport = MemoryTransport(gate=trio.Event())  # never opens
    wrapped = Flow(flow())
    with trio.move_on_after(0.05) as scope:
        await drive(wrapped, transport)
    assert scope.cancelled_caught
    assert probe.closed
    assert after_yield == []
    assert wrapped.state is FlowState.ABORTED
    assert wrapped.pending is None


@run_trio(mock_clock=True)
async def test_flow_time_starts_at_begin_and_follows_sleeps_and_answers() -> None:
    state = RegistryState()
    probe = Probe()

    def flow() -> Steps[None]:
        probe.nows.append(state.now)
        yield from sleep(7.5)
        probe.nows.append(state.now)
        yield from fetch(req("/a"))  # the transport takes 2.5 virtual seconds
        probe.nows.append(state.now)

    start_real, start = time.perf_counter(), trio.current_time()
    await drive(Flow(flow(), on_time=state.observe), MemoryTransport(delay=2.5))
    assert trio.current_time() - start == pytest.approx(10.0)
    assert time.perf_counter() - start_real < 2.0
    assert probe.nows == pytest.approx([start, start + 7.5, start + 10.0])
    assert state.now == trio.current_time()


@run_trio(mock_clock=True)
async def test_state_now_never_goes_backwards() -> None:
    state = RegistryState(now=1e9)  # e.g. set by a caller with another clock

    def flow() -> Steps[None]:
        yield from sleep(1.0)

    await drive(Flow(flow(), on_time=state.observe), MemoryTransport())
    assert state.now == 1e9


# --- Open: streamed bodies -------------------------------------------------------------------


@run_trio()
async def test_open_2xx_is_answered_with_the_head_and_the_body_closed_at_the_end() -> None:
    replies: list[object] = []

    def flow() -> Steps[None]:
        replies.append((yield from open_(req("/blob"))))

    transport = MemoryTransport()
    await drive(Flow(flow()), transport)
    assert [type(r) for r in replies] == [ResponseHead]
    assert len(transport.opened) == 1
    assert transport.opened[0].discarded  # drive() does not hand bodies out


@run_trio()
async def test_kept_body_is_discarded_before_the_next_exchange() -> None:
    discarded_when_fetching: list[bool] = []
    transport = MemoryTransport()

    def respond(request: Request) -> Response:
        if request.url.endswith("/next"):
            discarded_when_fetching.append(transport.opened[0].discarded)
        return ok(request)

    transport.respond = respond

    def flow() -> Steps[None]:
        yield from open_(req("/blob"))
        yield from fetch(req("/next"))

    await drive(Flow(flow()), transport)
    assert discarded_when_fetching == [True]


@run_trio()
async def test_open_error_status_is_answered_with_the_buffered_error_body() -> None:
    def not_found(request: Request) -> Response:
        return Response(status=404, headers=Headers(), body=b'{"errors":[]}')

    replies: list[object] = []

    def flow() -> Steps[None]:
        replies.append((yield from open_(req("/blob"))))

    transport = MemoryTransport(not_found)
    await drive(Flow(flow()), transport)
    (reply,) = replies
    assert isinstance(reply, Response)
    assert (reply.status, reply.body) == (404, b'{"errors":[]}')
    assert transport.opened[0].discarded


@run_trio()
async def test_drive_streamed_hands_out_the_body_of_a_final_open() -> None:
    def flow() -> Steps[int]:
        head = yield from open_(req("/blob"))
        return head.status

    transport = MemoryTransport()
    status, body = await drive_streamed(Flow(flow()), transport)
    assert status == 200
    assert body is transport.opened[0]
    assert not transport.opened[0].discarded
    assert await body.read_all(1 << 20) == b"https://registry.test/blob"


# --- Coalescer --------------------------------------------------------------------------------


@run_trio()
async def test_coalescer_shares_one_exchange_between_identical_requests() -> None:
    gate = trio.Event()
    transport = MemoryTransport(gate=gate)
    coalescer = Coalescer()
    results: list[Response] = []

    async def one() -> None:
        results.append(await coalescer.fetch(transport, req("/token", key="k")))

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(one)
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert len(transport.requests) == 1
    assert coalescer.shared == 9
    assert len(results) == 10
    assert all(r is results[0] for r in results)
    # Nothing stays in flight: the next identical request goes out again.
    await coalescer.fetch(transport, req("/token", key="k"))
    assert len(transport.requests) == 2


@run_trio()
async def test_coalescer_keeps_different_keys_and_unkeyed_requests_apart() -> None:
    gate = trio.Event()
    transport = MemoryTransport(gate=gate)
    coalescer = Coalescer()

    async with trio.open_nursery() as nursery:
        for key in ("alice", "bob", None, None):
            nursery.start_soon(coalescer.fetch, transport, req("/token", key=key))
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert len(transport.requests) == 4
    assert coalescer.shared == 0


@pytest.mark.parametrize(
    "make_error",
    [lambda: TransportError("token server: connection refused"), lambda: BodyTooLarge(1024)],
    ids=["transport", "too-large"],
)
@run_trio()
async def test_coalescer_hands_the_leaders_error_to_every_waiter(
    make_error: Callable[[], RegistryClientError],
) -> None:
    gate = trio.Event()
    error = make_error()

    def refuse(request: Request) -> Response:
        raise error

    transport = MemoryTransport(refuse, gate=gate)
    coalescer = Coalescer()
    errors: list[RegistryClientError] = []

    async def one() -> None:
        try:
            await coalescer.fetch(transport, req("/token", key="k"))
        except RegistryClientError as exc:
            exc.add_note("seen by one caller")  # as the mirror loop does
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(one)
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert len(transport.requests) == 1
    assert len(errors) == 3
    assert all(type(e) is type(error) and str(e) == str(error) for e in errors)
    # Each caller gets its own exception object: notes one adds never show up in another's.
    assert len({id(e) for e in errors}) == 3
    assert all(e.__notes__ == ["seen by one caller"] for e in errors)
    if isinstance(error, BodyTooLarge):
        assert all(isinstance(e, BodyTooLarge) and e.limit == 1024 for e in errors)


@run_trio()
async def test_coalescer_waiter_goes_itself_when_the_leader_is_cancelled() -> None:
    gate = trio.Event()
    transport = MemoryTransport(gate=gate)
    coalescer = Coalescer()
    results: list[Response] = []

    async def waiter() -> None:
        results.append(await coalescer.fetch(transport, req("/token", key="k")))

    async with trio.open_nursery() as nursery:
        leader_scope = trio.CancelScope()

        async def leader() -> None:
            with leader_scope:
                await coalescer.fetch(transport, req("/token", key="k"))

        nursery.start_soon(leader)
        await transport.started.wait()
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert coalescer.shared == 1
        leader_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert len(transport.requests) == 2
    assert [r.status for r in results] == [200]


# --- the real pipeline on a virtual clock ----------------------------------------------------

INSECURE = ClientConfig(tls_verify=False)  # plain-HTTP loopback fakes: https probe, then http


@run_trio(timeout=1000.0, mock_clock=True)
async def test_429_back_off_sleeps_in_virtual_time() -> None:
    image = make_image()
    registry = FakeRegistry()
    registry.put_manifest("app", "v1", image.manifest, OCI_MANIFEST)
    arrivals: list[float] = []

    async def throttle(ex: Exchange, request: Request) -> bool:
        if "/manifests/" not in request.url:
            return False
        arrivals.append(trio.current_time())
        if len(arrivals) == 1:
            await ex.respond(429, [("Retry-After", "5")])
            return True
        if len(arrivals) == 2:
            await ex.respond(429)  # no Retry-After: the doubled fallback, 10 s
            return True
        return False

    start_real = time.perf_counter()
    async with serve_fake(registry, intercept=throttle) as srv, open_client(INSECURE) as client:
        start = trio.current_time()
        manifest = await client.get_manifest(f"{srv.netloc}/app:v1")
        elapsed = trio.current_time() - start
        assert client.state.now == trio.current_time()
    assert manifest.raw == image.manifest
    assert len(arrivals) == 3
    assert arrivals[1] - arrivals[0] == pytest.approx(5.0)
    assert arrivals[2] - arrivals[1] == pytest.approx(10.0)
    assert 15.0 <= elapsed < 16.0
    assert time.perf_counter() - start_real < 5.0


@run_trio(timeout=1000.0, mock_clock=True)
async def test_token_is_reused_within_its_lifetime_and_fetched_again_after() -> None:
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock)
    image = make_image()
    tokens = FakeTokenServer(expires_in=60)
    registry = FakeRegistry(auth="bearer", token_server=tokens)
    registry.put_manifest("app", "v1", image.manifest, OCI_MANIFEST)
    async with (
        serve_fake(tokens) as token_srv,
        serve_fake(registry) as srv,
        open_client(INSECURE) as client,
    ):
        registry.realm = token_srv.url("/token")
        ref = f"{srv.netloc}/app:v1"
        await client.get_manifest(ref)
        assert tokens.requests == 1
        clock.jump(30)
        await client.get_manifest(ref)
        clock.jump(29.5)  # 59.5 s after the token arrived
        await client.get_manifest(ref)
        assert tokens.requests == 1
        assert client.state.now == trio.current_time()
        clock.jump(1.0)  # 60.5 s: expired
        await client.get_manifest(ref)
        assert tokens.requests == 2
        clock.jump(30)
        await client.get_manifest(ref)
        assert tokens.requests == 2
    assert sorted(tokens.issued) == ["tok-1", "tok-2"]
    bearer = [r.headers.get("Authorization") for r in srv.seen if "/manifests/" in r.url]
    assert bearer == ["Bearer tok-1"] * 3 + ["Bearer tok-2"] * 2
