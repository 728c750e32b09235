"""Wire transcripts of the request pipeline and the manifest flow (containers/image traces)."""

from __future__ import annotations

import json

import pytest

from sansio_registry.auth import Credentials
from sansio_registry.errors import (
    DigestMismatch,
    ManifestUnknown,
    NotFound,
    RemoteProtocolError,
    TooManyRequests,
    TransportError,
    Unauthorized,
)
from sansio_registry.flow import Flow, Sleep, fetch
from sansio_registry.flows.exchange import follow_redirects
from sansio_registry.flows.manifest import get_manifest, open_image
from sansio_registry.http import Request
from sansio_registry.media_types import MANIFEST_ACCEPT
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import error_body, sha256_digest
from sansio_registry.testing.transcript import Expect, Transcript, reply

UA = "test-agent/1.0"
API = ("Docker-Distribution-Api-Version", "registry/2.0")
OCI = "application/vnd.oci.image.manifest.v1+json"
# The OCI manifest of containers/image 5.23.1's wire trace (246 bytes).
MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
    b'{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a'
    b'1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}'
)
DIGEST = "sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268"
H = "reg.test"
T = "auth.test"


def config(**kw: object) -> ClientConfig:
    return ClientConfig(user_agent=UA, **kw)  # type: ignore[arg-type]


def manifest_ok(body: bytes = MANIFEST, *extra: tuple[str, str]) -> Expect:
    return Expect(
        "GET",
        f"https://{H}/v2/ns/app/manifests/v1",
        reply(200, body, ("Content-Type", f"{OCI}; charset=utf-8"), *extra),
        header_lines=(("Accept", MANIFEST_ACCEPT),),
        present={"Docker-Distribution-Api-Version": "registry/2.0", "User-Agent": UA},
    )


def test_manifest_digest_vector_matches_spec() -> None:
    assert len(MANIFEST) == 246 and sha256_digest(MANIFEST) == DIGEST


def test_anonymous_open_registry_sends_no_authorization() -> None:
    script = Transcript(
        [
            Expect(
                "GET",
                f"https://{H}/v2/",
                reply(200),
                present={"User-Agent": UA},
                absent=("Authorization",),
            ),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                reply(200, MANIFEST, ("Content-Type", f"{OCI}; charset=utf-8")),
                absent=("Authorization",),
            ),
        ]
    )
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    manifest = run_sync(get_manifest(ref, config=config(), state=RegistryState()), script)
    assert manifest.raw == MANIFEST
    assert manifest.media_type == OCI
    assert str(manifest.digest) == DIGEST


def test_bearer_happy_path_matches_spec_trace_and_caches_token() -> None:
    """Go's wire trace: ping 401, token GET with Basic, manifest with Bearer; token reused."""
    challenge = f'Bearer realm="https://{T}/token?fixed=1",service="test-registry"'
    token = json.dumps({"token": "TOKEN-1", "expires_in": 300}).encode()
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(401, b"", ("WWW-Authenticate", challenge))),
            Expect(
                "GET",
                f"https://{T}/token?account=alice&fixed=1&scope=repository%3Ans%2Fapp%3Apull"
                "&service=test-registry",
                reply(200, token, at=10.0),
                present={"Authorization": "Basic YWxpY2U6c2VjcmV0", "User-Agent": UA},
                absent=("Docker-Distribution-Api-Version",),
            ),
            manifest_ok(),
            manifest_ok(),
        ]
    )
    state = RegistryState()
    creds = Credentials(username="alice", password="secret")
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    for _ in range(2):
        m = run_sync(get_manifest(ref, config=config(credentials=creds), state=state), script)
        assert m.raw == MANIFEST
    assert script.seen[2].headers.get("Authorization") == "Bearer TOKEN-1"
    assert script.seen[3].headers.get("Authorization") == "Bearer TOKEN-1"


