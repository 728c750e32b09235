"""One HTTP/1.1 exchange over h11: request shape, framing, limits, IO errors → TransportError."""

from __future__ import annotations

import errno
import socket
import ssl

import h11
import pytest
import trio
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_registry.errors import BodyTooLarge, TransportError
from sansio_registry.http import Headers, Origin, Request
from tests.backend.fake_server import tls_server_context
from tests.backend.loopback import Exchange, Handler, free_port, serve, trio_test
from trio_backend.http11 import MAX_HEAD_SIZE, describe_io_error, map_io_errors
from trio_backend.pool import ConnectionPool
from trio_backend.tls import CertDirSearch, TLSConfig


def get(
    url: str,
    *,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    max_body: int = 1 << 20,
) -> Request:
    return Request(
        method=method,
        url=url,
        headers=Headers(headers),
        body=body,
        max_body=max_body,
    )


# --- map_io_errors ---------------------------------------------------------------------------


def _refused_group() -> OSError:
    err = OSError("all attempts to connect to 127.0.0.1:1 failed")
    err.__cause__ = ExceptionGroup("x", [ConnectionRefusedError(errno.ECONNREFUSED, "refused")])
    return err


def _verify_error() -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, "certificate verify failed")
    err.verify_message = "self-signed certificate"
    return err


def _broken_by_reset() -> trio.BrokenResourceError:
    err = trio.BrokenResourceError()
    err.__cause__ = ConnectionResetError(errno.ECONNRESET, "reset")
    return err


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection refused"),
        (_refused_group(), "connection refused"),
        (ConnectionResetError(errno.ECONNRESET, "x"), "connection reset by peer"),
        (
            socket.gaierror(-2, "Name or service not known"),
            "cannot resolve host: Name or service not known",
        ),
        (_verify_error(), "certificate verify failed: self-signed certificate"),
        (_broken_by_reset(), "connection reset by peer"),
        (trio.BrokenResourceError(), "connection broken"),
        (trio.ClosedResourceError(), "connection already closed"),
        (h11.RemoteProtocolError("bad status line"), "malformed HTTP response: bad status line"),
        (
            h11.LocalProtocolError("Illegal header name"),
            "invalid HTTP request: Illegal header name",
        ),
        (OSError("odd"), "odd"),
    ],
)
def test_map_io_errors_message_and_cause(exc: BaseException, reason: str) -> None:
    with pytest.raises(TransportError) as info, map_io_errors("connecting to https://h:5000"):
        raise exc
    assert str(info.value) == f"connecting to https://h:5000: {reason}"
    assert info.value.__cause__ is exc
    assert describe_io_error(exc) == reason


def test_map_io_errors_ssl_error_reason() -> None:
    err = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    err.reason = "WRONG_VERSION_NUMBER"
    with (
        pytest.raises(TransportError, match=r"TLS error: wrong version number$"),
        map_io_errors("TLS handshake with https://h"),
    ):
        raise err


def test_map_io_errors_leaves_other_errors_alone() -> None:
    with pytest.raises(KeyError), map_io_errors("x"):
        raise KeyError("not ours to map")
    original = TransportError("already mapped")
    with pytest.raises(TransportError) as info, map_io_errors("x"):
        raise original
    assert info.value is original


@trio_test
async def test_map_io_errors_never_converts_cancelled() -> None:
    with trio.CancelScope() as scope:
        scope.cancel()
        with map_io_errors("reading response from http://h"):
            await trio.sleep_forever()
    assert scope.cancelled_caught


# --- request shape ---------------------------------------------------------------------------


