"""The async API users call: :func:`open_client` and :class:`RegistryClient`.

Every operation takes an image as a reference string, an :class:`ImageRef` or an opened
:class:`ImageSource` (opened once: its manifest, its signatures and its blobs then come from
the same place). Results are immutable. No method takes a ``timeout=``: wrap calls in
``trio.move_on_after`` / ``trio.fail_after``.
Each single wait (connect, TLS handshake, response head, idle reads) is bounded by the
:class:`~trio_backend.timeouts.Timeouts` given to :func:`open_client`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from sansio_registry.client_config import ClientConfig
from sansio_registry.digest import Digest
from sansio_registry.errors import LocalProtocolError
from sansio_registry.flow import Flow
from sansio_registry.flows.blob import BlobDownload
from sansio_registry.flows.manifest import ImageSource, Manifest
from sansio_registry.reference import ImageRef
from sansio_registry.session import RegistrySession
from sansio_registry.state import RegistryState
from trio_backend.blob import BlobStream
from trio_backend.credential_helpers import CredentialHelpers
from trio_backend.driver import AsyncBody, Coalescer, drive, drive_streamed
from trio_backend.pool import DEFAULT_CONNECTIONS_PER_ORIGIN, ConnectionPool, PoolStatistics
from trio_backend.proxy import ProxySettings
from trio_backend.timeouts import Timeouts
from trio_backend.tls import TLSConfig
from trio_backend.trace import ExchangeTrace, TracingTransport

if TYPE_CHECKING:
    # Loaded by the session when first used: an inspect never imports deletion or signatures.
    from sansio_registry.flows.delete import Deletion, DeletionPlan
    from sansio_registry.signature import Signature

__all__ = ["Image", "RegistryClient", "open_client"]

T = TypeVar("T")

#: What every operation accepts as "the image": a reference string, a parsed reference, or an
#: image already opened with :meth:`RegistryClient.open_image`.
Image: TypeAlias = "ImageSource | ImageRef | str"


def _as_ref(image: ImageRef | str) -> ImageRef:
    return image if isinstance(image, ImageRef) else ImageRef.parse(image)


def _as_digest(digest: Digest | str) -> Digest:
    return digest if isinstance(digest, Digest) else Digest.parse(digest)


class RegistryClient:
    """Reads images from registries; one instance shares connections, tokens and pings.

    Safe to use from many tasks at once: identical token fetches in flight are coalesced.
    ``session`` is the core :class:`RegistrySession` whose flows this client drives.
    Credential helpers (``credHelpers``, ``credsStore``, registries.conf
    ``credential-helpers``) run before an operation needs them, once per server.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        config: ClientConfig,
        *,
        helpers: CredentialHelpers | None = None,
    ) -> None:
        self._pool = pool
        self._trace = ExchangeTrace()
        self._transport = TracingTransport(pool, self._trace)
        self.session = RegistrySession(config)
        self._coalescer = Coalescer()
        self._helpers = helpers if helpers is not None else CredentialHelpers()

    @property
    def config(self) -> ClientConfig:
        """The configuration the client was opened with."""
        return self.session.config

    @property
    def state(self) -> RegistryState:
        """The client's memory: tokens, pings, the latest time seen."""
        return self.session.state

    async def _run(self, flow: Flow[T]) -> T:
        return await drive(flow, self._transport, self._coalescer)

    async def _ask_helpers(self, ref: ImageRef) -> ImageRef:
        """Run the credential helpers an operation on ``ref`` may need; their answers become
        part of the configuration the next flows are made with."""
        config = self.session.config
        for physical in config.credential_hosts(ref):
            await self._helpers.search(config.credential_search(physical))
        answers = self._helpers.answers()
        if answers != config.helper_credentials:
            self.session.config = dataclasses.replace(
                config, helper_credentials=MappingProxyType(answers)
            )
        return ref

    async def _source(self, image: Image) -> ImageSource:
        if isinstance(image, ImageSource):
            return image
        return await self.open_image(image)

    async def open_image(self, image: Image) -> ImageSource:
        """Find where the image is served (mirrors first) and fetch its top-level manifest.

        An already opened :class:`ImageSource` is returned as it is.
        """
        if isinstance(image, ImageSource):
            return image
        ref = await self._ask_helpers(_as_ref(image))
        return await self._run(self.session.open_image(ref))

    async def get_manifest(self, image: Image, instance: Digest | str | None = None) -> Manifest:
        """The top-level manifest of the image, or of its instance ``instance``, verified."""
        source = await self._source(image)
        if instance is None:
            return source.manifest
        return await self.get_instance_manifest(source, instance)

    async def get_instance_manifest(self, image: Image, instance: Digest | str) -> Manifest:
        """An instance of the image's manifest list, from where the list came, fresh."""
        source = await self._source(image)
        digest = _as_digest(instance)
        if digest == source.manifest.digest:
            return source.manifest
        return await self._run(self.session.get_instance_manifest(source, digest))

    async def resolve_image(self, image: Image) -> Manifest:
        """The single-image manifest for ``config.platform`` (the list's choice, or itself)."""
        return await self._run(self.session.resolve_image(await self._source(image)))

    async def get_config(self, image: Image, manifest: Manifest | None = None) -> bytes:
        """The config blob of ``manifest`` (default: :meth:`resolve_image`'s), verified.

        Raises :class:`~sansio_registry.NoConfigBlob` for schema1 images (they have none).
        """
        source = await self._source(image)
        if manifest is None:
            manifest = await self.resolve_image(source)
        return await self._run(self.session.get_config(source, manifest))

    async def get_config_blob(
        self, image: Image, digest: Digest | str, *, size: int | None = None
    ) -> bytes:
        """A config-sized blob of the image (at most 4 MiB) by digest, verified."""
        source = await self._source(image)
        return await self._run(self.session.get_config_blob(source, _as_digest(digest), size=size))

    @asynccontextmanager
    async def open_blob(
        self,
        image: Image,
        digest: Digest | str,
        *,
        size: int | None = None,
        urls: Sequence[str] = (),
    ) -> AsyncIterator[BlobStream]:
        """Stream a blob of the image; ``size``/``urls`` come from its descriptor.

        The stream reports EOF only after size and digest were verified, resumes a broken
        connection from the byte reached, and falls back to later pull sources when the
        source's registry cannot serve the blob.
        """
        async with self._open_blob(image, digest, size=size, urls=urls, verify=True) as stream:
            yield stream

    @asynccontextmanager
    async def _open_blob(
        self,
        image: Image,
        digest: Digest | str,
        *,
        size: int | None,
        urls: Sequence[str],
        verify: bool,
    ) -> AsyncIterator[BlobStream]:
        """:meth:`open_blob`; ``verify=False`` only for a caller that hashes every byte itself
        with ``stream.verifier`` (pull does, in its writer thread)."""
        source = await self._source(image)
        blob_digest = _as_digest(digest)

        async def opener(
            resume: tuple[BlobDownload, int] | None,
        ) -> tuple[BlobDownload, AsyncBody | None]:
            flow = self.session.open_blob(source, blob_digest, size=size, urls=urls, resume=resume)
            return await drive_streamed(flow, self._transport, self._coalescer)

        download, body = await opener(None)
        if body is None:
            raise LocalProtocolError("open_blob ended without a body to stream")
        stream = BlobStream(opener, download, body, verify=verify)
        try:
            yield stream
        finally:
            await stream.aclose()

    async def list_signatures(
        self, image: Image, instance: Digest | str | None = None
    ) -> tuple[Signature, ...]:
        """Every signature containers/image would find for the image (or its ``instance``)."""
        source = await self._source(image)
        digest = None if instance is None else _as_digest(instance)
        return await self._run(self.session.list_signatures(source, digest))

    async def list_tags(self, repository: Image) -> tuple[str, ...]:
        """Every tag of a repository (``"host/ns/app"``: no tag needed, no manifest fetched).

        A reference is asked at its own registry (no mirrors, as ``skopeo list-tags``); an
        opened :class:`ImageSource` where its manifest came from.
        """
        if not isinstance(repository, ImageSource):
            repository = await self._ask_helpers(_as_ref(repository))
        return await self._run(self.session.list_tags(repository))

    async def plan_deletion(self, image: Image) -> DeletionPlan:
        """What :meth:`delete` would remove: digest, tags pointing at it, signatures."""
        ref = await self._ask_helpers(_deletion_ref(image))
        return await self._run(self.session.plan_deletion(ref))

    async def delete(self, image: Image) -> Deletion:
        """Delete the image (every tag on its digest goes with it) and its signatures."""
        ref = await self._ask_helpers(_deletion_ref(image))
        return await self._run(self.session.delete_image(ref))

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every distinct ``Warning: 299`` text the registries sent so far, first seen first."""
        return self._trace.warnings

    def statistics(self) -> PoolStatistics:
        """Connection pool counters."""
        return self._pool.statistics()


def _deletion_ref(image: Image) -> ImageRef:
    """What is deleted: the logical reference, at the digest when the image was opened.

    Deleting goes to the image's own registry (never a mirror); for an opened source
    the digest it resolved to is deleted, so a tag moved meanwhile is not followed.
    """
    if isinstance(image, ImageSource):
        return image.logical.with_digest(str(image.manifest.digest))
    return _as_ref(image)


@asynccontextmanager
async def open_client(
    config: ClientConfig | None = None,
    *,
    tls: TLSConfig | None = None,
    helpers: CredentialHelpers | None = None,
    timeouts: Timeouts | None = None,
    proxies: ProxySettings | None = None,
    max_connections_per_origin: int = DEFAULT_CONNECTIONS_PER_ORIGIN,
) -> AsyncIterator[RegistryClient]:
    """Open a client; its connections are closed when the block ends.

    ``config`` decides which endpoints are verified (``tls_verify``, registries.conf
    ``insecure``); ``tls`` only supplies certificate material (CAs, client certificates);
    ``helpers`` runs credential helpers (default: ``$PATH`` and a 30 s deadline each);
    ``timeouts`` bounds each single wait (default: :class:`Timeouts`); ``proxies`` says
    which proxy each registry goes through (default: ``HTTPS_PROXY``, ``HTTP_PROXY`` and
    ``NO_PROXY`` from the environment, as Go reads them; ``ProxySettings()`` for none);
    ``max_connections_per_origin`` caps the requests in flight to one registry host (more
    wait their turn), so a batch of thousands of images neither opens thousands of
    connections nor trips the registry's rate limits.
    """
    async with ConnectionPool(
        tls=tls or TLSConfig(),
        timeouts=timeouts,
        proxies=proxies,
        max_connections_per_origin=max_connections_per_origin,
    ) as pool:
        yield RegistryClient(pool, config or ClientConfig(), helpers=helpers)
