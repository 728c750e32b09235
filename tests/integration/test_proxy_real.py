"""Proxies for real: squid in front of the real registries.

squid resolves ``registry.test`` and ``auth.test`` to 127.0.0.1 through its own hosts file;
nothing else can, so a request that bypasses the proxy reaches nothing. Its access log is
the witness of what went through it.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from sansio_registry.client_config import ClientConfig
from sansio_registry.errors import ProxyError
from tests.lab.cli import run_cli
from tests.lab.extserver import StaticServer, blob_paths
from tests.lab.faultproxy import Fault, FaultProxy, Rule
from tests.lab.images import seed_standard_images
from tests.lab.labs import Lab
from tests.lab.registry import RegistryServer
from tests.lab.squid import SquidProxy
from tests.lab.token_issuer import TokenIssuer
from trio_backend.client import open_client
from trio_backend.proxy import ProxySettings
from trio_backend.tls import TLSConfig

pytestmark = pytest.mark.integration

HOSTS = ("registry.test", "auth.test")


@pytest.fixture(scope="module")
def squid() -> Iterator[SquidProxy]:
    with SquidProxy(hosts=HOSTS) as proxy:
        yield proxy


def named(lab: Lab) -> str:
    """The registry under its test name, which only the proxy resolves."""
    return f"registry.test:{lab.server.port}"


def proxy_env(squid: SquidProxy, **extra: str) -> dict[str, str]:
    url = f"http://127.0.0.1:{squid.port}"
    return {"HTTPS_PROXY": url, "HTTP_PROXY": url, "NO_PROXY": "", **extra}


def logged(squid: SquidProxy, since: int) -> list[tuple[str, str, str]]:
    return [(e.result, e.method, e.url) for e in squid.access_log()[since:]]


def test_https_goes_through_a_connect_tunnel_verified_end_to_end(
    squid: SquidProxy, tls_registry: Lab
) -> None:
    before = len(squid.access_log())
    ref = f"{named(tls_registry)}/{tls_registry.images.app.repo}:v1"
    args = ["inspect", "--raw", "--cert-dir", str(tls_registry.cert_dir), f"docker://{ref}"]
    result = run_cli(args, env=proxy_env(squid))
    assert result.returncode == 0, result.describe()
    assert result.stdout == tls_registry.inspect_raw(tls_registry.images.app)
    entries = squid.wait_for_log(before + 1)[before:]
    assert [(e.method, e.url) for e in entries] == [
        ("CONNECT", f"registry.test:{tls_registry.server.port}")
    ]
    assert entries[0].result == "TCP_TUNNEL/200"


def test_skopeo_reads_the_same_bytes_through_the_same_proxy(
    squid: SquidProxy, tls_registry: Lab
) -> None:
    ref = f"docker://{named(tls_registry)}/{tls_registry.images.app.repo}:v1"
    theirs = subprocess.run(
        ["skopeo", "inspect", "--raw", "--cert-dir", str(tls_registry.cert_dir), ref],
        env={**os.environ, **proxy_env(squid)},
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    ours = run_cli(
        ["inspect", "--raw", "--cert-dir", str(tls_registry.cert_dir), ref],
        env=proxy_env(squid),
    )
    assert ours.returncode == 0, ours.describe()
    assert ours.stdout == theirs


def test_the_wrong_name_fails_verification_through_the_tunnel(
    squid: SquidProxy, tls_registry: Lab
) -> None:
    """TLS is checked against the registry's own name, not the proxy's: a name the
    certificate does not carry fails even though the tunnel opens."""
    with SquidProxy(hosts=("other.test",)) as other:
        ref = f"docker://other.test:{tls_registry.server.port}/ns/app:v1"
        args = ["inspect", "--raw", "--cert-dir", str(tls_registry.cert_dir), ref]
        result = run_cli(args, env=proxy_env(other))
    assert result.returncode == 1
    assert "certificate" in result.stderr.lower(), result.describe()


def test_plain_http_uses_absolute_form_requests_for_every_kind(
    squid: SquidProxy, plain_registry: Lab, tmp_path: Path
) -> None:
    before = len(squid.access_log())
    ref = f"docker://{named(plain_registry)}/{plain_registry.images.app.repo}:v1"
    result = run_cli(
        ["pull", "--tls-verify=false", "-q", ref, str(tmp_path / "out")], env=proxy_env(squid)
    )
    assert result.returncode == 0, result.describe()
    urls = [url for _r, method, url in logged(squid, before) if method == "GET"]
    base = f"http://{named(plain_registry)}/v2/"
    assert base in urls  # the ping
    assert any(u.startswith(base + "ns/app/manifests/") for u in urls)
    blobs = [u for u in urls if u.startswith(base + "ns/app/blobs/sha256:")]
    assert len(blobs) == len(plain_registry.images.app.blobs)


@pytest.fixture(scope="module")
def named_token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A token registry whose realm is ``http://auth.test:PORT/token``: only the proxy
    resolves it. Seeded under a loopback realm first, then restarted on the same storage."""
    workdir = tmp_path_factory.mktemp("named-token-registry")
    alice = ("alice", "secret")
    with TokenIssuer(users=dict([alice])) as issuer:
        auth = issuer.registry_auth()
        with RegistryServer(auth="token", token=auth, creds=alice, workdir=workdir) as seeding:
            images = seed_standard_images(seeding)
        renamed = dataclasses.replace(auth, realm=f"http://auth.test:{issuer.port}/token")
        with RegistryServer(auth="token", token=renamed, creds=alice, workdir=workdir) as server:
            issuer.reset()
            yield Lab("named", server, images, users=dict([alice]), creds=alice, issuer=issuer)


