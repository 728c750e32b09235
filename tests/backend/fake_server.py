"""The in-memory :mod:`sansio_registry.testing.fake` hosts, served over real loopback sockets.

:func:`serve_fake` runs a :class:`~tests.backend.loopback.Loopback` server (plain or TLS) that
answers every request by calling the host's ``handle()``. The request URL the fake sees is
rebuilt from the scheme actually served and the ``Host`` header, as a real server would. An
``intercept`` hook sees each request first and may answer it itself (429s, stalls, redirects,
oversized bodies) by returning True. Also: a ``trio.run`` wrapper that accepts a clock, a
trustme server context, and a small valid image to serve.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
import trustme

from sansio_registry.http import Headers, Origin, Request
from sansio_registry.testing.fake import FakeRegistry, FakeTokenServer, sha256_digest
from tests.backend.loopback import Exchange, Loopback, serve

__all__ = [
    "OCI_MANIFEST",
    "FakeServer",
    "Image",
    "Intercept",
    "make_image",
    "poll_until",
    "run_trio",
    "serve_fake",
    "tls_server_context",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

#: Decides whether to answer a request itself (return True) or leave it to the fake host.
Intercept = Callable[[Exchange, Request], Awaitable[bool]]


def run_trio(
    *, timeout: float = 20.0, mock_clock: bool = False
) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., None]]:
    """Run an async test with ``trio.run`` under ``fail_after(timeout)`` (pytest-trio-less).

    ``mock_clock=True`` runs it on ``MockClock(autojump_threshold=0)``: sleeps take no real
    time, and ``timeout`` is then virtual (an all-blocked test jumps straight to it and fails,
    so it still cannot hang).
    """

    def decorate(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            async def main() -> None:
                with trio.fail_after(timeout):
                    await fn(*args, **kwargs)

            clock = trio.testing.MockClock(autojump_threshold=0) if mock_clock else None
            trio.run(main, clock=clock)

        return wrapper

    return decorate


async def poll_until(predicate: Callable[[], bool], *, within: float = 2.0) -> bool:
    """Wait (polling every millisecond) until ``predicate()`` holds; False if it never did.

    For conditions the product offers no event for, such as a coalescer's ``shared`` count.
    """
    for _ in range(int(within * 1000)):
        if predicate():
            return True
        await trio.sleep(0.001)
    return predicate()


def tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 issued by ``ca``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@dataclass(frozen=True, slots=True)
class Image:
    """A single-platform OCI image: manifest bytes and the config blob they point at."""

    manifest: bytes
    config: bytes

    @property
    def digest(self) -> str:
        """The manifest's digest."""
        return sha256_digest(self.manifest)

    @property
    def config_digest(self) -> str:
        """The config blob's digest."""
        return sha256_digest(self.config)


def make_image(label: str = "x") -> Image:
    """A small, valid OCI image manifest whose config carries ``label``."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Labels": {"l": label}}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    return Image(manifest=manifest, config=config)


@dataclass
class FakeServer:
    """A fake host on a loopback port, with the requests it received (as the fake saw them)."""

    loopback: Loopback
    host: FakeRegistry | FakeTokenServer
    seen: list[Request] = field(default_factory=list)

    @property
    def port(self) -> int:
        """The listening port."""
        return self.loopback.port

    @property
    def netloc(self) -> str:
        """``127.0.0.1:<port>``: the registry host part of references."""
        return f"127.0.0.1:{self.port}"

    @property
    def origin(self) -> Origin:
        """The origin clients reach this server at."""
        return Origin(self.loopback.scheme, "127.0.0.1", self.port)

    def url(self, path: str = "/") -> str:
        """An absolute URL on this server."""
        return self.loopback.url(path)

    def connections_with_requests(self) -> set[int]:
        """Indexes of the connections that carried at least one HTTP request.

        A TLS probe against a plain server is a connection without requests; it is left out.
        """
        return {r.connection for r in self.loopback.requests}

    def paths(self) -> list[str]:
        """Request targets in arrival order."""
        return [r.target for r in self.loopback.requests]


@asynccontextmanager
async def serve_fake(
    host: FakeRegistry | FakeTokenServer,
    *,
    intercept: Intercept | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[FakeServer]:
    """Serve ``host`` on 127.0.0.1 (TLS when ``ssl_context`` is given) for the block."""
    box: list[FakeServer] = []

    async def handler(ex: Exchange) -> None:
        server = box[0]
        names = {k.lower(): v for k, v in ex.recorded.headers}
        authority = names.get("host", server.netloc)
        request = Request(
            method=ex.recorded.method,
            url=f"{server.loopback.scheme}://{authority}{ex.recorded.target}",
            headers=Headers.of(ex.recorded.headers),
            body=ex.recorded.body,
        )
        server.seen.append(request)
        if intercept is not None and await intercept(ex, request):
            return
        response = host.handle(request)
        await ex.respond(response.status, list(response.headers), response.body)

    async with serve(handler, ssl_context=ssl_context) as loopback:
        box.append(FakeServer(loopback=loopback, host=host))
        yield box[0]
