"""The fault catalogue's network cases, against the real registry and token issuer.

Each test is one catalogued fault (``@pytest.mark.fault(category, case)``): `FaultProxy` breaks
the registry's answers (resets, truncation, oversized or malformed heads and bodies, wrong
digests, TLS certificates the client must refuse) and `TokenIssuer` answers token requests
wrongly. Every case ends in a typed error or the registry's own bytes, within a bounded number
of requests and a deadline.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
import trio
import trustme
from _pytest.mark.structures import ParameterSet

from sansio_registry.auth import Credentials
from sansio_registry.errors import (
    BodyTooLarge,
    DigestMismatch,
    RemoteProtocolError,
    TransportError,
    Unauthorized,
)
from sansio_registry.retry_policy import RetryPolicy
from sansio_registry.session import ClientConfig
from tests.lab.faultproxy import BLOB_GET, Fault, FaultProxy, Rule, SeenRequest
from tests.lab.images import PushedImage
from tests.lab.labs import Lab
from tests.lab.tls import make_ca, write_certs_d, write_server_cert
from tests.lab.token_issuer import TokenIssuer
from trio_backend.client import open_client
from trio_backend.tls import CertDirSearch, TLSConfig

T = TypeVar("T")

MANIFEST_GET = r"^/v2/.+/manifests/"
#: Short back-off waits, so retried faults cost little time.
FAST = RetryPolicy(first_delay=0.05, max_delay=1.0)
NO_SYSTEM_CERTS = TLSConfig(cert_dirs=CertDirSearch(enabled=False))
MiB = 1024 * 1024


def run(fn: Callable[[], Awaitable[T]], *, timeout: float = 20.0) -> T:
    """``trio.run`` with a deadline, so no case can hang."""

    async def bounded() -> T:
        with trio.fail_after(timeout):
            return await fn()

    return trio.run(bounded)


def config_for(lab: Lab) -> ClientConfig:
    creds = Credentials(username=lab.creds[0], password=lab.creds[1]) if lab.creds else None
    return ClientConfig(tls_verify=False, credentials=creds, retry=FAST)


def manifest_via(
    host: str,
    lab: Lab,
    image: PushedImage,
    *,
    by_digest: bool = False,
    tls: TLSConfig = NO_SYSTEM_CERTS,
    config: ClientConfig | None = None,
) -> bytes:
    """The manifest of ``image`` read from ``host`` (a proxy in front of ``lab``)."""
    ref = image.ref(host, by_digest=by_digest)

    async def fetch() -> bytes:
        async with open_client(config or config_for(lab), tls=tls) as client:
            return (await client.get_manifest(ref)).raw

    return run(fetch)


def blob_via(proxy: FaultProxy, lab: Lab, image: PushedImage) -> tuple[bytes, bytes]:
    """The first layer of ``image`` streamed through ``proxy`` to its end, and the stored one."""
    layer = image.layers[0]
    ref = image.ref(proxy.host)

    async def fetch() -> bytes:
        out = bytearray()
        async with (
            open_client(config_for(lab), tls=NO_SYSTEM_CERTS) as client,
            client.open_blob(ref, layer.digest, size=len(layer.data)) as stream,
        ):
            while piece := await stream.receive_some():
                out += piece
        return bytes(out)

    return run(fetch), layer.data


def catalogued(*values: object, fault: tuple[str, str], id: str) -> ParameterSet:
    """One parametrized case that is also a case of the fault catalogue."""
    return pytest.param(*values, marks=pytest.mark.fault(*fault), id=id)


def manifest_requests(seen: Sequence[SeenRequest]) -> int:
    return sum(1 for r in seen if "/manifests/" in r.target)


def always(fault: Fault, target: str = MANIFEST_GET) -> list[Rule]:
    return [Rule(fault, target=target, times=None)]


# -- connection faults ------------------------------------------------------------------------


@pytest.mark.fault("connections", "connection refused")
def test_connection_refused_is_a_transport_error(plain_registry: Lab) -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError):
        manifest_via(f"127.0.0.1:{port}", plain_registry, plain_registry.images.app)


@pytest.mark.parametrize(
    ("fault", "where"),
    [
        catalogued(
            Fault.reset_head(0),
            "head",
            fault=("connections", "reset before the status line"),
            id="before-status-line",
        ),
        catalogued(
            Fault.reset_head(24),
            "head",
            fault=("connections", "reset mid-headers"),
            id="mid-headers",
        ),
        catalogued(
            Fault.reset(100),
            "body",
            fault=("connections", "reset mid-body (manifest)"),
            id="mid-body",
        ),
        catalogued(
            Fault.cut(100),
            "body",
            fault=("connections", "truncated manifest, lying Content-Length"),
            id="truncated",
        ),
    ],
)
def test_a_broken_manifest_answer_every_time_is_a_transport_error(
    plain_registry: Lab, fault: Fault, where: str
) -> None:
    with FaultProxy(plain_registry.host, always(fault)) as proxy:
        with pytest.raises(TransportError):
            manifest_via(proxy.host, plain_registry, plain_registry.images.app)
        count = manifest_requests(proxy.seen())
    # retried only when nothing of the answer arrived (the pool's one stale-connection
    # resend, then the policy's 3 attempts); a body cut short is not an answer to resend
    assert 1 <= count <= (4 if where == "head" else 3), count


@pytest.mark.fault("connections", "reset before the status line, once")
def test_one_reset_before_the_status_line_is_retried(plain_registry: Lab) -> None:
    rules = [Rule(Fault.reset_head(0), target=MANIFEST_GET, times=1)]
    with FaultProxy(plain_registry.host, rules) as proxy:
        raw = manifest_via(proxy.host, plain_registry, plain_registry.images.app)
    assert raw == plain_registry.images.app.manifest


@pytest.mark.fault("connections", "reset mid-body (blob)")
def test_a_reset_mid_blob_resumes_with_range(plain_registry: Lab) -> None:
    image = plain_registry.images.app
    half = len(image.layers[0].data) // 2
    with FaultProxy(plain_registry.host, [Rule(Fault.reset(half), target=BLOB_GET)]) as proxy:
        got, stored = blob_via(proxy, plain_registry, image)
        ranges = [r.header("Range") for r in proxy.blob_requests()]
    assert got == stored
    # resumed from the byte reached (the RST may discard bytes the client had not read yet:
    # then from fewer, or from the start), never from beyond what was sent
    assert len(ranges) == 2 and ranges[0] is None, ranges
    resumed_at = int(ranges[1].removeprefix("bytes=").removesuffix("-")) if ranges[1] else 0
    assert 0 <= resumed_at <= half, ranges


# -- oversized or malformed responses ---------------------------------------------------------


@pytest.mark.fault("oversized or malformed", "manifest of 4 MiB + 1 byte")
def test_a_manifest_over_4_mib_is_body_too_large(plain_registry: Lab) -> None:
    body = b"{" + b" " * (4 * MiB - 1) + b"}"
    headers = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")]
    with FaultProxy(plain_registry.host, always(Fault.answer(200, headers, body))) as proxy:
        with pytest.raises(BodyTooLarge):
            manifest_via(proxy.host, plain_registry, plain_registry.images.app)
        assert manifest_requests(proxy.seen()) == 1


@pytest.mark.fault("oversized or malformed", "endless chunked error body")
def test_an_endless_chunked_error_body_is_cut_off(plain_registry: Lab) -> None:
    with FaultProxy(plain_registry.host, always(Fault.endless(404))) as proxy:
        with pytest.raises(BodyTooLarge):
            manifest_via(proxy.host, plain_registry, plain_registry.images.app)
        assert manifest_requests(proxy.seen()) == 1


@pytest.mark.fault("oversized or malformed", "100 KiB of response headers")
def test_100_kib_of_response_headers_is_refused(plain_registry: Lab) -> None:
    padding = [(f"X-Pad-{i}", "p" * 1000) for i in range(100)]
    with FaultProxy(plain_registry.host, always(Fault.answer(200, padding))) as proxy:
        # a malformed HTTP message is the transport's error, as a reset is
        with pytest.raises(TransportError, match="malformed HTTP response"):
            manifest_via(proxy.host, plain_registry, plain_registry.images.app)
        assert manifest_requests(proxy.seen()) == 1


@pytest.mark.fault("oversized or malformed", "garbage status line")
def test_a_garbage_status_line_is_a_transport_error(plain_registry: Lab) -> None:
    garbage = Fault.raw(b"SSH-2.0-OpenSSH_9.6 what is HTTP\r\n\r\n")
    with FaultProxy(plain_registry.host, always(garbage)) as proxy:
        with pytest.raises(TransportError, match="malformed HTTP response: illegal status line"):
            manifest_via(proxy.host, plain_registry, plain_registry.images.app)
        assert manifest_requests(proxy.seen()) == 1


@pytest.mark.fault("oversized or malformed", "HTTP/1.0 close-delimited body")
def test_an_http_1_0_close_delimited_manifest_is_read(plain_registry: Lab) -> None:
    with FaultProxy(plain_registry.host, always(Fault.close_delimited())) as proxy:
        raw = manifest_via(proxy.host, plain_registry, plain_registry.images.app)
        assert manifest_requests(proxy.seen()) == 1
    assert raw == plain_registry.images.app.manifest


# -- integrity ---------------------------------------------------------------------------------


@pytest.mark.fault("integrity", "wrong Docker-Content-Digest")
def test_a_wrong_docker_content_digest_is_a_digest_mismatch(plain_registry: Lab) -> None:
    wrong = "sha256:" + hashlib.sha256(b"another manifest").hexdigest()
    fault = Fault.header("Docker-Content-Digest", wrong)
    with FaultProxy(plain_registry.host, always(fault)) as proxy:
        with pytest.raises(DigestMismatch) as info:
            manifest_via(proxy.host, plain_registry, plain_registry.images.app)
        assert manifest_requests(proxy.seen()) == 1
    assert wrong in str(info.value)


@pytest.mark.fault("integrity", "manifest bytes not matching the digest asked for")
def test_manifest_bytes_not_matching_the_digest_asked_for(plain_registry: Lab) -> None:
    image = plain_registry.images.app
    with FaultProxy(plain_registry.host, always(Fault.flip())) as proxy:
        with pytest.raises(DigestMismatch) as info:
            manifest_via(proxy.host, plain_registry, image, by_digest=True)
        assert manifest_requests(proxy.seen()) == 1
    assert image.digest in str(info.value)


# -- token endpoint ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        # an empty token is sent as Go sends it ("Bearer"); the registry refuses it
        catalogued(b"null", Unauthorized, fault=("token endpoint", "token is null"), id="null"),
        catalogued(
            b'{"expires_in": 300, "issued_at": "2026-01-01T00:00:00Z"}',
            Unauthorized,
            fault=("token endpoint", "token response without a token"),
            id="no-token",
        ),
        catalogued(
            b"<html>Service Unavailable</html>",
            RemoteProtocolError,
            fault=("token endpoint", "token response is not JSON"),
            id="not-json",
        ),
        catalogued(
            b'{"token": "' + b"a" * MiB + b'"}',
            BodyTooLarge,
            fault=("oversized or malformed", "token body over 1 MiB"),
            id="over-1-mib",
        ),
    ],
)
def test_a_bad_token_response_is_a_typed_error(
    token_registry: Lab, body: bytes, error: type[Exception]
) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    issuer.reset()
    issuer.fail_next(200, body, count=10, headers={"Content-Type": "application/json"})
    try:
        with pytest.raises(error):
            manifest_via(token_registry.host, token_registry, token_registry.images.app)
        assert 1 <= issuer.count() <= 3, issuer.requests
    finally:
        issuer.reset()


@pytest.mark.fault("token endpoint", "token expired at issue")
def test_a_token_expired_at_issue_is_unauthorized(token_registry: Lab) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    expired = issuer.issue("alice", ["repository:ns/app:pull"], expires_in=-3600)
    body = {"token": expired, "expires_in": 60, "issued_at": "2001-01-01T00:00:00Z"}
    issuer.reset()
    issuer.fail_next(200, json.dumps(body).encode(), count=10)
    try:
        with pytest.raises(Unauthorized):
            manifest_via(token_registry.host, token_registry, token_registry.images.app)
        assert 1 <= issuer.count() <= 3, issuer.requests
    finally:
        issuer.reset()


def _challenge(issuer: TokenIssuer, scope: str, error: str) -> tuple[str, str]:
    value = f'Bearer realm="{issuer.realm}",service="{issuer.service}",scope="{scope}"'
    return ("WWW-Authenticate", value + (f',error="{error}"' if error else ""))


@pytest.mark.fault("token endpoint", "a 401 that never stops")
def test_a_401_that_never_stops_is_unauthorized(token_registry: Lab) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    issuer.reset()
    challenge = _challenge(issuer, "repository:ns/app:pull", "")
    with FaultProxy(token_registry.host, always(Fault.answer(401, [challenge]))) as proxy:
        with pytest.raises(Unauthorized):
            manifest_via(proxy.host, token_registry, token_registry.images.app)
        count = manifest_requests(proxy.seen())
    assert 1 <= count <= 2, count
    assert issuer.count() <= 2, issuer.requests


@pytest.mark.fault("token endpoint", "invalid_token with two scopes cached")
def test_invalid_token_evicts_only_the_rejected_token(token_registry: Lab) -> None:
    lab = token_registry
    issuer = lab.issuer
    assert issuer is not None
    app, oci = lab.images.app, lab.images.oci
    app_scope, oci_scope = f"repository:{app.repo}:pull", f"repository:{oci.repo}:pull"
    rejected = Fault.answer(401, [_challenge(issuer, app_scope, "invalid_token")])
    issuer.reset()
    with FaultProxy(lab.host) as proxy:

        async def go() -> list[bytes]:
            async with open_client(config_for(lab), tls=NO_SYSTEM_CERTS) as client:
                first = [(await client.get_manifest(i.ref(proxy.host))).raw for i in (app, oci)]
                proxy.set_rules([Rule(rejected, target=f"^/v2/{app.repo}/manifests/")])
                again = [(await client.get_manifest(i.ref(proxy.host))).raw for i in (app, oci)]
                return first + again

        raws = run(go)
    assert raws == [app.manifest, oci.manifest] * 2
    assert issuer.count(scope=app_scope) == 2, issuer.requests  # the rejected one, fetched again
    assert issuer.count(scope=oci_scope) == 1, issuer.requests  # still cached


# -- TLS ---------------------------------------------------------------------------------------


def _https_proxy(upstream: str, ca: trustme.CA, directory: Path, *names: str) -> FaultProxy:
    files = write_server_cert(ca, directory, identities=names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return FaultProxy(upstream, tls=context)


@pytest.mark.fault("TLS", "a certificate for another host name")
def test_a_certificate_for_another_host_name_is_refused(
    plain_registry: Lab, tmp_path: Path
) -> None:
    ca = make_ca()
    with _https_proxy(plain_registry.host, ca, tmp_path / "srv", "registry.example") as proxy:
        trusting = TLSConfig(
            cert_dir=str(write_certs_d(ca, tmp_path / "certs.d", proxy.host)),
            cert_dirs=CertDirSearch(enabled=False),
        )
        config = ClientConfig(retry=FAST)
        with pytest.raises(TransportError, match="IP address mismatch"):
            manifest_via(
                proxy.host, plain_registry, plain_registry.images.app, tls=trusting, config=config
            )
        assert proxy.seen() == []  # no request went over the refused connection


@pytest.mark.fault("token endpoint", "insufficient_scope asking for one more scope")
def test_insufficient_scope_is_answered_with_one_more_scope(token_registry: Lab) -> None:
    lab = token_registry
    issuer = lab.issuer
    assert issuer is not None
    extra = f"repository:{lab.images.oci.repo}:pull"
    asked = Fault.answer(401, [_challenge(issuer, extra, "insufficient_scope")])
    issuer.reset()
    with FaultProxy(lab.host, [Rule(asked, target=MANIFEST_GET)]) as proxy:
        raw = manifest_via(proxy.host, lab, lab.images.app)
        count = manifest_requests(proxy.seen())
    assert raw == lab.images.app.manifest
    assert count == 2  # the one refused, then once more with the scope asked for
    assert issuer.count(scope=extra) == 1, issuer.requests