def test_insufficient_scope_retry_with_identity_token() -> None:
    """Go's OAuth2 trace: POST, 401 insufficient_scope, POST with both scopes."""
    ping = reply(
        401,
        b"",
        ("WWW-Authenticate", f'Bearer realm="https://{T}/token",service="svc",scope="ignored"'),
    )
    denied = reply(
        401,
        error_body("DENIED", "nope"),
        (
            "WWW-Authenticate",
            f'Bearer realm="https://{T}/token",service="svc",'
            'scope="repository:other/base:pull",error="insufficient_scope"',
        ),
    )
    first = (
        b"client_id=containers%2Fimage&grant_type=refresh_token&refresh_token=REFRESH-TOKEN"
        b"&scope=repository%3Ans%2Fapp%3Apull&service=svc"
    )
    second = (
        b"client_id=containers%2Fimage&grant_type=refresh_token&refresh_token=REFRESH-TOKEN"
        b"&scope=repository%3Ans%2Fapp%3Apull&scope=repository%3Aother%2Fbase%3Apull"
        b"&service=svc"
    )
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", ping),
            Expect(
                "POST",
                f"https://{T}/token",
                reply(200, b'{"access_token":"AT1"}'),
                body=first,
                absent=("Authorization",),
            ),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                denied,
                present={"Authorization": "Bearer AT1"},
            ),
            Expect(
                "POST", f"https://{T}/token", reply(200, b'{"access_token":"AT2"}'), body=second
            ),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                reply(200, MANIFEST, ("Content-Type", OCI)),
                present={"Authorization": "Bearer AT2"},
            ),
        ]
    )
    creds = Credentials(username="<token>", identity_token="REFRESH-TOKEN")
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    run_sync(get_manifest(ref, config=config(credentials=creds), state=RegistryState()), script)


def test_challenge_selection_prefers_first_supported_and_basic_goes_direct() -> None:
    lines = (("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", 'Basic realm="r"'))
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(401, b"", *lines)),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                reply(200, MANIFEST, ("Content-Type", OCI)),
                present={"Authorization": "Basic Ym9iOnB3"},
            ),
        ]
    )
    creds = Credentials(username="bob", password="pw")
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    run_sync(get_manifest(ref, config=config(credentials=creds), state=RegistryState()), script)


def test_only_unsupported_challenge_sends_nothing() -> None:
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(401, b"", ("WWW-Authenticate", "Negotiate"))),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                reply(200, MANIFEST, ("Content-Type", OCI)),
                absent=("Authorization",),
            ),
        ]
    )
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    creds = Credentials(username="bob", password="pw")
    run_sync(get_manifest(ref, config=config(credentials=creds), state=RegistryState()), script)


def test_manifest_by_digest_must_hash_to_it() -> None:
    wrong = MANIFEST.replace(b'"layers":[]', b'"layers":[] ')
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(200)),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/{DIGEST}",
                reply(200, wrong, ("Content-Type", OCI)),
            ),
        ]
    )
    ref = ImageRef.parse(f"{H}/ns/app@{DIGEST}")
    with pytest.raises(DigestMismatch) as info:
        run_sync(get_manifest(ref, config=config(), state=RegistryState()), script)
    assert info.value.expected == DIGEST


def test_docker_content_digest_must_match_unless_relaxed() -> None:
    lie = ("Docker-Content-Digest", "sha256:" + "0" * 64)

    def script() -> Transcript:
        return Transcript(
            [Expect("GET", f"https://{H}/v2/", reply(200)), manifest_ok(MANIFEST, lie)]
        )

    ref = ImageRef.parse(f"{H}/ns/app:v1")
    with pytest.raises(DigestMismatch):
        run_sync(get_manifest(ref, config=config(), state=RegistryState()), script())
    relaxed = config(verify_content_digest=False)
    m = run_sync(get_manifest(ref, config=relaxed, state=RegistryState()), script())
    assert str(m.digest) == DIGEST


