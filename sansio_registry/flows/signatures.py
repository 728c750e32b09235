"""Enumerating an image's signatures, from every source containers/image reads.

See docs/behaviour.md#signatures.

Request sequence of :func:`list_signatures` (after the image was opened)::

    [ping]  GET /v2/                                  (cached; tells about the extension)
    extension advertised (X-Registry-Supports-Signatures: 1), instead of lookaside:
        GET /extensions/v2/<path>/signatures/<digest> 200 -> entries of version 2, "atomic"
    otherwise lookaside (registries.d, for the endpoint the manifest came from):
        GET <base>/<path>@<algo>=<hex>/signature-1    (file:// read locally; http(s) with no
        GET …/signature-2 …                            registry credentials) until the first
                                                       missing one, at most 128
    then, when use-sigstore-attachments applies:
        GET /v2/<path>/manifests/sha256-<hex>.sig     unknown -> none
        GET /v2/<path>/blobs/<layer digest>           each layer, verified, at most 4 MiB;
                                                       at most 128 layers
    all signatures of the image together: at most 16 MiB (MAX_SIGNATURE_BYTES)

Lookaside URLs and their redirects follow the endpoint's
:class:`~sansio_registry.url_policy.UrlPolicy` (``file://`` only as the configured base).

Signatures are returned with where each came from and, for simple-signing ones, the claims
their payload makes (not verified: no cryptography here).
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

import msgspec

from sansio_registry.client_config import ClientConfig
from sansio_registry.config.registries_d import lookaside_url, redact_url
from sansio_registry.digest import Digest, DigestVerifier
from sansio_registry.errors import ConfigError, RegistryResponseError, RemoteProtocolError
from sansio_registry.flow import Flow, Steps, fetch
from sansio_registry.flows.exchange import follow_redirects
from sansio_registry.flows.manifest import ImageSource, fetch_manifest
from sansio_registry.flows.pipeline import Endpoint, ensure_ping, send
from sansio_registry.http import (
    MAX_SIGNATURE_BODY,
    Headers,
    Request,
    Response,
    is_file_url,
    status_text,
)
from sansio_registry.json_decode import decode_json
from sansio_registry.manifest import ImageManifest, parse_manifest
from sansio_registry.media_types import OCI_MANIFEST
from sansio_registry.reference import ImageRef
from sansio_registry.response_errors import is_manifest_unknown, simple_error
from sansio_registry.signature import Signature, parse_signature_blob, simple_signing_claims
from sansio_registry.state import RegistryState
from sansio_registry.url_policy import STRICT_POLICY, UrlPolicy, allowed_from_config

__all__ = [
    "MAX_LOOKASIDE_SIGNATURES",
    "MAX_SIGNATURE_BYTES",
    "MAX_SIGSTORE_LAYERS",
    "TooManySignatures",
    "list_signatures",
    "lookaside_signatures",
    "signature_digest",
]

#: Upstream's cap; 5.23.1 has none and loops forever on a server that always answers 200.
MAX_LOOKASIDE_SIGNATURES: Final = 128
#: Sigstore attachment layers read for one image (beyond Go, which reads every one).
MAX_SIGSTORE_LAYERS: Final = 128
#: Bytes of signatures held for one image, all sources together: without it, 128 lookaside
#: signatures of 4 MiB each would be 512 MiB in memory.
MAX_SIGNATURE_BYTES: Final = 16 * 1024 * 1024


class TooManySignatures(RemoteProtocolError):
    """A signature source answered past a cap (count or total bytes)."""


def _check_total(held: int, budget: int, where: str) -> None:
    if held > budget:
        raise TooManySignatures(
            f"{where} provided over {MAX_SIGNATURE_BYTES} bytes of signatures, assuming "
            "that's unreasonable and a server error"
        )


class _ExtensionEntry(msgspec.Struct, frozen=True):
    schemaVersion: int = 0  # the wire name
    type: str = ""
    name: str = ""
    content: str = ""


class _ExtensionList(msgspec.Struct, frozen=True):
    signatures: list[_ExtensionEntry] | None = None


_decode_extension: Final = msgspec.json.Decoder(_ExtensionList)


def signature_digest(source: ImageSource, instance: Digest | None) -> Digest:
    """Which manifest digest signatures are looked up for (docs/behaviour.md#signatures)."""
    if instance is not None:
        return instance
    digest = source.physical.digest
    if digest is not None and digest.startswith("sha256:"):
        return Digest.parse(digest, remote=True)
    return source.manifest.digest


def _signature(index: int, source: str, location: str, blob: bytes) -> Signature:
    form, payload = parse_signature_blob(blob, location=location)
    claims = simple_signing_claims(payload) if form == "simple-signing" else None
    return Signature(
        index=index, source=source, location=location, raw=blob, format=form, claims=claims
    )


def _extension(
    endpoint: Endpoint, state: RegistryState, physical: ImageRef, digest: Digest
) -> Steps[list[Signature]]:
    path = f"/extensions/v2/{endpoint.repository}/signatures/{digest}"
    response = yield from send(endpoint, state, path, max_body=MAX_SIGNATURE_BODY)
    context = f"downloading signatures for {digest} in {physical.name}"
    if response.status != 200:
        raise simple_error(response, method="GET", url=path, context=context)
    try:
        listing = decode_json(_decode_extension, response.body)
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"{context}: decoding signature list: {exc}") from None
    found: list[Signature] = []
    for entry in listing.signatures or ():
        if entry.schemaVersion != 2 or entry.type != "atomic":
            continue  # other versions and types are ignored, as in Go
        try:
            blob = base64.b64decode(entry.content, validate=True)
        except (binascii.Error, ValueError):
            raise RemoteProtocolError(
                f"{context}: decoding signature list: invalid base64 in {entry.name!r}"
            ) from None
        found.append(
            Signature(
                index=len(found) + 1,
                source="extension",
                location=f"{path}#{entry.name}",
                raw=blob,
                format="simple-signing",
                claims=simple_signing_claims(blob),
            )
        )
    return found


