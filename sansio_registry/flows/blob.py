"""Small blobs read in full: the image config (needed by ``inspect``).

Request sequence::

    GET /v2/<path>/blobs/<digest>    (through the endpoint that served the manifest;
                                      redirects to storage drop Authorization)
        200 -> bytes, verified against the digest and the descriptor's size

Large, streamed blobs are a separate flow (issue: blobs).
"""

from __future__ import annotations

from typing import Final

from sansio_registry.digest import Digest, DigestVerifier
from sansio_registry.flow import Flow, Steps
from sansio_registry.flows.manifest import ImageSource
from sansio_registry.flows.pipeline import send
from sansio_registry.http import Purpose
from sansio_registry.response_errors import simple_error
from sansio_registry.session import RegistryState

__all__ = ["MAX_CONFIG_BODY", "get_config_blob"]

#: containers/image's iolimits.MaxConfigBodySize.
MAX_CONFIG_BODY: Final = 4 * 1024 * 1024


def _get_small_blob(
    source: ImageSource, state: RegistryState, digest: Digest, size: int | None
) -> Steps[bytes]:
    path = f"/v2/{source.endpoint.repository}/blobs/{digest}"
    response = yield from send(
        source.endpoint, state, path, purpose=Purpose.BLOB, max_body=MAX_CONFIG_BODY
    )
    if response.status != 200:
        raise simple_error(response, method="GET", url=path, context="Error fetching blob")
    verifier = DigestVerifier(digest, size)
    verifier.update(response.body)
    verifier.finish()
    return response.body


def get_config_blob(
    source: ImageSource, digest: Digest, *, size: int | None, state: RegistryState
) -> Flow[bytes]:
    """Fetch a config blob (at most 4 MiB) from the source's endpoint, verified."""
    return Flow(_get_small_blob(source, state, digest, size))
