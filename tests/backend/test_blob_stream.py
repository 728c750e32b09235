"""BlobStream over real loopback sockets: resumes, verification before EOF, cancellation, memory.

A tiny registry (``/v2/``, one schema2 manifest whose layer is the blob, the blob honouring
``Range: bytes=N-``) with faults: cut the connection after K body bytes on given requests,
ignore ``Range``, flip a byte, end a body early (with or without a ``Content-Length``), stall.
The client is the real one: ``open_client(ClientConfig(tls_verify=False))`` and
``client.open_blob``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import tracemalloc
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sansio_registry.auth import Credentials
from sansio_registry.digest import Digest
from sansio_registry.errors import (
    DigestMismatch,
    IntegrityError,
    RegistryResponseError,
    SizeMismatch,
    TransportError,
)
from sansio_registry.flows.manifest import ImageSource
from sansio_registry.manifest import ImageManifest, parse_manifest
from sansio_registry.session import ClientConfig
from tests.backend.loopback import Exchange, Loopback, Recorded, serve, trio_test
from trio_backend.blob import MAX_RESUMES, BlobStream
from trio_backend.client import RegistryClient, open_client

INSECURE = ClientConfig(tls_verify=False)
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MIB = 1024 * 1024
_RANGE = re.compile(r"bytes=(\d+)-")


class Blob:
    """Blob contents the server can produce from any offset, without holding them all."""

    def __init__(self, size: int) -> None:
        self.size = size

    def chunks(self, start: int) -> Iterator[bytes]:
        """The blob from ``start`` to the end, in pieces."""
        raise NotImplementedError

    def digest(self) -> Digest:
        h = hashlib.sha256()
        for chunk in self.chunks(0):
            h.update(chunk)
        return Digest("sha256", h.hexdigest())


class BytesBlob(Blob):
    def __init__(self, data: bytes) -> None:
        super().__init__(len(data))
        self.data = data

    def chunks(self, start: int) -> Iterator[bytes]:
        for at in range(start, self.size, 64 * 1024):
            yield self.data[at : at + 64 * 1024]


class GeneratedBlob(Blob):
    """``size`` bytes from a seeded generator, made 1 MiB at a time (never held whole)."""

    def __init__(self, size: int, seed: int = 7) -> None:
        super().__init__(size)
        self._base = random.Random(seed).randbytes(MIB)

    def _block(self, index: int) -> bytes:
        return index.to_bytes(8, "big") + self._base[8:]

    def chunks(self, start: int) -> Iterator[bytes]:
        index, offset = divmod(start, MIB)
        while index * MIB < self.size:
            block = self._block(index)[offset : self.size - index * MIB]
            offset = 0
            index += 1
            yield block


@dataclass
class Faults:
    """How the blob endpoint misbehaves; request numbers count blob GETs from 0."""

    #: request number -> body bytes sent before the connection is dropped.
    cut: dict[int, int] = field(default_factory=dict)
    #: answer 200 with the whole blob even to a Range request.
    ignore_range: bool = False
    #: blob offset whose byte is inverted in every answer.
    flip_at: int | None = None
    #: request number -> body bytes sent before the server stalls (and waits for a hang-up).
    stall: dict[int, int] = field(default_factory=dict)
    #: send no Content-Length and close early after this many bytes (a clean-looking EOF).
    close_delimited_short: int | None = None
    #: request number -> bytes sent as a chunked body that then closes without its last chunk.
    chunked_cut: dict[int, int] = field(default_factory=dict)
    #: request number -> an error status answered instead of the blob.
    status: dict[int, int] = field(default_factory=dict)


class BlobRegistry:
    """A loopback registry with one repository ``app``, tag ``v1``, one layer: the blob."""

    def __init__(
        self, blob: Blob, faults: Faults | None = None, *, basic: str | None = None
    ) -> None:
        self.blob = blob
        #: ``user:password`` required (Basic) on everything when set.
        self.basic = basic
        self.faults = faults or Faults()
        self.digest = blob.digest()
        self.manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": SCHEMA2,
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "digest": "sha256:" + "ab" * 32,
                    "size": 2,
                },
                "layers": [{"mediaType": LAYER, "digest": str(self.digest), "size": blob.size}],
            }
        ).encode()
        self.blob_requests: list[Recorded] = []

    @property
    def ranges(self) -> list[str | None]:
        """The Range header of every blob GET, in order."""
        return [next(iter(r.header_values("Range")), None) for r in self.blob_requests]

    async def handle(self, ex: Exchange) -> None:
        target = ex.recorded.target
        wanted = "Basic " + base64.b64encode(self.basic.encode()).decode() if self.basic else None
        if wanted is not None and ex.recorded.header_values("Authorization") != [wanted]:
            await ex.respond(401, [("WWW-Authenticate", 'Basic realm="loopback"')])
        elif target == "/v2/":
            await ex.respond(200, [("Content-Type", "application/json")], b"{}")
        elif target == "/v2/app/manifests/v1":
            await ex.respond(200, [("Content-Type", SCHEMA2)], self.manifest)
        elif target == f"/v2/app/blobs/{self.digest}":
            number = len(self.blob_requests)
            self.blob_requests.append(ex.recorded)
            await self._blob(ex, number)
        else:
            await ex.respond(404, [("Content-Type", "text/plain")], b"404 page not found")

    async def _blob(self, ex: Exchange, number: int) -> None:
        faults, size = self.faults, self.blob.size
        if number in faults.status:
            await ex.respond(faults.status[number], [("Content-Type", "text/plain")], b"no")
            return
        start = 0
        wanted = ex.recorded.header_values("Range")
        match = _RANGE.fullmatch(wanted[0]) if wanted else None
        if match is not None and not faults.ignore_range:
            start = int(match.group(1))
            if start >= size:
                await ex.respond(416, [("Content-Range", f"bytes */{size}")])
                return
        headers = [("Content-Type", "application/octet-stream")]
        if start:
            headers.append(("Content-Range", f"bytes {start}-{size - 1}/{size}"))
        limit: int | None = None
        if number in faults.chunked_cut:
            headers.append(("Transfer-Encoding", "chunked"))
            limit = faults.chunked_cut[number]
        elif faults.close_delimited_short is not None:
            headers.append(("Connection", "close"))
            limit = faults.close_delimited_short
        else:
            headers.append(("Content-Length", str(size - start)))
        limit = faults.cut.get(number, faults.stall.get(number, limit))
        status = 206 if start else 200
        if faults.close_delimited_short is not None:
            # h11 would pick chunked framing for an HTTP/1.1 client: write the head by hand.
            lines = [f"HTTP/1.1 {status} OK", *(f"{k}: {v}" for k, v in headers), "", ""]
            await ex.send_raw("\r\n".join(lines).encode())
            await ex.send_raw(b"".join(self.blob.chunks(start))[:limit])
            await ex.close()
            return
        await ex.send_head(status, headers)
        sent = 0
        position = start
        for chunk in self.blob.chunks(start):
            if faults.flip_at is not None and position <= faults.flip_at < position + len(chunk):
                at = faults.flip_at - position
                chunk = chunk[:at] + bytes([chunk[at] ^ 0xFF]) + chunk[at + 1 :]
            position += len(chunk)
            if limit is not None and sent + len(chunk) >= limit:
                chunk = chunk[: limit - sent]
                if chunk:
                    await ex.send_data(chunk)
                if number in faults.stall:
                    await ex.stall()
                await ex.close()
                return
            await ex.send_data(chunk)
            sent += len(chunk)
        if number in faults.chunked_cut or faults.close_delimited_short is not None:
            await ex.close()  # everything sent, but never the chunked terminator
            return
        await ex.end()


@asynccontextmanager
async def registry(
    blob: Blob, faults: Faults | None = None, *, basic: str | None = None
) -> AsyncIterator[tuple[BlobRegistry, Loopback, RegistryClient, ImageSource]]:
    reg = BlobRegistry(blob, faults, basic=basic)
    config = INSECURE
    if basic is not None:
        user, _, password = basic.partition(":")
        config = ClientConfig(tls_verify=False, credentials=Credentials(user, password))
    async with serve(reg.handle) as srv, open_client(config) as client:
        source = await client.open_image(f"127.0.0.1:{srv.port}/app:v1")
        document = parse_manifest(source.manifest.raw, source.manifest.media_type)
        assert isinstance(document, ImageManifest)
        assert document.layers[0].digest == str(reg.digest)
        yield reg, srv, client, source


async def read_all(stream: BlobStream, max_bytes: int | None = None) -> bytes:
    out = bytearray()
    while chunk := await stream.receive_some(max_bytes):
        out += chunk
    return bytes(out)


def small_blob(size: int = 300_000, seed: int = 1) -> BytesBlob:
    return BytesBlob(random.Random(seed).randbytes(size))


async def read_into(stream: BlobStream, buffer_size: int) -> bytes:
    """The next bytes through ``receive_into`` a buffer of ``buffer_size``."""
    buffer = bytearray(buffer_size)
    return bytes(buffer[: await stream.receive_into(buffer)])


async def read_all_into(stream: BlobStream, buffer_size: int) -> bytes:
    out = bytearray()
    while chunk := await read_into(stream, buffer_size):
        out += chunk
    return bytes(out)


# --- (a) clean -------------------------------------------------------------------------------


@trio_test
async def test_clean_download_equals_the_blob_and_is_verified() -> None:
    blob = small_blob()
    async with registry(blob) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            data = await read_all(stream)
            assert await stream.receive_some() == b""  # EOF stays EOF
            assert stream.resumes == 0 and stream.position == blob.size
            assert stream.verifier.bytes_seen == blob.size
        assert data == blob.data
        assert reg.ranges == [None]
        # The body was read to its end: the connection went back to the pool.
        stats = client.statistics()
        assert stats.active == 0 and sum(n for _, n in stats.idle) >= 1


@trio_test
async def test_open_blob_by_reference_string_and_unknown_size() -> None:
    blob = small_blob(5000)
    async with registry(blob) as (reg, srv, client, _source):
        ref = f"127.0.0.1:{srv.port}/app:v1"
        async with client.open_blob(ref, str(reg.digest)) as stream:
            assert stream.size == blob.size  # from Content-Length
            assert await read_all(stream, 777) == blob.data


# --- (b) cut mid-body -> Range resume --------------------------------------------------------


@pytest.mark.parametrize("cut_at", [1, 65_536, 100_001, 299_999])
@trio_test
async def test_a_cut_mid_body_resumes_with_a_range_from_the_byte_reached(cut_at: int) -> None:
    blob = small_blob()
    async with registry(blob, Faults(cut={0: cut_at})) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            data = await read_all(stream)
            assert stream.resumes == 1
            assert stream.download.start == cut_at and stream.download.skip == 0
        assert data == blob.data
        assert reg.ranges == [None, f"bytes={cut_at}-"]
        assert client.statistics().active == 0


@trio_test
async def test_small_reads_resume_from_exactly_the_byte_delivered() -> None:
    # The consumer reads 1000 bytes at a time; bytes already received are handed out before
    # the break is noticed, so the resume starts at 100_001, not at a multiple of 1000.
    blob = small_blob()
    async with registry(blob, Faults(cut={0: 100_001})) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            assert await read_all(stream, 1000) == blob.data
        assert stream.resumes == 1
    assert reg.ranges == [None, "bytes=100001-"]


@pytest.mark.parametrize(
    ("faults", "ranges"),
    [
        (Faults(), [None]),
        (Faults(cut={0: 100_001}), [None, "bytes=100001-"]),
        (Faults(cut={0: 1, 1: 70_000}, ignore_range=True), [None, "bytes=1-", "bytes=70000-"]),
        (Faults(chunked_cut={0: 77_777}), [None, "bytes=77777-"]),
    ],
    ids=["clean", "cut", "range-ignored", "chunked-cut"],
)
@trio_test
async def test_receive_into_gives_the_blob_through_resumes(
    faults: Faults, ranges: list[str | None]
) -> None:
    blob = small_blob()
    async with registry(blob, faults) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            assert await read_all_into(stream, 65_536) == blob.data
            assert stream.resumes == len(ranges) - 1
        assert reg.ranges == ranges
        assert client.statistics().active == 0


# --- external URLs --------------------------------------------------------------------------


@trio_test
async def test_an_external_url_serves_and_resumes_without_registry_credentials() -> None:
    blob = small_blob()
    async with registry(blob, basic="alice:s3cret") as (reg, _srv, client, source):
        foreign = BlobRegistry(blob, Faults(cut={0: 40_000}))
        async with serve(foreign.handle) as ext:
            urls = (
                "ftp://skipped/x",
                ext.url("/missing"),
                ext.url(f"/v2/app/blobs/{reg.digest}"),
            )
            async with client.open_blob(source, reg.digest, size=blob.size, urls=urls) as stream:
                assert await read_all(stream) == blob.data
                assert stream.resumes == 1
                assert stream.download.url == urls[2]
        path = f"/v2/app/blobs/{reg.digest}"
        assert [r.target for r in ext.requests] == ["/missing", path, path]
        assert foreign.ranges == [None, "bytes=40000-"]
        for request in ext.requests:
            assert request.header_values("Authorization") == []
        assert reg.blob_requests == []  # the registry was never asked for the blob
        # The registry itself did get credentials (so there were some to leak).
        assert any(r.header_values("Authorization") for r in _srv.requests)


@trio_test
async def test_a_failed_resume_raises_the_registrys_error_with_a_note() -> None:
    blob = small_blob()
    faults = Faults(cut={0: 12_345}, status={1: 403})  # not retried (a 5xx would be)
    async with registry(blob, faults) as (reg, _srv, client, source):
        with pytest.raises(RegistryResponseError) as info:
            async with client.open_blob(source, reg.digest, size=blob.size) as stream:
                await read_all(stream)
        assert info.value.status == 403
        assert f"resuming blob {reg.digest} at byte 12345 failed" in info.value.__notes__
        assert stream.resumes == 1
        assert client.statistics().active == 0


@trio_test
async def test_without_a_descriptor_size_the_size_survives_a_resume() -> None:
    blob = small_blob()
    async with registry(blob, Faults(cut={0: 1000})) as (reg, _srv, client, source):
        opened = client.open_blob(source, reg.digest)  # no size=: learnt from the answer
        async with opened as stream:
            assert stream.size == blob.size  # from the first Content-Length
            assert await read_all(stream) == blob.data
            assert stream.resumes == 1
            assert stream.size == blob.size  # not the 206's Content-Length
            assert stream.verifier.expected_size == blob.size


# --- (c) Range ignored ------------------------------------------------------------------------


@trio_test
async def test_a_server_ignoring_range_still_gives_exact_bytes() -> None:
    blob = small_blob()
    faults = Faults(cut={0: 123_457, 1: 200_000}, ignore_range=True)
    async with registry(blob, faults) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            data = await read_all(stream)
            assert stream.resumes == 2
            assert stream.download.skip == 123_457 + (200_000 - 123_457)
        assert data == blob.data
        assert reg.ranges == [None, "bytes=123457-", "bytes=200000-"]


# --- (d) too many cuts ------------------------------------------------------------------------


@trio_test
async def test_more_cuts_than_max_resumes_is_a_transport_error_not_a_hang() -> None:
    blob = small_blob()
    faults = Faults(cut={n: 10_000 for n in range(MAX_RESUMES + 5)})
    async with registry(blob, faults) as (reg, _srv, client, source):
        got = bytearray()
        with pytest.raises(TransportError) as info:
            async with client.open_blob(source, reg.digest, size=blob.size) as stream:
                while chunk := await stream.receive_some():
                    got += chunk
        assert stream.resumes == MAX_RESUMES
        assert f"gave up on blob {reg.digest} at byte {len(got)} after {MAX_RESUMES} resumes" in (
            info.value.__notes__
        )
        assert len(reg.blob_requests) == MAX_RESUMES + 1
        assert bytes(got) == blob.data[: len(got)]  # what was delivered was right
        assert client.statistics().active == 0


@trio_test
async def test_exactly_max_resumes_cuts_still_succeed() -> None:
    blob = small_blob()
    faults = Faults(cut={n: 10_000 for n in range(MAX_RESUMES)})
    async with registry(blob, faults) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            assert await read_all(stream) == blob.data
            assert stream.resumes == MAX_RESUMES
        assert reg.ranges[1:] == [f"bytes={10_000 * n}-" for n in range(1, MAX_RESUMES + 1)]


# --- (e) integrity before EOF -----------------------------------------------------------------


@pytest.mark.parametrize("into", [False, True], ids=["receive_some", "receive_into"])
@pytest.mark.parametrize("size_known", [True, False])
@trio_test
async def test_a_flipped_byte_raises_before_eof_is_reported(size_known: bool, into: bool) -> None:
    blob = small_blob()
    async with registry(blob, Faults(flip_at=150_000)) as (reg, _srv, client, source):
        received = bytearray()
        eof_seen = False
        with pytest.raises(DigestMismatch) as info:
            async with client.open_blob(
                source, reg.digest, size=blob.size if size_known else None
            ) as stream:
                while True:
                    chunk = await (read_into(stream, 65_536) if into else stream.receive_some())
                    if not chunk:
                        eof_seen = True
                        break
                    received += chunk
        assert not eof_seen
        assert len(received) == blob.size  # every byte arrived; only EOF was withheld
        assert str(reg.digest) in str(info.value)
        assert client.statistics().active == 0


@trio_test
async def test_a_flipped_byte_after_a_resume_is_still_caught() -> None:
    blob = small_blob()
    faults = Faults(cut={0: 50_000}, flip_at=250_000)
    async with registry(blob, faults) as (reg, _srv, client, source):
        with pytest.raises(DigestMismatch):
            async with client.open_blob(source, reg.digest, size=blob.size) as stream:
                await read_all(stream)
        assert stream.resumes == 1


@trio_test
async def test_after_an_integrity_error_the_stream_is_broken_not_misused() -> None:
    blob = small_blob()
    async with registry(blob, Faults(flip_at=5)) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            with pytest.raises(DigestMismatch):
                await read_all(stream)
            with pytest.raises(trio.BrokenResourceError) as info:
                await stream.receive_some()
            assert isinstance(info.value.__cause__, DigestMismatch)
        assert client.statistics().active == 0


@pytest.mark.parametrize("delta", [-1, -70_000, 1])
@trio_test
async def test_a_descriptor_size_that_differs_is_a_size_mismatch_and_no_extra_bytes(
    delta: int,
) -> None:
    # The descriptor says size + delta; the server serves the real blob.
    blob = small_blob()
    expected = blob.size + delta
    async with registry(blob) as (reg, _srv, client, source):
        got = 0
        with pytest.raises(SizeMismatch):
            async with client.open_blob(source, reg.digest, size=expected) as stream:
                while chunk := await stream.receive_some():
                    got += len(chunk)
        assert got <= expected  # never a byte beyond what the descriptor promised
        assert client.statistics().active == 0


@trio_test
async def test_async_iteration_raises_instead_of_stopping_on_a_bad_blob() -> None:
    blob = small_blob()
    async with registry(blob, Faults(flip_at=0)) as (reg, _srv, client, source):
        with pytest.raises(DigestMismatch):
            async with client.open_blob(source, reg.digest, size=blob.size) as stream:
                async for _ in stream:
                    pass


# --- (f) short bodies -------------------------------------------------------------------------


@trio_test
async def test_a_short_body_with_a_content_length_resumes_to_the_exact_bytes() -> None:
    blob = small_blob()
    faults = Faults(cut={0: blob.size - 10})
    async with registry(blob, faults) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            assert await read_all(stream) == blob.data
        assert reg.ranges == [None, f"bytes={blob.size - 10}-"]


@trio_test
async def test_a_body_always_short_is_a_transport_error() -> None:
    blob = small_blob()
    faults = Faults(cut={n: 1 for n in range(20)})  # every answer: one byte, then closed
    async with registry(blob, faults) as (reg, _srv, client, source):
        got = bytearray()
        with pytest.raises(TransportError):
            async with client.open_blob(source, reg.digest, size=blob.size) as stream:
                while chunk := await stream.receive_some():
                    got += chunk
        assert len(got) == MAX_RESUMES + 1


@pytest.mark.parametrize("size_known", [True, False])
@trio_test
async def test_a_close_delimited_short_body_is_an_integrity_error(size_known: bool) -> None:
    # No Content-Length and Connection: close: the early close looks like a clean EOF.
    blob = small_blob()
    faults = Faults(close_delimited_short=blob.size - 1)
    async with registry(blob, faults) as (reg, _srv, client, source):
        with pytest.raises(SizeMismatch if size_known else IntegrityError):
            async with client.open_blob(
                source, reg.digest, size=blob.size if size_known else None
            ) as stream:
                await read_all(stream)


@trio_test
async def test_a_chunked_body_cut_mid_way_resumes() -> None:
    blob = small_blob()
    async with registry(blob, Faults(chunked_cut={0: 77_777})) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            assert await read_all(stream) == blob.data
        assert reg.ranges == [None, "bytes=77777-"]


@trio_test
async def test_a_chunked_body_missing_only_its_terminator_is_complete() -> None:
    # Every byte arrived, then the connection broke before the last (empty) chunk: the blob
    # is whole and verified, so there is nothing to resume (a Range from its end gets 416).
    blob = small_blob()
    faults = Faults(chunked_cut={0: blob.size + 1})
    async with registry(blob, faults) as (reg, _srv, client, source):
        async with client.open_blob(source, reg.digest, size=blob.size) as stream:
            assert await read_all(stream) == blob.data
        assert len(reg.blob_requests) == 1


# --- (g) cancellation -------------------------------------------------------------------------


@trio_test
async def test_cancelling_mid_blob_releases_the_connection_and_the_client_still_works() -> None:
    blob = small_blob()
    async with registry(blob, Faults(stall={0: 100_000})) as (reg, srv, client, source):
        got = 0
        with trio.move_on_after(0.3) as scope:
            async with client.open_blob(source, reg.digest, size=blob.size) as stream:
                while chunk := await stream.receive_some():
                    got += len(chunk)
        assert scope.cancelled_caught
        assert 0 < got <= 100_000
        assert client.statistics().active == 0
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive_some()
        # The server sees the stalled connection hang up.
        with trio.fail_after(5):
            await srv.wait_closed(2)  # the failed https ping, then the stalled connection
        async with client.open_blob(source, reg.digest, size=blob.size) as again:
            assert await read_all(again) == blob.data
        assert client.statistics().active == 0


@trio_test
async def test_cancelling_during_a_resume_releases_everything() -> None:
    blob = small_blob()
    faults = Faults(cut={0: 50_000}, stall={1: 0})  # the resume stalls after its head
    async with registry(blob, faults) as (reg, _srv, client, source):
        with trio.move_on_after(0.3) as scope:
            async with client.open_blob(source, reg.digest, size=blob.size) as stream:
                await read_all(stream)
        assert scope.cancelled_caught
        assert reg.ranges == [None, "bytes=50000-"]
        assert client.statistics().active == 0


# --- (h) memory -------------------------------------------------------------------------------


@trio_test
async def test_streaming_64_mib_keeps_memory_bounded() -> None:
    blob = GeneratedBlob(64 * MIB)
    async with registry(blob, Faults(cut={0: 20 * MIB + 3})) as (reg, _srv, client, source):
        tracemalloc.start()
        try:
            total = 0
            async with client.open_blob(source, reg.digest, size=blob.size) as stream:
                async for chunk in stream:
                    total += len(chunk)
                resumes = stream.resumes
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    print(f"\n64 MiB blob with one resume: tracemalloc peak {peak / MIB:.2f} MiB")
    assert total == blob.size and resumes == 1
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_generated_blob_is_what_its_digest_says() -> None:
    blob = GeneratedBlob(3 * MIB + 5, seed=3)
    whole = b"".join(blob.chunks(0))
    assert len(whole) == blob.size
    assert b"".join(blob.chunks(MIB + 17)) == whole[MIB + 17 :]
    assert blob.digest() == Digest.of(whole)


# --- (i) verify=False (internal: pull hashes in its writer thread) ----------------------------


@trio_test
async def test_verify_false_returns_the_bytes_unchecked() -> None:
    blob = small_blob()
    async with registry(blob, Faults(flip_at=10, cut={0: 70_000})) as (reg, _, client, source):
        unverified = client._open_blob(source, reg.digest, size=blob.size, urls=(), verify=False)
        async with unverified as stream:  # the internal path pull takes
            data = await read_all(stream)
            assert stream.verifier.bytes_seen == 0  # left to the caller (pull hashes itself)
            assert stream.resumes == 1
        assert len(data) == blob.size and data != blob.data
        assert data[:10] == blob.data[:10] and data[11:] == blob.data[11:]
        # The caller's own verifier then catches it.
        verifier = stream.verifier
        verifier.update(data)
        with pytest.raises(DigestMismatch):
            verifier.finish()


# --- property: any cut points -----------------------------------------------------------------


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=st.binary(min_size=1, max_size=200_000),
    fractions=st.lists(
        st.floats(min_value=0.0, max_value=1.0, exclude_max=True), max_size=MAX_RESUMES
    ),
    ignore_range=st.booleans(),
    read_size=st.sampled_from([None, 1, 4096, 100_000]),
)
def test_any_cut_points_over_real_sockets_reassemble_the_blob(
    data: bytes, fractions: Sequence[float], ignore_range: bool, read_size: int | None
) -> None:
    if read_size == 1:
        data = data[:3000]  # byte-at-a-time reads are slow; keep those blobs small
    blob = BytesBlob(data)
    # Request n is cut after that fraction of what it sends (the whole blob when the server
    # ignores Range, else the rest from the byte reached).
    cuts: dict[int, int] = {}
    position = 0
    for n, fraction in enumerate(fractions):
        remaining = blob.size if ignore_range else blob.size - position
        cuts[n] = int(fraction * remaining)
        position = max(position, cuts[n]) if ignore_range else position + cuts[n]
    expected_ranges: list[str | None] = [None]
    reached = 0
    for n in range(len(cuts)):
        reached = max(reached, cuts[n]) if ignore_range else reached + cuts[n]
        expected_ranges.append(f"bytes={reached}-" if reached else None)

    async def main() -> None:
        with trio.fail_after(20):
            faults = Faults(cut=cuts, ignore_range=ignore_range)
            async with registry(blob, faults) as (reg, _srv, client, source):
                async with client.open_blob(source, reg.digest, size=blob.size) as stream:
                    assert await read_all(stream, read_size) == data
                    assert stream.resumes == len(cuts)
                assert reg.ranges == expected_ranges

    trio.run(main)
