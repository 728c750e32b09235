"""Listing a repository's tags (``RepoTags`` of ``inspect``, ``skopeo list-tags``).

A repository (an :class:`ImageRef`; its tag or digest is ignored) is asked at its own
registry, with no mirrors or rewrites, as containers/image's ``GetRepositoryTags`` does; an
opened :class:`ImageSource` is asked where its manifest came from. No manifest is fetched.

Request sequence::

    GET /v2/<path>/tags/list             200 {"name":…, "tags":[…]} (null when empty)
    GET <Link rel="next" path+query>     while the registry sends one, at most 1000 pages
                                         and 64 MiB in all; a page asked twice is a loop

A ``Link`` target keeps only its path and query: the next page is asked of the same registry,
with the same TLS and credentials (the URL policy's "credentials stay home" by construction).
"""

from __future__ import annotations

from typing import Final

import msgspec

from sansio_registry.client_config import ClientConfig
from sansio_registry.errors import RemoteProtocolError
from sansio_registry.flow import Flow, Steps
from sansio_registry.flows.manifest import ImageSource, direct_endpoint
from sansio_registry.flows.pipeline import Endpoint, send
from sansio_registry.http import MAX_MANIFEST_BODY
from sansio_registry.json_decode import decode_json
from sansio_registry.reference import ImageRef
from sansio_registry.response_errors import simple_error
from sansio_registry.retry import parse_link_next
from sansio_registry.state import RegistryState

__all__ = ["MAX_TAG_LIST_BYTES", "MAX_TAG_PAGES", "list_tags", "tags_at"]

MAX_TAG_PAGES: Final = 1000
#: Tag-list page bytes read for one listing (each page is also capped at 4 MiB).
MAX_TAG_LIST_BYTES: Final = 64 * 1024 * 1024


class _TagList(msgspec.Struct, frozen=True):
    tags: list[str] | None = None


_decode_tags: Final = msgspec.json.Decoder(_TagList)


def tags_at(
    endpoint: Endpoint, state: RegistryState, *, coalesce: bool = False
) -> Steps[list[str]]:
    """Sub-flow: every tag of the endpoint's repository, pages followed.

    ``coalesce``: identical page requests in flight at once may share one answer.
    """
    path: str | None = f"/v2/{endpoint.repository}/tags/list"
    tags: list[str] = []
    asked: set[str] = set()
    held = 0
    for _ in range(MAX_TAG_PAGES):
        if path is None:
            return tags
        if path in asked:
            raise RemoteProtocolError(f"tags list pages loop: {path} was already asked")
        asked.add(path)
        response = yield from send(
            endpoint, state, path, max_body=MAX_MANIFEST_BODY, coalesce=coalesce
        )
        if response.status != 200:
            raise simple_error(response, method="GET", url=path, context="fetching tags list")
        try:
            page = decode_json(_decode_tags, response.body)
        except msgspec.DecodeError as exc:
            raise RemoteProtocolError(f"decoding tags list: {exc}") from None
        held += len(response.body)
        if held > MAX_TAG_LIST_BYTES:
            raise RemoteProtocolError(
                f"tags list of {endpoint.host}/{endpoint.repository} is over "
                f"{MAX_TAG_LIST_BYTES} bytes"
            )
        tags.extend(page.tags or ())
        path = parse_link_next(response.headers.get("Link"))
    raise RemoteProtocolError(
        f"tags list of {endpoint.host}/{endpoint.repository} has over {MAX_TAG_PAGES} pages"
    )


def _repository_tags(
    repository: ImageRef | ImageSource, config: ClientConfig, state: RegistryState
) -> Steps[tuple[str, ...]]:
    if isinstance(repository, ImageSource):
        endpoint = repository.endpoint
    else:
        endpoint = direct_endpoint(config, repository, actions="pull")
    # Not kept afterwards: a tag list has no digest to check it by, and tags move. Identical
    # listings in flight at once (a batch inspect) may share their pages.
    return tuple((yield from tags_at(endpoint, state, coalesce=True)))


def list_tags(
    repository: ImageRef | ImageSource, *, config: ClientConfig, state: RegistryState
) -> Flow[tuple[str, ...]]:
    """Every tag of the repository, in the registry's order (see the module docstring)."""
    return Flow(_repository_tags(repository, config, state), on_time=state.observe)