def test_token_requests_go_through_the_proxy_too(
    squid: SquidProxy, named_token_registry: Lab
) -> None:
    before = len(squid.access_log())
    lab = named_token_registry
    ref = f"docker://{named(lab)}/{lab.images.app.repo}:v1"
    args = ["inspect", "--raw", "--tls-verify=false", "--creds", "alice:secret", ref]
    result = run_cli(args, env=proxy_env(squid))
    assert result.returncode == 0, result.describe()
    assert result.stdout == lab.images.app.manifest  # the bytes pushed
    urls = [url for _r, _m, url in logged(squid, before)]
    assert any(u.startswith("http://auth.test:") and "/token?" in u for u in urls), urls
    assert not any("secret" in u for u in urls)


@pytest.mark.parametrize("no_proxy", ["registry.test", ".test", "*", "registry.test:{port}"])
def test_no_proxy_forms_bypass_the_proxy(
    squid: SquidProxy, plain_registry: Lab, no_proxy: str
) -> None:
    ref = f"docker://{named(plain_registry)}/{plain_registry.images.app.repo}:v1"
    env = proxy_env(squid, NO_PROXY=no_proxy.format(port=plain_registry.server.port))
    before = len(squid.access_log())
    result = run_cli(["inspect", "--raw", "--tls-verify=false", ref], env=env)
    # Direct, the name does not resolve: the failure proves the proxy was bypassed.
    assert result.returncode == 1, result.describe()
    assert logged(squid, before) == []


def test_loopback_is_never_proxied(plain_registry: Lab) -> None:
    dead = "http://127.0.0.1:9"  # nothing listens: any proxied request would fail
    ref = f"docker://{plain_registry.ref(plain_registry.images.app)}"
    env = {"HTTPS_PROXY": dead, "HTTP_PROXY": dead, "NO_PROXY": ""}
    result = run_cli(["inspect", "--raw", "--tls-verify=false", ref], env=env)
    assert result.returncode == 0, result.describe()


def test_proxy_credentials_go_to_the_proxy_only(plain_registry: Lab, tls_registry: Lab) -> None:
    with SquidProxy(hosts=HOSTS, users={"pu": "proxy-pw"}) as guarded:
        url = f"http://pu:proxy-pw@127.0.0.1:{guarded.port}"
        env = {"HTTPS_PROXY": url, "HTTP_PROXY": url, "NO_PROXY": ""}
        plain = f"docker://{named(plain_registry)}/{plain_registry.images.app.repo}:v1"
        ok = run_cli(["--debug", "inspect", "--raw", "--tls-verify=false", plain], env=env)
        tls = f"docker://{named(tls_registry)}/{tls_registry.images.app.repo}:v1"
        tunnel = run_cli(
            ["inspect", "--raw", "--cert-dir", str(tls_registry.cert_dir), tls], env=env
        )
        users = {e.user for e in guarded.access_log()}
    assert ok.returncode == 0, ok.describe()
    assert tunnel.returncode == 0, tunnel.describe()
    assert users == {"pu"}
    assert "proxy-pw" not in ok.stderr + ok.stdout.decode(errors="replace")


