"""The JSON summary ``inspect`` prints without ``--raw``, shaped like skopeo's output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sansio_registry.manifest import (
    ImageConfig,
    ImageManifest,
    Schema1Manifest,
    parse_image_config,
    parse_manifest,
)
from sansio_registry.reference import ImageRef

if TYPE_CHECKING:  # a type only: importing the flow machinery costs start-up time
    from sansio_registry.flows.manifest import Manifest

__all__ = ["inspect_summary"]


def inspect_summary(
    ref: ImageRef,
    top: Manifest,
    image: Manifest,
    config_raw: bytes,
    tags: Sequence[str],
) -> dict[str, Any]:
    """skopeo's ``inspectOutput``: keys in skopeo's order, ``Digest`` of the top manifest."""
    document = parse_manifest(image.raw, image.media_type)
    config: ImageConfig | None = parse_image_config(config_raw) if config_raw else None
    tag = ""
    layers: list[str] = []
    layers_data: list[dict[str, Any]] = []
    architecture = os = variant = created = docker_version = ""
    labels: dict[str, str] | None = None
    env: list[str] | None = None
    if isinstance(document, ImageManifest):
        for layer in document.layers:
            layers.append(layer.digest)
            layers_data.append(
                {
                    "MIMEType": layer.media_type,
                    "Digest": layer.digest,
                    "Size": layer.size,
                    "Annotations": dict(layer.annotations) if layer.annotations else None,
                }
            )
    elif isinstance(document, Schema1Manifest):
        architecture = document.architecture or ""
        tag = document.tag
        if config is None and document.history:
            # Go's Schema1.Inspect: the newest v1Compatibility entry is the image's config.
            config = parse_image_config(document.history[0].v1_compatibility.encode())
        for fs_layer in reversed(document.fs_layers):
            layers.append(fs_layer.blob_sum)
            layers_data.append(
                {"MIMEType": "", "Digest": fs_layer.blob_sum, "Size": -1, "Annotations": None}
            )
    if config is not None:
        architecture = config.architecture or ""
        os = config.os or ""
        variant = config.variant or ""
        created = config.created or ""
        docker_version = config.docker_version or ""
        if config.config is not None:
            labels = dict(config.config.labels) if config.config.labels else None
            env = list(config.config.env) if config.config.env else None
    out: dict[str, Any] = {"Name": ref.name}
    if tag:
        out["Tag"] = tag  # skopeo prints it for schema1 images only
    out["Digest"] = str(top.digest)
    # Not in skopeo 1.9's output; newer containers/image inspections report the type of the
    # image's manifest, and it tells schema1/schema2/OCI apart at a glance.
    out["MediaType"] = image.media_type
    out["RepoTags"] = list(tags)
    out["Created"] = created or None
    out["DockerVersion"] = docker_version
    out["Labels"] = labels
    out["Architecture"] = architecture
    if variant:
        out["Variant"] = variant
    out["Os"] = os
    out["Layers"] = layers
    out["LayersData"] = layers_data
    out["Env"] = env
    return out