@trio_test
async def test_request_headers_in_order_with_host_and_repeats() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.respond(200, [("Content-Type", "text/plain")], b"hello")

    accepts = ("application/a", "application/b", "application/c")
    async with serve(handler) as srv, ConnectionPool(user_agent="ua/1") as pool:
        resp = await pool.fetch(
            get(
                srv.url("/v2/x?n=1"),
                headers=(
                    ("Docker-Distribution-Api-Version", "registry/2.0"),
                    *(("Accept", a) for a in accepts),
                ),
            )
        )
    assert (resp.status, resp.reason, resp.body) == (200, "OK", b"hello")
    assert resp.headers.get("content-type") == "text/plain"
    seen = srv.requests[0]
    assert seen.target == "/v2/x?n=1"
    assert [k for k, _ in seen.headers] == [
        "Host",
        "Docker-Distribution-Api-Version",
        "Accept",
        "Accept",
        "Accept",
        "User-Agent",
    ]
    assert seen.header_values("Host") == [f"127.0.0.1:{srv.port}"]
    assert seen.header_values("Accept") == list(accepts)  # separate lines, not comma-joined
    assert seen.header_values("Accept-Encoding") == []
    assert seen.header_values("Content-Length") == []


@trio_test
async def test_request_keeps_callers_user_agent_and_sends_body_length() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.respond(201, body=b"")

    async with serve(handler) as srv, ConnectionPool(user_agent="default/0") as pool:
        resp = await pool.fetch(
            get(
                srv.url("/token"),
                method="POST",
                headers=(("User-Agent", "mine/2"),),
                body=b"a=b&c=d",
            )
        )
        empty = await pool.fetch(get(srv.url("/token"), method="POST"))
    assert resp.status == 201 and empty.status == 201
    first, second = srv.requests
    assert first.header_values("User-Agent") == ["mine/2"]
    assert first.header_values("Content-Length") == ["7"]
    assert first.body == b"a=b&c=d"
    assert second.header_values("Content-Length") == ["0"]


@trio_test
async def test_received_at_uses_trio_clock() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.respond(200)

    async with serve(handler) as srv, ConnectionPool() as pool:
        before = trio.current_time()
        resp = await pool.fetch(get(srv.url()))
        assert before <= resp.received_at <= trio.current_time()


# --- framing ---------------------------------------------------------------------------------


@trio_test
async def test_chunked_body_is_reassembled_and_connection_reused() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Transfer-Encoding", "chunked")])
        for part in (b"ab", b"cde", b"f" * 100_000):
            await ex.send_data(part)
        await ex.end()

    async with serve(handler) as srv, ConnectionPool() as pool:
        one = await pool.fetch(get(srv.url()))
        two = await pool.fetch(get(srv.url()))
        stats = pool.statistics()
    assert one.body == two.body == b"abcde" + b"f" * 100_000
    assert stats.connections_opened == 1


@pytest.mark.parametrize("status", [204, 304])
@trio_test
async def test_bodyless_statuses(status: int) -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(status, [])
        await ex.end()

    async with serve(handler) as srv, ConnectionPool() as pool:
        resp = await pool.fetch(get(srv.url(), max_body=0))
        again = await pool.fetch(get(srv.url(), max_body=0))
        assert pool.statistics().connections_opened == 1
    assert resp.status == again.status == status
    assert resp.body == b""


@trio_test
async def test_head_has_no_body_even_with_large_content_length() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.respond(200, [("Content-Length", str(10**9))])

    async with serve(handler) as srv, ConnectionPool() as pool:
        resp = await pool.fetch(get(srv.url(), method="HEAD", max_body=10))
        await pool.fetch(get(srv.url(), method="HEAD", max_body=10))
        assert pool.statistics().connections_opened == 1
    assert resp.headers.get("Content-Length") == str(10**9)
    assert resp.body == b""


@trio_test
async def test_informational_response_is_skipped() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_raw(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        )
        await ex.close()

    async with serve(handler) as srv, ConnectionPool() as pool:
        resp = await pool.fetch(get(srv.url()))
    assert (resp.status, resp.body) == (200, b"ok")


@trio_test
async def test_connection_close_response_is_not_pooled() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.respond(200, [("Connection", "close")], b"x")

    async with serve(handler) as srv, ConnectionPool() as pool:
        await pool.fetch(get(srv.url()))
        await pool.fetch(get(srv.url()))
        stats = pool.statistics()
    assert stats.connections_opened == 2
    assert stats.idle == ()


