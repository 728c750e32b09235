"""Verified answers are reused within a client (config blobs by digest); tag lists are not."""

from __future__ import annotations

import pytest

from sansio_registry import Digest, DigestMismatch, ImageRef, RegistrySession
from sansio_registry.recent_cache import RecentCache
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import FakeNetwork, FakeRegistry, sha256_digest
from tests.core.test_session import CONFIG, network

APP = ImageRef.parse("reg.test/ns/app:v1")


def asked(net: FakeNetwork, suffix: str) -> int:
    return sum(1 for r in net.log if r.url.endswith(suffix))


def test_a_config_blob_is_fetched_once_per_state() -> None:
    net = network()
    session = RegistrySession()
    source = run_sync(session.open_image(APP), net)
    image = run_sync(session.resolve_image(source), net)
    for _ in range(3):
        assert run_sync(session.get_config(source, image), net) == CONFIG
    digest = Digest.parse(sha256_digest(CONFIG))
    assert run_sync(session.get_config_blob(source, digest, size=len(CONFIG)), net) == CONFIG
    assert asked(net, f"/blobs/{digest}") == 1


def test_a_blob_failing_verification_is_not_kept() -> None:
    net = network()
    registry = net.hosts["reg.test"]
    assert isinstance(registry, FakeRegistry)
    registry.blobs["ns/app"] = {sha256_digest(CONFIG): CONFIG + b" "}
    session = RegistrySession()
    source = run_sync(session.open_image(APP), net)
    digest = Digest.parse(sha256_digest(CONFIG))
    for _ in range(2):
        with pytest.raises(DigestMismatch):
            run_sync(session.get_config_blob(source, digest, size=None), net)
    assert asked(net, f"/blobs/{digest}") == 2
    assert len(session.state.blobs) == 0


def test_another_repository_is_asked_for_the_same_digest() -> None:
    net = network()
    registry = net.hosts["reg.test"]
    assert isinstance(registry, FakeRegistry)
    registry.put_manifest("ns/other", "v1", registry.manifests["ns/app"]["v1"][0], "x")
    registry.blobs["ns/other"] = {sha256_digest(CONFIG): CONFIG}
    session = RegistrySession()
    digest = Digest.parse(sha256_digest(CONFIG))
    for ref in (APP, ImageRef.parse("reg.test/ns/other:v1")):
        source = run_sync(session.open_image(ref), net)
        assert run_sync(session.get_config_blob(source, digest, size=None), net) == CONFIG
    assert asked(net, f"/blobs/{digest}") == 2


def test_a_tag_list_is_asked_each_time() -> None:
    """It has no digest to check it by: a tampered or stale list is never served again."""
    net = network()
    session = RegistrySession()
    repo = ImageRef.parse("reg.test/ns/app")
    for _ in range(2):
        assert run_sync(session.list_tags(repo), net) == ("v1",)
    assert asked(net, "/tags/list") == 2


def test_tag_list_and_blob_requests_may_be_coalesced_manifests_by_tag_not() -> None:
    net = network()
    session = RegistrySession()
    source = run_sync(session.open_image(APP), net)
    run_sync(session.get_config(source, run_sync(session.resolve_image(source), net)), net)
    run_sync(session.list_tags(source), net)
    keyed = {r.url.rsplit("/", 2)[-2] for r in net.log if r.coalesce_key is not None}
    assert {"blobs", "tags"} <= keyed
    assert "manifests" not in keyed


# --- the cache itself ------------------------------------------------------------------------


def test_the_oldest_use_goes_first_past_the_entry_cap() -> None:
    cache: RecentCache[str] = RecentCache(max_entries=2, max_bytes=100)
    cache.put("a", "A", size=1, now=0)
    cache.put("b", "B", size=1, now=0)
    assert cache.get("a", now=0) == "A"  # "b" is now the least recently used
    cache.put("c", "C", size=1, now=0)
    assert (cache.get("a", now=0), cache.get("b", now=0), cache.get("c", now=0)) == (
        "A",
        None,
        "C",
    )


def test_bytes_are_capped_and_an_oversized_value_is_not_kept() -> None:
    cache: RecentCache[str] = RecentCache(max_entries=10, max_bytes=10)
    cache.put("a", "A", size=6, now=0)
    cache.put("b", "B", size=6, now=0)
    assert (cache.get("a", now=0), cache.size) == (None, 6)
    cache.put("huge", "H", size=11, now=0)
    assert (cache.get("huge", now=0), cache.get("b", now=0)) == (None, "B")


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache: RecentCache[str] = RecentCache()
    cache.put("a", "A", size=5, now=0)
    cache.put("a", "A2", size=7, now=0)
    assert (len(cache), cache.size, cache.get("a", now=0)) == (1, 7, "A2")


def test_an_entry_with_a_lifetime_expires() -> None:
    cache: RecentCache[str] = RecentCache()
    cache.put("a", "A", size=1, now=10, lifetime=5)
    assert cache.get("a", now=14.9) == "A"
    assert cache.get("a", now=15) is None
    assert (len(cache), cache.size) == (0, 0)


def _stored(net: FakeNetwork) -> FakeRegistry:
    registry = net.hosts["reg.test"]
    assert isinstance(registry, FakeRegistry)
    return registry


def test_a_manifest_asked_for_by_digest_is_fetched_once_per_state() -> None:
    net = network()
    raw, _ = _stored(net).manifests["ns/app"]["v1"]
    digest = sha256_digest(raw)
    by_digest = ImageRef.parse(f"reg.test/ns/app@{digest}")
    session = RegistrySession()
    for _ in range(3):
        manifest = run_sync(session.get_manifest(by_digest), net)
        assert manifest.raw == raw
        assert str(manifest.digest) == digest
    assert asked(net, f"/manifests/{digest}") == 1


def test_a_manifest_asked_for_by_tag_is_fetched_each_time() -> None:
    net = network()
    session = RegistrySession()
    for _ in range(2):
        run_sync(session.get_manifest(APP), net)
    assert asked(net, "/manifests/v1") == 2
    assert len(session.state.manifests) == 0


def test_a_manifest_failing_its_digest_is_not_kept() -> None:
    net = network()
    registry = _stored(net)
    raw, media_type = registry.manifests["ns/app"]["v1"]
    digest = sha256_digest(raw)
    registry.manifests["ns/app"][digest] = (raw + b" ", media_type)
    by_digest = ImageRef.parse(f"reg.test/ns/app@{digest}")
    session = RegistrySession()
    for _ in range(2):
        with pytest.raises(DigestMismatch):
            run_sync(session.get_manifest(by_digest), net)
    assert asked(net, f"/manifests/{digest}") == 2
    assert len(session.state.manifests) == 0


def test_another_repository_is_asked_for_the_same_manifest_digest() -> None:
    net = network()
    registry = _stored(net)
    raw, media_type = registry.manifests["ns/app"]["v1"]
    registry.put_manifest("ns/other", "v1", raw, media_type)
    digest = sha256_digest(raw)
    session = RegistrySession()
    for repo in ("ns/app", "ns/other"):
        run_sync(session.get_manifest(ImageRef.parse(f"reg.test/{repo}@{digest}")), net)
    assert asked(net, f"/manifests/{digest}") == 2
