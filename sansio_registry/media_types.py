"""Manifest media types: the Accept list, Content-Type, and guessing a type from the bytes.

A registry names a manifest's type in ``Content-Type``; when it names none we know, the type is
guessed from the document as containers/image's ``GuessMIMEType`` does (the guess decides how a
signed schema1 manifest is digested, so it follows Go's JSON matching rules: see
:mod:`sansio_registry.go_json`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

import msgspec

from sansio_registry import go_json

__all__ = [
    "OCI_MANIFEST",
    "OCI_INDEX",
    "OCI_CONFIG",
    "DOCKER_SCHEMA2",
    "DOCKER_LIST",
    "DOCKER_CONFIG",
    "DOCKER_SCHEMA1_SIGNED",
    "DOCKER_SCHEMA1",
    "MANIFEST_ACCEPT",
    "LIST_MEDIA_TYPES",
    "SINGLE_MEDIA_TYPES",
    "KNOWN_MANIFEST_TYPES",
    "is_index_type",
    "simplify_content_type",
    "guess_media_type",
    "guess_parsed",
    "normalize_media_type",
]

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
DOCKER_SCHEMA2: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_SCHEMA1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA1: Final = "application/vnd.docker.distribution.manifest.v1+json"

#: The ``Accept`` lines of a manifest GET, in the order containers/image sends them.
MANIFEST_ACCEPT: Final[tuple[str, ...]] = (
    OCI_MANIFEST,
    DOCKER_SCHEMA2,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
    DOCKER_LIST,
    OCI_INDEX,
)

LIST_MEDIA_TYPES: Final = frozenset({DOCKER_LIST, OCI_INDEX})
SINGLE_MEDIA_TYPES: Final = frozenset(
    {OCI_MANIFEST, DOCKER_SCHEMA2, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1}
)
KNOWN_MANIFEST_TYPES: Final = LIST_MEDIA_TYPES | SINGLE_MEDIA_TYPES

# RFC 9110 §8.3.1: media-type = type "/" subtype parameters; type and subtype are tokens.
_ESSENCE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+/[!#$%&'*+.^_`|~0-9a-z-]+")


def is_index_type(media_type: str) -> bool:
    """Whether a media type is a manifest list / image index."""
    return media_type in LIST_MEDIA_TYPES


def simplify_content_type(value: str | None) -> str:
    """The ``type/subtype`` of a Content-Type, lowercased, parameters dropped; ``""`` if none."""
    essence = (value or "").split(";", 1)[0].strip(" \t").lower()
    return essence if _ESSENCE.fullmatch(essence) else ""


def normalize_media_type(media_type: str) -> str:
    """Consumers' view of a type: known manifest types stay, all else is signed schema1."""
    return media_type if media_type in KNOWN_MANIFEST_TYPES else DOCKER_SCHEMA1_SIGNED


# --- guessing ---------------------------------------------------------------------------------

_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class _Header(msgspec.Struct, rename="camel"):
    media_type: str = ""
    schema_version: _Int64 = 0
    signatures: Any = None


class _ConfigType(msgspec.Struct, rename="camel"):
    media_type: str = ""


class _WithConfig(msgspec.Struct):
    config: _ConfigType = msgspec.field(default_factory=_ConfigType)


class _Platform(msgspec.Struct):
    architecture: str = ""
    os: str = ""
    os_version: str = msgspec.field(default="", name="os.version")
    os_features: list[str] | None = msgspec.field(default=None, name="os.features")
    variant: str = ""


class _Descriptor(msgspec.Struct, rename="camel"):
    """image-spec's Descriptor as containers/image decodes it: wrong types fail the guess."""

    media_type: str = ""
    digest: str = ""
    size: _Int64 = 0
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    data: bytes | None = None
    platform: _Platform | None = None
    artifact_type: str = ""


class _WithManifests(msgspec.Struct):
    manifests: list[_Descriptor] | None = None


def guess_media_type(raw: bytes) -> str:
    """A manifest's media type as containers/image's ``GuessMIMEType`` guesses it, or ``""``."""
    try:
        tree = go_json.loads(raw)
    except ValueError:
        return ""
    return guess_parsed(tree)


def guess_parsed(tree: object) -> str:
    """:func:`guess_media_type` of a document already parsed by :func:`go_json.loads`."""
    try:
        header = go_json.convert(tree, _Header)
    except msgspec.ValidationError:
        return ""
    if header.media_type in (DOCKER_SCHEMA2, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX):
        return header.media_type
    if header.schema_version == 1:
        return DOCKER_SCHEMA1_SIGNED if header.signatures is not None else DOCKER_SCHEMA1
    if header.schema_version != 2:
        return ""
    try:
        config_type = go_json.convert(tree, _WithConfig).config.media_type
    except msgspec.ValidationError:
        return ""
    if config_type == OCI_CONFIG:
        return OCI_MANIFEST
    if config_type == DOCKER_CONFIG:
        return DOCKER_SCHEMA2
    try:
        manifests = go_json.convert(tree, _WithManifests).manifests
    except msgspec.ValidationError:
        return ""
    if manifests:
        # containers/image's FIXME: a config media type comes back as if it were a manifest's.
        return config_type or OCI_INDEX
    return OCI_MANIFEST
