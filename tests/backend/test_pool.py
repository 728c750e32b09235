"""The keep-alive pool: reuse, stale-connection retry, streaming, hygiene and statistics."""

from __future__ import annotations

import tracemalloc

import pytest
import trio
import trio.testing

from sansio_registry.errors import LocalProtocolError, TransportError
from sansio_registry.http import Headers, Origin, Request
from tests.backend.loopback import Exchange, serve, trio_test
from trio_backend.http11 import CHUNK_SIZE
from trio_backend.pool import ConnectionPool, PoolStatistics
from trio_backend.timeouts import Timeouts


def req(url: str, *, method: str = "GET", body: bytes = b"", max_body: int = 1 << 20) -> Request:
    return Request(
        method=method,
        url=url,
        headers=Headers(),
        body=body,
        max_body=max_body,
    )


async def ok(ex: Exchange) -> None:
    await ex.respond(200, body=b"ok:" + ex.recorded.target.encode())


@trio_test
async def test_keep_alive_reuses_one_connection() -> None:
    async with serve(ok) as srv, ConnectionPool() as pool:
        for i in range(10):
            resp = await pool.fetch(req(srv.url(f"/{i}")))
            assert resp.body == f"ok:/{i}".encode()
        stats = pool.statistics()
    origin = Origin.of(srv.url())
    assert stats == PoolStatistics(
        idle=((origin, 1),), active=0, connections_opened=1, requests_sent=10, retries=0
    )
    assert stats.idle_for(origin) == 1
    assert srv.connections_opened == 1
    assert {r.connection for r in srv.requests} == {1}


@trio_test
async def test_origins_are_pooled_separately() -> None:
    async with serve(ok) as srv, ConnectionPool() as pool:
        await pool.fetch(req(f"http://127.0.0.1:{srv.port}/a"))
        await pool.fetch(req(f"http://localhost:{srv.port}/b"))
        await pool.fetch(req(f"http://127.0.0.1:{srv.port}/c"))
        stats = pool.statistics()
    assert stats.connections_opened == 2
    assert stats.idle_for(Origin("http", "127.0.0.1", srv.port)) == 1
    assert stats.idle_for(Origin("http", "localhost", srv.port)) == 1
    localhost = next(r for r in srv.requests if r.target == "/b")
    assert localhost.header_values("Host") == [f"localhost:{srv.port}"]


async def close_after_first_response(ex: Exchange) -> None:
    # Answers as if keeping the connection alive, then drops it (an idle-timeout server).
    await ok(ex)
    await ex.close()


@trio_test
async def test_stale_idle_connection_is_retried_once_for_get() -> None:
    async with serve(close_after_first_response) as srv, ConnectionPool() as pool:
        await pool.fetch(req(srv.url("/1")))
        await srv.wait_closed(1)
        resp = await pool.fetch(req(srv.url("/2")))
        stats = pool.statistics()
    assert resp.body == b"ok:/2"
    assert stats.retries == 1
    assert stats.connections_opened == 2
    assert [r.connection for r in srv.requests] == [1, 2]


@trio_test
async def test_stale_idle_connection_head_is_retried() -> None:
    async with serve(close_after_first_response) as srv, ConnectionPool() as pool:
        await pool.fetch(req(srv.url("/1")))
        await srv.wait_closed(1)
        resp = await pool.fetch(req(srv.url("/2"), method="HEAD"))
    assert resp.status == 200 and pool.statistics().retries == 1


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(
            "POST", marks=pytest.mark.fault("connections", "reused-connection POST re-sent")
        ),
        "DELETE",
        "PUT",
    ],
)
@trio_test
async def test_stale_idle_connection_is_retried_for_any_method(method: str) -> None:
    """The server closed the idle connection without reading the request: send it again."""
    async with serve(close_after_first_response) as srv, ConnectionPool() as pool:
        await pool.fetch(req(srv.url("/1")))
        await srv.wait_closed(1)
        resp = await pool.fetch(req(srv.url("/2"), method=method, body=b"data"))
        stats = pool.statistics()
    assert resp.status == 200
    assert stats.retries == 1 and stats.connections_opened == 2
    assert [(r.method, r.target, r.body) for r in srv.requests[1:]] == [(method, "/2", b"data")]


@trio_test
async def test_stale_retry_happens_only_once() -> None:
    async def handler(ex: Exchange) -> None:
        if ex.connection == 1:
            await close_after_first_response(ex)
        else:
            await ex.close()  # the fresh connection dies too: no second retry

    async with serve(handler) as srv, ConnectionPool() as pool:
        await pool.fetch(req(srv.url("/1")))
        await srv.wait_closed(1)
        with pytest.raises(TransportError, match="without sending a response"):
            await pool.fetch(req(srv.url("/2")))
        stats = pool.statistics()
    assert stats.retries == 1 and stats.connections_opened == 2
    assert srv.connections_opened == 2