# --- receiving into a caller's buffer -------------------------------------------------------


async def read_into(
    pool: ConnectionPool, request: Request, buffer_size: int
) -> tuple[bytes, list[int]]:
    """The body through ``StreamedResponse.receive_into``, and each count it gave."""
    out = bytearray()
    counts = []
    buffer = memoryview(bytearray(buffer_size))
    async with await pool.open(request) as resp:
        while count := await resp.receive_into(buffer):
            counts.append(count)
            out += buffer[:count]
    return bytes(out), counts


def answering(body: bytes, *, chunked: bool) -> Handler:
    """A handler answering 200 with ``body``, chunked or with a Content-Length."""

    async def handler(ex: Exchange) -> None:
        if chunked:
            await ex.send_head(200, [("Transfer-Encoding", "chunked")])
            await ex.send_data(body)
            await ex.end()
        else:
            await ex.respond(200, body=body)

    return handler


@pytest.mark.parametrize("chunked", [False, True])
@trio_test
async def test_receive_into_fills_the_buffer_and_the_connection_is_reused(chunked: bool) -> None:
    body = bytes(range(256)) * 1000
    async with serve(answering(body, chunked=chunked)) as srv, ConnectionPool() as pool:
        got, counts = await read_into(pool, get(srv.url()), 10_000)
        again = await pool.fetch(get(srv.url()))
        assert pool.statistics().connections_opened == 1
    assert got == again.body == body
    assert max(counts) <= 10_000


@trio_test
async def test_bytes_after_a_content_length_body_keep_the_connection_out_of_the_pool() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")

    async with serve(handler) as srv, ConnectionPool() as pool:
        assert (await pool.fetch(get(srv.url()))).body == b"hello"
        assert pool.statistics().idle == ()


@trio_test
async def test_a_content_length_body_cut_short_is_a_transport_error_for_receive_into() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", "100000")])
        await ex.send_data(b"x" * 30_000)
        await ex.close()

    async with serve(handler) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError, match=r"server closed the connection mid-body$"):
            await read_into(pool, get(srv.url()), 64 * 1024)
        assert pool.statistics().idle == ()


@trio_test
async def test_receive_into_over_tls_gives_the_same_bytes() -> None:
    ca = trustme.CA()
    body = bytes(range(256)) * 3000

    async def handler(ex: Exchange) -> None:
        await ex.respond(200, body=body)

    no_cert_dirs = TLSConfig(cert_dirs=CertDirSearch(enabled=False))
    async with (
        serve(handler, ssl_context=tls_server_context(ca)) as srv,
        ConnectionPool(tls=no_cert_dirs) as pool,
    ):
        request = Request(method="GET", url=srv.url(), headers=Headers(), tls_verify=False)
        got, _ = await read_into(pool, request, 100_000)
        got_again, _ = await read_into(pool, request, 7)
        assert pool.statistics().connections_opened == 1
    assert got == got_again == body


# --- body limits -----------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
@trio_test
async def test_body_exactly_max_body_is_fine(chunked: bool) -> None:
    body = b"y" * 1000
    async with serve(answering(body, chunked=chunked)) as srv, ConnectionPool() as pool:
        resp = await pool.fetch(get(srv.url(), max_body=1000))
        assert pool.statistics().idle_for(Origin.of(srv.url())) == 1
    assert resp.body == body


@pytest.mark.parametrize("chunked", [False, True])
@trio_test
async def test_body_one_byte_over_max_body_raises_and_discards(chunked: bool) -> None:
    async def handler(ex: Exchange) -> None:
        if chunked:
            await ex.send_head(200, [("Transfer-Encoding", "chunked")])
            await ex.send_data(b"z" * 600)
            await ex.send_data(b"z" * 401)
            await ex.end()
        else:
            await ex.respond(200, body=b"z" * 1001)

    async with serve(handler) as srv, ConnectionPool() as pool:
        with pytest.raises(BodyTooLarge) as info:
            await pool.fetch(get(srv.url(), max_body=1000))
        assert str(info.value) == "exceeded maximum allowed size of 1000 bytes"
        stats = pool.statistics()
        assert stats.idle == () and stats.active == 0
        await pool.fetch(get(srv.url(), max_body=2000))
        assert pool.statistics().connections_opened == 2


