"""Opening an image and fetching its manifests.

See docs/behaviour.md#pull-sources-and-mirrors and docs/behaviour.md#manifests.

Request sequence of :func:`open_image`, per pull source (mirrors in order, the primary last)::

    [ping]  GET /v2/                         (once per endpoint, cached in RegistryState)
    [token] GET|POST <realm>                 (bearer challenges only, cached per scope)
    GET /v2/<path>/manifests/<tag|digest>    200 -> verified Manifest, done
                                             other -> this source failed, next one

When every source failed, the primary's error is raised with the failed mirrors as data
(``also_failed``, one :class:`~sansio_registry.errors.SourceFailure` each, and a note each),
so ``except ManifestUnknown`` works with or without mirrors.

Beyond Go: a manifest fetched by digest must hash to that digest, and a
``Docker-Content-Digest`` header, when present, must match the bytes (switchable with
``ClientConfig.verify_content_digest``); a mismatch fails that source like any other error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sansio_registry.client_config import ClientConfig
from sansio_registry.config.registries_conf import PullSource
from sansio_registry.digest import Digest, manifest_digest
from sansio_registry.errors import (
    DigestMismatch,
    RegistryClientError,
    RemoteProtocolError,
    SourceFailure,
    with_source_failures,
)
from sansio_registry.flow import Flow, Steps
from sansio_registry.flows.pipeline import Endpoint, send
from sansio_registry.http import MAX_MANIFEST_BODY
from sansio_registry.manifest import ImageIndex, parse_manifest
from sansio_registry.media_types import (
    KNOWN_MANIFEST_TYPES,
    MANIFEST_ACCEPT,
    guess_media_type,
    is_index_type,
    normalize_media_type,
    simplify_content_type,
)
from sansio_registry.platform import choose_instance
from sansio_registry.reference import ImageRef
from sansio_registry.response_errors import registry_error
from sansio_registry.state import RegistryState
from sansio_registry.url_policy import UrlPolicy

__all__ = [
    "ImageSource",
    "Manifest",
    "direct_endpoint",
    "endpoint_for",
    "get_instance_manifest",
    "get_manifest",
    "open_image",
    "resolve_image",
    "resolve_platform",
]


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest exactly as served, with its verified digest.

    ``media_type`` is the simplified ``Content-Type``, or the type guessed from the body when
    the registry sent none or a generic one.
    """

    raw: bytes
    media_type: str
    digest: Digest
    reference: ImageRef

    @property
    def is_index(self) -> bool:
        """Whether this is a Docker manifest list or an OCI index."""
        return is_index_type(self.media_type)


@dataclass(frozen=True, slots=True)
class ImageSource:
    """An image opened at the endpoint that served its top-level manifest.

    Every later request for this image (instances, blobs, signatures) goes to ``endpoint``;
    ``manifest`` is cached so the manifest and its signatures always agree even if the tag
    moves meanwhile.
    """

    logical: ImageRef
    physical: ImageRef
    endpoint: Endpoint
    manifest: Manifest
    #: The pull sources after the one that answered, for blob-level fallback (beyond Go,
    #: which has none): a mirror that has the manifest but lost a blob is not the end of
    #: the pull.
    fallbacks: tuple[tuple[ImageRef, Endpoint], ...] = ()

    @property
    def blob_endpoints(self) -> tuple[tuple[ImageRef, Endpoint], ...]:
        """Where blobs are asked for, in order: the source's endpoint, then the fallbacks."""
        return ((self.physical, self.endpoint), *self.fallbacks)


def endpoint_for(
    config: ClientConfig,
    logical: ImageRef,
    physical: ImageRef,
    *,
    insecure: bool,
    actions: str,
    is_mirror: bool = False,
) -> Endpoint:
    """The endpoint an attempt at ``physical`` talks to, with the credentials it may use."""
    insecure = config.is_insecure(insecure)
    return Endpoint(
        host=physical.connection_host,
        repository=physical.path,
        insecure=insecure,
        credentials=config.credentials_for(logical, physical),
        user_agent=config.user_agent,
        actions=actions,
        is_mirror=is_mirror,
        retry=config.retry,
        policy=_policy(config, physical.connection_host, insecure=insecure),
    )


