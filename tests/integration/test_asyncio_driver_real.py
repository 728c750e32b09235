"""The asyncio example driver (``examples/asyncio_driver.py``) against the real registry.

An asyncio application reads what the lab pushed, no trio and no thread: the manifest byte for
byte as skopeo returns it, the config blob (buffered, verified by the core) and a layer
streamed and verified while it is read, on the plain registry, the token registry (one token
for the session, reused over keep-alive connections) and the TLS registry (certificates checked
against the lab's CA; without it, a TransportError). Then ``asyncio.timeout()`` firing
mid-blob, behind a proxy that stops sending halfway: the flow is aborted and its connection
closed, and the caller's own read of a streamed blob closes its connection the same way.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import aclosing
from typing import Any, TypeVar

import pytest

from examples.asyncio_driver import Body, Connections, run, run_streamed
from sansio_registry import ClientConfig, ImageSource, RegistrySession
from sansio_registry.auth import Credentials
from sansio_registry.digest import Digest
from sansio_registry.errors import TransportError
from sansio_registry.flow import FlowState
from sansio_registry.flows.blob import BlobDownload
from sansio_registry.http import Request, ResponseHead
from sansio_registry.reference import ImageRef
from tests.integration.test_sync_driver_real import _readme_block
from tests.lab.faultproxy import Fault, FaultProxy, Rule
from tests.lab.images import Blob, PushedImage
from tests.lab.labs import Lab

T = TypeVar("T")


def _run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` with a deadline, so no test can hang."""

    async def bounded() -> T:
        async with asyncio.timeout(30):
            return await main

    return asyncio.run(bounded())


@pytest.fixture(params=["plain_registry", "token_registry", "tls_registry"])
def lab(request: pytest.FixtureRequest) -> Lab:
    value = request.getfixturevalue(request.param)
    assert isinstance(value, Lab)
    return value


def _session(lab: Lab) -> RegistrySession:
    creds = Credentials(username=lab.creds[0], password=lab.creds[1]) if lab.creds else None
    return RegistrySession(ClientConfig(tls_verify=lab.tls_verify, credentials=creds))


def _connections(lab: Lab) -> Connections:
    """Verified TLS trusts the lab's CA (only the TLS lab has one)."""
    return Connections(
        None if lab.ca_path is None else ssl.create_default_context(cafile=lab.ca_path)
    )