@trio_test
async def test_no_retry_after_response_bytes_arrived() -> None:
    async def handler(ex: Exchange) -> None:
        if ex.recorded.target == "/1":
            await ok(ex)
        else:
            await ex.send_raw(b"HTTP/1.1 200 OK\r\nContent-Le")
            await ex.close()

    async with serve(handler) as srv, ConnectionPool() as pool:
        await pool.fetch(req(srv.url("/1")))
        with pytest.raises(TransportError, match="mid-response"):
            await pool.fetch(req(srv.url("/2")))
        assert pool.statistics().retries == 0


@trio_test
async def test_idle_connections_are_capped_per_origin() -> None:
    async with serve(ok) as srv, ConnectionPool(max_per_origin=2) as pool:
        streams = [await pool.open(req(srv.url(f"/{i}"))) for i in range(4)]
        assert pool.statistics().active == 4
        for s in streams:
            assert await s.read_all(100) == f"ok:{s.request.target}".encode()
            await s.aclose()
        stats = pool.statistics()
    assert stats.connections_opened == 4
    assert stats.active == 0
    assert stats.idle_for(Origin.of(srv.url())) == 2


@trio_test
async def test_leaving_the_pool_closes_idle_connections() -> None:
    async with serve(ok) as srv:
        async with ConnectionPool() as pool:
            await pool.fetch(req(srv.url()))
            assert srv.connections_closed == 0
        assert pool.statistics().idle == ()
        await srv.wait_closed(1)
        with pytest.raises(LocalProtocolError, match="closed"):
            await pool.fetch(req(srv.url()))


# --- streaming -------------------------------------------------------------------------------


@trio_test
async def test_open_streams_body_and_returns_connection_at_end() -> None:
    body = bytes(range(256)) * 1000

    async def handler(ex: Exchange) -> None:
        await ex.respond(200, body=body)

    async with serve(handler) as srv, ConnectionPool() as pool:
        async with await pool.open(req(srv.url())) as resp:
            assert resp.head.status == 200
            assert resp.head.headers.get("Content-Length") == str(len(body))
            got = bytearray()
            async for chunk in resp:
                assert 0 < len(chunk) <= CHUNK_SIZE
                got += chunk
            assert resp.is_complete
            assert await resp.receive_some() == b""
        assert bytes(got) == body
        assert pool.statistics().idle_for(resp.origin) == 1
        await pool.fetch(req(srv.url()))
        assert pool.statistics().connections_opened == 1


@trio_test
async def test_open_small_reads_reassemble_exactly() -> None:
    body = bytes(range(256)) * 600

    async def handler(ex: Exchange) -> None:
        await ex.respond(200, body=body)

    async with serve(handler) as srv, ConnectionPool() as pool:
        resp = await pool.open(req(srv.url()))
        got = bytearray()
        while chunk := await resp.receive_some(1000):
            assert len(chunk) <= 1000
            got += chunk
        await resp.aclose()
    assert bytes(got) == body


@trio_test
async def test_closing_a_stream_early_closes_its_connection() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", str(1 << 20))])
        await ex.send_data(b"x" * 1000)
        await ex.stall()

    async with serve(handler) as srv, ConnectionPool() as pool:
        async with await pool.open(req(srv.url())) as resp:
            assert await resp.receive_some(10) == b"x" * 10
        stats = pool.statistics()
        assert stats.idle == () and stats.active == 0
        await srv.wait_closed(1)
        with pytest.raises(trio.ClosedResourceError):
            await resp.receive_some()


@trio_test
async def test_cancelled_stream_read_closes_its_connection() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", "100")])
        await ex.stall()

    async with serve(handler) as srv, ConnectionPool() as pool:
        resp = await pool.open(req(srv.url()))
        with trio.move_on_after(0.1):
            await resp.receive_some()
        assert pool.statistics().active == 0
        await srv.wait_closed(1)
        with pytest.raises(TransportError, match="already failed"):
            await resp.receive_some()
        await resp.aclose()


@trio_test
async def test_stream_cut_mid_body_raises_transport_error() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", "100000")])
        await ex.send_data(b"x" * 5000)
        await ex.close()

    async with serve(handler) as srv, ConnectionPool() as pool:
        async with await pool.open(req(srv.url())) as resp:
            received = 0
            with pytest.raises(TransportError, match="mid-body"):
                while chunk := await resp.receive_some():
                    received += len(chunk)
        assert received == 5000
        assert pool.statistics().idle == ()


