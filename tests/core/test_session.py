"""RegistrySession: the core's one way to call it, driven by run_sync over the model registry."""

from __future__ import annotations

import json

import pytest

from sansio_registry import (
    ClientConfig,
    Digest,
    ImageRef,
    NoConfigBlob,
    RegistrySession,
    RegistryState,
)
from sansio_registry.manifest import DOCKER_SCHEMA1, OCI_MANIFEST
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import FakeNetwork, FakeRegistry, sha256_digest

CONFIG = b'{"architecture":"amd64","os":"linux"}'
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256_digest(CONFIG),
            "size": len(CONFIG),
        },
        "layers": [],
    }
).encode()
SCHEMA1 = json.dumps(
    {"schemaVersion": 1, "name": "ns/old", "tag": "v1", "fsLayers": [], "history": []}
).encode()


def network() -> FakeNetwork:
    registry = FakeRegistry()
    registry.put_manifest("ns/app", "v1", MANIFEST, OCI_MANIFEST)
    registry.put_manifest("ns/old", "v1", SCHEMA1, DOCKER_SCHEMA1)
    registry.blobs["ns/app"] = {sha256_digest(CONFIG): CONFIG}
    net = FakeNetwork()
    net.add("reg.test", registry)
    return net


def test_the_session_threads_config_and_state_through_every_flow() -> None:
    net = network()
    session = RegistrySession(ClientConfig())
    source = run_sync(session.open_image(ImageRef.parse("reg.test/ns/app:v1")), net)
    image = run_sync(session.resolve_image(source), net)
    assert run_sync(session.get_config(source, image), net) == CONFIG
    digest = Digest.parse(sha256_digest(CONFIG))
    assert run_sync(session.get_config_blob(source, digest, size=len(CONFIG)), net) == CONFIG
    pings = [r for r in net.log if r.url.endswith("/v2/")]
    assert len(pings) == 1  # the session's state remembered the ping across flows
    assert list(session.state.pings) == [("reg.test", False)]


def test_get_config_of_schema1_raises_a_typed_error_before_any_request() -> None:
    net = network()
    session = RegistrySession()
    source = run_sync(session.open_image(ImageRef.parse("reg.test/ns/old:v1")), net)
    before = len(net.log)
    with pytest.raises(NoConfigBlob, match="schema1 images have no config") as info:
        run_sync(session.get_config(source, source.manifest), net)
    assert info.value.manifest == source.manifest
    assert len(net.log) == before


def test_a_session_can_share_a_state() -> None:
    state = RegistryState()
    net = network()
    first, second = RegistrySession(state=state), RegistrySession(state=state)
    run_sync(first.get_manifest(ImageRef.parse("reg.test/ns/app:v1")), net)
    run_sync(second.get_manifest(ImageRef.parse("reg.test/ns/app:v1")), net)
    assert sum(1 for r in net.log if r.url.endswith("/v2/")) == 1
