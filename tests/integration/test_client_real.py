"""The library (`open_client` / `RegistryClient`) against the real registry, checked with skopeo.

Every manifest the lab seeded is read through our client on the plain, Basic, token and TLS
registries and must equal ``skopeo inspect --raw`` byte for byte (schema1: same digest and JWS
payload, since the registry re-signs on every read). Then platform choice, config blobs, tags,
token caching against the counting issuer, and connection reuse in the pool.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal, TypeVar

import pytest
import trio

from sansio_registry.auth import Credentials
from sansio_registry.digest import manifest_digest
from sansio_registry.errors import (
    Denied,
    ManifestUnknown,
    RegistryClientError,
    TransportError,
    Unauthorized,
)
from sansio_registry.platform import WantedPlatform
from sansio_registry.session import ClientConfig
from tests.lab.images import PushedImage, schema1_digest, schema1_payload, sha256_digest
from tests.lab.labs import Lab
from tests.lab.mirrors import RecordingProxy
from tests.lab.skopeo import skopeo_inspect_raw, skopeo_manifest_digest
from trio_backend.client import RegistryClient, open_client
from trio_backend.tls import CertDirSearch, TLSConfig

T = TypeVar("T")

LAB_NAMES = ["plain_registry", "basic_registry", "token_registry", "tls_registry"]


def run(fn: Callable[[], Awaitable[T]], *, timeout: float = 20.0) -> T:
    """``trio.run`` with a deadline, so no test can hang."""

    async def bounded() -> T:
        with trio.fail_after(timeout):
            return await fn()

    return trio.run(bounded)


@pytest.fixture(params=LAB_NAMES)
def lab(request: pytest.FixtureRequest) -> Lab:
    value = request.getfixturevalue(request.param)
    assert isinstance(value, Lab)
    return value


Creds = tuple[str, str] | Literal["default"] | None


def _creds(lab: Lab, creds: Creds) -> tuple[str, str] | None:
    return lab.creds if creds == "default" else creds


def client_for(
    lab: Lab,
    *,
    creds: Creds = "default",
    platform: WantedPlatform | None = None,
    registry_token: str | None = None,
    with_ca: bool = True,
) -> tuple[ClientConfig, TLSConfig]:
    """What reaches ``lab``: explicit credentials, its certs dir, no machine-wide cert dirs."""
    pair = _creds(lab, creds)
    credentials: Credentials | None = None
    if registry_token is not None:
        credentials = Credentials(registry_token=registry_token)
    elif pair is not None:
        credentials = Credentials(username=pair[0], password=pair[1])
    config = ClientConfig(tls_verify=lab.tls_verify, credentials=credentials, platform=platform)
    cert_dir = str(lab.cert_dir) if lab.cert_dir is not None and with_ca else None
    tls = TLSConfig(cert_dir=cert_dir, cert_dirs=CertDirSearch(enabled=False))
    return config, tls


@functools.cache
def _skopeo_raw_cached(
    ref: str, tls_verify: bool, creds: tuple[str, str] | None, cert_dir: str | None
) -> bytes:
    return skopeo_inspect_raw(
        ref,
        tls_verify=tls_verify,
        creds=creds,
        cert_dir=Path(cert_dir) if cert_dir else None,
    )


def skopeo_raw(lab: Lab, ref: str, creds: Creds = "default") -> bytes:
    """``skopeo inspect --raw`` of a reference on ``lab`` (memoised: the labs are read-only)."""
    cert_dir = str(lab.cert_dir) if lab.cert_dir else None
    return _skopeo_raw_cached(ref, lab.tls_verify, _creds(lab, creds), cert_dir)


def raw_cases(lab: Lab) -> list[PushedImage]:
    """Every seeded image and every instance of the index and the list."""
    images = lab.images
    tops = [images.app, images.oci, images.multi, images.list]
    return tops + [inst for top in (images.multi, images.list) for inst in top.instances]


# -- 1. bytes as served, on every kind of registry ---------------------------------------------


def test_every_manifest_matches_skopeo(lab: Lab) -> None:
    config, tls = client_for(lab)
    cases = raw_cases(lab)

    async def fetch_all() -> list[tuple[bytes, str, str]]:
        out = []
        async with open_client(config, tls=tls) as client:
            for image in cases:
                got = await client.get_manifest(lab.ref(image))
                out.append((got.raw, got.media_type, str(got.digest)))
        return out

    results = run(fetch_all)
    for image, (raw, media_type, digest) in zip(cases, results, strict=True):
        ref = lab.ref(image)
        assert raw == skopeo_raw(lab, ref), ref
        assert raw == image.manifest, ref
        assert media_type == image.media_type, ref
        assert digest == image.digest == sha256_digest(raw), ref


def test_instances_via_get_manifest_and_get_instance_manifest(lab: Lab) -> None:
    """``get_manifest(ref, instance=)`` and ``get_instance_manifest`` give the instance bytes."""
    config, tls = client_for(lab)
    lists = [lab.images.multi, lab.images.list]

    async def fetch() -> list[list[tuple[bytes, bytes]]]:
        out = []
        async with open_client(config, tls=tls) as client:
            for top in lists:
                source = await client.open_image(lab.ref(top))
                assert source.manifest.raw == top.manifest
                assert source.manifest.is_index
                row = []
                for inst in top.instances:
                    a = await client.get_manifest(lab.ref(top), instance=inst.digest)
                    b = await client.get_instance_manifest(source, inst.digest)
                    row.append((a.raw, b.raw))
                # The list's own digest as "instance" is the list itself.
                same = await client.get_instance_manifest(source, top.digest)
                assert same.raw == top.manifest
                out.append(row)
        return out

    for top, row in zip(lists, run(fetch), strict=True):
        for inst, (a, b) in zip(top.instances, row, strict=True):
            theirs = skopeo_raw(lab, lab.ref(inst))
            assert a == b == theirs == inst.manifest, f"{top.repo} {inst.platform}"


def test_public_image_anonymously_on_token_registry(token_registry: Lab) -> None:
    lab = token_registry
    assert lab.public is not None and lab.issuer is not None
    ref = lab.ref(lab.public)
    config, tls = client_for(lab, creds=None)
    lab.issuer.reset()

    async def fetch() -> bytes:
        async with open_client(config, tls=tls) as client:
            return (await client.get_manifest(ref)).raw

    raw = run(fetch)
    assert raw == lab.public.manifest == skopeo_raw(lab, ref, creds=None)
    assert lab.issuer.count(account=None, status=200) >= 1
    assert all(r.account is None for r in lab.issuer.requests)


@pytest.mark.fault("TLS", "an untrusted CA")
def test_tls_without_ca_is_a_transport_error_about_the_certificate(tls_registry: Lab) -> None:
    config, tls = client_for(tls_registry, with_ca=False)

    async def fetch() -> None:
        async with open_client(config, tls=tls) as client:
            await client.get_manifest(tls_registry.ref(tls_registry.images.app))

    with pytest.raises(TransportError, match="certificate") as info:
        run(fetch)
    assert "\n" not in str(info.value)


def test_schema1_digest_and_payload(plain_registry: Lab) -> None:
    """schema1 is re-signed per read: compare digests (ours, skopeo's, the record's) and the
    JWS payload, never the bytes."""
    lab = plain_registry
    s1 = lab.images.s1
    assert s1 is not None
    config, tls = client_for(lab)

    async def fetch() -> tuple[bytes, str, str]:
        async with open_client(config, tls=tls) as client:
            got = await client.get_manifest(lab.ref(s1))
            return got.raw, str(got.digest), got.media_type

    raw, digest, media_type = run(fetch)
    theirs = lab.inspect_raw(s1)
    assert media_type == "application/vnd.docker.distribution.manifest.v1+prettyjws"
    assert digest == s1.digest == skopeo_manifest_digest(raw) == schema1_digest(theirs)
    assert str(manifest_digest(raw)) == digest
    assert schema1_payload(raw) == schema1_payload(theirs)
    assert sha256_digest(raw) != digest  # the signature is not part of the digest


# -- 2. platforms, configs, tags -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "variant", "platform"),
    [
        ("amd64", None, "linux/amd64"),
        ("arm64", None, "linux/arm64/v8"),
        ("arm", "v7", "linux/arm/v7"),
    ],
)
def test_resolve_image_picks_the_platform(
    plain_registry: Lab, arch: str, variant: str | None, platform: str
) -> None:
    lab = plain_registry
    wanted = WantedPlatform(
        os="linux", architecture=arch, variant=variant, architecture_chosen=True
    )
    config, tls = client_for(lab, platform=wanted)

    async def resolve() -> list[tuple[bytes, str, bytes]]:
        out = []
        async with open_client(config, tls=tls) as client:
            for top in (lab.images.multi, lab.images.list):
                source = await client.open_image(lab.ref(top))
                image = await client.resolve_image(source)
                cfg = await client.get_config(source, image)
                out.append((image.raw, str(image.digest), cfg))
        return out

    for top, (raw, digest, cfg) in zip(
        (lab.images.multi, lab.images.list), run(resolve), strict=True
    ):
        want = top.instance(platform)
        assert digest == want.digest, (top.repo, platform)
        assert raw == want.manifest
        assert want.config is not None and cfg == want.config.data


def test_single_image_resolves_to_itself_and_has_config_and_tags(lab: Lab) -> None:
    config, tls = client_for(lab, platform=WantedPlatform(os="linux", architecture="arm64"))

    async def go() -> list[tuple[str, bytes, tuple[str, ...]]]:
        out = []
        async with open_client(config, tls=tls) as client:
            for image in (lab.images.app, lab.images.oci):
                source = await client.open_image(lab.ref(image))
                resolved = await client.resolve_image(source)
                assert resolved is source.manifest
                cfg = await client.get_config(source, resolved)
                out.append((str(resolved.digest), cfg, await client.list_tags(source)))
        return out

    for image, (digest, cfg, tags) in zip((lab.images.app, lab.images.oci), run(go), strict=True):
        assert digest == image.digest
        assert image.config is not None and cfg == image.config.data
        assert tags == ("v1",)


# -- 3. tokens ----------------------------------------------------------------------------------


def _fetch_many(config: ClientConfig, tls: TLSConfig, refs: list[str]) -> list[bytes]:
    async def go() -> list[bytes]:
        async with open_client(config, tls=tls) as client:
            return [(await client.get_manifest(r)).raw for r in refs]

    return run(go)


def test_one_token_per_repository_and_client(token_registry: Lab) -> None:
    lab = token_registry
    issuer = lab.issuer
    assert issuer is not None
    multi = lab.images.multi
    config, tls = client_for(lab)
    issuer.reset()

    async def go() -> tuple[int, int]:
        async with open_client(config, tls=tls) as client:
            await client.get_manifest(lab.ref(multi))
            for inst in multi.instances[:2]:
                await client.get_manifest(lab.ref(inst))
            after_same_repo = issuer.count()
            await client.get_manifest(lab.ref(lab.images.app))
            await client.get_manifest(lab.ref(lab.images.app))
            return after_same_repo, issuer.count()

    same_repo, total = run(go)
    assert same_repo == 1, issuer.requests
    assert total == 2, issuer.requests
    assert issuer.count(scope="repository:ns/multi:pull", account="alice") == 1
    assert issuer.count(scope="repository:ns/app:pull", account="alice") == 1


def test_concurrent_fetches_share_one_token(token_registry: Lab) -> None:
    """Identical token fetches in flight are coalesced."""
    lab = token_registry
    issuer = lab.issuer
    assert issuer is not None
    multi = lab.images.multi
    refs = [lab.ref(multi)] + [lab.ref(i) for i in multi.instances]
    config, tls = client_for(lab)
    issuer.reset()

    async def go() -> None:
        async with open_client(config, tls=tls) as client, trio.open_nursery() as nursery:
            for ref in refs:
                nursery.start_soon(client.get_manifest, ref)

    run(go)
    assert issuer.count() == 1, issuer.requests


@pytest.mark.fault("token endpoint", "insufficient_scope outside the grant")
def test_bob_is_refused_outside_his_grant(token_registry: Lab) -> None:
    lab = token_registry
    config, tls = client_for(lab, creds=("bob", "hunter2"))
    # bob may pull ns/*: allowed.
    assert _fetch_many(config, tls, [lab.ref(lab.images.app)]) == [lab.images.app.manifest]
    with pytest.raises((Unauthorized, Denied)) as info:
        _fetch_many(config, tls, [lab.ref("other/app:v1")])
    err = info.value
    assert err.status == 401
    assert "denied" in str(err)
    assert "other/app" in str(err)


def test_wrong_password_is_unauthorized(token_registry: Lab, basic_registry: Lab) -> None:
    for lab in (token_registry, basic_registry):
        config, tls = client_for(lab, creds=("alice", "wrong"))
        with pytest.raises(Unauthorized):
            _fetch_many(config, tls, [lab.ref(lab.images.app)])


def test_registry_token_is_sent_as_is(token_registry: Lab) -> None:
    lab = token_registry
    issuer = lab.issuer
    assert issuer is not None
    token = issuer.issue("alice", ["repository:ns/app:pull"])
    config, tls = client_for(lab, registry_token=token)
    issuer.reset()
    assert _fetch_many(config, tls, [lab.ref(lab.images.app)]) == [lab.images.app.manifest]
    assert issuer.count() == 0
    # The token grants ns/app only: ns/oci is refused, still without asking the issuer.
    with pytest.raises((Unauthorized, Denied)):
        _fetch_many(config, tls, [lab.ref(lab.images.oci)])
    assert issuer.count() == 0


# -- 4. errors ----------------------------------------------------------------------------------


def test_missing_tag_and_unknown_repo(plain_registry: Lab) -> None:
    lab = plain_registry
    config, tls = client_for(lab)
    for ref in (lab.ref("ns/app:nope"), lab.ref("ns/nothing-here:v1")):
        with pytest.raises(ManifestUnknown) as info:
            _fetch_many(config, tls, [ref])
        assert info.value.status == 404
        assert info.value.code == "MANIFEST_UNKNOWN"


def test_wrong_digest_is_manifest_unknown(plain_registry: Lab) -> None:
    lab = plain_registry
    config, tls = client_for(lab)
    ref = f"{lab.host}/ns/app@{lab.images.oci.digest}"  # a digest that lives in another repo
    with pytest.raises(ManifestUnknown):
        _fetch_many(config, tls, [ref])


# -- 5. connection reuse -------------------------------------------------------------------------


def test_sequential_manifests_reuse_one_connection(plain_registry: Lab) -> None:
    lab = plain_registry
    config, tls = client_for(lab)
    refs = [lab.ref(i) for i in raw_cases(lab)]

    async def go() -> RegistryClient:
        async with open_client(config, tls=tls) as client:
            for ref in refs:
                await client.get_manifest(ref)
            stats = client.statistics()
            assert stats.active == 0
            # one failed https attempt (insecure: https first), then one http connection
            assert stats.connections_opened <= 2, stats
            assert stats.requests_sent >= len(refs) + 1, stats
            return client

    run(go)


def test_concurrent_manifests_open_fewer_connections_than_requests(plain_registry: Lab) -> None:
    lab = plain_registry
    config, tls = client_for(lab)
    # At most 8 at once: the pool keeps 8 idle connections per origin and closes the rest.
    refs = [lab.ref(i) for i in raw_cases(lab)][:8]

    async def go() -> None:
        async with open_client(config, tls=tls) as client:
            await client.get_manifest(refs[0])  # the ping result is cached from here on
            warm = client.statistics()
            for _round in range(3):
                async with trio.open_nursery() as nursery:
                    for ref in refs:
                        nursery.start_soon(client.get_manifest, ref)
            stats = client.statistics()
            assert stats.connections_opened - warm.connections_opened <= len(refs), stats
            assert stats.connections_opened < 3 * len(refs), stats
            # A manifest by tag is asked for every time; one by digest once per client.
            by_digest = sum("@" in ref for ref in refs)
            assert 0 < by_digest < len(refs)
            expected = 3 * (len(refs) - by_digest) + by_digest
            assert stats.requests_sent - warm.requests_sent == expected, stats

    run(go)


def test_concurrent_first_requests_ping_once(plain_registry: Lab) -> None:
    lab = plain_registry
    refs = [lab.ref(i) for i in raw_cases(lab)][:6]
    with RecordingProxy(lab.host) as proxy:
        proxied = [ref.replace(lab.host, proxy.host, 1) for ref in refs]
        config = ClientConfig(tls_verify=False)
        tls = TLSConfig(cert_dirs=CertDirSearch(enabled=False))

        async def go() -> int:
            async with open_client(config, tls=tls) as client:
                async with trio.open_nursery() as nursery:
                    for ref in proxied:
                        nursery.start_soon(client.get_manifest, ref)
                return client.statistics().connections_opened

        opened = run(go)
        pings = [line for line in proxy.request_lines() if line == ("GET", "/v2/")]
        assert len(pings) == 1, (pings, opened)
        # One failed https attempt (coalesced too), then at most one connection per concurrent
        # manifest GET (the ping's connection is reused by one of them).
        assert opened <= len(proxied) + 1, opened


def test_errors_are_registry_client_errors(plain_registry: Lab) -> None:
    """Nothing but our error tree escapes for a malformed reference."""
    config, tls = client_for(plain_registry)
    for bad in ("UPPER/case:v1", "a/b:c:d", "a/b@sha256:12", ""):
        with pytest.raises(RegistryClientError):
            _fetch_many(config, tls, [bad])
