"""Model-based property: the mirror loop against generated worlds (DESIGN §6).

A world is a primary registry plus mirrors, each dead, missing the image, failing, lying about
the digest, demanding credentials we do not have, or serving the image (openly, with basic
auth, or with bearer tokens). The core, driven by ``run_sync`` against ``FakeNetwork``, must
return the manifest of the first source in order that can serve it verified, or raise the
primary's error type; and the caller's credentials must never reach another host.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.auth import Credentials
from sansio_registry.config.registries_conf import merge_registries_conf, parse_registries_conf
from sansio_registry.errors import (
    DigestMismatch,
    ManifestUnknown,
    RegistryClientError,
    ServerError,
    TransportError,
    Unauthorized,
)
from sansio_registry.flows.manifest import open_image
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import FakeNetwork, FakeRegistry, FakeTokenServer

OCI = "application/vnd.oci.image.manifest.v1+json"
CREDS = Credentials(username="alice", password="primary-secret")
ALICE_BASIC = "Basic " + base64.b64encode(b"alice:primary-secret").decode()

BEHAVIOURS = (
    "serve",
    "serve-bearer",
    "serve-basic",
    "dead",
    "missing",
    "5xx",
    "ping404",
    "wrong-digest",
    "lying-header",
)


@dataclass(frozen=True)
class Site:
    host: str
    behaviour: str


def manifest_bytes(tag: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + "ab" * 32,
                "size": 2,
            },
            "layers": [],
            "annotations": {"site": tag},
        }
    ).encode()


def build(network: FakeNetwork, site: Site, repo: str) -> None:
    registry = FakeRegistry()
    if site.behaviour == "dead":
        return
    if site.behaviour not in ("missing", "ping404", "5xx"):
        registry.put_manifest(repo, "v1", manifest_bytes(site.host), OCI)
    if site.behaviour in ("ping404", "5xx", "wrong-digest", "lying-header"):
        registry.fault = site.behaviour
    if site.behaviour == "serve-basic":
        registry.auth = "basic"
        # Each host knows only its own users: alice exists only on the primary.
        registry.users = {"alice": "primary-secret"} if site.host == "primary.test" else {}
    if site.behaviour == "serve-bearer":
        issuer = FakeTokenServer(users={"alice": "primary-secret"})
        token_host = f"auth.{site.host}"
        network.add(token_host, issuer)
        registry.auth = "bearer"
        registry.realm = f"https://{token_host}/token"
        registry.token_server = issuer
    network.add(site.host, registry)


def can_serve(site: Site, is_primary: bool) -> bool:
    if site.behaviour in ("serve", "serve-bearer"):
        return True
    return site.behaviour == "serve-basic" and is_primary


def expected_error(site: Site) -> type[RegistryClientError]:
    return {
        "dead": TransportError,
        "missing": ManifestUnknown,
        "5xx": ServerError,
        "ping404": RegistryClientError,
        "wrong-digest": DigestMismatch,
        "lying-header": DigestMismatch,
        "serve-basic": Unauthorized,
    }[site.behaviour]


worlds = st.tuples(st.lists(st.sampled_from(BEHAVIOURS), max_size=4), st.sampled_from(BEHAVIOURS))


@given(worlds)
def test_mirror_loop_picks_first_verified_source_and_keeps_credentials_home(
    world: tuple[list[str], str],
) -> None:
    mirror_behaviours, primary_behaviour = world
    mirrors = [Site(f"m{i}.test", b) for i, b in enumerate(mirror_behaviours)]
    primary = Site("primary.test", primary_behaviour)
    conf = '[[registry]]\nprefix = "primary.test"\nlocation = "primary.test"\n'
    for site in mirrors:
        conf += f'[[registry.mirror]]\nlocation = "{site.host}/mirror"\n'
    network = FakeNetwork()
    for site in mirrors:
        build(network, site, "mirror/ns/app")
    build(network, primary, "ns/app")
    config = ClientConfig(
        registries=merge_registries_conf([parse_registries_conf(conf.encode(), path="t.conf")]),
        credentials=CREDS,
    )
    ref = ImageRef.parse("primary.test/ns/app:v1")
    sources = [(m, False) for m in mirrors] + [(primary, True)]
    winner = next((s for s, is_primary in sources if can_serve(s, is_primary)), None)
    try:
        result = run_sync(open_image(ref, config=config, state=RegistryState()), network)
    except RegistryClientError as exc:
        assert winner is None, f"expected {winner}, got {exc!r}"
        assert isinstance(exc, expected_error(primary)), repr(exc)
        notes = getattr(exc, "__notes__", [])
        assert len(notes) == len(mirrors)
    else:
        assert winner is not None
        assert result.manifest.raw == manifest_bytes(winner.host)
        assert result.physical.domain == winner.host
        assert result.logical == ref
    # The caller's credentials never leave the primary host (SPEC §3, DESIGN §5).
    for request in network.log:
        host = request.origin.host
        if request.headers.get("Authorization") == ALICE_BASIC:
            assert host in ("primary.test", "auth.primary.test"), request.url
        bearer = request.headers.get("Authorization") or ""
        if bearer.startswith("Bearer ") and host.startswith("m"):
            # A mirror's token must come from the mirror's own issuer.
            issuer = network.hosts[f"auth.{host}"]
            assert isinstance(issuer, FakeTokenServer)
            assert bearer.removeprefix("Bearer ") in issuer.issued