@trio_test
async def test_streaming_64_mib_keeps_memory_bounded() -> None:
    size = 64 * 1024 * 1024
    piece = b"\xab" * 65536

    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", str(size))])
        for _ in range(size // len(piece)):
            await ex.send_data(piece)
        await ex.end()

    async with serve(handler) as srv, ConnectionPool() as pool:
        tracemalloc.start()
        try:
            total = 0
            async with await pool.open(req(srv.url())) as resp:
                async for chunk in resp:
                    total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert total == size
        assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"
        assert pool.statistics().idle_for(resp.origin) == 1


@trio_test
async def test_concurrent_readers_are_refused() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", "10")])
        await ex.stall()

    async with serve(handler) as srv, ConnectionPool() as pool:
        resp = await pool.open(req(srv.url()))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(resp.receive_some)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await resp.receive_some()
            nursery.cancel_scope.cancel()
        await resp.aclose()


def test_negative_idle_cap_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        ConnectionPool(max_per_origin=-1)


@trio_test
async def test_handshake_deadline_turns_a_stalled_tls_handshake_into_transport_error() -> None:
    """A peer that accepts TCP but never speaks TLS fails after the handshake deadline, cleanly."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    accepted: list[trio.SocketStream] = []

    async def accept_and_sit() -> None:
        accepted.append(await listener.accept())
        await trio.sleep_forever()

    with trio.fail_after(10):
        async with (
            trio.open_nursery() as nursery,
            ConnectionPool(timeouts=Timeouts(tls_handshake=0.3)) as pool,
        ):
            nursery.start_soon(accept_and_sit)
            with pytest.raises(TransportError, match=r"timed out after 0\.3 s"):
                await pool.fetch(req(f"https://127.0.0.1:{port}/v2/"))
            assert pool.statistics().active == 0
            nursery.cancel_scope.cancel()
    await listener.aclose()
    for stream in accepted:
        await stream.aclose()
    assert len(accepted) == 1


@pytest.mark.fault("connections", "idle pooled connection expires")
@trio_test
async def test_idle_connection_older_than_its_lifetime_is_not_reused() -> None:
    async with serve(ok) as srv, ConnectionPool(timeouts=Timeouts(idle_connection=0.2)) as pool:
        await pool.fetch(req(srv.url("/1")))
        await pool.fetch(req(srv.url("/2")))  # at once: reused
        await trio.sleep(0.3)
        await pool.fetch(req(srv.url("/3")))  # idle too long: a fresh connection
        stats = pool.statistics()
        await srv.wait_closed(1)
    assert [r.connection for r in srv.requests] == [1, 1, 2]
    assert stats.connections_opened == 2 and stats.retries == 0


@pytest.mark.fault("deadlines", "response head never sent (loopback)")
@trio_test
async def test_response_head_deadline() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.stall()

    limits = Timeouts(response_header=0.2)
    async with serve(handler) as srv, ConnectionPool(timeouts=limits) as pool:
        started = trio.current_time()
        with pytest.raises(TransportError, match=r"no response head within 0\.2 s"):
            await pool.fetch(req(srv.url()))
        assert trio.current_time() - started < 2
        assert pool.statistics().active == 0
        await srv.wait_closed(1)


@pytest.mark.fault("deadlines", "body stalls after the head (loopback)")
@trio_test
async def test_idle_deadline_between_body_bytes() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", "1000")])
        await ex.send_data(b"x" * 10)
        await ex.stall()

    async with serve(handler) as srv, ConnectionPool(timeouts=Timeouts(idle=0.2)) as pool:
        async with await pool.open(req(srv.url())) as resp:
            assert await resp.receive_some() == b"x" * 10
            with pytest.raises(TransportError, match=r"no data for 0\.2 s"):
                await resp.receive_some()
        assert pool.statistics().active == 0
        await srv.wait_closed(1)


@trio_test
async def test_deadline_timeouts_are_not_retried_as_stale() -> None:
    """A reused connection whose answer never comes is a timeout, not a dropped connection."""

    async def handler(ex: Exchange) -> None:
        if ex.recorded.target == "/1":
            await ok(ex)
        else:
            await ex.stall()

    limits = Timeouts(response_header=0.2)
    async with serve(handler) as srv, ConnectionPool(timeouts=limits) as pool:
        await pool.fetch(req(srv.url("/1")))
        with pytest.raises(TransportError, match="no response head"):
            await pool.fetch(req(srv.url("/2")))
        stats = pool.statistics()
    assert stats.retries == 0 and stats.connections_opened == 1


@trio_test
async def test_slow_body_under_the_idle_deadline_completes() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", "10")])
        for _ in range(10):
            await trio.sleep(0.05)
            await ex.send_data(b"y")
        await ex.end()

    async with serve(handler) as srv, ConnectionPool(timeouts=Timeouts(idle=0.2)) as pool:
        started = trio.current_time()
        resp = await pool.fetch(req(srv.url()))
        assert trio.current_time() - started > 0.2  # longer than the idle deadline in all
    assert resp.body == b"y" * 10


@pytest.mark.parametrize("field", ["connect", "tls_handshake", "response_header", "idle"])
def test_timeouts_must_be_positive(field: str) -> None:
    with pytest.raises(LocalProtocolError, match=field):
        Timeouts(**{field: 0.0})


# --- admission per origin ----------------------------------------------------------------


@trio_test
async def test_concurrent_requests_never_exceed_the_connections_per_origin() -> None:
    in_flight = 0
    peak = 0

    async def slow(ex: Exchange) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await trio.sleep(0.01)
        in_flight -= 1
        await ok(ex)

    bodies: list[bytes] = []
    async with (
        serve(slow) as srv,
        ConnectionPool(max_per_origin=8, max_connections_per_origin=3) as pool,
    ):

        async def one(i: int) -> None:
            bodies.append((await pool.fetch(req(srv.url(f"/{i}")))).body)

        async with trio.open_nursery() as nursery:
            for i in range(40):
                nursery.start_soon(one, i)
        stats = pool.statistics()
    assert sorted(bodies) == sorted(f"ok:/{i}".encode() for i in range(40))
    assert peak == 3
    assert srv.connections_opened == 3
    assert stats.connections_opened == 3
    assert stats.waiting == 0


@trio_test
async def test_a_held_stream_keeps_its_slot_until_closed() -> None:
    async with serve(ok) as srv, ConnectionPool(max_connections_per_origin=1) as pool:
        first = await pool.open(req(srv.url("/1")))
        with trio.move_on_after(0.2) as scope:
            await pool.fetch(req(srv.url("/2")))
        assert scope.cancelled_caught
        await first.aclose()
        resp = await pool.fetch(req(srv.url("/3")))
    assert resp.body == b"ok:/3"
    assert [r.target for r in srv.requests] == ["/1", "/3"]


@trio_test
async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    async with serve(ok) as srv, ConnectionPool(max_connections_per_origin=1) as pool:
        first = await pool.open(req(srv.url("/held")))
        async with trio.open_nursery() as nursery:
            waiter = trio.CancelScope()

            async def wait_in_line() -> None:
                with waiter:
                    await pool.fetch(req(srv.url("/cancelled")))

            nursery.start_soon(wait_in_line)
            await trio.testing.wait_all_tasks_blocked()
            assert pool.statistics().waiting == 1
            waiter.cancel()
        assert pool.statistics().waiting == 0
        assert await first.read_all(100) == b"ok:/held"
        resp = await pool.fetch(req(srv.url("/next")))
    assert resp.body == b"ok:/next"
    assert [r.target for r in srv.requests] == ["/held", "/next"]


@trio_test
async def test_other_origins_are_not_held_up_by_a_full_one() -> None:
    async with serve(ok) as srv, ConnectionPool(max_connections_per_origin=1) as pool:
        held = await pool.open(req(f"http://127.0.0.1:{srv.port}/held"))
        resp = await pool.fetch(req(f"http://localhost:{srv.port}/other"))
        await held.aclose()
    assert resp.body == b"ok:/other"


@trio_test
async def test_a_failed_request_gives_its_slot_back() -> None:
    async def drop(ex: Exchange) -> None:
        await ex.close()

    async with serve(drop) as srv, ConnectionPool(max_connections_per_origin=1) as pool:
        for _ in range(3):
            with pytest.raises(TransportError):
                await pool.fetch(req(srv.url()))
        assert pool.statistics().waiting == 0


def test_zero_connections_per_origin_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="max_connections_per_origin"):
        ConnectionPool(max_connections_per_origin=0)


@trio_test
async def test_by_default_every_connection_of_a_full_origin_is_kept_idle() -> None:
    async with serve(ok) as srv, ConnectionPool(max_connections_per_origin=10) as pool:
        streams = [await pool.open(req(srv.url(f"/{i}"))) for i in range(10)]
        for s in streams:
            await s.read_all(100)
        again = [await pool.open(req(srv.url(f"/again{i}"))) for i in range(10)]
        for s in again:
            await s.aclose()
        stats = pool.statistics()
    assert stats.connections_opened == 10
