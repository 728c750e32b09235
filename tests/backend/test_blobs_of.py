"""``blobs_of`` reads digests the registry sent: a malformed one is the registry's fault."""

from __future__ import annotations

import json

import pytest

from sansio_registry.digest import Digest
from sansio_registry.errors import RemoteProtocolError
from sansio_registry.flows.manifest import Manifest
from sansio_registry.reference import ImageRef
from trio_backend.pull import blobs_of

OCI = "application/vnd.oci.image.manifest.v1+json"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
GOOD = str(Digest.of(b"x"))


def manifest(raw: bytes, media_type: str = OCI) -> Manifest:
    ref = ImageRef.parse("reg.test/ns/app:v1")
    return Manifest(raw=raw, media_type=media_type, digest=Digest.of(raw), reference=ref)


def image(config: str, layer: str) -> bytes:
    def descriptor(digest: str) -> dict[str, object]:
        return {"mediaType": "application/octet-stream", "digest": digest, "size": 1}

    doc = {"schemaVersion": 2, "mediaType": OCI, "config": descriptor(config),
           "layers": [descriptor(layer)]}  # fmt: skip
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "raw",
    [image("sha256:zz", GOOD), image(GOOD, "sha256:" + "0" * 63), image(GOOD, "../etc")],
)
def test_a_malformed_descriptor_digest_is_a_remote_error(raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="digest"):
        blobs_of(manifest(raw))


def test_a_malformed_schema1_blob_sum_is_a_remote_error() -> None:
    raw = json.dumps(
        {"schemaVersion": 1, "name": "ns/app", "tag": "v1", "architecture": "amd64",
         "fsLayers": [{"blobSum": "sha256:nope"}], "history": [{"v1Compatibility": "{}"}]}
    ).encode()  # fmt: skip
    with pytest.raises(RemoteProtocolError, match="digest"):
        blobs_of(manifest(raw, SCHEMA1))


def test_good_digests_are_read_in_order() -> None:
    layer = str(Digest.of(b"y"))
    assert [str(spec.digest) for spec in blobs_of(manifest(image(GOOD, layer)))] == [GOOD, layer]
