"""The one way to call the core: a :class:`RegistrySession` holds what every operation shares.

A session holds the :class:`ClientConfig` and the mutable :class:`RegistryState` (tokens,
pings, the latest time seen); each method returns a :class:`~sansio_registry.flow.Flow` for a
driver to run. Callers never thread ``config=``/``state=`` through calls::

    session = RegistrySession(ClientConfig())
    source = run(session.open_image(ImageRef.parse("reg.test/ns/app:v1")))
    config = run(session.get_config(source, run(session.resolve_image(source))))

The module-level flow functions (``open_image(ref, config=…, state=…)`` …) are the
implementation; they stay public for callers that keep their own state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sansio_registry.client_config import DEFAULT_USER_AGENT, ClientConfig
from sansio_registry.digest import Digest
from sansio_registry.flow import Flow
from sansio_registry.flows.blob import BlobDownload, get_config, get_config_blob, open_blob
from sansio_registry.flows.manifest import (
    ImageSource,
    Manifest,
    get_instance_manifest,
    get_manifest,
    open_image,
    resolve_image,
)
from sansio_registry.flows.tags import list_tags
from sansio_registry.reference import ImageRef
from sansio_registry.state import RegistryState

if TYPE_CHECKING:
    # Deletion and signatures load when first asked for: an inspect never pays for them.
    from sansio_registry.flows.delete import Deletion, DeletionPlan
    from sansio_registry.signature import Signature

# ClientConfig, RegistryState and DEFAULT_USER_AGENT are importable from this module too.
__all__ = ["DEFAULT_USER_AGENT", "ClientConfig", "RegistrySession", "RegistryState"]


class RegistrySession:
    """One client's configuration and memory; every method returns a flow to drive.

    Flows of one session may run concurrently (one task each): they share tokens and pings.
    """

    __slots__ = ("config", "state")

    def __init__(
        self, config: ClientConfig | None = None, state: RegistryState | None = None
    ) -> None:
        self.config = config if config is not None else ClientConfig()
        self.state = state if state is not None else RegistryState()

    def open_image(self, ref: ImageRef) -> Flow[ImageSource]:
        """Find the first pull source serving ``ref`` (mirrors first); its manifest, verified."""
        return open_image(ref, config=self.config, state=self.state)

    def get_manifest(self, ref: ImageRef, instance: Digest | None = None) -> Flow[Manifest]:
        """The manifest of ``ref`` (or of its ``instance``), verified."""
        return get_manifest(ref, config=self.config, state=self.state, instance=instance)

    def get_instance_manifest(self, source: ImageSource, digest: Digest) -> Flow[Manifest]:
        """One instance of an opened list, by digest, from the same endpoint, fresh."""
        return get_instance_manifest(source, digest, config=self.config, state=self.state)

    def resolve_image(self, source: ImageSource) -> Flow[Manifest]:
        """The single-image manifest for ``config.platform`` (the list's choice, or itself)."""
        return resolve_image(source, config=self.config, state=self.state)

    def get_config(self, source: ImageSource, manifest: Manifest) -> Flow[bytes]:
        """The config blob of a single-image manifest, verified; ``NoConfigBlob`` for schema1."""
        return get_config(source, manifest, state=self.state)

    def get_config_blob(
        self, source: ImageSource, digest: Digest, *, size: int | None = None
    ) -> Flow[bytes]:
        """A config-sized blob (at most 4 MiB) by digest, verified."""
        return get_config_blob(source, digest, size=size, state=self.state)

    def open_blob(
        self,
        source: ImageSource,
        digest: Digest,
        *,
        size: int | None = None,
        urls: Sequence[str] = (),
        resume: tuple[BlobDownload, int] | None = None,
    ) -> Flow[BlobDownload]:
        """Open a blob for streaming: the driver keeps the body of the final ``Open``."""
        return open_blob(source, digest, state=self.state, size=size, urls=urls, resume=resume)

    def list_signatures(
        self, source: ImageSource, instance: Digest | None = None
    ) -> Flow[tuple[Signature, ...]]:
        """Every signature of the opened image (or of its ``instance``), with its source."""
        from sansio_registry.flows.signatures import list_signatures

        return list_signatures(source, config=self.config, state=self.state, instance=instance)

    def list_tags(self, repository: ImageRef | ImageSource) -> Flow[tuple[str, ...]]:
        """Every tag of a repository (its own registry), or of where a source was opened."""
        return list_tags(repository, config=self.config, state=self.state)

    def plan_deletion(self, ref: ImageRef) -> Flow[DeletionPlan]:
        """The dry run of :meth:`delete_image`: digest, tags on it, signatures."""
        from sansio_registry.flows.delete import plan_deletion

        return plan_deletion(ref, config=self.config, state=self.state)

    def delete_image(self, ref: ImageRef) -> Flow[Deletion]:
        """Delete the manifest ``ref`` resolves to and its lookaside signatures."""
        from sansio_registry.flows.delete import delete_image

        return delete_image(ref, config=self.config, state=self.state)

    def __repr__(self) -> str:
        return f"<RegistrySession {self.state.tokens!r}, {len(self.state.pings)} pings>"
