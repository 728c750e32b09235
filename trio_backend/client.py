"""The async API users call: :func:`open_client` and :class:`RegistryClient`.

No method takes a ``timeout=``: wrap calls in ``trio.move_on_after`` / ``trio.fail_after``.
Each single wait (connect, TLS handshake, response head, idle reads) is bounded by the
:class:`~trio_backend.timeouts.Timeouts` given to :func:`open_client`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

from sansio_registry.digest import Digest
from sansio_registry.errors import LocalProtocolError
from sansio_registry.flow import Flow
from sansio_registry.flows.blob import BlobDownload, get_config_blob, open_blob
from sansio_registry.flows.delete import Deletion, DeletionPlan, delete_image, plan_deletion
from sansio_registry.flows.manifest import (
    ImageSource,
    Manifest,
    get_instance_manifest,
    open_image,
    resolve_platform,
)
from sansio_registry.flows.signatures import list_signatures
from sansio_registry.flows.tags import list_tags
from sansio_registry.manifest import ImageManifest, parse_manifest
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.signature import Signature
from trio_backend.blob import BlobStream
from trio_backend.driver import AsyncBody, Coalescer, drive, drive_streamed
from trio_backend.pool import ConnectionPool, PoolStatistics
from trio_backend.timeouts import Timeouts
from trio_backend.tls import TLSConfig

__all__ = ["RegistryClient", "open_client"]

T = TypeVar("T")


def _as_ref(ref: ImageRef | str) -> ImageRef:
    return ref if isinstance(ref, ImageRef) else ImageRef.parse(ref)


def _as_digest(digest: Digest | str) -> Digest:
    return digest if isinstance(digest, Digest) else Digest.parse(digest)


class RegistryClient:
    """Reads images from registries; one instance shares connections, tokens and pings.

    Safe to use from many tasks at once: identical token fetches in flight are coalesced.
    """

    def __init__(self, pool: ConnectionPool, config: ClientConfig) -> None:
        self._pool = pool
        self.config = config
        self.state = RegistryState()
        self._coalescer = Coalescer()

    async def _run(self, flow: Flow[T]) -> T:
        return await drive(flow, self._pool, self.state, self._coalescer)

    async def open_image(self, ref: ImageRef | str) -> ImageSource:
        """Find where ``ref`` is served (mirrors first) and fetch its top-level manifest."""
        return await self._run(open_image(_as_ref(ref), config=self.config, state=self.state))

    async def get_manifest(
        self, ref: ImageRef | str, instance: Digest | str | None = None
    ) -> Manifest:
        """The manifest of ``ref``, or of its instance ``instance``, verified."""
        source = await self.open_image(ref)
        if instance is None:
            return source.manifest
        return await self.get_instance_manifest(source, instance)

    async def get_instance_manifest(self, source: ImageSource, instance: Digest | str) -> Manifest:
        """An instance of an opened manifest list, from the same endpoint, fresh."""
        digest = _as_digest(instance)
        if digest == source.manifest.digest:
            return source.manifest
        return await self._run(
            get_instance_manifest(source, digest, config=self.config, state=self.state)
        )

    async def resolve_image(self, source: ImageSource) -> Manifest:
        """The single-image manifest for ``config.platform`` (the list's choice, or itself)."""
        instance = resolve_platform(source, self.config)
        if instance is None:
            return source.manifest
        return await self.get_instance_manifest(source, instance)

    async def get_config(self, source: ImageSource, manifest: Manifest) -> bytes:
        """The config blob of a single-image manifest, verified (empty for schema1)."""
        document = parse_manifest(manifest.raw, manifest.media_type)
        if not isinstance(document, ImageManifest):
            return b""
        return await self._run(
            get_config_blob(
                source,
                Digest.parse(document.config.digest),
                size=document.config.size,
                state=self.state,
            )
        )

    @asynccontextmanager
    async def open_blob(
        self,
        image: ImageSource | ImageRef | str,
        digest: Digest | str,
        *,
        size: int | None = None,
        urls: Sequence[str] = (),
        verify: bool = True,
    ) -> AsyncIterator[BlobStream]:
        """Stream a blob of ``image`` (an opened source, or a reference to open first).

        The stream reports EOF only after size and digest were verified, resumes a broken
        connection from the byte reached, and falls back to later pull sources when the
        source's registry cannot serve the blob. ``size``/``urls`` come from the descriptor.
        """
        source = image if isinstance(image, ImageSource) else await self.open_image(image)
        blob_digest = _as_digest(digest)

        async def opener(
            resume: tuple[BlobDownload, int] | None,
        ) -> tuple[BlobDownload, AsyncBody | None]:
            flow = open_blob(
                source, blob_digest, state=self.state, size=size, urls=urls, resume=resume
            )
            return await drive_streamed(flow, self._pool, self.state, self._coalescer)

        download, body = await opener(None)
        if body is None:
            raise LocalProtocolError("open_blob ended without a body to stream")
        stream = BlobStream(opener, download, body, verify=verify)
        try:
            yield stream
        finally:
            await stream.aclose()

    async def list_signatures(
        self, image: ImageSource | ImageRef | str, instance: Digest | str | None = None
    ) -> tuple[Signature, ...]:
        """Every signature containers/image would find for the image (or its ``instance``)."""
        source = image if isinstance(image, ImageSource) else await self.open_image(image)
        return await self._run(
            list_signatures(
                source,
                state=self.state,
                registries_d=self.config.registries_d,
                default_dir=self.config.lookaside_default,
                instance=None if instance is None else _as_digest(instance),
                verify_content_digest=self.config.verify_content_digest,
            )
        )

    async def plan_deletion(self, ref: ImageRef | str) -> DeletionPlan:
        """What :meth:`delete` would remove: digest, tags pointing at it, signatures."""
        return await self._run(
            plan_deletion(
                _as_ref(ref),
                config=self.config,
                state=self.state,
                registries_d=self.config.registries_d,
                default_dir=self.config.lookaside_default,
            )
        )

    async def delete(self, ref: ImageRef | str) -> Deletion:
        """Delete the image ``ref`` resolves to (every tag on its digest goes with it)."""
        return await self._run(
            delete_image(
                _as_ref(ref),
                config=self.config,
                state=self.state,
                registries_d=self.config.registries_d,
                default_dir=self.config.lookaside_default,
            )
        )

    async def list_tags(self, source: ImageSource) -> list[str]:
        """Every tag of the source's repository (pages followed)."""
        return await self._run(list_tags(source, state=self.state))

    def statistics(self) -> PoolStatistics:
        """Connection pool counters."""
        return self._pool.statistics()


@asynccontextmanager
async def open_client(
    config: ClientConfig | None = None,
    *,
    tls: TLSConfig | None = None,
    timeouts: Timeouts | None = None,
) -> AsyncIterator[RegistryClient]:
    """Open a client; its connections are closed when the block ends."""
    async with ConnectionPool(tls=tls or TLSConfig(), timeouts=timeouts) as pool:
        yield RegistryClient(pool, config or ClientConfig())