async def _chunks(body: Body | None) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; closed however the reading ends."""
    assert body is not None
    try:
        while chunk := await body.read():
            yield chunk
    finally:
        body.close()


async def _read_verified(download: BlobDownload, body: Body | None) -> bytes:
    """The body, hashed chunk by chunk as it arrives; raises unless size and digest match."""
    verifier, received = download.verifier(), bytearray()
    async for chunk in _chunks(body):
        verifier.update(chunk)
        received += chunk
    verifier.finish()
    return bytes(received)


def test_manifest_and_verified_blobs(lab: Lab) -> None:
    image = lab.images.app
    assert image.config is not None and image.layers
    config_blob, layer = image.config, image.layers[0]
    session = _session(lab)
    tokens_before = lab.issuer.count(account="alice") if lab.issuer else 0

    async def main() -> tuple[ImageSource, bytes, bytes]:
        async with aclosing(_connections(lab)) as conns:
            source = await run(session.open_image(ImageRef.parse(lab.ref(image))), conns)
            digest = Digest.parse(config_blob.digest)
            config_flow = session.get_config_blob(source, digest, size=config_blob.size)
            config = await run(config_flow, conns)
            blob = session.open_blob(source, Digest.parse(layer.digest), size=layer.size)
            return source, config, await _read_verified(*await run_streamed(blob, conns))

    source, config, layer_data = _run(main())
    if lab.issuer is not None:  # one token for the whole session, sent on every request
        assert lab.issuer.count(account="alice") - tokens_before == 1
    assert source.manifest.raw == image.manifest
    assert source.manifest.raw == lab.inspect_raw(image)  # what skopeo reads, byte for byte
    assert str(source.manifest.digest) == image.digest
    assert config == config_blob.data
    assert layer_data == layer.data


def test_tls_without_the_ca_is_a_transport_error_about_the_certificate(
    tls_registry: Lab,
) -> None:
    ref = ImageRef.parse(tls_registry.ref(tls_registry.images.app))
    flow = _session(tls_registry).open_image(ref)
    with pytest.raises(TransportError, match="certificate"):
        _run(run(flow))  # Connections() trusts the system's CAs only


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Request, Any]]]:
    """Every exchange the driver makes: the request and the connection it went over."""
    seen: list[tuple[Request, Any]] = []
    original = Connections.exchange

    async def recording(self: Connections, request: Request) -> tuple[ResponseHead, Body]:
        head, body = await original(self, request)
        seen.append((request, body._conn))
        return head, body

    monkeypatch.setattr(Connections, "exchange", recording)
    yield seen


def _stalling_proxy(lab: Lab, blob: Blob) -> FaultProxy:
    """In front of ``lab``: GETs of ``blob`` send the head and half the body, then nothing."""
    return FaultProxy(lab.host, [Rule(Fault.stall_body(blob.size // 2), f"/blobs/{blob.digest}$")])


async def _open_through(
    proxy: FaultProxy, image: PushedImage, session: RegistrySession, conns: Connections
) -> ImageSource:
    ref = ImageRef.parse(f"{proxy.host}/{image.repo}:{image.tag}")
    return await run(session.open_image(ref), conns)


async def _assert_closed(exchanges: list[tuple[Request, Any]], blob: Blob) -> None:
    """The connection of the last exchange, a GET of ``blob``, is closed, its socket too."""
    request, conn = exchanges[-1]
    assert request.url.endswith(blob.digest)
    assert conn.writer.transport.is_closing()
    await asyncio.wait_for(conn.writer.wait_closed(), 5)


def test_timeout_mid_blob_aborts_the_flow_and_closes_its_connection(
    plain_registry: Lab, exchanges: list[tuple[Request, Any]]
) -> None:
    image = plain_registry.images.app
    assert image.config is not None
    config_blob = image.config
    digest = Digest.parse(config_blob.digest)
    session = RegistrySession(ClientConfig(tls_verify=False))

    with _stalling_proxy(plain_registry, config_blob) as proxy:

        async def main() -> bytes:
            async with aclosing(Connections()) as conns:
                source = await _open_through(proxy, image, session, conns)
                flow = session.get_config_blob(source, digest, size=config_blob.size)
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(1):
                        await run(flow, conns)
                assert flow.state is FlowState.ABORTED
                await _assert_closed(exchanges, config_blob)
                # the pool still works: a new connection (the proxy stalls only once)
                again = session.get_config_blob(source, digest, size=config_blob.size)
                return await run(again, conns)

        assert _run(main()) == config_blob.data
        connections = [r.connection for r in proxy.blob_requests()]
    assert len(connections) == 2 and connections[0] != connections[1]


def test_timeout_while_the_caller_streams_a_blob_closes_its_connection(
    plain_registry: Lab, exchanges: list[tuple[Request, Any]]
) -> None:
    image = plain_registry.images.app
    layer = image.layers[0]
    session = RegistrySession(ClientConfig(tls_verify=False))

    with _stalling_proxy(plain_registry, layer) as proxy:

        async def main() -> None:
            async with aclosing(Connections()) as conns:
                source = await _open_through(proxy, image, session, conns)
                blob = session.open_blob(source, Digest.parse(layer.digest))
                _download, body = await run_streamed(blob, conns)
                assert body is not None
                received = bytearray()
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(1):
                        while chunk := await body.read():
                            received += chunk
                assert 0 < len(received) < layer.size
                assert await body.read() == b""  # nothing more: the body is closed
                await _assert_closed(exchanges, layer)

        _run(main())


def test_readme_example_runs(plain_registry: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's "Use it from asyncio" program, pointed at the lab registry."""
    code = _readme_block("from examples.asyncio_driver import").replace(
        "127.0.0.1:5000", plain_registry.host
    )
    exec(compile(code, "README.md", "exec"), {})  # raises unless the layer verified
    image = plain_registry.images.app
    expected = f"{image.digest} layer {image.layers[0].digest} verified\n"
    assert capsys.readouterr().out == expected