def _lookaside_get(url: str, user_agent: str, policy: UrlPolicy) -> Steps[Response]:
    # A plain GET, no registry headers and never registry credentials
    # (docs/behaviour.md#lookaside-storage).
    request = Request(
        method="GET",
        url=url,
        headers=Headers((("User-Agent", user_agent),)),
        max_body=MAX_SIGNATURE_BODY,
        tls_verify=policy.verifies_url(url),
    )
    if is_file_url(url):
        return (yield from fetch(request))
    return (yield from follow_redirects(request, fetch, policy))


def lookaside_signatures(
    base: str,
    physical: ImageRef,
    digest: Digest,
    user_agent: str,
    policy: UrlPolicy = STRICT_POLICY,
    budget: int = MAX_SIGNATURE_BYTES,
) -> Steps[list[tuple[str, bytes]]]:
    """Sub-flow: (url, bytes) of ``signature-1 …`` up to the first missing one.

    At most :data:`MAX_LOOKASIDE_SIGNATURES` signatures and ``budget`` bytes in all. URLs in
    errors have their password hidden; the returned URLs are the real ones
    (callers show them with :func:`redact_url`).
    """
    found: list[tuple[str, bytes]] = []
    held = 0
    for index in range(1, MAX_LOOKASIDE_SIGNATURES + 1):
        url = lookaside_url(base, physical, digest, index)
        if not allowed_from_config(url):
            raise ConfigError(f"Unsupported scheme when reading signature from {redact_url(url)}")
        response = yield from _lookaside_get(url, user_agent, policy)
        if response.status == 404:
            return found
        if response.status != 200:
            reason = status_text(response.status) or response.reason
            raise RemoteProtocolError(
                f"reading signature from {redact_url(url)}: status {response.status} ({reason})"
            )
        held += len(response.body)
        _check_total(held, budget, f"lookaside {redact_url(base)}")
        found.append((url, response.body))
    raise TooManySignatures(
        f"server provided {MAX_LOOKASIDE_SIGNATURES} signatures, assuming that's "
        "unreasonable and a server error"
    )


