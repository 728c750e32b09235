"""Deleting an image and its lookaside signatures, or refusing before anything is touched.

Request sequence of :func:`delete_image` (docs/behaviour.md#deletion; the logical reference
only: no mirrors, no rewrites; token scope ``repository:<path>:*``)::

    GET /v2/<path>/manifests/<tag|digest>      Accept x6; the digest (verified)
    GET <staging lookaside>/…/signature-1 …    which signatures exist (registries.d, write)
        any exist in a lookaside we cannot write (http/https) -> refuse, nothing deleted
    DELETE /v2/<path>/manifests/<digest>       only 202 is success
    DELETE file://…/signature-1 …              the file lookaside signatures found above

Beyond Go: Go deletes the manifest and then fails on an http lookaside, leaving a half-deleted
image; we check first. :func:`plan_deletion` is the dry run: the digest, every tag pointing at
it (all of them go with it: deleting by digest is registry semantics) and the signatures.
"""

from __future__ import annotations

from dataclasses import dataclass

from sansio_registry.client_config import ClientConfig
from sansio_registry.config.registries_d import redact_url
from sansio_registry.digest import Digest
from sansio_registry.errors import RegistryClientError
from sansio_registry.flow import Flow, Steps, fetch
from sansio_registry.flows.manifest import direct_endpoint, fetch_manifest
from sansio_registry.flows.pipeline import Endpoint, send
from sansio_registry.flows.signatures import lookaside_signatures
from sansio_registry.flows.tags import tags_at
from sansio_registry.http import MAX_DELETE_BODY, Headers, Request, is_file_url
from sansio_registry.media_types import MANIFEST_ACCEPT
from sansio_registry.reference import ImageRef
from sansio_registry.response_errors import registry_error
from sansio_registry.state import RegistryState

__all__ = [
    "Deletion",
    "DeletionPlan",
    "SignatureStorageReadOnly",
    "delete_image",
    "plan_deletion",
]


class SignatureStorageReadOnly(RegistryClientError):
    """Signatures of the image live where we cannot delete them; nothing was deleted."""

    def __init__(self, locations: tuple[str, ...]) -> None:
        listed = ", ".join(locations)
        super().__init__(
            f"refusing to delete: {len(locations)} signature(s) are stored in a lookaside that "
            f"cannot be written ({listed}); configure a lookaside-staging: file:// location"
        )
        self.locations = locations


@dataclass(frozen=True, slots=True)
class DeletionPlan:
    """What a delete would remove."""

    reference: ImageRef
    digest: Digest
    tags: tuple[str, ...]
    signatures: tuple[str, ...]
    writable: bool


@dataclass(frozen=True, slots=True)
class Deletion:
    """What a delete removed."""

    reference: ImageRef
    digest: Digest
    signatures_removed: tuple[str, ...]


def _resolve(
    ref: ImageRef,
    config: ClientConfig,
    state: RegistryState,
) -> Steps[tuple[Endpoint, Digest, tuple[str, ...], bool]]:
    endpoint = direct_endpoint(config, ref, actions="*")
    manifest = yield from fetch_manifest(
        endpoint,
        state,
        ref,
        ref.tag_or_digest,
        verify_content_digest=config.verify_content_digest,
    )
    base = config.registries_d.lookaside_base(
        ref, write=True, default_dir=config.lookaside_default
    )
    found = yield from lookaside_signatures(base, ref, manifest.digest, endpoint.user_agent)
    locations = tuple(url for url, _ in found)
    return endpoint, manifest.digest, locations, is_file_url(base)


def _tags_on(
    endpoint: Endpoint, state: RegistryState, ref: ImageRef, digest: Digest, config: ClientConfig
) -> Steps[tuple[str, ...]]:
    tags = yield from tags_at(endpoint, state)
    pointing = []
    for tag in sorted(set(tags)):
        try:
            manifest = yield from fetch_manifest(
                endpoint,
                state,
                ref.with_tag(tag),
                tag,
                verify_content_digest=config.verify_content_digest,
            )
        except RegistryClientError:
            continue  # a tag that vanished meanwhile, or a manifest we cannot read
        if manifest.digest == digest:
            pointing.append(tag)
    return tuple(pointing)


def _plan(
    ref: ImageRef,
    config: ClientConfig,
    state: RegistryState,
) -> Steps[DeletionPlan]:
    endpoint, digest, signatures, writable = yield from _resolve(ref, config, state)
    tags = yield from _tags_on(endpoint, state, ref, digest, config)
    shown = tuple(redact_url(url) for url in signatures)
    return DeletionPlan(
        reference=ref, digest=digest, tags=tags, signatures=shown, writable=writable
    )


def plan_deletion(
    ref: ImageRef,
    *,
    config: ClientConfig,
    state: RegistryState,
) -> Flow[DeletionPlan]:
    """The dry run: what :func:`delete_image` would remove (changes nothing)."""
    return Flow(_plan(ref, config, state), on_time=state.observe)


def _delete(
    ref: ImageRef,
    config: ClientConfig,
    state: RegistryState,
) -> Steps[Deletion]:
    endpoint, digest, signatures, writable = yield from _resolve(ref, config, state)
    if signatures and not writable:
        raise SignatureStorageReadOnly(tuple(redact_url(url) for url in signatures))
    path = f"/v2/{endpoint.repository}/manifests/{digest}"
    response = yield from send(
        endpoint,
        state,
        path,
        method="DELETE",
        headers=[("Accept", media_type) for media_type in MANIFEST_ACCEPT],
        max_body=MAX_DELETE_BODY,
    )
    if response.status != 202:
        # Only 202 is success: the distribution spec's answer to a manifest DELETE, and
        # what Go checks.
        raise registry_error(response, method="DELETE", url=path, context=f"deleting {ref}")
    removed = []
    for url in signatures:
        request = Request(
            method="DELETE",
            url=url,
            headers=Headers(),
            max_body=MAX_DELETE_BODY,
        )
        answer = yield from fetch(request)
        if answer.status in (200, 204):
            removed.append(redact_url(url))
    return Deletion(reference=ref, digest=digest, signatures_removed=tuple(removed))


def delete_image(
    ref: ImageRef,
    *,
    config: ClientConfig,
    state: RegistryState,
) -> Flow[Deletion]:
    """Delete the manifest ``ref`` resolves to and its lookaside signatures."""
    return Flow(_delete(ref, config, state), on_time=state.observe)
