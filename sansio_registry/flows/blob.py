"""Blobs: small ones read in full (configs), large ones streamed by the shell.

See docs/behaviour.md#blobs.

Request sequence of :func:`open_blob`::

    external URLs (foreign layers), in the manifest's order, no registry credentials:
        GET <url>                        200 -> done; else the next URL
        (all usable URLs failed -> ExternalBlobUnavailable naming each; no usable URL
         (not http/https) -> the registry, as Go does)
    otherwise, for the source's endpoint, then each later pull source (beyond Go):
        GET /v2/<path>/blobs/<digest>    200 -> done (206 when resuming); else the next source
        (every source failed -> the first source's error, the others in ``also_failed``)

The core never holds a blob body: the flow ends with a :class:`BlobDownload` and the driver
hands the body of the last ``Open`` to the caller, who checks it with a
:class:`~sansio_registry.digest.DigestVerifier`.

Resuming (docs/behaviour.md#blob-resume): after a connection broke at byte ``offset``, the
same flow is started again with ``resume=(previous download, offset)``; it asks the same place
for ``Range: bytes=<offset>-`` and accepts 206 with a matching ``Content-Range``, or a 200
(the server ignored the range: the caller skips ``offset`` bytes, the hash state already has
them); anything else moves on to the next place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sansio_registry.digest import Digest, DigestVerifier
from sansio_registry.errors import (
    LocalProtocolError,
    RegistryClientError,
    RemoteProtocolError,
    SourceFailure,
    with_source_failures,
)
from sansio_registry.flow import Flow, Steps, open_
from sansio_registry.flows.exchange import follow_redirects
from sansio_registry.flows.manifest import ImageSource, Manifest
from sansio_registry.flows.ping import API_VERSION_HEADER
from sansio_registry.flows.pipeline import Endpoint, send, send_streamed
from sansio_registry.http import (
    MAX_ERROR_BODY,
    Headers,
    Request,
    Response,
    ResponseHead,
    content_length,
    status_text,
)
from sansio_registry.manifest import ImageManifest, parse_manifest
from sansio_registry.reference import ImageRef
from sansio_registry.response_errors import simple_error
from sansio_registry.state import RegistryState
from sansio_registry.url_policy import allowed_from_server

__all__ = [
    "MAX_CONFIG_BODY",
    "BlobDownload",
    "ExternalBlobUnavailable",
    "NoConfigBlob",
    "get_config",
    "get_config_blob",
    "open_blob",
]

#: containers/image's iolimits.MaxConfigBodySize.
MAX_CONFIG_BODY: Final = 4 * 1024 * 1024

_CONTENT_RANGE: Final = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)")


class ExternalBlobUnavailable(RegistryClientError):
    """Every usable external (foreign-layer) URL failed; ``failures`` names each.

    Go 5.23.1 returns an empty body with no error here; upstream aggregates the errors, as
    we do (docs/behaviour.md#external-urls).
    """

    def __init__(self, digest: Digest, failures: Sequence[tuple[str, str]]) -> None:
        listed = "; ".join(f"{url}: {why}" for url, why in failures)
        super().__init__(f"fetching blob {digest} from all external URLs failed: {listed}")
        self.failures = tuple(failures)


class NoConfigBlob(LocalProtocolError):
    """The manifest has no config blob: schema1 images have none, lists have one per instance."""

    def __init__(self, manifest: Manifest) -> None:
        why = (
            "a manifest list has none (resolve the image to one instance first)"
            if manifest.is_index
            else "schema1 images have no config"
        )
        super().__init__(
            f"manifest {manifest.digest} ({manifest.media_type}) has no config: {why}"
        )
        self.manifest = manifest


@dataclass(frozen=True, slots=True)
class BlobDownload:
    """The body the driver holds is this blob, from byte ``start`` on.

    Attributes:
        digest: what the whole blob must hash to.
        size: the expected size (the descriptor's, else the server's), or None.
        head: the response head whose body the driver kept.
        place: index into the places tried (external URLs, else endpoints), for resuming.
        url: where the body comes from (after redirects it may differ), for messages.
        start: the body begins at this byte of the blob (a 206 answer to a resume).
        skip: discard this many body bytes first (a 200 answer to a resume).
    """

    digest: Digest
    size: int | None
    head: ResponseHead
    place: int
    url: str
    start: int = 0
    skip: int = 0

    def verifier(self) -> DigestVerifier:
        """A fresh verifier for the whole blob."""
        return DigestVerifier(self.digest, self.size, what=f"blob {self.digest}")


def _blob_size(head: ResponseHead, size: int | None) -> int | None:
    """The whole blob's size: the descriptor's, else the answer's.

    A 206's ``Content-Length`` is only the rest of the blob; its ``Content-Range`` total (or
    start + length) is the whole.
    """
    if size is not None:
        return size
    length = content_length(head.headers)
    if head.status != 206:
        return length
    match = _CONTENT_RANGE.fullmatch((head.headers.get("Content-Range") or "").strip())
    if match is None:
        return None
    if match.group(3) != "*":
        return int(match.group(3))
    return int(match.group(1)) + length if length is not None else None


def _accepts(head: ResponseHead, offset: int) -> tuple[bool, int]:
    """Whether ``head`` answers a request for the blob from ``offset``: (ok, bytes to skip)."""
    if offset == 0:
        return head.status == 200, 0
    if head.status == 200:
        return True, offset
    if head.status != 206:
        return False, 0
    match = _CONTENT_RANGE.fullmatch((head.headers.get("Content-Range") or "").strip())
    return match is not None and int(match.group(1)) == offset, 0


def _as_response(head: ResponseHead) -> Response:
    # Drivers answer a non-2xx Open with the body read in full; a bare head has none.
    if isinstance(head, Response):
        return head
    return Response(
        status=head.status, headers=head.headers, reason=head.reason, received_at=head.received_at
    )


def _range_headers(offset: int) -> tuple[tuple[str, str], ...]:
    return (("Range", f"bytes={offset}-"),) if offset else ()


def _failure(head: ResponseHead) -> str:
    return f"status {head.status} ({status_text(head.status) or head.reason})"


def _external(
    digest: Digest,
    urls: Sequence[str],
    size: int | None,
    endpoint: Endpoint,
    first: int,
    offset: int,
) -> Steps[BlobDownload]:
    failures: list[tuple[str, str]] = []
    for place in range(first, len(urls)):
        url = urls[place]
        request = Request(
            method="GET",
            url=url,
            headers=Headers(
                (API_VERSION_HEADER, ("User-Agent", endpoint.user_agent), *_range_headers(offset))
            ),
            max_body=MAX_ERROR_BODY,
            tls_verify=endpoint.policy.verifies_url(url),
        )
        try:
            head = yield from follow_redirects(request, open_, endpoint.policy)
        except RegistryClientError as exc:
            failures.append((url, str(exc)))
            continue
        ok, skip = _accepts(head, offset)
        if ok:
            return BlobDownload(
                digest=digest,
                size=_blob_size(head, size),
                head=head,
                place=place,
                url=url,
                start=offset if head.status == 206 else 0,
                skip=skip,
            )
        failures.append((url, _failure(head)))
    raise ExternalBlobUnavailable(digest, failures)


def _from_registry(
    digest: Digest,
    endpoints: Sequence[tuple[ImageRef, Endpoint]],
    size: int | None,
    state: RegistryState,
    first: int,
    offset: int,
) -> Steps[BlobDownload]:
    errors: list[SourceFailure] = []
    for place in range(first, len(endpoints)):
        reference, endpoint = endpoints[place]
        path = f"/v2/{endpoint.repository}/blobs/{digest}"
        try:
            head = yield from send_streamed(
                endpoint,
                state,
                path,
                headers=_range_headers(offset),
                max_body=MAX_ERROR_BODY,
            )
            ok, skip = _accepts(head, offset)
            if not ok:
                if head.status in (200, 206):
                    raise RemoteProtocolError(
                        f"fetching blob {digest} from {reference.name}: the answer to "
                        f"Range: bytes={offset}- did not start at byte {offset}"
                    )
                raise simple_error(
                    _as_response(head),
                    method="GET",
                    url=path,
                    context=f"fetching blob {digest} from {reference.name}",
                )
        except RegistryClientError as exc:
            errors.append(SourceFailure(str(reference), exc, endpoint.is_mirror))
            continue
        return BlobDownload(
            digest=digest,
            size=_blob_size(head, size),
            head=head,
            place=place,
            url=f"{reference.name}@{digest}",
            start=offset if head.status == 206 else 0,
            skip=skip,
        )
    if not errors:
        raise RemoteProtocolError(f"no source left to fetch blob {digest} from")
    raise with_source_failures(errors[0].error, tuple(errors[1:]))


def _open_blob(
    source: ImageSource,
    digest: Digest,
    size: int | None,
    urls: Sequence[str],
    state: RegistryState,
    resume: tuple[BlobDownload, int] | None,
) -> Steps[BlobDownload]:
    first, offset = (resume[0].place, resume[1]) if resume is not None else (0, 0)
    if size is None and resume is not None:
        size = resume[0].size  # learnt from the first answer: the whole blob
    usable = [url for url in urls if allowed_from_server(url)]
    if usable:
        return (yield from _external(digest, usable, size, source.endpoint, first, offset))
    return (yield from _from_registry(digest, source.blob_endpoints, size, state, first, offset))


def open_blob(
    source: ImageSource,
    digest: Digest,
    *,
    state: RegistryState,
    size: int | None = None,
    urls: Sequence[str] = (),
    resume: tuple[BlobDownload, int] | None = None,
) -> Flow[BlobDownload]:
    """Open a blob for streaming; the driver keeps the body of the final ``Open``.

    ``size`` and ``urls`` come from the layer's descriptor. ``resume=(download, offset)``
    continues a download that broke after ``offset`` bytes (see the module docstring).
    """
    return Flow(_open_blob(source, digest, size, urls, state, resume), on_time=state.observe)


def _get_small_blob(
    source: ImageSource, state: RegistryState, digest: Digest, size: int | None
) -> Steps[bytes]:
    endpoint = source.endpoint
    key = (endpoint.host, endpoint.repository, digest)
    known = state.blobs.get(key, now=state.now)
    if known is not None and (size is None or size == len(known)):
        return known
    path = f"/v2/{endpoint.repository}/blobs/{digest}"
    response = yield from send(endpoint, state, path, max_body=MAX_CONFIG_BODY, coalesce=True)
    if response.status != 200:
        raise simple_error(response, method="GET", url=path, context="Error fetching blob")
    verifier = DigestVerifier(digest, size, what=f"blob {digest}")
    verifier.update(response.body)
    verifier.finish()
    state.blobs.put(key, response.body, size=len(response.body), now=state.now)
    return response.body


def get_config_blob(
    source: ImageSource, digest: Digest, *, size: int | None, state: RegistryState
) -> Flow[bytes]:
    """Fetch a config blob (at most 4 MiB) from the source's endpoint, verified."""
    return Flow(_get_small_blob(source, state, digest, size), on_time=state.observe)


def _get_config(source: ImageSource, manifest: Manifest, state: RegistryState) -> Steps[bytes]:
    document = parse_manifest(manifest.raw, manifest.media_type)
    if not isinstance(document, ImageManifest):
        raise NoConfigBlob(manifest)
    digest = Digest.parse(document.config.digest, remote=True)
    return (yield from _get_small_blob(source, state, digest, document.config.size))


def get_config(source: ImageSource, manifest: Manifest, *, state: RegistryState) -> Flow[bytes]:
    """The config blob of ``manifest`` (an image of ``source``), verified.

    :class:`NoConfigBlob` (from ``begin``, before any request) for schema1 or a list.
    """
    return Flow(_get_config(source, manifest, state), on_time=state.observe)
