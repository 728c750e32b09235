"""Model-based properties: the core against generated worlds of a primary and its mirrors.

A world is a primary registry plus mirrors (``FakeRegistry`` hosts on a ``FakeNetwork``), each
dead, missing the image, failing, lying about the digest, serving other bytes under the digest
asked for, demanding credentials we do not have, or serving the image (openly, with basic auth,
or with bearer tokens); each also has the image's layer (or lost it, or holds corrupt bytes
under its digest) and a sigstore signature (or none, or a corrupt one). The image is asked for
by tag or by digest. Four operations run against such worlds, driven by ``run_sync``:

* ``open_image``: the manifest of the first source, in order, that serves it verified, else the
  primary's error type with one note per mirror;
* ``open_blob`` after it: the body of the first source from the manifest's on that answers,
  accepted by the caller's verifier only if it hashes to the digest, else a typed error;
* ``list_signatures`` after it: exactly the signatures of the source that served the manifest,
  verified, else ``DigestMismatch``;
* ``delete_image``: only the primary is ever asked, and only a verified manifest is deleted.

In every world the caller's credentials reach only the primary and its token issuer.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.auth import Credentials
from sansio_registry.config.registries_conf import merge_registries_conf, parse_registries_conf
from sansio_registry.config.registries_d import RegistriesD, Section
from sansio_registry.digest import Digest
from sansio_registry.errors import (
    DigestMismatch,
    ManifestUnknown,
    NotFound,
    RegistryClientError,
    ServerError,
    TransportError,
    Unauthorized,
    Unsupported,
)
from sansio_registry.flows.blob import open_blob
from sansio_registry.flows.delete import delete_image
from sansio_registry.flows.manifest import ImageSource, open_image
from sansio_registry.flows.signatures import list_signatures
from sansio_registry.http import Response
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import FakeNetwork, FakeRegistry, FakeTokenServer

OCI = "application/vnd.oci.image.manifest.v1+json"
CREDS = Credentials(username="alice", password="primary-secret")
ALICE_BASIC = "Basic " + base64.b64encode(b"alice:primary-secret").decode()
PRIMARY = "primary.test"
#: The built-in lookaside: a directory that does not exist, so no lookaside signatures.
NO_LOOKASIDE = "file:///nonexistent/sansio-registry-test/mirror-worlds"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_bytes(tag: str, layers: list[tuple[str, bytes]] | None = None) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + "ab" * 32,
                "size": 2,
            },
            "layers": [
                {"mediaType": media_type, "digest": sha256(data), "size": len(data)}
                for media_type, data in layers or []
            ],
            "annotations": {"site": tag},
        }
    ).encode()


#: What every site serves when the image is asked for by digest.
IMAGE = manifest_bytes("the image")
LAYER = bytes(range(256)) * 8
SIGNATURE = b'{"critical":{"identity":{"docker-reference":"primary.test/ns/app"}}}'
SIGNATURE_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"

MANIFEST_BEHAVIOURS = (
    "serve",
    "serve-bearer",
    "serve-basic",
    "dead",
    "missing",
    "5xx",
    "ping404",
    "wrong-digest",
    "lying-header",
    "other-bytes",
)
BLOB_BEHAVIOURS = ("has", "lost", "corrupt")
SIGSTORE_BEHAVIOURS = ("none", "signed", "corrupt")


@dataclass(frozen=True)
class Site:
    host: str
    behaviour: str
    blob: str = "has"
    sigstore: str = "none"

    @property
    def is_primary(self) -> bool:
        return self.host == PRIMARY

    @property
    def repo(self) -> str:
        return "ns/app" if self.is_primary else "mirror/ns/app"

    def manifest(self, by_digest: bool) -> bytes:
        """The bytes this site holds for the image (by digest every site holds the same)."""
        return IMAGE if by_digest else manifest_bytes(self.host)

    def serves_manifest(self, by_digest: bool) -> bool:
        """Whether this site answers the manifest request with bytes that verify."""
        if self.behaviour in ("serve", "serve-bearer"):
            return True
        if self.behaviour == "other-bytes":  # its bytes under the digest are another image's
            return not by_digest
        return self.behaviour == "serve-basic" and self.is_primary

    def answers(self) -> bool:
        """Whether requests after the manifest (blobs, signatures, deletes) get through."""
        if self.behaviour in ("dead", "5xx", "ping404"):
            return False
        return self.behaviour != "serve-basic" or self.is_primary

    def manifest_error(self) -> type[RegistryClientError]:
        return {
            "dead": TransportError,
            "missing": ManifestUnknown,
            "5xx": ServerError,
            "ping404": NotFound,
            "wrong-digest": DigestMismatch,
            "lying-header": DigestMismatch,
            "other-bytes": DigestMismatch,
            "serve-basic": Unauthorized,
        }[self.behaviour]


def build(network: FakeNetwork, site: Site, by_digest: bool) -> FakeRegistry | None:
    """Put ``site`` on ``network`` as a FakeRegistry (and its token issuer); None when dead."""
    if site.behaviour == "dead":
        return None
    registry = FakeRegistry()
    raw = site.manifest(by_digest)
    if site.behaviour not in ("missing", "ping404", "5xx"):
        registry.put_manifest(site.repo, "v1", raw, OCI)
    if site.behaviour == "other-bytes":
        registry.manifests[site.repo][sha256(IMAGE)] = (manifest_bytes("an impostor"), OCI)
    if site.behaviour in ("ping404", "5xx", "wrong-digest", "lying-header"):
        registry.fault = site.behaviour
    if site.behaviour == "serve-basic":
        registry.auth = "basic"
        # Each host knows only its own users: alice exists only on the primary.
        registry.users = {"alice": "primary-secret"} if site.is_primary else {}
    if site.behaviour == "serve-bearer":
        issuer = FakeTokenServer(users={"alice": "primary-secret"})
        token_host = f"auth.{site.host}"
        network.add(token_host, issuer)
        registry.auth = "bearer"
        registry.realm = f"https://{token_host}/token"
        registry.token_server = issuer
    blobs = registry.blobs.setdefault(site.repo, {})
    if site.blob != "lost":
        blobs[sha256(LAYER)] = LAYER if site.blob == "has" else LAYER[::-1]
    if site.sigstore != "none":
        attachment = manifest_bytes("signature", [(SIGNATURE_TYPE, SIGNATURE)])
        registry.put_manifest(site.repo, f"sha256-{sha256(raw)[7:]}.sig", attachment, OCI)
        blobs[sha256(SIGNATURE)] = SIGNATURE if site.sigstore == "signed" else SIGNATURE[::-1]
    network.add(site.host, registry)
    return registry


@dataclass
class World:
    mirrors: list[Site]
    primary: Site
    by_digest: bool
    network: FakeNetwork
    registries: dict[str, FakeRegistry]

    @property
    def sources(self) -> list[Site]:
        return [*self.mirrors, self.primary]

    @property
    def ref(self) -> ImageRef:
        reference = f"@{sha256(IMAGE)}" if self.by_digest else ":v1"
        return ImageRef.parse(f"{PRIMARY}/ns/app{reference}")

    def config(self) -> ClientConfig:
        conf = f'[[registry]]\nprefix = "{PRIMARY}"\nlocation = "{PRIMARY}"\n'
        for site in self.mirrors:
            conf += f'[[registry.mirror]]\nlocation = "{site.host}/mirror"\n'
        registries = merge_registries_conf([parse_registries_conf(conf.encode(), path="t.conf")])
        return ClientConfig(registries=registries, credentials=CREDS)

    def manifest_winner(self) -> int | None:
        """Index into :attr:`sources` of the first one serving a verified manifest."""
        return next(
            (i for i, s in enumerate(self.sources) if s.serves_manifest(self.by_digest)), None
        )


def make_world(
    mirrors: list[tuple[str, str, str]], primary: tuple[str, str, str], by_digest: bool
) -> World:
    sites = [Site(f"m{i}.test", *m) for i, m in enumerate(mirrors)]
    world = World(sites, Site(PRIMARY, *primary), by_digest, FakeNetwork(), {})
    for site in world.sources:
        registry = build(world.network, site, by_digest)
        if registry is not None:
            world.registries[site.host] = registry
    return world


site_kinds = st.tuples(
    st.sampled_from(MANIFEST_BEHAVIOURS),
    st.sampled_from(BLOB_BEHAVIOURS),
    st.sampled_from(SIGSTORE_BEHAVIOURS),
)
worlds = st.builds(make_world, st.lists(site_kinds, max_size=4), site_kinds, st.booleans())


def assert_credentials_stay_home(network: FakeNetwork) -> None:
    """The caller's credentials never leave the primary; mirrors' tokens are theirs."""
    for request in network.log:
        host = request.origin.host
        authorization = request.headers.get("Authorization") or ""
        if authorization == ALICE_BASIC:
            assert host in (PRIMARY, f"auth.{PRIMARY}"), request.url
        if authorization.startswith("Bearer ") and host != PRIMARY:
            issuer = network.hosts[f"auth.{host}"]
            assert isinstance(issuer, FakeTokenServer)
            assert authorization.removeprefix("Bearer ") in issuer.issued


def open_in(world: World, state: RegistryState) -> ImageSource:
    """open_image, checked against the model; raises its error when no source can serve."""
    winner = world.manifest_winner()
    try:
        source = run_sync(open_image(world.ref, config=world.config(), state=state), world.network)
    except RegistryClientError as exc:
        assert winner is None, f"expected {world.sources[winner]}, got {exc!r}"
        assert type(exc) is world.primary.manifest_error(), repr(exc)
        assert len(getattr(exc, "__notes__", [])) == len(world.mirrors)
        raise
    assert winner is not None, f"nothing can serve, got {source.physical}"
    site = world.sources[winner]
    assert source.physical.domain == site.host
    assert source.manifest.raw == site.manifest(world.by_digest)
    assert source.manifest.digest == Digest.parse(sha256(source.manifest.raw))
    assert source.logical == world.ref
    return source


@given(worlds)
def test_open_image_takes_the_first_verified_manifest(world: World) -> None:
    with contextlib.suppress(RegistryClientError):  # open_in checked it is the one expected
        open_in(world, RegistryState())
    assert_credentials_stay_home(world.network)


@given(worlds)
def test_open_blob_takes_the_first_source_with_the_blob_and_only_verified_bytes(
    world: World,
) -> None:
    state = RegistryState()
    try:
        source = open_in(world, state)
    except RegistryClientError:
        return
    winner = world.manifest_winner()
    assert winner is not None
    places = world.sources[winner:]
    serving = next((p for p, s in enumerate(places) if s.answers() and s.blob != "lost"), None)
    blob = open_blob(source, Digest.parse(sha256(LAYER)), state=state, size=len(LAYER))
    try:
        download = run_sync(blob, world.network)
    except RegistryClientError as exc:
        assert serving is None, f"expected the blob from {places[serving]}, got {exc!r}"
        assert len(getattr(exc, "__notes__", [])) == len(places) - 1
        # The first place served the manifest, so it answers: it lost the blob.
        assert isinstance(exc, NotFound), repr(exc)
    else:
        assert serving is not None
        assert download.place == serving
        assert isinstance(download.head, Response)
        verifier = download.verifier()
        verifier.update(download.head.body)
        if places[serving].blob == "has":
            verifier.finish()
            assert download.head.body == LAYER
        else:
            with pytest.raises(DigestMismatch):  # corrupt bytes are never accepted
                verifier.finish()
    assert_credentials_stay_home(world.network)


@given(worlds)
def test_signatures_come_verified_from_the_source_of_the_manifest(world: World) -> None:
    state = RegistryState()
    try:
        source = open_in(world, state)
    except RegistryClientError:
        return
    site = world.sources[world.manifest_winner() or 0]
    before = len(world.network.log)
    config = dataclasses.replace(
        world.config(),
        registries_d=RegistriesD(default_docker=Section(use_sigstore_attachments=True)),
        lookaside_default=NO_LOOKASIDE,
    )
    flow = list_signatures(source, config=config, state=state)
    try:
        found = run_sync(flow, world.network)
    except DigestMismatch:
        assert site.sigstore == "corrupt"
    else:
        assert site.sigstore != "corrupt"
        expected = [SIGNATURE] if site.sigstore == "signed" else []
        assert [s.raw for s in found] == expected
    asked = {r.origin.host for r in world.network.log[before:]}
    assert asked <= {site.host, f"auth.{site.host}"}, asked
    assert_credentials_stay_home(world.network)


@given(worlds, st.booleans())
def test_delete_touches_only_the_primary_and_only_a_verified_manifest(
    world: World, delete_enabled: bool
) -> None:
    primary = world.registries.get(PRIMARY)
    if primary is not None:
        primary.delete_enabled = delete_enabled
    stored_before = dict(primary.manifests.get(world.primary.repo, {})) if primary else {}
    config = dataclasses.replace(
        world.config(), registries_d=RegistriesD(), lookaside_default=NO_LOOKASIDE
    )
    flow = delete_image(world.ref, config=config, state=RegistryState())
    verified = world.primary.serves_manifest(world.by_digest)
    try:
        deletion = run_sync(flow, world.network)
    except RegistryClientError as exc:
        if verified:
            assert not delete_enabled, repr(exc)
        expected = Unsupported if verified else world.primary.manifest_error()
        assert type(exc) is expected, repr(exc)
        assert primary is None or primary.manifests.get(world.primary.repo, {}) == stored_before
    else:
        assert verified and delete_enabled
        raw = world.primary.manifest(world.by_digest)
        assert str(deletion.digest) == sha256(raw)
        assert primary is not None
        assert sha256(raw) not in primary.manifests[world.primary.repo]
        assert "v1" not in primary.manifests[world.primary.repo]
    deletes = [r for r in world.network.log if r.method == "DELETE"]
    if not (verified and delete_enabled):
        assert all(r.origin.host == PRIMARY for r in deletes)
    if not verified:
        assert deletes == []  # nothing unverified is deleted
    assert {r.origin.host for r in world.network.log} <= {PRIMARY, f"auth.{PRIMARY}"}
    assert_credentials_stay_home(world.network)
