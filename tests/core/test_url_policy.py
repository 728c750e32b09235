"""The URL policy: schemes, no TLS downgrade, TLS per origin, credentials kept home, loops."""

from __future__ import annotations

import contextlib
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.auth import Credentials
from sansio_registry.config.registries_conf import RegistriesConf, Registry
from sansio_registry.config.registries_d import RegistriesD, Section
from sansio_registry.errors import RegistryResponseError, RemoteProtocolError
from sansio_registry.flow import Flow, fetch
from sansio_registry.flows.exchange import follow_redirects
from sansio_registry.flows.manifest import get_manifest, open_image
from sansio_registry.flows.signatures import list_signatures
from sansio_registry.http import Headers, Origin, Request, Response
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.transcript import Expect, Transcript, reply
from sansio_registry.url_policy import (
    MAX_REDIRECTS,
    STRICT_POLICY,
    UrlPolicy,
    allowed_from_config,
    allowed_from_server,
)

H = "reg.test"
OCI = "application/vnd.oci.image.manifest.v1+json"
MANIFEST = b'{"schemaVersion":2,"mediaType":"' + OCI.encode() + b'","layers":[]}'


def insecure(*prefixes: str) -> RegistriesConf:
    return RegistriesConf(
        registries=tuple(Registry(prefix=p, location=p, insecure=True) for p in prefixes)
    )


def request(url: str, *, verify: bool = True) -> Request:
    headers = Headers((("Authorization", "Bearer T"), ("Cookie", "c=1"), ("Accept", "x")))
    return Request(method="GET", url=url, headers=headers, tls_verify=verify)


# -- schemes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://files.test/x", "gopher://g.test/", "data:,x", "http:///x"],
)
def test_a_redirect_leads_only_to_http_or_https(location: str) -> None:
    with pytest.raises(RemoteProtocolError, match="unsupported location"):
        STRICT_POLICY.redirect_target(request(f"https://{H}/a"), location)


def test_file_urls_come_only_from_configuration() -> None:
    assert allowed_from_config("file:///var/lib/containers/sigstore")
    assert not allowed_from_server("file:///var/lib/containers/sigstore")
    assert allowed_from_server("https://cdn.test/x") and allowed_from_config("http://l.test/")
    assert not allowed_from_config("ftp://l.test/") and not allowed_from_server("ftp://l.test/")


# -- downgrade and TLS per origin ------------------------------------------------------------


def test_a_verified_https_origin_never_leads_to_plain_http() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        STRICT_POLICY.redirect_target(request(f"https://{H}/a?sig=s"), "http://cdn.test/b?sig=t")
    message = str(info.value)
    assert f"https://{H}/a" in message and "http://cdn.test/b" in message
    assert "sig=" not in message  # query strings may be signatures


def test_an_unverified_origin_may_lead_to_plain_http() -> None:
    policy = UrlPolicy(registries=insecure("cdn.test"))
    moved = policy.redirect_target(request(f"https://{H}/a", verify=False), "http://cdn.test/b")
    assert moved.url == "http://cdn.test/b"


def test_another_origin_is_verified_even_after_an_insecure_one() -> None:
    policy = UrlPolicy(registries=insecure(H))
    moved = policy.redirect_target(request(f"https://{H}/a", verify=False), "https://cdn.test/b")
    assert moved.tls_verify is True


@pytest.mark.parametrize(
    ("policy", "verified"),
    [
        (UrlPolicy(), True),
        (UrlPolicy(registries=insecure("cdn.test")), False),
        (UrlPolicy(registries=insecure("*.test")), False),
        (UrlPolicy(registries=insecure("cdn.test/namespace")), True),
        (UrlPolicy(insecure_hosts=frozenset({"cdn.test"})), False),
        (UrlPolicy(tls_verify=False), False),
        (UrlPolicy(tls_verify=True, registries=insecure("cdn.test")), True),
    ],
)
def test_tls_is_decided_by_the_target_origin(policy: UrlPolicy, verified: bool) -> None:
    moved = policy.redirect_target(request(f"https://{H}/a"), "https://cdn.test/b")
    assert moved.tls_verify is verified
    assert policy.verifies(Origin.of("https://cdn.test/")) is verified


def test_the_same_origin_keeps_the_request_as_it_was() -> None:
    policy = UrlPolicy(registries=insecure(H))
    moved = policy.redirect_target(request(f"https://{H}/a", verify=False), "/b")
    assert (moved.url, moved.tls_verify) == (f"https://{H}/b", False)
    assert moved.headers.get("Authorization") == "Bearer T"


# -- chains ----------------------------------------------------------------------------------


def test_a_url_met_twice_in_one_chain_is_a_loop() -> None:
    script = Transcript(
        [
            Expect("GET", f"https://{H}/a", reply(302, b"", ("Location", "/b"))),
            Expect("GET", f"https://{H}/b", reply(307, b"", ("Location", "/a"))),
        ]
    )
    with pytest.raises(RemoteProtocolError, match=f"redirect loop: https://{H}/a"):
        run_sync(Flow(follow_redirects(request(f"https://{H}/a"), fetch)), script)
    assert len(script.seen) == 2  # refused before /a was asked again


def test_ten_redirects_are_followed() -> None:
    chain = [
        Expect("GET", f"https://{H}/{n}", reply(302, b"", ("Location", f"/{n + 1}")))
        for n in range(MAX_REDIRECTS)
    ]
    last = Expect("GET", f"https://{H}/{MAX_REDIRECTS}", reply(200, b"end"))
    response = run_sync(
        Flow(follow_redirects(request(f"https://{H}/0"), fetch)), Transcript([*chain, last])
    )
    assert isinstance(response, Response) and response.body == b"end"


