"""One tag list per repository for a batch of REFs (``inspect`` of many tags of one repo).

A tag list is not content-addressed: it cannot be verified and may change at any moment, so
it is never kept in the client's state. Sharing it within one command is what ``skopeo
inspect`` run once per REF would see at best, and saves a listing (often several pages) per
REF. The key is where the image was opened (the endpoint that served it, which may be a
mirror) and the repository there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from sansio_registry.errors import RegistryClientError

if TYPE_CHECKING:
    from sansio_registry.flows.manifest import ImageSource
    from sansio_registry.flows.pipeline import Endpoint
    from trio_backend.client import RegistryClient

__all__ = ["SharedTagLists"]


class _Listing:
    """One repository's listing: in flight until ``done`` is set, then a result or an error."""

    __slots__ = ("done", "error", "tags")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.tags: tuple[str, ...] | None = None
        self.error: RegistryClientError | None = None


class SharedTagLists:
    """Lists each repository once for the life of this object (scope it to one batch)."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client
        self._listings: dict[tuple[Endpoint, str, str], _Listing] = {}

    async def tags_of(self, source: ImageSource) -> tuple[str, ...]:
        """The tags of ``source``'s repository where it was opened; a failure is every
        caller's (each REF then reports it on its own line)."""
        key = (source.endpoint, source.physical.domain, source.physical.path)
        listing = self._listings.get(key)
        if listing is None:
            listing = self._listings[key] = _Listing()
            try:
                listing.tags = await self._client.list_tags(source)
            except RegistryClientError as exc:
                listing.error = exc
            finally:
                if listing.tags is None and listing.error is None:
                    del self._listings[key]  # cancelled: a later caller asks again
                listing.done.set()
        else:
            await listing.done.wait()
        if listing.error is not None:
            raise listing.error
        if listing.tags is None:  # the first caller was cancelled
            return await self.tags_of(source)
        return listing.tags