@trio_test
async def test_declared_length_over_limit_fails_before_reading_body() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", str(1 << 40))])
        await ex.stall()

    async with serve(handler) as srv, ConnectionPool() as pool:
        with pytest.raises(BodyTooLarge):
            await pool.fetch(get(srv.url(), max_body=4 << 20))


# --- truncation and malformed answers --------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
@trio_test
async def test_close_mid_body_is_transport_error(chunked: bool) -> None:
    async def handler(ex: Exchange) -> None:
        if chunked:
            await ex.send_head(200, [("Transfer-Encoding", "chunked")])
        else:
            await ex.send_head(200, [("Content-Length", "100")])
        await ex.send_data(b"partial")
        await ex.close()

    async with serve(handler) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError) as info:
            await pool.fetch(get(srv.url()))
        assert pool.statistics().idle == ()
    assert str(info.value) == (
        f"reading response from http://127.0.0.1:{srv.port}: server closed the connection mid-body"
    )
    if chunked:  # h11 parses chunked framing; a Content-Length body is counted by us
        assert isinstance(info.value.__cause__, h11.RemoteProtocolError)


@trio_test
async def test_lying_416_content_length_returns_error_body_and_drops_connection() -> None:
    # distribution's 416 declares the blob's length but sends 33 bytes, then
    # closes. The error body is still useful; the connection must not be pooled.
    text = b"invalid range: failed to overlap\n"

    async def handler(ex: Exchange) -> None:
        if ex.recorded.target == "/blob":
            await ex.send_head(416, [("Content-Length", "5000"), ("Content-Type", "text/plain")])
            await ex.send_data(text)
            await ex.close()
        else:
            await ex.respond(200, body=b"fine")

    async with serve(handler) as srv, ConnectionPool() as pool:
        resp = await pool.fetch(get(srv.url("/blob"), headers=(("Range", "bytes=9000-9001"),)))
        assert (resp.status, resp.body) == (416, text)
        assert pool.statistics().idle == ()
        ok = await pool.fetch(get(srv.url("/next")))
        assert ok.body == b"fine"
        assert pool.statistics().connections_opened == 2
    assert len(text) == 33


@trio_test
async def test_closed_without_response_on_fresh_connection_is_not_retried() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.close()

    async with serve(handler) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError, match=r"without sending a response$"):
            await pool.fetch(get(srv.url()))
        assert pool.statistics().retries == 0
    assert srv.connections_opened == 1


@trio_test
async def test_garbage_status_line_is_transport_error() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_raw(b"SPDY/3 whatever\r\n\r\n")
        await ex.close()

    async with serve(handler) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError, match="malformed HTTP response") as info:
            await pool.fetch(get(srv.url()))
    assert isinstance(info.value.__cause__, h11.RemoteProtocolError)


@trio_test
async def test_oversized_response_head_is_refused() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_raw(b"HTTP/1.1 200 OK\r\n")
        line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        for _ in range(MAX_HEAD_SIZE // len(line) + 2):
            await ex.send_raw(line)
        await ex.stall()

    async with serve(handler) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError, match="malformed HTTP response"):
            await pool.fetch(get(srv.url()))


@trio_test
async def test_invalid_header_value_is_transport_error() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.respond(200)

    async with serve(handler) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError, match="invalid HTTP request"):
            await pool.fetch(get(srv.url(), headers=(("X-Evil", "a\r\nInjected: yes"),)))


# --- connecting and cancellation -------------------------------------------------------------


@trio_test
async def test_connection_refused_is_transport_error() -> None:
    port = free_port()
    async with ConnectionPool() as pool:
        with pytest.raises(TransportError) as info:
            await pool.fetch(get(f"http://127.0.0.1:{port}/v2/"))
    assert str(info.value) == f"connecting to http://127.0.0.1:{port}: connection refused"
    assert isinstance(info.value.__cause__, OSError)


