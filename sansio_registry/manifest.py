"""Manifest documents and image configs, as msgspec Structs, and parsing them.

Unknown fields are ignored and JSON ``null`` counts as absent, as containers/image reads them.
The media-type constants and guessing live in :mod:`sansio_registry.media_types`.
"""

from __future__ import annotations

from typing import Final, TypeVar

import msgspec

from sansio_registry import go_json
from sansio_registry.errors import RemoteProtocolError
from sansio_registry.media_types import (
    DOCKER_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA2,
    OCI_INDEX,
    OCI_MANIFEST,
    normalize_media_type,
)

__all__ = [
    "Platform",
    "Descriptor",
    "ImageManifest",
    "ImageIndex",
    "FSLayer",
    "Schema1History",
    "Schema1Manifest",
    "ContainerConfig",
    "RootFS",
    "HistoryEntry",
    "ImageConfig",
    "parse_manifest",
    "parse_image_config",
]


class Platform(msgspec.Struct, frozen=True, kw_only=True):
    """The platform of a list/index entry (matching ignores ``os.version``, ``os.features``)."""

    architecture: str = ""
    os: str = ""
    os_version: str = msgspec.field(default="", name="os.version")
    os_features: tuple[str, ...] = msgspec.field(default=(), name="os.features")
    variant: str = ""
    features: tuple[str, ...] = ()  # Docker manifest lists only


class Descriptor(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A content descriptor; ``digest`` is left unparsed (check it with ``Digest.parse``)."""

    media_type: str = ""
    digest: str = ""
    size: int = 0
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str = ""


class ImageManifest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An OCI image manifest or a Docker schema2 manifest."""

    schema_version: int = 0
    media_type: str = ""
    artifact_type: str = ""
    config: Descriptor = msgspec.field(default_factory=Descriptor)
    layers: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class ImageIndex(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An OCI image index or a Docker manifest list (same shape for what we read)."""

    schema_version: int = 0
    media_type: str = ""
    artifact_type: str = ""
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class FSLayer(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One ``fsLayers`` entry of a schema1 manifest."""

    blob_sum: str = ""


class Schema1History(msgspec.Struct, frozen=True, kw_only=True):
    """One ``history`` entry of a schema1 manifest: a JSON string of the v1 image config."""

    v1_compatibility: str = msgspec.field(default="", name="v1Compatibility")


class Schema1Manifest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A Docker schema1 manifest, signed or not (signatures are not kept)."""

    schema_version: int = 0
    name: str = ""
    tag: str = ""
    architecture: str = ""
    fs_layers: tuple[FSLayer, ...] = ()
    history: tuple[Schema1History, ...] = ()


class ContainerConfig(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    """The ``config`` object of an image config (Docker's capitalized keys)."""

    user: str = ""
    exposed_ports: dict[str, object] = msgspec.field(default_factory=dict)
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    volumes: dict[str, object] = msgspec.field(default_factory=dict)
    working_dir: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    stop_signal: str = ""


class RootFS(msgspec.Struct, frozen=True, kw_only=True):
    """The layer chain of an image config."""

    type: str = ""
    diff_ids: tuple[str, ...] = ()


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One build step recorded in an image config."""

    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False


class ImageConfig(msgspec.Struct, frozen=True, kw_only=True):
    """An OCI / Docker image config: enough for a ``skopeo inspect``-like summary."""

    architecture: str = ""
    os: str = ""
    variant: str = ""
    os_version: str = msgspec.field(default="", name="os.version")
    os_features: tuple[str, ...] = msgspec.field(default=(), name="os.features")
    created: str = ""
    author: str = ""
    docker_version: str = ""
    config: ContainerConfig = msgspec.field(default_factory=ContainerConfig)
    rootfs: RootFS = msgspec.field(default_factory=RootFS)
    history: tuple[HistoryEntry, ...] = ()


def _drop_nulls(value: object) -> object:
    """Remove ``null`` members of objects: Go leaves such fields at their zero value."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


_T_doc = TypeVar("_T_doc")


def _decode_document(raw: bytes, cls: type[_T_doc], what: str) -> _T_doc:
    try:
        tree = go_json.decode_any(raw)
        return msgspec.convert(_drop_nulls(tree), cls)
    except (msgspec.DecodeError, RecursionError, ValueError, TypeError) as exc:
        raise RemoteProtocolError(f"parsing {what}: {exc}") from None


_DOCUMENT_TYPES: Final[
    dict[str, type[ImageManifest] | type[ImageIndex] | type[Schema1Manifest]]
] = {
    OCI_MANIFEST: ImageManifest,
    DOCKER_SCHEMA2: ImageManifest,
    OCI_INDEX: ImageIndex,
    DOCKER_LIST: ImageIndex,
    DOCKER_SCHEMA1_SIGNED: Schema1Manifest,
    DOCKER_SCHEMA1: Schema1Manifest,
}


def parse_manifest(raw: bytes, media_type: str) -> ImageManifest | ImageIndex | Schema1Manifest:
    """Parse a manifest by its normalized media type; RemoteProtocolError if bad."""
    cls = _DOCUMENT_TYPES[normalize_media_type(media_type)]
    return _decode_document(raw, cls, "manifest")


def parse_image_config(raw: bytes) -> ImageConfig:
    """Parse an image config blob (OCI or Docker)."""
    return _decode_document(raw, ImageConfig, "image config")