def _sigstore(
    source: ImageSource,
    state: RegistryState,
    digest: Digest,
    verify_content_digest: bool,
    budget: int,
) -> Steps[list[Signature]]:
    tag = f"{digest.algorithm}-{digest.hex}.sig"
    attachment_ref = source.physical.with_tag(tag)
    try:
        manifest = yield from fetch_manifest(
            source.endpoint,
            state,
            attachment_ref,
            tag,
            verify_content_digest=verify_content_digest,
        )
    except RegistryResponseError as exc:
        if is_manifest_unknown(exc):
            return []
        raise
    if manifest.media_type != OCI_MANIFEST:
        raise RemoteProtocolError(
            f"unexpected MIME type for sigstore attachment manifest {attachment_ref}: "
            f'"{manifest.media_type}"'
        )
    document = parse_manifest(manifest.raw, manifest.media_type)
    if not isinstance(document, ImageManifest):
        raise RemoteProtocolError(f"parsing manifest {attachment_ref}: not an image manifest")
    if len(document.layers) > MAX_SIGSTORE_LAYERS:
        raise TooManySignatures(
            f"sigstore attachment {attachment_ref} has {len(document.layers)} layers, over "
            f"{MAX_SIGSTORE_LAYERS}, assuming that's unreasonable and a server error"
        )
    found: list[Signature] = []
    held = 0
    for layer in document.layers:
        layer_digest = Digest.parse(layer.digest, remote=True)
        path = f"/v2/{source.endpoint.repository}/blobs/{layer_digest}"
        response = yield from send(source.endpoint, state, path, max_body=MAX_SIGNATURE_BODY)
        if response.status != 200:
            raise simple_error(
                response,
                method="GET",
                url=path,
                context=f"reading blob {layer_digest} in {source.physical.name}",
            )
        verifier = DigestVerifier(layer_digest, layer.size, what=f"blob {layer_digest}")
        verifier.update(response.body)
        verifier.finish()  # upstream verifies attachment payloads; 5.23.1 does not
        held += len(response.body)
        _check_total(held, budget, f"sigstore attachment {attachment_ref}")
        found.append(
            Signature(
                index=len(found) + 1,
                source="sigstore",
                location=f"{attachment_ref}#{layer_digest}",
                raw=response.body,
                format="sigstore",
                media_type=layer.media_type,
                annotations=tuple(sorted((layer.annotations or {}).items())),
            )
        )
    return found


def _list_signatures(
    source: ImageSource, config: ClientConfig, state: RegistryState, instance: Digest | None
) -> Steps[tuple[Signature, ...]]:
    registries_d = config.registries_d
    digest = signature_digest(source, instance)
    pinged = yield from ensure_ping(source.endpoint, state)
    found: list[Signature] = []
    if pinged.supports_signatures:
        found += yield from _extension(source.endpoint, state, source.physical, digest)
    else:
        base = registries_d.lookaside_base(
            source.physical, write=False, default_dir=config.lookaside_default
        )
        blobs = yield from lookaside_signatures(
            base, source.physical, digest, source.endpoint.user_agent, source.endpoint.policy
        )
        found += [
            _signature(n, "lookaside", redact_url(url), blob)
            for n, (url, blob) in enumerate(blobs, 1)
        ]
    if registries_d.use_sigstore_attachments(source.physical):
        budget = MAX_SIGNATURE_BYTES - sum(len(signature.raw) for signature in found)
        found += yield from _sigstore(source, state, digest, config.verify_content_digest, budget)
    return tuple(found)


def list_signatures(
    source: ImageSource,
    *,
    config: ClientConfig,
    state: RegistryState,
    instance: Digest | None = None,
) -> Flow[tuple[Signature, ...]]:
    """Every signature of the opened image (or of its ``instance``), with its source.

    Where lookaside signatures live comes from ``config.registries_d``, else
    ``config.lookaside_default`` (the shell chooses it: root and rootless differ).
    """
    return Flow(_list_signatures(source, config, state, instance), on_time=state.observe)