@trio_test
async def test_stalled_head_is_cancelled_cleanly_and_not_reused() -> None:
    async def handler(ex: Exchange) -> None:
        if ex.recorded.target == "/stall":
            await ex.stall()
        await ex.respond(200, body=b"ok")

    async with serve(handler) as srv, ConnectionPool() as pool:
        await pool.fetch(get(srv.url("/warm")))
        with trio.move_on_after(0.2) as scope:
            await pool.fetch(get(srv.url("/stall")))
        assert scope.cancelled_caught
        stats = pool.statistics()
        assert stats.idle == () and stats.active == 0
        assert (await pool.fetch(get(srv.url("/after")))).body == b"ok"
        assert pool.statistics().connections_opened == 2
        await srv.wait_closed(1)


@trio_test
async def test_stalled_body_is_cancelled_cleanly_and_not_reused() -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", "10")])
        await ex.send_data(b"12345")
        await ex.stall()

    async with serve(handler) as srv, ConnectionPool() as pool:
        with trio.move_on_after(0.2) as scope:
            await pool.fetch(get(srv.url()))
        assert scope.cancelled_caught
        stats = pool.statistics()
        assert stats.idle == () and stats.active == 0
        await srv.wait_closed(1)


# --- properties ------------------------------------------------------------------------------

_status_lines = st.sampled_from(
    [
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 404 Not Found\r\n",
        b"HTTP/1.0 200 OK\r\n",
        b"HTTP/1.1 999 X\r\n",
        b"HTTP/2 200\r\n",
        b"HTTP/1.1 204 No Content\r\n",
        b"",
    ]
)
_header_lines = st.lists(
    st.sampled_from(
        [
            b"Content-Length: 5\r\n",
            b"Content-Length: -1\r\n",
            b"Content-Length: 99999999999\r\n",
            b"Content-Length: 3\r\nContent-Length: 4\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: gzip\r\n",
            b"Connection: close\r\n",
            b"X: \xff\xfe\r\n",
            b"Bad Header\r\n",
            b" folded\r\n",
            b"X-Ok: 1\r\n",
        ]
    ),
    max_size=4,
)
_responses = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda s, h, b: s + b"".join(h) + b"\r\n" + b,
        _status_lines,
        _header_lines,
        st.binary(max_size=100),
    ),
)


@settings(max_examples=60, deadline=None)
@given(wire=_responses)
def test_any_server_bytes_give_a_response_or_our_error(wire: bytes) -> None:
    async def raw(stream: trio.abc.Stream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(wire)

    async def main() -> None:
        with trio.fail_after(10):
            async with serve(raw=raw) as srv, ConnectionPool() as pool:
                try:
                    resp = await pool.fetch(get(srv.url(), max_body=50))
                except (TransportError, BodyTooLarge):
                    return
                assert len(resp.body) <= 50
                assert 100 <= resp.status <= 999

    trio.run(main)


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=3000), max_size=12),
    reads=st.lists(st.integers(1, 5000), min_size=1, max_size=8),
)
def test_any_chunking_and_read_sizes_reassemble_exactly(
    chunks: list[bytes], reads: list[int]
) -> None:
    async def handler(ex: Exchange) -> None:
        await ex.send_head(200, [("Transfer-Encoding", "chunked")])
        for chunk in chunks:
            await ex.send_data(chunk)
        await ex.end()

    async def main() -> None:
        with trio.fail_after(10):
            async with serve(handler) as srv, ConnectionPool() as pool:
                for _ in range(2):
                    got = bytearray()
                    async with await pool.open(get(srv.url())) as resp:
                        i = 0
                        while data := await resp.receive_some(reads[i % len(reads)]):
                            assert len(data) <= reads[i % len(reads)]
                            got += data
                            i += 1
                    assert bytes(got) == b"".join(chunks)
                assert pool.statistics().connections_opened == 1

    trio.run(main)