def test_manifest_404_is_manifest_unknown_with_go_text() -> None:
    body = (
        b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown",'
        b'"detail":{"Tag":"v1"}}]}'
    )
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(200)),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                reply(404, body, ("Content-Type", "application/json")),
            ),
        ]
    )
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    with pytest.raises(ManifestUnknown) as info:
        run_sync(get_manifest(ref, config=config(), state=RegistryState()), script)
    assert (
        str(info.value) == f"reading manifest v1 in {H}/ns/app: manifest unknown: manifest unknown"
    )
    assert info.value.status == 404 and info.value.code == "MANIFEST_UNKNOWN"


def test_secure_endpoint_never_falls_back_to_http() -> None:
    script = Transcript([Expect("GET", f"https://{H}/v2/", TransportError("refused"))])
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    with pytest.raises(TransportError, match=f"pinging container registry {H}"):
        run_sync(open_image(ref, config=config(), state=RegistryState()), script)


def test_insecure_endpoint_falls_back_to_http_only_after_transport_failure() -> None:
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", TransportError("tls: record header")),
            Expect("GET", f"http://{H}/v2/", reply(200)),
            Expect(
                "GET",
                f"http://{H}/v2/ns/app/manifests/v1",
                reply(200, MANIFEST, ("Content-Type", OCI)),
            ),
        ]
    )
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    run_sync(open_image(ref, config=config(tls_verify=False), state=RegistryState()), script)
    assert all(not r.tls_verify for r in script.seen)


def test_ping_wrong_status_is_reported_with_go_text() -> None:
    script = Transcript([Expect("GET", f"https://{H}/v2/", reply(404))])
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    with pytest.raises(NotFound) as info:
        run_sync(open_image(ref, config=config(tls_verify=False), state=RegistryState()), script)
    assert str(info.value) == (
        f"pinging container registry {H}: invalid status code from registry 404 (Not Found)"
    )


def _redirect_flow(url: str) -> Flow[object]:
    request = Request(
        method="GET",
        url=url,
        headers=reply(200, b"", ("Authorization", "Bearer T"), ("Accept", "x")).headers,
    )
    return Flow(follow_redirects(request, fetch))


def test_redirect_to_other_origin_drops_authorization_same_origin_keeps_it() -> None:
    script = Transcript(
        [
            Expect(
                "GET", "https://reg.test/v2/a/blobs/x", reply(302, b"", ("Location", "/storage/x"))
            ),
            Expect(
                "GET",
                "https://reg.test/storage/x",
                reply(307, b"", ("Location", "https://storage.test/x?sig=1")),
                present={"Authorization": "Bearer T"},
            ),
            Expect(
                "GET",
                "https://storage.test/x?sig=1",
                reply(200, b"blob"),
                absent=("Authorization",),
                present={"Accept": "x"},
            ),
        ]
    )
    response = run_sync(_redirect_flow("https://reg.test/v2/a/blobs/x"), script)
    assert response.body == b"blob"  # type: ignore[attr-defined]


def test_redirect_to_other_port_drops_authorization() -> None:
    target = "https://reg.test:444/x"
    script = Transcript(
        [
            Expect("GET", "https://reg.test/a", reply(301, b"", ("Location", target))),
            Expect("GET", target, reply(200), absent=("Authorization",)),
        ]
    )
    run_sync(_redirect_flow("https://reg.test/a"), script)


def test_redirect_chain_stops_after_ten() -> None:
    chain = [
        Expect("GET", f"https://reg.test/a{n}", reply(302, b"", ("Location", f"/a{n + 1}")))
        for n in range(11)
    ]
    with pytest.raises(RemoteProtocolError, match="stopped after 10 redirects"):
        run_sync(_redirect_flow("https://reg.test/a0"), Transcript(chain))


def test_429_retries_five_times_then_gives_up() -> None:
    limited = reply(429, b"", ("Retry-After", "0"))
    script = Transcript(
        [Expect("GET", f"https://{H}/v2/", reply(200))]
        + [Expect("GET", f"https://{H}/v2/ns/app/manifests/v1", limited)] * 5
    )
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    with pytest.raises(TooManyRequests):
        run_sync(get_manifest(ref, config=config(), state=RegistryState()), script)