def test_wrong_proxy_credentials_are_one_line_naming_the_proxy(plain_registry: Lab) -> None:
    with SquidProxy(hosts=HOSTS, users={"pu": "proxy-pw"}) as guarded:
        url = f"http://pu:wrong-pw@127.0.0.1:{guarded.port}"
        ref = f"docker://{named(plain_registry)}/{plain_registry.images.app.repo}:v1"
        result = run_cli(
            ["inspect", "--raw", "--tls-verify=false", ref],
            env={"HTTP_PROXY": url, "HTTPS_PROXY": url, "NO_PROXY": ""},
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.describe()
    assert f"proxy http://***@127.0.0.1:{guarded.port}" in lines[0] and "407" in lines[0]
    assert "wrong-pw" not in result.stderr


def test_a_proxy_that_refuses_is_a_proxy_error(tls_registry: Lab) -> None:
    with SquidProxy(hosts=HOSTS, deny=("registry.test",)) as refusing:
        settings = ProxySettings.of(https=f"http://127.0.0.1:{refusing.port}")
        ref = f"{named(tls_registry)}/{tls_registry.images.app.repo}:v1"

        async def main() -> None:
            tls = TLSConfig(cert_dir=str(tls_registry.cert_dir))
            async with open_client(ClientConfig(), tls=tls, proxies=settings) as client:
                with trio.fail_after(30):
                    await client.get_manifest(ref)

        with pytest.raises(ProxyError, match=r"refused CONNECT registry.test:\d+: 403"):
            trio.run(main)


def test_the_library_takes_an_explicit_proxy(squid: SquidProxy, tls_registry: Lab) -> None:
    settings = ProxySettings.of(https=f"http://127.0.0.1:{squid.port}")
    ref = f"{named(tls_registry)}/{tls_registry.images.app.repo}:v1"

    async def main() -> bytes:
        tls = TLSConfig(cert_dir=str(tls_registry.cert_dir))
        async with open_client(ClientConfig(), tls=tls, proxies=settings) as client:
            with trio.fail_after(30):
                return (await client.get_manifest(ref)).raw

    assert trio.run(main) == tls_registry.inspect_raw(tls_registry.images.app)


def test_a_dead_proxy_is_a_proxy_error_naming_it(tls_registry: Lab) -> None:
    settings = ProxySettings.of(https="http://127.0.0.1:9")
    ref = f"{named(tls_registry)}/ns/app:v1"

    async def main() -> None:
        async with open_client(ClientConfig(), proxies=settings) as client:
            with trio.fail_after(30):
                await client.get_manifest(ref)

    with pytest.raises(ProxyError, match=r"proxy http://127\.0\.0\.1:9"):
        trio.run(main)


def test_a_blob_redirect_goes_through_the_proxy_too(plain_registry: Lab, tmp_path: Path) -> None:
    """The registry (behind the fault proxy) sends every blob elsewhere: the redirected GETs
    go through squid as well, to a name only squid resolves."""
    image = plain_registry.images.app
    with (
        SquidProxy(hosts=(*HOSTS, "cdn.test")) as squid,
        StaticServer(blob_paths(image.repo, image.blobs)) as cdn,
    ):
        to_cdn = Rule(Fault.redirect(f"http://cdn.test:{cdn.port}"), times=None)
        with FaultProxy(plain_registry.host, [to_cdn]) as front:
            ref = f"docker://registry.test:{front.port}/{image.repo}:{image.tag}"
            out = str(tmp_path / "out")
            result = run_cli(["pull", "-q", "--tls-verify=false", ref, out], env=proxy_env(squid))
            urls = [e.url for e in squid.wait_for_log(2 * len(image.blobs))]
            served = cdn.requests
    assert result.returncode == 0, result.describe()
    redirected = [u for u in urls if u.startswith(f"http://cdn.test:{cdn.port}/v2/")]
    assert len(redirected) == len(image.blobs) == len(served)
