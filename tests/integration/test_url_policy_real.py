"""Faults a server or a user can throw at the client, against the real registry.

References the core refuses before any request; redirects the URL policy refuses or keeps
credentials and TLS verification away from (through the fault-injecting proxy, over HTTP and
HTTPS); a lookaside that serves thousands of signatures. Each test is one catalogued fault
(``@pytest.mark.fault(category, case)``).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import trio
import trustme

from sansio_registry.auth import Credentials
from sansio_registry.config.registries_conf import RegistriesConf, Registry
from sansio_registry.config.registries_d import RegistriesD, Section
from sansio_registry.errors import (
    InvalidReference,
    RemoteProtocolError,
    TransportError,
)
from sansio_registry.flows.signatures import MAX_LOOKASIDE_SIGNATURES, TooManySignatures
from sansio_registry.session import ClientConfig
from tests.lab.extserver import StaticServer
from tests.lab.faultproxy import Fault, FaultProxy, Rule
from tests.lab.labs import Lab
from tests.lab.tls import make_ca, write_certs_d, write_server_cert
from trio_backend.client import open_client
from trio_backend.tls import CertDirSearch, TLSConfig

T = TypeVar("T")

MANIFEST_GET = r"^/v2/.+/manifests/"


def run(fn: Callable[[], Awaitable[T]], *, timeout: float = 20.0) -> T:
    async def bounded() -> T:
        with trio.fail_after(timeout):
            return await fn()

    return trio.run(bounded)


def insecure(*hosts: str) -> RegistriesConf:
    return RegistriesConf(
        registries=tuple(Registry(prefix=h, location=h, insecure=True) for h in hosts)
    )


def get_manifest(config: ClientConfig, ref: str, tls: TLSConfig | None = None) -> bytes:
    async def fetch() -> bytes:
        async with open_client(config, tls=tls or NO_SYSTEM_CERTS) as client:
            return (await client.get_manifest(ref)).raw

    return run(fetch)


NO_SYSTEM_CERTS = TLSConfig(cert_dirs=CertDirSearch(enabled=False))


@pytest.fixture
def front(plain_registry: Lab) -> Iterator[FaultProxy]:
    """A plain-HTTP fault proxy in front of the plain registry (rules set by each test)."""
    with FaultProxy(plain_registry.host) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return make_ca()


def https_proxy(upstream: str, ca: trustme.CA, directory: Path) -> FaultProxy:
    """A fault proxy listening with HTTPS (certificate from ``ca``) in front of ``upstream``."""
    files = write_server_cert(ca, directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return FaultProxy(upstream, tls=context)


def trusting(ca: trustme.CA, host: str, root: Path) -> TLSConfig:
    return TLSConfig(
        cert_dir=str(write_certs_d(ca, root, host)), cert_dirs=CertDirSearch(enabled=False)
    )


# -- references refused before any request --------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("ns/../etc:v1", marks=pytest.mark.fault("references", "dot-dot")),
        pytest.param("%2e%2e/etc:v1", marks=pytest.mark.fault("references", "percent-dot")),
        pytest.param("ns/%2E%2e:v1", marks=pytest.mark.fault("references", "percent-dot-upper")),
        pytest.param("LONG", marks=pytest.mark.fault("references", "256-character-name")),
        pytest.param("ns/app@sha256:zz", marks=pytest.mark.fault("references", "bad-digest")),
        pytest.param(
            "ns/app@sha256:" + "0" * 63, marks=pytest.mark.fault("references", "short-digest")
        ),
        pytest.param("ns//app:v1", marks=pytest.mark.fault("references", "empty-component")),
    ],
)
def test_a_bad_reference_is_refused_before_any_request(front: FaultProxy, case: str) -> None:
    if case == "LONG":  # the repository name (host included) one over the 255 allowed
        case = "ns/" + "a" * (256 - len(f"{front.host}/ns/"))
        assert len(f"{front.host}/{case}") == 256
    ref = f"{front.host}/{case}"

    async def attempt() -> None:
        async with open_client(ClientConfig(registries=insecure(front.host))) as client:
            with pytest.raises(InvalidReference):
                await client.get_manifest(ref)
            with pytest.raises(InvalidReference):
                await client.list_tags(ref)

    run(attempt)
    assert front.seen() == []


# -- redirects -------------------------------------------------------------------------------


@pytest.mark.fault("redirects", "another-origin-gets-no-authorization")
def test_a_redirect_to_another_origin_carries_no_authorization(basic_registry: Lab) -> None:
    lab = basic_registry
    image = lab.images.app
    assert lab.creds is not None
    path = f"/v2/{image.repo}/manifests/{image.tag}"
    with (
        StaticServer({path: image.manifest}) as other,
        FaultProxy(
            lab.host, [Rule(Fault.redirect(other.url), target=MANIFEST_GET, times=None)]
        ) as proxy,
    ):
        config = ClientConfig(
            registries=insecure(proxy.host),
            credentials=Credentials(username=lab.creds[0], password=lab.creds[1]),
        )
        raw = get_manifest(config, image.ref(proxy.host))
        redirected = [r for r in proxy.seen() if r.target == path]
        served = other.requests
    assert raw == image.manifest
    assert redirected and all(r.header("Authorization") for r in redirected)
    assert [r.path for r in served] == [path]
    assert other.authorizations() == []


@pytest.mark.fault("redirects", "https-to-http-refused")
def test_a_redirect_from_verified_https_to_http_is_refused(
    plain_registry: Lab, ca: trustme.CA, tmp_path: Path
) -> None:
    image = plain_registry.images.app
    with StaticServer({f"/v2/{image.repo}/manifests/{image.tag}": image.manifest}) as plain:
        proxy = https_proxy(plain_registry.host, ca, tmp_path / "server")
        proxy.set_rules([Rule(Fault.redirect(plain.url), target=MANIFEST_GET, times=None)])
        with proxy:
            tls = trusting(ca, proxy.host, tmp_path / "certs.d")
            with pytest.raises(RemoteProtocolError) as info:
                get_manifest(ClientConfig(), image.ref(proxy.host), tls)
            asked = plain.requests
    message = str(info.value)
    assert f"https://{proxy.host}/v2/{image.repo}" in message
    assert f"http://{plain.host}/v2/{image.repo}" in message
    assert asked == []


@pytest.mark.fault("redirects", "insecure-registry-to-another-origin-is-verified")
def test_an_insecure_registry_redirect_to_another_origin_is_verified(
    front: FaultProxy, plain_registry: Lab, ca: trustme.CA, tmp_path: Path
) -> None:
    """The plain-HTTP registry is configured insecure; the https origin it redirects to is
    not, and its certificate comes from a CA the client does not trust: refused."""
    image = plain_registry.images.app
    with https_proxy(plain_registry.host, ca, tmp_path / "server") as untrusted:
        front.set_rules([Rule(Fault.redirect(untrusted.url), target=MANIFEST_GET, times=None)])
        with pytest.raises(TransportError, match="certificate"):
            get_manifest(ClientConfig(registries=insecure(front.host)), image.ref(front.host))
        # Configured insecure itself, the same origin is read unverified.
        both = insecure(front.host, untrusted.host)
        assert get_manifest(ClientConfig(registries=both), image.ref(front.host)) == (
            image.manifest
        )


@pytest.mark.fault("redirects", "loop")
def test_a_redirect_loop_is_stopped_at_the_first_repeat(
    front: FaultProxy, plain_registry: Lab
) -> None:
    image = plain_registry.images.app
    front.set_rules([Rule(Fault.redirect(front.url), target=MANIFEST_GET, times=None)])
    with pytest.raises(RemoteProtocolError, match="redirect loop"):
        get_manifest(ClientConfig(registries=insecure(front.host)), image.ref(front.host))
    manifest_gets = [r for r in front.seen() if "/manifests/" in r.target]
    assert len(manifest_gets) == 1


@pytest.mark.parametrize(
    "base",
    [
        pytest.param("file://", marks=pytest.mark.fault("redirects", "to-file-url")),
        pytest.param("ftp://127.0.0.1:21", marks=pytest.mark.fault("redirects", "to-ftp-url")),
    ],
)
def test_a_redirect_to_another_scheme_is_refused(
    front: FaultProxy, plain_registry: Lab, base: str
) -> None:
    image = plain_registry.images.app
    front.set_rules([Rule(Fault.redirect(base), target=MANIFEST_GET, times=None)])
    with pytest.raises(RemoteProtocolError, match="unsupported location"):
        get_manifest(ClientConfig(registries=insecure(front.host)), image.ref(front.host))


# -- signatures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "asked"),
    [
        pytest.param(
            100, MAX_LOOKASIDE_SIGNATURES, marks=pytest.mark.fault("signatures", "thousands")
        ),
        pytest.param(
            512 * 1024, 33, marks=pytest.mark.fault("signatures", "thousands-of-large-ones")
        ),
    ],
)
def test_a_lookaside_serving_thousands_of_signatures_is_cut_off(
    front: FaultProxy, plain_registry: Lab, size: int, asked: int
) -> None:
    """Count cap (128) for small signatures; the 16 MiB byte cap for 512 KiB ones (the 33rd
    crosses it)."""
    image = plain_registry.images.app
    digest = image.digest.removeprefix("sha256:")
    blob = b"\x00simple-signing\n" + b"s" * (size - 16)
    files = {f"/sigs/{image.repo}@sha256={digest}/signature-{n}": blob for n in range(1, 3001)}
    with StaticServer(files) as lookaside:
        config = ClientConfig(
            registries=insecure(front.host),
            registries_d=RegistriesD(default_docker=Section(lookaside=f"{lookaside.url}/sigs")),
        )

        async def listing() -> None:
            async with open_client(config) as client:
                await client.list_signatures(image.ref(front.host))

        with pytest.raises(TooManySignatures):
            run(listing)
        served = lookaside.requests
    assert len(served) == asked
    assert lookaside.authorizations() == []
