"""The trio backend's part in retries: which failures say ``before_response``, and waits that
end with the caller's cancel scope.

The core resends a retry-safe request after a ``TransportError`` only when the transport says
the server cannot have acted on it; the pool knows whether any response byte arrived.
"""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from sansio_registry.errors import ServerError, TransportError
from sansio_registry.http import Request
from sansio_registry.retry_policy import RetryPolicy
from sansio_registry.session import ClientConfig
from sansio_registry.testing.fake import FakeRegistry
from tests.backend.fake_server import OCI_MANIFEST, Image, make_image, run_trio, serve_fake
from tests.backend.loopback import Exchange, free_port, serve, trio_test
from trio_backend.client import open_client
from trio_backend.pool import ConnectionPool

INSECURE = ClientConfig(tls_verify=False)  # plain-HTTP loopback fakes: https probe, then http


def get(url: str) -> Request:
    return Request(method="GET", url=url)


def _app_v1() -> tuple[Image, FakeRegistry]:
    """An image and a model registry serving it as app:v1."""
    image = make_image()
    registry = FakeRegistry()
    registry.put_manifest("app", "v1", image.manifest, OCI_MANIFEST)
    return image, registry


# --- before_response --------------------------------------------------------------------------


@trio_test
async def test_a_refused_connection_fails_before_the_response() -> None:
    async with ConnectionPool() as pool:
        with pytest.raises(TransportError) as info:
            await pool.fetch(get(f"http://127.0.0.1:{free_port()}/v2/"))
    assert info.value.before_response


@trio_test
async def test_a_close_before_the_status_line_fails_before_the_response() -> None:
    async def hang_up(stream: trio.abc.Stream) -> None:
        await stream.receive_some(65536)  # the request arrives; no byte goes back

    async with serve(raw=hang_up) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError) as info:
            await pool.fetch(get(srv.url("/v2/")))
    assert "without sending a response" in str(info.value)
    assert info.value.before_response


@trio_test
async def test_a_close_after_part_of_the_head_may_have_been_processed() -> None:
    async def half_head(stream: trio.abc.Stream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Le")

    async with serve(raw=half_head) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError) as info:
            await pool.fetch(get(srv.url("/v2/")))
    assert not info.value.before_response


@trio_test
async def test_a_body_cut_short_may_have_been_processed() -> None:
    async def cut(ex: Exchange) -> None:
        await ex.send_head(200, [("Content-Length", "10")])
        await ex.send_data(b"12345")
        await ex.close()

    async with serve(cut) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError) as info:
            await pool.fetch(get(srv.url("/blob")))
    assert not info.value.before_response


@trio_test
async def test_a_tls_handshake_failure_is_not_marked_for_resending() -> None:
    # A plain-HTTP server asked for TLS: resending cannot help, and the certificate errors
    # this path also covers never go away by themselves.
    async def plain(ex: Exchange) -> None:
        await ex.respond(200)

    async with serve(plain) as srv, ConnectionPool() as pool:
        with pytest.raises(TransportError) as info:
            await pool.fetch(get(f"https://127.0.0.1:{srv.port}/v2/"))
    assert not info.value.before_response


# --- the whole client ---------------------------------------------------------------------------


@run_trio(timeout=1000.0, mock_clock=True)
async def test_a_503_burst_is_waited_out_in_virtual_time() -> None:
    image, registry = _app_v1()
    arrivals: list[float] = []

    async def burst(ex: Exchange, request: Request) -> bool:
        if "/manifests/" not in request.url:
            return False
        arrivals.append(trio.current_time())
        if len(arrivals) <= 2:
            await ex.respond(503)
            return True
        return False

    async with serve_fake(registry, intercept=burst) as srv, open_client(INSECURE) as client:
        manifest = await client.get_manifest(f"{srv.netloc}/app:v1")
    assert manifest.raw == image.manifest
    assert [b - a for a, b in itertools.pairwise(arrivals)] == [
        pytest.approx(1.0),
        pytest.approx(2.0),
    ]


@run_trio(timeout=1000.0, mock_clock=True)
async def test_a_cancel_scope_ends_a_retry_wait() -> None:
    image, registry = _app_v1()
    asked = 0

    async def busy(ex: Exchange, request: Request) -> bool:
        nonlocal asked
        if "/manifests/" not in request.url or asked:
            return False
        asked += 1
        await ex.respond(429, [("Retry-After", "50")])
        return True

    async with serve_fake(registry, intercept=busy) as srv, open_client(INSECURE) as client:
        start = trio.current_time()
        with trio.move_on_after(5.0) as scope:
            await client.get_manifest(f"{srv.netloc}/app:v1")
        assert scope.cancelled_caught
        assert trio.current_time() - start == pytest.approx(5.0)  # not the 50 s asked for
        assert asked == 1
        assert client.statistics().active == 0
        # the client is still usable afterwards (the registry answers now)
        manifest = await client.get_manifest(f"{srv.netloc}/app:v1")
        assert manifest.raw == image.manifest


@run_trio(timeout=1000.0, mock_clock=True)
async def test_a_wait_the_policy_does_not_allow_fails_without_waiting() -> None:
    async def busy(ex: Exchange, request: Request) -> bool:
        await ex.respond(503, [("Retry-After", "600")])
        return True

    config = ClientConfig(tls_verify=False, retry=RetryPolicy(max_delay=30.0))
    async with serve_fake(FakeRegistry(), intercept=busy) as srv, open_client(config) as client:
        start = trio.current_time()
        with pytest.raises(ServerError) as info:
            await client.list_tags(f"{srv.netloc}/app")
        assert trio.current_time() == start
    assert "the registry asks to wait 600 s; the retry policy allows at most 30 s" in str(
        info.value
    )