def test_429_backoff_sleeps_follow_retry_after_and_doubling() -> None:
    limited = [reply(429, b"", ("Retry-After", "5")), reply(429), reply(429)]
    answers = iter([reply(200), *limited, reply(200, MANIFEST, ("Content-Type", OCI))])
    flow = get_manifest(ImageRef.parse(f"{H}/ns/app:v1"), config=config(), state=RegistryState())
    sleeps: list[float] = []
    step = flow.begin()
    while True:
        if isinstance(step, Sleep):
            sleeps.append(step.seconds)
            step = flow.reply(None)
        elif hasattr(step, "request"):
            step = flow.reply(next(answers))
        else:
            break
    assert sleeps == [5, 10, 20]


def test_unauthorized_without_retry_for_basic() -> None:
    script = Transcript(
        [
            Expect(
                "GET", f"https://{H}/v2/", reply(401, b"", ("WWW-Authenticate", 'Basic realm="r"'))
            ),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                reply(401, error_body("UNAUTHORIZED", "authentication required")),
            ),
        ]
    )
    with pytest.raises(Unauthorized):
        run_sync(
            get_manifest(ImageRef.parse(f"{H}/ns/app:v1"), config=config(), state=RegistryState()),
            script,
        )


def test_invalid_token_refetches_once_beyond_go() -> None:
    challenge = f'Bearer realm="https://{T}/token",service="s"'
    stale = reply(
        401,
        error_body("UNAUTHORIZED", "token expired"),
        ("WWW-Authenticate", challenge + ',error="invalid_token"'),
    )
    token_url = f"https://{T}/token?scope=repository%3Ans%2Fapp%3Apull&service=s"
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(401, b"", ("WWW-Authenticate", challenge))),
            Expect("GET", token_url, reply(200, b'{"token":"OLD"}')),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                stale,
                present={"Authorization": "Bearer OLD"},
            ),
            Expect("GET", token_url, reply(200, b'{"token":"NEW"}')),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                reply(200, MANIFEST, ("Content-Type", OCI)),
                present={"Authorization": "Bearer NEW"},
            ),
        ]
    )
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    run_sync(get_manifest(ref, config=config(), state=RegistryState()), script)


def _bearer_script(steps: list[tuple[str, str | None, str]]) -> Transcript:
    """Per step (repository, token the realm hands out or None, token the request carries)."""
    challenge = f'Bearer realm="https://{T}/token",service="s"'
    expected = [
        Expect("GET", f"https://{H}/v2/", reply(401, b"", ("WWW-Authenticate", challenge)))
    ]
    for repository, issued, sent in steps:
        if issued is not None:
            scope = f"repository%3A{repository.replace('/', '%2F')}%3Apull"
            token_url = f"https://{T}/token?scope={scope}&service=s"
            expected.append(
                Expect("GET", token_url, reply(200, f'{{"token":"{issued}"}}'.encode()))
            )
        answer = reply(200, MANIFEST, ("Content-Type", OCI))
        if sent.startswith("STALE:"):
            sent = sent.removeprefix("STALE:")
            answer = reply(
                401,
                error_body("UNAUTHORIZED", "token expired"),
                ("WWW-Authenticate", challenge + ',error="invalid_token"'),
            )
        expected.append(
            Expect(
                "GET",
                f"https://{H}/v2/{repository}/manifests/v1",
                answer,
                present={"Authorization": f"Bearer {sent}"},
            )
        )
    return Transcript(expected)