_HOSTS = ("reg.test", "reg.test:444", "cdn.test", "insecure.test", "other.test")
_location = st.tuples(
    st.sampled_from(("https", "http")),
    st.sampled_from(_HOSTS),
    st.integers(0, 5),
).map(lambda p: f"{p[0]}://{p[1]}/{p[2]}")
_relative = st.integers(0, 5).map(lambda n: f"/{n}")


@given(
    hops=st.lists(
        st.tuples(st.sampled_from((301, 302, 303, 307, 308)), _location | _relative),
        max_size=12,
    ),
    global_verify=st.sampled_from((None, False, True)),
)
def test_any_redirect_chain_keeps_credentials_and_tls_where_they_belong(
    hops: list[tuple[int, str]], global_verify: bool | None
) -> None:
    policy = UrlPolicy(tls_verify=global_verify, registries=insecure("insecure.test"))
    first = request(f"https://{H}/start", verify=policy.verifies(Origin.of(f"https://{H}/")))
    answers = iter(hops)
    seen: list[Request] = []

    def transport(sent: Request) -> Response:
        seen.append(sent)
        hop = next(answers, None)
        if hop is None:
            return reply(200)
        return reply(hop[0], b"", ("Location", hop[1]))

    with contextlib.suppress(RemoteProtocolError):
        run_sync(Flow(follow_redirects(first, fetch, policy)), transport)
    for before, after in itertools.pairwise(seen):
        if before.tls_verify and before.origin.scheme == "https":
            assert after.origin.scheme == "https"  # never downgraded
        if not after.tls_verify:  # only an origin configured insecure skips verification
            assert after.origin == before.origin or not policy.verifies(after.origin)
    for sent in seen:
        if "Authorization" in sent.headers or "Cookie" in sent.headers:
            assert sent.origin == first.origin
    assert len({sent.url for sent in seen}) == len(seen)  # no URL asked twice
    assert len(seen) <= MAX_REDIRECTS + 1


# -- every flow applies it -------------------------------------------------------------------


MANIFEST_OK = reply(200, MANIFEST, ("Content-Type", OCI))
MANIFEST_GET = Expect("GET", f"https://{H}/v2/ns/app/manifests/v1", MANIFEST_OK)


def _config(**kw: object) -> ClientConfig:
    return ClientConfig(user_agent="ua", **kw)  # type: ignore[arg-type]


def test_an_insecure_registry_redirect_to_another_origin_is_verified() -> None:
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(200)),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/manifests/v1",
                reply(307, b"", ("Location", "https://cdn.test/m")),
            ),
            Expect("GET", "https://cdn.test/m", MANIFEST_OK),
        ]
    )
    config = _config(registries=insecure(H))
    run_sync(
        get_manifest(ImageRef.parse(f"{H}/ns/app:v1"), config=config, state=RegistryState()),
        script,
    )
    assert [r.tls_verify for r in script.seen] == [False, False, True]


@pytest.mark.parametrize(
    ("realm_host", "config", "verified"),
    [
        ("auth.test", _config(registries=insecure(H)), True),
        (H, _config(registries=insecure(H)), False),  # the insecure registry itself
        ("auth.test", _config(registries=insecure("auth.test")), False),
        ("auth.test", _config(tls_verify=False), False),
        ("auth.test", _config(), True),
    ],
)
def test_a_token_realm_is_verified_as_its_own_origin(
    realm_host: str, config: ClientConfig, verified: bool
) -> None:
    challenge = f'Bearer realm="https://{realm_host}/token",service="s"'
    token = json.dumps({"token": "TOKEN"}).encode()
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(401, b"", ("WWW-Authenticate", challenge))),
            Expect(
                "GET",
                f"https://{realm_host}/token?scope=repository%3Ans%2Fapp%3Apull&service=s",
                reply(200, token),
                absent=("Authorization",),
            ),
            MANIFEST_GET,
        ]
    )
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    run_sync(open_image(ref, config=config, state=RegistryState()), script)
    assert script.seen[1].tls_verify is verified


def test_a_token_realm_redirect_is_followed_without_credentials() -> None:
    challenge = 'Bearer realm="https://auth.test/token",service="s"'
    config = _config(credentials=Credentials(username="u", password="p"))
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(401, b"", ("WWW-Authenticate", challenge))),
            Expect(
                "GET",
                "https://auth.test/token?account=u&scope=repository%3Ans%2Fapp%3Apull&service=s",
                reply(302, b"", ("Location", "https://evil.test/token")),
                present={"Authorization": None},
            ),
            # Followed like every redirect, but the realm's Basic credentials stay home.
            Expect("GET", "https://evil.test/token", reply(404), absent=("Authorization",)),
        ]
    )
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    with pytest.raises(RegistryResponseError, match="404"):
        run_sync(open_image(ref, config=config, state=RegistryState()), script)


def test_a_lookaside_is_verified_as_its_own_origin() -> None:
    registries_d = RegistriesD(default_docker=Section(lookaside="https://sigs.test/store"))
    config = _config(registries=insecure(H), registries_d=registries_d)
    state = RegistryState()
    ref = ImageRef.parse(f"{H}/ns/app:v1")
    opening = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(200)),
            MANIFEST_GET,
        ]
    )
    source = run_sync(open_image(ref, config=config, state=state), opening)
    digest = source.manifest.digest
    listing = Transcript(
        [
            Expect(
                "GET",
                f"https://sigs.test/store/ns/app@sha256={digest.hex}/signature-1",
                reply(302, b"", ("Location", f"https://{H}/sig")),
            ),
            Expect("GET", f"https://{H}/sig", reply(404)),
        ]
    )
    assert run_sync(list_signatures(source, config=config, state=state), listing) == ()
    assert [r.tls_verify for r in listing.seen] == [True, False]