def _policy(config: ClientConfig, host: str, *, insecure: bool) -> UrlPolicy:
    policy = config.url_policy
    return policy.with_insecure_host(host) if insecure else policy


def direct_endpoint(config: ClientConfig, ref: ImageRef, *, actions: str) -> Endpoint:
    """The endpoint of ``ref``'s own registry: no mirrors, no rewrites (tags, deletion)."""
    config.registries.check_not_blocked(ref)
    insecure = config.registries.is_insecure(ref.name)
    return endpoint_for(config, ref, ref, insecure=insecure, actions=actions)


def _expected_digest(reference: str) -> Digest | None:
    if ":" not in reference:
        return None
    return Digest.parse(reference)


def _digest_with(raw: bytes, algorithm: str) -> Digest:
    if algorithm == "sha256":
        return manifest_digest(raw)
    return Digest.of(raw, algorithm)


def _manifest_named(physical: ImageRef, reference: str) -> str:
    """The manifest as a mismatch names it (built only then: most fetches never need it)."""
    separator = "@" if ":" in reference else ":"
    return f"manifest {physical.name}{separator}{reference}"


_ACCEPT_LINES: Final = tuple(("Accept", media_type) for media_type in MANIFEST_ACCEPT)


def fetch_manifest(
    endpoint: Endpoint,
    state: RegistryState,
    physical: ImageRef,
    reference: str,
    *,
    verify_content_digest: bool,
) -> Steps[Manifest]:
    """Sub-flow: GET one manifest by tag or digest from one endpoint, verified.

    A manifest asked for by digest is fetched once per client (``RegistryState.manifests``).
    """
    expected = _expected_digest(reference)
    key = (endpoint.host, endpoint.repository, expected)
    if expected is not None:
        known = state.manifests.get(key, now=state.now)
        if known is not None:
            return Manifest(raw=known[0], media_type=known[1], digest=expected, reference=physical)
    path = f"/v2/{endpoint.repository}/manifests/{reference}"
    response = yield from send(
        endpoint,
        state,
        path,
        headers=_ACCEPT_LINES,
        max_body=MAX_MANIFEST_BODY,
    )
    if response.status != 200:
        raise registry_error(
            response,
            method="GET",
            url=path,
            context=f"reading manifest {reference} in {physical.name}",
        )
    raw = response.body
    media_type = simplify_content_type(response.headers.get("Content-Type"))
    if media_type not in KNOWN_MANIFEST_TYPES:
        media_type = normalize_media_type(guess_media_type(raw))
    digest = _digest_with(raw, expected.algorithm) if expected else manifest_digest(raw)
    if expected is not None and digest != expected:
        raise DigestMismatch(str(expected), str(digest), _manifest_named(physical, reference))
    served = response.headers.get("Docker-Content-Digest")
    if verify_content_digest and served:
        try:
            claimed = Digest.parse(served.strip(), remote=True)
        except RegistryClientError as exc:
            raise RemoteProtocolError(f"invalid Docker-Content-Digest {served!r}: {exc}") from None
        same = claimed.algorithm == digest.algorithm
        actual = digest if same else _digest_with(raw, claimed.algorithm)
        if actual != claimed:
            what = _manifest_named(physical, reference)
            raise DigestMismatch(
                str(claimed), str(actual), f"{what} (Docker-Content-Digest header)"
            )
    if expected is not None:
        state.manifests.put(key, (raw, media_type), size=len(raw), now=state.now)
    return Manifest(raw=raw, media_type=media_type, digest=digest, reference=physical)


def _pull_endpoint(config: ClientConfig, ref: ImageRef, source: PullSource) -> Endpoint:
    """The endpoint of one pull source of ``ref``; RegistryBlocked if it is blocked."""
    config.registries.check_not_blocked(source.ref)
    return endpoint_for(
        config,
        ref,
        source.ref,
        insecure=source.insecure,
        actions="pull",
        is_mirror=source.is_mirror,
    )


