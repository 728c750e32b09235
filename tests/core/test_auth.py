"""Authentication: challenges, token requests/responses, scopes, the token sub-flow.

The tables are vectors from containers/image 5.23.1 (challenges, token responses and
requests, the auth parts of its wire traces), typed in as data.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.auth import (
    BearerToken,
    Challenge,
    Credentials,
    Scope,
    TokenCache,
    authorization,
    basic_authorization,
    bearer_token,
    choose_challenge,
    insufficient_scope,
    parse_challenges,
    parse_scope,
    parse_token_response,
    parse_www_authenticate,
    token_cache_key,
    token_request,
)
from sansio_registry.errors import (
    Denied,
    NotFound,
    RegistryClientError,
    RemoteProtocolError,
    ServerError,
    TooManyRequests,
    TransportError,
    Unauthorized,
)
from sansio_registry.flow import Done, Fetch, Flow
from sansio_registry.http import MAX_TOKEN_BODY, Headers, Request, Response
from sansio_registry.testing import run_sync

# --------------------------------------------------------------------------------------------
# WWW-Authenticate lines (vectors from containers/image 5.23.1)

CHALLENGE_ROWS: list[tuple[str, str | None, dict[str, str]]] = [
    (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"',
        "bearer",
        {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:library/busybox:pull",
        },
    ),
    ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
    ("BEARER Realm=https://x/token, Service=svc", "bearer", {"realm": "https"}),
    ('Bearer realm="a\\"b",service="c\\\\d"', "bearer", {"realm": 'a"b', "service": "c\\d"}),
    ('Bearer realm="https://x/token",service=""', "bearer", {"realm": "https://x/token"}),
    (
        'Bearer realm="https://x/token",error="insufficient_scope",'
        'scope="repository:a/b:pull,push"',
        "bearer",
        {
            "realm": "https://x/token",
            "error": "insufficient_scope",
            "scope": "repository:a/b:pull,push",
        },
    ),
    (
        'Bearer realm="https://x/token" , service="svc"',
        "bearer",
        {"realm": "https://x/token", "service": "svc"},
    ),
    ('Bearer realm="https://x/token"; service="svc"', "bearer", {"realm": "https://x/token"}),
    ("Bearer", "bearer", {}),
    ('Basic realm="a", Bearer realm="b"', "basic", {"realm": "a"}),
    ('  Bearer realm="x"', None, {}),
    ('Bearer realm="unterminated', "bearer", {}),
    ("Bearer realm=", "bearer", {}),
    ('Bearer ,realm="x"', "bearer", {}),
    ('Bearer realm="x",,service="y"', "bearer", {"realm": "x"}),
    ("Negotiate", "negotiate", {}),
]


@pytest.mark.parametrize(("line", "scheme", "params"), CHALLENGE_ROWS)
def test_www_authenticate_vectors(line: str, scheme: str | None, params: dict[str, str]) -> None:
    challenge = parse_www_authenticate(line)
    if scheme is None:
        assert challenge is None
        return
    assert challenge is not None
    assert challenge.scheme == scheme
    assert challenge.param_map == params


def test_parse_challenges_keeps_header_order_and_drops_schemeless_lines() -> None:
    lines = ["Negotiate", '  Bearer realm="dropped"', 'Bearer realm="r",service="s"', "Basic"]
    got = parse_challenges(lines)
    assert [c.scheme for c in got] == ["negotiate", "bearer", "basic"]
    assert got[1].get("service") == "s"


def test_challenge_equality_ignores_parameter_order() -> None:
    a = Challenge("bearer", {"realm": "r", "service": "s"})
    b = Challenge("bearer", [("service", "s"), ("realm", "r")])
    assert a == b and hash(a) == hash(b)
    assert a.get("missing") is None and "realm" in a and "nope" not in a


def test_later_duplicate_parameter_wins() -> None:
    challenge = parse_www_authenticate('Bearer realm="a",REALM="b"')
    assert challenge is not None and challenge.get("realm") == "b"


@given(st.text())
def test_any_text_parses_or_is_dropped_never_raises(text: str) -> None:
    challenge = parse_www_authenticate(text)
    assert challenge is None or (challenge.scheme and challenge.scheme == challenge.scheme.lower())


TOKEN_CHARS = "".join(c for c in map(chr, range(33, 127)) if c not in ' \t"(),/:;<=>?@[]\\{}')
tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=10)
values = st.one_of(tokens.map(lambda t: (t, False)), st.text(min_size=1).map(lambda t: (t, True)))


def render_param(key: str, value: str, quoted: bool) -> str:
    if not quoted:
        return f"{key}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{key}="{escaped}"'


@given(
    tokens,
    st.dictionaries(keys, values, max_size=5),
    st.sampled_from([",", ", ", " ,", "\t,\r\n "]),
)
def test_rendered_challenges_parse_back_equal(
    scheme: str, params: dict[str, tuple[str, bool]], sep: str
) -> None:
    rendered = sep.join(render_param(k, v, q) for k, (v, q) in params.items())
    line = f"{scheme} {rendered}" if rendered else scheme
    expected = Challenge(scheme.lower(), {k: v for k, (v, _) in params.items()})
    assert parse_www_authenticate(line) == expected


# --------------------------------------------------------------------------------------------
# Scopes (Go's scope strings; the insufficient_scope retry)

SCOPE_ROWS = [
    ("repository:a/b:pull", Scope("repository", "a/b", "pull")),
    ("repository:a/b:pull,push", Scope("repository", "a/b", "pull,push")),
    ("registry:catalog:*", Scope("registry", "catalog", "*")),
]


@pytest.mark.parametrize(("text", "scope"), SCOPE_ROWS)
def test_scope_vectors(text: str, scope: Scope) -> None:
    assert parse_scope(text) == scope
    assert str(scope) == text


@pytest.mark.parametrize("text", ["repository:host:5000/a:pull", "repository:a", "", "a:b:c:d"])
def test_scope_errors(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_scope(text)
    assert str(info.value) == f"error parsing auth scope: '{text}'"


@given(st.text())
def test_scope_parse_total(text: str) -> None:
    try:
        scope = parse_scope(text)
    except RemoteProtocolError:
        assert text.count(":") != 2
    else:
        assert str(scope) == text


def test_insufficient_scope_picks_first_parseable_bearer_scope() -> None:
    challenges = parse_challenges(
        [
            'Basic realm="x",error="insufficient_scope",scope="repository:no/basic:pull"',
            'Bearer realm="r",error="invalid_token",scope="repository:not/this:pull"',
            'Bearer realm="r",error="insufficient_scope",scope="repository:host:5000/x:pull"',
            'Bearer realm="r",error="insufficient_scope"',
            'Bearer realm="r",scope="repository:other/base:pull",error="insufficient_scope"',
        ]
    )
    assert insufficient_scope(challenges) == Scope("repository", "other/base", "pull")
    assert insufficient_scope(challenges[:4]) is None
    assert insufficient_scope(()) is None


# --------------------------------------------------------------------------------------------
# Credentials and challenge selection (docs/behaviour.md#authentication-challenges)


@given(st.text(min_size=8), st.text(min_size=8), st.text(min_size=8))
def test_credentials_repr_never_shows_secrets(password: str, identity: str, token: str) -> None:
    creds = Credentials("alice", password, identity_token=identity, registry_token=token)
    shown = repr(creds) + str(creds)
    for secret in (password, identity, token):
        assert repr(secret) not in shown
    assert "alice" in shown


def test_basic_authorization_values() -> None:
    assert basic_authorization(Credentials("bob", "pw")) == "Basic Ym9iOnB3"
    assert basic_authorization(Credentials("alice", "secret")) == "Basic YWxpY2U6c2VjcmV0"
    assert basic_authorization(Credentials()) == "Basic Og=="


def test_choose_challenge_first_supported_in_header_order() -> None:
    three = parse_challenges(["Negotiate", 'Bearer realm="http://t/token",service="s"', "Basic"])
    chosen = choose_challenge(three)
    assert chosen is not None and chosen.scheme == "bearer"
    assert choose_challenge(parse_challenges(["Negotiate"])) is None
    assert choose_challenge(()) is None
    basic_first = parse_challenges(['Basic realm="r"', 'Bearer realm="http://t/token"'])
    chosen = choose_challenge(basic_first)
    assert chosen is not None and chosen.scheme == "basic"


def never_called(request: Request) -> Response:
    raise AssertionError(f"unexpected request {request.method} {request.url}")


def test_basic_challenge_sends_basic_without_token_request() -> None:
    # Go's trace: only Basic, auth.json bob/pw → Authorization: Basic Ym9iOnB3, no token GET
    flow = Flow(
        authorization(
            parse_challenges(['Basic realm="r"']),
            [Scope("repository", "ns/app", "pull")],
            Credentials("bob", "pw"),
            TokenCache(),
            now=0.0,
            user_agent="ua",
        )
    )
    assert run_sync(flow, never_called) == "Basic Ym9iOnB3"


def test_only_unsupported_challenges_mean_no_authorization() -> None:
    flow = Flow(
        authorization(
            parse_challenges(["Negotiate"]),
            [Scope("repository", "ns/app", "pull")],
            Credentials("bob", "pw"),
            TokenCache(),
            now=0.0,
            user_agent="ua",
        )
    )
    assert run_sync(flow, never_called) is None


def test_no_challenges_means_no_authorization() -> None:
    flow = Flow(
        authorization((), [], Credentials("bob", "pw"), TokenCache(), now=0, user_agent="ua")
    )
    assert run_sync(flow, never_called) is None


# --------------------------------------------------------------------------------------------
# Token request encodings (Go's wire vectors)

APP_PULL = Scope("repository", "ns/app", "pull")
APP_DELETE = Scope("repository", "ns/app", "*")
ALICE = Credentials("alice", "secret")
FIXED = parse_www_authenticate('Bearer realm="http://T/token?fixed=1",service="test-registry"')
assert FIXED is not None


def test_get_flow_with_credentials() -> None:
    req = token_request(
        FIXED, [APP_PULL], ALICE, user_agent="test-agent/1.0", allow_insecure_realm=True
    )
    assert req.method == "GET"
    assert req.url == (
        "http://T/token?account=alice&fixed=1&scope=repository%3Ans%2Fapp%3Apull"
        "&service=test-registry"
    )
    assert req.target == (
        "/token?account=alice&fixed=1&scope=repository%3Ans%2Fapp%3Apull&service=test-registry"
    )
    assert req.headers.get("Authorization") == "Basic YWxpY2U6c2VjcmV0"
    assert req.headers.get("User-Agent") == "test-agent/1.0"
    assert "Docker-Distribution-Api-Version" not in req.headers
    assert "Accept" not in req.headers
    assert req.body == b""
    assert req.max_body == MAX_TOKEN_BODY
    assert req.coalesce_key == token_cache_key(FIXED, [APP_PULL], ALICE)


def test_get_flow_delete_scope() -> None:
    req = token_request(FIXED, [APP_DELETE], ALICE, user_agent="ua", allow_insecure_realm=True)
    assert req.target == (
        "/token?account=alice&fixed=1&scope=repository%3Ans%2Fapp%3A%2A&service=test-registry"
    )


def test_get_flow_anonymous_without_service() -> None:
    challenge = Challenge("bearer", {"realm": "http://T/token"})
    req = token_request(challenge, [APP_PULL], Credentials(), user_agent="ua")
    assert req.url == "http://T/token?scope=repository%3Ans%2Fapp%3Apull"
    assert "Authorization" not in req.headers


def test_post_flow_with_identity_token_and_extra_scope() -> None:
    challenge = Challenge("bearer", {"realm": "http://T/token", "service": "svc"})
    creds = Credentials(identity_token="REFRESH-TOKEN")
    extra = Scope("repository", "other/base", "pull")
    req = token_request(
        challenge, [APP_PULL, extra], creds, user_agent="ua", allow_insecure_realm=True
    )
    assert req.method == "POST"
    assert req.url == "http://T/token"
    assert req.body == (
        b"client_id=containers%2Fimage&grant_type=refresh_token&refresh_token=REFRESH-TOKEN"
        b"&scope=repository%3Ans%2Fapp%3Apull&scope=repository%3Aother%2Fbase%3Apull"
        b"&service=svc"
    )
    assert req.headers.get("Content-Type") == "application/x-www-form-urlencoded"
    assert "Authorization" not in req.headers
    assert req.max_body == MAX_TOKEN_BODY


def test_post_flow_keeps_realm_query_in_url_and_body() -> None:
    challenge = Challenge("bearer", {"realm": "https://T/token?fixed=1"})
    req = token_request(challenge, [], Credentials("u", "p", identity_token="R"), user_agent="ua")
    assert req.url == "https://T/token?fixed=1"
    assert req.body == (
        b"client_id=containers%2Fimage&fixed=1&grant_type=refresh_token&refresh_token=R"
    )


def test_form_encoding_of_spaces_and_odd_characters() -> None:
    challenge = Challenge("bearer", {"realm": "https://T/t?a=x+y&b=%2F&bad=%zz&semi=1;2&c"})
    scope = Scope("repository", "a b/c~d", "pull")
    req = token_request(
        challenge, [scope, Scope("", "x", "pull")], Credentials("u s"), user_agent="ua"
    )
    # realm pairs with bad escapes or ";" are dropped (Go's ParseQuery); incomplete scopes too
    assert req.url == (
        "https://T/t?a=x+y&account=u+s&b=%2F&c=&scope=repository%3Aa+b%2Fc~d%3Apull"
    )
    assert "Authorization" not in req.headers  # no password → no Basic


def test_missing_realm() -> None:
    with pytest.raises(RemoteProtocolError, match=r"^missing realm in bearer auth challenge$"):
        token_request(Challenge("bearer", {"service": "s"}), [APP_PULL], ALICE, user_agent="ua")


@pytest.mark.parametrize("realm", ["/relative", "ftp://x/token", "https://", "http://[::1"])
def test_bad_realm_is_remote_protocol_error(realm: str) -> None:
    with pytest.raises(RemoteProtocolError):
        token_request(Challenge("bearer", {"realm": realm}), [APP_PULL], ALICE, user_agent="ua")


@pytest.mark.parametrize(
    "creds", [ALICE, Credentials(identity_token="R"), Credentials("u", "p", identity_token="R")]
)
def test_secrets_never_go_to_a_plain_http_realm_unless_allowed(creds: Credentials) -> None:
    with pytest.raises(RemoteProtocolError, match="plain HTTP"):
        token_request(FIXED, [APP_PULL], creds, user_agent="ua")
    assert token_request(FIXED, [APP_PULL], creds, user_agent="ua", allow_insecure_realm=True)


@pytest.mark.parametrize("creds", [Credentials(), Credentials("alice")])
def test_no_secret_may_go_to_a_plain_http_realm(creds: Credentials) -> None:
    req = token_request(FIXED, [APP_PULL], creds, user_agent="ua")
    assert "Authorization" not in req.headers


def test_token_request_repr_hides_basic_header() -> None:
    req = token_request(FIXED, [APP_PULL], ALICE, user_agent="ua", allow_insecure_realm=True)
    assert "YWxpY2U6c2VjcmV0" not in repr(req)
    assert "secret" not in repr(req)


# --------------------------------------------------------------------------------------------
# Token responses (Go's vectors). received_at = 1000; "60 s from now" means 1060.

AT = 1000.0
ISSUED_DATE = "Mon, 01 Jan 2018 10:00:02 GMT"  # the server's Date equals issued_at: age 0


def ok(body: bytes, date: str | None = ISSUED_DATE, status: int = 200) -> Response:
    headers = Headers.of([("Date", date)] if date is not None else [])
    return Response(status=status, headers=headers, body=body, received_at=AT)


TOKEN_ROWS: list[tuple[bytes, str, float]] = [
    (b'{"token":"T1","expires_in":300,"issued_at":"2018-01-01T10:00:02+00:00"}', "T1", AT + 300),
    (b'{"access_token":"A1","expires_in":300,"issued_at":"2018-01-01T10:00:02Z"}', "A1", AT + 300),
    (b'{"token":"T1","access_token":"A1"}', "T1", AT + 60),
    (b'{"token":"T1","expires_in":10,"issued_at":"2018-01-01T10:00:02Z"}', "T1", AT + 60),
    (b'{"token":"T1","expires_in":-5,"issued_at":"2018-01-01T10:00:02Z"}', "T1", AT + 60),
    (b'{"TOKEN":"x","Expires_In":120,"issued_at":"2018-01-01T10:00:02Z"}', "x", AT + 120),
    (b'{"token":"T1","issued_at":null}', "T1", AT + 60),
    (b"{}", "", AT + 60),
    (b"null", "", AT + 60),  # Go 5.23.1 crashes; upstream: empty token
    (b'{"token":"","access_token":"A1","expires_in":0}', "A1", AT + 60),
    (b'{"token":null,"expires_in":null,"issued_at":null}', "", AT + 60),
    (b'{"token":"T1","issued_at":"0001-01-01T00:00:00Z"}', "T1", AT + 60),  # zero time = now
]


@pytest.mark.parametrize(("body", "token", "expires_at"), TOKEN_ROWS)
def test_token_response_vectors(body: bytes, token: str, expires_at: float) -> None:
    got = parse_token_response(ok(body))
    assert got == BearerToken(token, expires_at)


@pytest.mark.parametrize(
    "body",
    [
        b'{"token":"T1","expires_in":300.5}',
        b'{"token":"T1","expires_in":"300"}',
        b'{"token":"T1","expires_in":true}',
        b'{"token":"T1","expires_in":1e2}',
        b'{"token":"T1","expires_in":99999999999999999999}',
        b'{"token":"T1","issued_at":"2018-01-01 10:00:02"}',
        b'{"token":"T1","issued_at":"2018-01-01T10:00:02"}',
        b'{"token":"T1","issued_at":"2018-02-30T10:00:02Z"}',
        b'{"token":"T1","issued_at":1514800802}',
        b'{"token":5}',
        b"[]",
        b"not json",
        b"",
    ],
)
def test_token_response_json_errors(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_token_response(ok(body))
    assert "T1" not in str(info.value)  # the body (maybe a token) is never quoted


def test_issued_at_is_honoured_through_the_server_date() -> None:
    body = b'{"token":"T1","expires_in":300,"issued_at":"2018-01-01T10:00:02Z"}'
    # issued 30 s before the server's Date: 30 s of the lifetime are already gone
    assert parse_token_response(ok(body, "Mon, 01 Jan 2018 10:00:32 GMT")).expires_at == AT + 270
    # the offset form of issued_at means the same instant
    body_tz = b'{"token":"T1","expires_in":300,"issued_at":"2018-01-01T11:00:02.5+01:00"}'
    got = parse_token_response(ok(body_tz, "Mon, 01 Jan 2018 10:00:32 GMT"))
    assert got.expires_at == pytest.approx(AT + 270.5)
    # issued "in the future" of the server's own clock, no Date, or a bad Date: age 0
    assert parse_token_response(ok(body, "Mon, 01 Jan 2018 09:00:00 GMT")).expires_at == AT + 300
    assert parse_token_response(ok(body, None)).expires_at == AT + 300
    assert parse_token_response(ok(body, "yesterday-ish")).expires_at == AT + 300


def test_401_with_details() -> None:
    resp = ok(b'{"details":"incorrect username or password"}', status=401)
    with pytest.raises(Unauthorized) as info:
        parse_token_response(resp)
    assert str(info.value) == (
        "unable to retrieve auth token: invalid username/password: "
        "unauthorized: incorrect username or password"
    )
    assert info.value.status == 401 and info.value.code == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"<html>no</html>", "unauthorized: authentication required"),
        (b'{"errors":[]}', "unauthorized: authentication required"),
        (
            b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
            "unauthorized",
        ),
        (
            b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",'
            b'"detail":[{"Type":"repository"}]}]}',
            "unauthorized: authentication required",
        ),
        (
            b'{"errors":[{"code":"NAME_UNKNOWN","message":"a"},{"code":"DENIED","message":"b"}]}',
            "errors:\nname unknown: a\ndenied: b\n",
        ),
        (b'{"errors":[{"code":"WEIRD_CODE","message":"Not Found"}]}', "unknown: Not Found"),
        (b'{"details":"legacy detail text"}', "unauthorized: legacy detail text"),
    ],
)
def test_401_bodies(body: bytes, text: str) -> None:
    with pytest.raises(Unauthorized) as info:
        parse_token_response(ok(body, status=401))
    assert str(info.value) == "unable to retrieve auth token: invalid username/password: " + text


@pytest.mark.parametrize(
    ("status", "cls", "text"),
    [
        (
            500,
            ServerError,
            "Requesting bearer token: invalid status code from registry 500"
            " (Internal Server Error)",
        ),
        (
            403,
            Denied,
            "Requesting bearer token: invalid status code from registry 403 (Forbidden)",
        ),
        (
            404,
            NotFound,
            "Requesting bearer token: invalid status code from registry 404 (Not Found)",
        ),
        (
            201,
            RegistryClientError,
            "Requesting bearer token: invalid status code from registry 201 (Created)",
        ),
        (429, TooManyRequests, "too many requests to registry"),
    ],
)
def test_other_statuses(status: int, cls: type[Exception], text: str) -> None:
    with pytest.raises(cls) as info:
        parse_token_response(ok(b'{"token":"T1"}', status=status))
    assert str(info.value) == text


def test_unknown_status_uses_reason_and_post_context() -> None:
    resp = Response(status=599, reason="Odd", body=b"", received_at=AT)
    with pytest.raises(ServerError) as info:
        parse_token_response(resp, context="Trying to obtain access token")
    assert str(info.value) == (
        "Trying to obtain access token: invalid status code from registry 599 (Odd)"
    )


@given(st.binary(), st.sampled_from([200, 401]))
def test_any_token_body_gives_a_token_or_our_error(body: bytes, status: int) -> None:
    try:
        got = parse_token_response(ok(body, status=status))
    except RegistryClientError:
        return
    assert isinstance(got, BearerToken) and isinstance(got.token, str)
    assert got.expires_at <= AT + 2**63


@given(
    st.dictionaries(
        st.sampled_from(["token", "access_token", "expires_in", "issued_at", "other", "TOKEN"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    ),
    st.one_of(st.none(), st.text()),
)
def test_any_token_document_gives_a_token_or_our_error(
    doc: dict[str, object], date: str | None
) -> None:
    try:
        got = parse_token_response(ok(msgspec.json.encode(doc), date))
    except RemoteProtocolError:
        return
    assert isinstance(got, BearerToken)


# --------------------------------------------------------------------------------------------
# The token sub-flow


class TokenServer:
    """A transport that answers token requests and counts them."""

    def __init__(self, reply: Callable[[Request, int], Response] | None = None) -> None:
        self.requests: list[Request] = []
        self.reply = reply or (
            lambda req, n: Response(
                status=200, body=b'{"token":"TOKEN-%d","expires_in":300}' % n, received_at=AT
            )
        )

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        return self.reply(request, len(self.requests))


def run_bearer(
    server: TokenServer,
    cache: TokenCache,
    creds: Credentials = ALICE,
    scopes: tuple[Scope, ...] = (APP_PULL,),
    now: float = AT,
    challenge: Challenge = FIXED,
) -> str:
    flow = Flow(
        bearer_token(
            challenge,
            scopes,
            creds,
            cache,
            now=now,
            user_agent="test-agent/1.0",
            allow_insecure_realm=True,
        )
    )
    return run_sync(flow, server)


def test_registry_token_is_used_as_is() -> None:
    flow = Flow(
        bearer_token(
            FIXED,
            [APP_PULL],
            Credentials(registry_token="CALLER"),
            TokenCache(),
            now=0,
            user_agent="ua",
        )
    )
    assert flow.begin() == Done("CALLER")


def test_token_fetched_once_then_cached_until_expiry() -> None:
    server, cache = TokenServer(), TokenCache()
    assert run_bearer(server, cache) == "TOKEN-1"
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req.target == (
        "/token?account=alice&fixed=1&scope=repository%3Ans%2Fapp%3Apull&service=test-registry"
    )
    assert req.headers.get("Authorization") == "Basic YWxpY2U6c2VjcmV0"
    # reused from the cache: the flow finishes without any effect
    flow = Flow(bearer_token(FIXED, [APP_PULL], ALICE, cache, now=AT + 299, user_agent="ua"))
    assert flow.begin() == Done("TOKEN-1")
    # expired at received_at + 300: fetched again
    assert run_bearer(server, cache, now=AT + 300) == "TOKEN-2"
    assert len(server.requests) == 2


def test_extra_scope_is_a_different_token() -> None:
    server, cache = TokenServer(), TokenCache()
    extra = Scope("repository", "other/base", "pull")
    assert run_bearer(server, cache) == "TOKEN-1"
    assert run_bearer(server, cache, scopes=(APP_PULL, extra)) == "TOKEN-2"
    assert run_bearer(server, cache, scopes=(extra, APP_PULL)) == "TOKEN-2"  # same set
    assert run_bearer(server, cache) == "TOKEN-1"


def test_other_credentials_never_reuse_a_token() -> None:
    server, cache = TokenServer(), TokenCache()
    assert run_bearer(server, cache) == "TOKEN-1"
    assert run_bearer(server, cache, creds=Credentials("alice", "other")) == "TOKEN-2"
    assert run_bearer(server, cache, creds=Credentials()) == "TOKEN-3"
    assert run_bearer(server, cache, creds=Credentials(identity_token="R")) == "TOKEN-4"


def test_insufficient_scope_trace_with_identity_token() -> None:
    # Go's trace: POST for the client scope, then for both scopes after insufficient_scope
    challenge = Challenge(
        "bearer", {"realm": "http://T/token", "service": "svc", "scope": "ignored"}
    )
    server, cache = TokenServer(), TokenCache()
    creds = Credentials(identity_token="REFRESH-TOKEN")
    extra = Scope("repository", "other/base", "pull")
    assert run_bearer(server, cache, creds=creds, challenge=challenge) == "TOKEN-1"
    assert (
        run_bearer(server, cache, creds=creds, challenge=challenge, scopes=(APP_PULL, extra))
        == "TOKEN-2"
    )
    assert [r.body for r in server.requests] == [
        b"client_id=containers%2Fimage&grant_type=refresh_token&refresh_token=REFRESH-TOKEN"
        b"&scope=repository%3Ans%2Fapp%3Apull&service=svc",
        b"client_id=containers%2Fimage&grant_type=refresh_token&refresh_token=REFRESH-TOKEN"
        b"&scope=repository%3Ans%2Fapp%3Apull&scope=repository%3Aother%2Fbase%3Apull"
        b"&service=svc",
    ]


def test_failed_token_fetch_is_not_cached_and_uses_flow_context() -> None:
    server = TokenServer(lambda req, n: Response(status=500, received_at=AT))
    cache = TokenCache()
    with pytest.raises(ServerError, match=r"^Requesting bearer token: invalid status"):
        run_bearer(server, cache)
    with pytest.raises(ServerError, match=r"^Trying to obtain access token: invalid status"):
        run_bearer(server, cache, creds=Credentials(identity_token="R"))
    assert len(cache) == 0


def test_token_401_error_carries_request() -> None:
    server = TokenServer(
        lambda req, n: Response(status=401, body=b'{"details":"nope"}', received_at=AT)
    )
    with pytest.raises(Unauthorized) as info:
        run_bearer(server, TokenCache())
    assert info.value.method == "GET" and info.value.url.startswith("http://T/token?")


def test_transport_error_propagates() -> None:
    def boom(request: Request) -> Response:
        raise TransportError("connection refused")

    with pytest.raises(TransportError):
        run_bearer(TokenServer(lambda r, n: boom(r)), TokenCache())


def test_authorization_flow_bearer_happy_path() -> None:
    # Go's trace: ping challenge → token GET with Basic → "Bearer TOKEN-…", then cache reuse
    challenges = parse_challenges(
        ['Bearer realm="http://T/token?fixed=1",service="test-registry"']
    )
    server, cache = TokenServer(), TokenCache()
    for _ in range(2):
        flow = Flow(
            authorization(
                challenges,
                [APP_PULL],
                ALICE,
                cache,
                now=AT,
                user_agent="test-agent/1.0",
                allow_insecure_realm=True,
            )
        )
        assert run_sync(flow, server) == "Bearer TOKEN-1"
    assert len(server.requests) == 1


def test_authorization_flow_yields_one_fetch_with_coalesce_key() -> None:
    challenges = parse_challenges(['Bearer realm="https://T/token",service="s"'])
    flow = Flow(authorization(challenges, [APP_PULL], ALICE, TokenCache(), now=0, user_agent="ua"))
    step = flow.begin()
    assert isinstance(step, Fetch)
    assert step.request.coalesce_key == token_cache_key(challenges[0], [APP_PULL], ALICE)
    done = flow.reply(Response(status=200, body=b'{"token":""}', received_at=5.0))
    assert done == Done("Bearer ")  # an empty token gives "Bearer ", as in Go


def test_basic_of_arbitrary_bytes_roundtrips() -> None:
    creds = Credentials("us\udcffer", "p\udcfe")  # undecodable bytes from an auth file
    value = basic_authorization(creds)
    assert base64.b64decode(value.removeprefix("Basic ")) == b"us\xffer:p\xfe"


def test_invalid_utf8_in_token_string_is_replaced_like_go() -> None:
    got = parse_token_response(ok(b'{"token":"T\x80"}'))
    assert got.token == "T\ufffd"


def test_post_token_request_repr_hides_refresh_token() -> None:
    challenge = Challenge("bearer", {"realm": "https://T/token"})
    req = token_request(
        challenge, [APP_PULL], Credentials(identity_token="R-SECRET"), user_agent="ua"
    )
    assert "R-SECRET" not in repr(req)