def test_invalid_token_evicts_only_the_rejected_token() -> None:
    script = _bearer_script(
        [
            ("ns/app", "APP-1", "APP-1"),
            ("ns/other", "OTHER-1", "OTHER-1"),
            ("ns/app", None, "STALE:APP-1"),  # rejected: that token goes ...
            ("ns/app", "APP-2", "APP-2"),
            ("ns/other", None, "OTHER-1"),  # ... and the other scope's token stays
        ]
    )
    state = RegistryState()
    for repository in ("ns/app", "ns/other", "ns/app", "ns/other"):
        ref = ImageRef.parse(f"{H}/{repository}:v1")
        run_sync(get_manifest(ref, config=config(), state=state), script)
    script.done()


def test_a_cached_token_is_judged_by_the_time_a_later_flow_begins() -> None:
    """Tokens live max(expires_in, 60) s from their arrival (here at 0): a flow begun at 30
    reuses the token, one begun at 61 fetches a new one before its first request."""
    script = _bearer_script(
        [("ns/app", "T-1", "T-1"), ("ns/app", None, "T-1"), ("ns/app", "T-2", "T-2")]
    )
    state = RegistryState()
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    for begun_at in (0.0, 30.0, 61.0):
        flow = get_manifest(ref, config=config(), state=state)
        run_sync(flow, script, clock=lambda at=begun_at: at)
    script.done()
    assert state.now == 61.0


def test_mirror_failures_spec_19_7_primary_error_with_one_note_per_mirror() -> None:
    """Go's mirror-failure vector, with our shape: the primary's typed error, a note per mirror."""
    from sansio_registry.config.registries_conf import merge_registries_conf, parse_registries_conf
    from sansio_registry.errors import Denied

    conf = b"""
[[registry]]
prefix = "primary.example"
location = "p.test/primns"
[[registry.mirror]]
location = "m1.test/m1ns"
[[registry.mirror]]
location = "m2.test"
[[registry.mirror]]
location = "dead.test"
"""
    basic = ("WWW-Authenticate", 'Basic realm="r"')
    unknown = (
        b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown",'
        b'"detail":{"Tag":"v1"}}]}'
    )
    anonymous = {"Authorization": "Basic Og=="}
    script = Transcript(
        [
            Expect("GET", "https://m1.test/v2/", reply(401, b"", basic)),
            Expect(
                "GET",
                "https://m1.test/v2/m1ns/app/manifests/v1",
                reply(404, unknown),
                present=anonymous,
            ),
            Expect("GET", "https://m2.test/v2/", reply(404)),
            Expect("GET", "https://dead.test/v2/", TransportError("connection refused")),
            Expect("GET", "https://p.test/v2/", reply(401, b"", basic)),
            Expect(
                "GET",
                "https://p.test/v2/primns/app/manifests/v1",
                reply(403, error_body("DENIED", "requested access to the resource is denied")),
                present=anonymous,
            ),
        ]
    )
    registries = merge_registries_conf([parse_registries_conf(conf, path="r.conf")])
    creds = Credentials(username="alice", password="secret")
    ref = ImageRef.parse("primary.example/app:v1")
    with pytest.raises(Denied) as info:
        run_sync(
            open_image(
                ref, config=config(registries=registries, credentials=creds), state=RegistryState()
            ),
            script,
        )
    assert str(info.value) == "reading manifest v1 in p.test/primns/app: denied"
    assert info.value.__notes__ == [
        "mirror m1.test/m1ns/app:v1 also failed: reading manifest v1 in m1.test/m1ns/app: "
        "manifest unknown: manifest unknown",
        "mirror m2.test/app:v1 also failed: pinging container registry m2.test: "
        "invalid status code from registry 404 (Not Found)",
        "mirror dead.test/app:v1 also failed: pinging container registry dead.test: "
        "connection refused",
    ]
    failed = info.value.also_failed  # the same as data: which source, what error
    assert [(str(f.reference), f.is_mirror) for f in failed] == [
        ("m1.test/m1ns/app:v1", True),
        ("m2.test/app:v1", True),
        ("dead.test/app:v1", True),
    ]
    assert [type(f.error) for f in failed] == [ManifestUnknown, NotFound, TransportError]