def _fallbacks(
    ref: ImageRef, sources: Sequence[PullSource], config: ClientConfig
) -> tuple[tuple[ImageRef, Endpoint], ...]:
    usable = []
    for source in sources:
        try:
            usable.append((source.ref, _pull_endpoint(config, ref, source)))
        except RegistryClientError:
            continue
    return tuple(usable)


def _open_image(ref: ImageRef, config: ClientConfig, state: RegistryState) -> Steps[ImageSource]:
    sources = config.registries.pull_sources(ref)
    failures: list[SourceFailure] = []
    for index, source in enumerate(sources):
        try:
            endpoint = _pull_endpoint(config, ref, source)
            manifest = yield from fetch_manifest(
                endpoint,
                state,
                source.ref,
                source.ref.tag_or_digest,
                verify_content_digest=config.verify_content_digest,
            )
        except RegistryClientError as exc:
            failures.append(SourceFailure(str(source.ref), exc, source.is_mirror))
            continue
        return ImageSource(
            logical=ref,
            physical=source.ref,
            endpoint=endpoint,
            manifest=manifest,
            fallbacks=_fallbacks(ref, sources[index + 1 :], config),
        )
    raise with_source_failures(failures[-1].error, tuple(failures[:-1]))


def open_image(ref: ImageRef, *, config: ClientConfig, state: RegistryState) -> Flow[ImageSource]:
    """Find the first pull source that serves ``ref``'s manifest, verified."""
    return Flow(_open_image(ref, config, state), on_time=state.observe)


def _instance(
    source: ImageSource, digest: Digest, config: ClientConfig, state: RegistryState
) -> Steps[Manifest]:
    """Sub-flow: one instance of the source's list, by digest, from its endpoint, fresh."""
    return (
        yield from fetch_manifest(
            source.endpoint,
            state,
            source.physical.with_digest(str(digest)),
            str(digest),
            verify_content_digest=config.verify_content_digest,
        )
    )


def get_instance_manifest(
    source: ImageSource, digest: Digest, *, config: ClientConfig, state: RegistryState
) -> Flow[Manifest]:
    """Fetch one instance of a manifest list by digest, from the source's endpoint, fresh."""
    return Flow(_instance(source, digest, config, state), on_time=state.observe)


def _get_manifest(
    ref: ImageRef, config: ClientConfig, state: RegistryState, instance: Digest | None
) -> Steps[Manifest]:
    source = yield from _open_image(ref, config, state)
    if instance is None or instance == source.manifest.digest:
        return source.manifest
    return (yield from _instance(source, instance, config, state))


def get_manifest(
    ref: ImageRef,
    *,
    config: ClientConfig,
    state: RegistryState,
    instance: Digest | None = None,
) -> Flow[Manifest]:
    """The manifest of ``ref`` (or of one of its instances), from the first source that has it."""
    return Flow(_get_manifest(ref, config, state, instance), on_time=state.observe)


def resolve_platform(source: ImageSource, config: ClientConfig) -> Digest | None:
    """The instance digest ``config.platform`` picks from a list, or None for a single image."""
    top = source.manifest
    if not top.is_index or config.platform is None:
        return None
    document = parse_manifest(top.raw, top.media_type)
    if not isinstance(document, ImageIndex):
        raise RemoteProtocolError(f"{top.media_type} manifest is not an index")
    return Digest.parse(
        choose_instance(document, top.media_type, config.platform).digest, remote=True
    )


def _resolve_image(
    source: ImageSource, config: ClientConfig, state: RegistryState
) -> Steps[Manifest]:
    instance = resolve_platform(source, config)
    if instance is None or instance == source.manifest.digest:
        return source.manifest
    return (yield from _instance(source, instance, config, state))


def resolve_image(
    source: ImageSource, *, config: ClientConfig, state: RegistryState
) -> Flow[Manifest]:
    """The single-image manifest ``config.platform`` picks (the list's choice, or itself)."""
    return Flow(_resolve_image(source, config, state), on_time=state.observe)
