"""Streaming a blob: a ``trio.abc.ReceiveStream`` that verifies before it reports EOF.

:class:`BlobStream` reads the body the driver kept for the core's ``open_blob`` flow. When the
connection breaks mid-body it runs the flow again with ``resume=(download, offset)`` (a
``Range`` request to the same place, then the later ones) and carries on from the byte
reached, the hash state intact; at most :data:`MAX_RESUMES` resumes per blob. EOF (``b""``)
is reported only after the size and the digest were checked; a failed or closed stream closes
its connection, and a failed one raises ``trio.BrokenResourceError`` from then on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, final

import trio

from sansio_registry.digest import DigestVerifier
from sansio_registry.errors import LocalProtocolError, RegistryClientError, TransportError
from sansio_registry.flows.blob import BlobDownload
from trio_backend.driver import AsyncBody

__all__ = ["MAX_RESUMES", "BlobStream", "Opener"]

#: Resumes allowed for one blob (upstream containers/image retries on progress as well).
MAX_RESUMES: Final = 5

#: Bytes of the blob as a body read gives them.
Chunk = bytes | bytearray | memoryview

#: Runs the core's ``open_blob`` flow: (resume) -> (download, body).
Opener = Callable[
    [tuple[BlobDownload, int] | None], Awaitable[tuple[BlobDownload, AsyncBody | None]]
]


@final
class BlobStream(trio.abc.ReceiveStream):
    """The bytes of one blob, verified; ``async for chunk in stream`` works.

    Args:
        opener: runs the ``open_blob`` flow (the client builds it).
        download, body: the first answer.
        verify: hash while streaming and check at EOF (off only for callers that hash
            themselves with :attr:`verifier`, e.g. ``pull`` hashing in its writer thread).
    """

    def __init__(
        self,
        opener: Opener,
        download: BlobDownload,
        body: AsyncBody,
        *,
        verify: bool = True,
        max_resumes: int = MAX_RESUMES,
    ) -> None:
        self.verifier: DigestVerifier = download.verifier()
        self.download = download
        self.resumes = 0
        self._opener = opener
        self._body: AsyncBody | None = body
        self._skip = download.skip
        self._position = 0
        self._verify = verify
        self._max_resumes = max_resumes
        self._eof = False
        self._closed = False
        self._reading = False
        self._failure: BaseException | None = None

    @property
    def position(self) -> int:
        """Bytes of the blob delivered so far."""
        return self._position

    @property
    def size(self) -> int | None:
        """The expected size, if known."""
        return self.download.size

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The next bytes of the blob; ``b""`` only after it was verified."""

        async def read(body: AsyncBody) -> Chunk:
            return await body.receive_some(max_bytes)

        return bytes(await self._receive(read))

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """The next bytes of the blob written at the start of ``buffer``: how many (0 only
        after it was verified). Unlike :meth:`receive_some` nothing is copied on a plain
        connection: the kernel writes into ``buffer``."""
        view = memoryview(buffer)

        async def read(body: AsyncBody) -> Chunk:
            return view[: await body.receive_into(view)]

        return len(await self._receive(read))

    async def _receive(self, read: Callable[[AsyncBody], Awaitable[Chunk]]) -> Chunk:
        """One ``read`` of the body, resumed through a broken connection, hashed."""
        if self._closed:
            raise trio.ClosedResourceError("the blob stream was closed")
        if self._reading:
            raise trio.BusyResourceError("another task is reading this blob")
        if self._failure is not None:
            # trio's convention after a failed (or cancelled) receive; the body is gone.
            raise trio.BrokenResourceError(
                f"blob {self.download.digest} failed at byte {self._position}"
            ) from self._failure
        if self._eof:
            await trio.lowlevel.checkpoint()
            return b""
        self._reading = True
        try:
            chunk = await self._next(read)
            if not chunk:
                if self._verify:
                    self.verifier.finish()
                self._eof = True
                return chunk
            if self._verify:
                # Inline on purpose: the caller waits for this chunk anyway, and a thread hop
                # per read costs more than the hashing it would move. ``pull`` overlaps
                # hashing with receiving in a writer thread.
                self.verifier.update(chunk)
            return chunk
        except BaseException as exc:
            self._failure = exc
            self._close_body()
            raise
        finally:
            self._reading = False

    async def _next(self, read: Callable[[AsyncBody], Awaitable[Chunk]]) -> Chunk:
        while True:
            body = self._body
            if body is None:
                raise LocalProtocolError("blob stream has no body")
            try:
                while self._skip:  # a 200 answer to a resume: the bytes we already have
                    dropped = await body.receive_some(self._skip)
                    if not dropped:
                        break  # shorter than what we have: the size check fails at EOF
                    self._skip -= len(dropped)
                chunk = await read(body)
            except TransportError as exc:
                if self.size is not None and self._position == self.size:
                    # Every byte is here; only the framing's end was lost (a chunked body
                    # without its last chunk). A Range from the end would get 416.
                    self._close_body()
                    return b""
                await self._resume(exc)
                continue
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise LocalProtocolError("the body yielded a non-bytes chunk")
            self._position += len(chunk)
            return chunk

    async def _resume(self, cause: TransportError) -> None:
        self._close_body()
        if self.resumes >= self._max_resumes:
            cause.add_note(
                f"gave up on blob {self.download.digest} at byte {self._position} "
                f"after {self.resumes} resumes"
            )
            raise cause
        self.resumes += 1
        before = self._position
        try:
            download, body = await self._opener((self.download, before))
        except RegistryClientError as exc:
            exc.add_note(f"resuming blob {self.download.digest} at byte {before} failed")
            raise
        if body is None:
            raise LocalProtocolError("open_blob ended without a body to stream")
        self.download = download
        self._body = body
        self._skip = download.skip

    def _close_body(self) -> None:
        if self._body is not None:
            self._body.discard()
            self._body = None

    async def aclose(self) -> None:
        """Close; an unfinished body closes its connection."""
        self._closed = True
        self._close_body()
        await trio.lowlevel.checkpoint()
