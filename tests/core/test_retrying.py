"""Bounded, honest retries (issue 10): which requests are resent, when, and how long after.

Every wait is a ``Sleep`` effect the test driver records; the policy's numbers are typed in
here (1 s doubling, 3 attempts for 5xx, 5 for 429, 60 s cap), not read from the code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry import ClientConfig, RegistrySession, RetryPolicy
from sansio_registry.auth import Challenge, Credentials, Scope, TokenCache, bearer_token
from sansio_registry.config.registries_conf import Mirror, RegistriesConf, Registry
from sansio_registry.errors import (
    RemoteProtocolError,
    ServerError,
    TooManyRequests,
    TransportError,
)
from sansio_registry.flow import Flow, fetch
from sansio_registry.flows.exchange import retrying
from sansio_registry.http import Request, Response
from sansio_registry.reference import ImageRef
from sansio_registry.testing import run_sync
from sansio_registry.testing.transcript import Expect, Transcript, reply

URL: Final = "https://reg.test/v2/ns/app/manifests/v1"
DATE: Final = "Sun, 10 Mar 2024 12:00:00 GMT"
EXACT: Final = RetryPolicy()  # no jitter seed: waits are exact


def _run(
    script: Sequence[Expect], request: Request | None = None, policy: RetryPolicy = EXACT
) -> tuple[Response, list[float], Transcript]:
    """Send ``request`` (a GET of URL) through ``retrying``; the answer and the waits."""
    transcript = Transcript(list(script))
    sleeps: list[float] = []
    flow = Flow(retrying(request or Request(method="GET", url=URL), fetch, policy))
    response = run_sync(flow, transcript, sleep=sleeps.append)
    return response, sleeps, transcript


def _get(answer: Response | TransportError, method: str = "GET") -> Expect:
    return Expect(method, URL, answer)


# --- bursts of 5xx ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_short_5xx_burst_is_waited_out(status: int) -> None:
    response, sleeps, _ = _run([_get(reply(status)), _get(reply(status)), _get(reply(200, b"m"))])
    assert response.status == 200 and response.body == b"m"
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_long_5xx_burst_ends_after_three_attempts_with_the_last_answer(status: int) -> None:
    response, sleeps, _ = _run([_get(reply(status))] * 3)
    assert response.status == status
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 501, 505])
def test_other_statuses_are_not_resent(status: int) -> None:
    response, sleeps, _ = _run([_get(reply(status))])
    assert response.status == status and sleeps == []


def test_a_5xx_burst_through_a_session_ends_in_the_manifest() -> None:
    manifest = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    oci = ("Content-Type", "application/vnd.oci.image.manifest.v1+json")
    script = Transcript(
        [
            Expect("GET", "https://reg.test/v2/", reply(503)),  # the ping is retried too
            Expect("GET", "https://reg.test/v2/", reply(200)),
            _get(reply(502)),
            _get(reply(200, manifest, oci)),
        ]
    )
    sleeps: list[float] = []
    session = RegistrySession(ClientConfig())
    got = run_sync(
        session.get_manifest(ImageRef.parse("reg.test/ns/app:v1")), script, sleep=sleeps.append
    )
    assert got.raw == manifest
    assert sleeps == [1.0, 1.0]  # each request has its own back-off


# --- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_waited_and_doubles_into_the_next_wait(status: int) -> None:
    script = [
        _get(reply(status, b"", ("Retry-After", "5"))),
        _get(reply(status)),
        _get(reply(200)),
    ]
    response, sleeps, _ = _run(script)
    assert response.status == 200
    assert sleeps == [5.0, 10.0]


def test_429_is_resent_up_to_five_times_in_all() -> None:
    response, sleeps, _ = _run([_get(reply(429))] * 5)
    assert response.status == 429
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_retry_after_http_date_is_judged_by_the_responses_date() -> None:
    later = "Sun, 10 Mar 2024 12:00:42 GMT"
    limited = reply(429, b"", ("Date", DATE), ("Retry-After", later))
    _, sleeps, _ = _run([_get(limited), _get(reply(200))])
    assert sleeps == [42.0]


def test_retry_after_http_date_without_a_date_falls_back_to_back_off() -> None:
    limited = reply(503, b"", ("Retry-After", "Sun, 10 Mar 2024 12:00:42 GMT"))
    _, sleeps, _ = _run([_get(limited), _get(reply(200))])
    assert sleeps == [1.0]


def test_retry_after_zero_resends_at_once() -> None:
    _, sleeps, _ = _run([_get(reply(429, b"", ("Retry-After", "0"))), _get(reply(200))])
    assert sleeps == []


def test_retry_after_is_ignored_on_a_500() -> None:
    _, sleeps, _ = _run([_get(reply(500, b"", ("Retry-After", "30"))), _get(reply(200))])
    assert sleeps == [1.0]


@pytest.mark.parametrize(
    ("status", "error", "header", "asked"),
    [
        (429, TooManyRequests, "3600", "3600"),
        (503, ServerError, "3600", "3600"),
        (429, TooManyRequests, "Sun, 10 Mar 2024 13:00:00 GMT", "3600"),
        (429, TooManyRequests, "61", "61"),
    ],
)
def test_a_retry_after_beyond_the_policy_fails_at_once(
    status: int, error: type[Exception], header: str, asked: str
) -> None:
    limited = reply(status, b"", ("Date", DATE), ("Retry-After", header))
    sleeps: list[float] = []
    flow = Flow(retrying(Request(method="GET", url=URL), fetch, EXACT))
    with pytest.raises(error) as info:
        run_sync(flow, Transcript([_get(limited)]), sleep=sleeps.append)
    assert sleeps == []
    assert str(info.value).endswith(
        f"the registry asks to wait {asked} s; the retry policy allows at most 60 s"
    )
    assert info.value.status == status  # type: ignore[attr-defined]


def test_a_retry_after_of_exactly_the_cap_is_waited() -> None:
    _, sleeps, _ = _run([_get(reply(429, b"", ("Retry-After", "60"))), _get(reply(200))])
    assert sleeps == [60.0]


# --- what may be resent -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_a_request_not_marked_idempotent_is_never_resent(method: str) -> None:
    request = Request(method=method, url=URL)
    response, sleeps, _ = _run([_get(reply(503), method)], request)
    assert response.status == 503 and sleeps == []
    refused = TransportError("reset", before_response=True)
    with pytest.raises(TransportError):
        _run([_get(refused, method)], request)


def test_a_post_marked_idempotent_is_resent() -> None:
    request = Request(method="POST", url=URL, body=b"grant", idempotent=True)
    response, sleeps, transcript = _run(
        [_get(reply(503), "POST"), _get(reply(200), "POST")], request
    )
    assert response.status == 200 and sleeps == [1.0]
    assert [r.body for r in transcript.seen] == [b"grant", b"grant"]


def test_a_get_marked_not_idempotent_is_not_resent() -> None:
    request = Request(method="GET", url=URL, idempotent=False)
    assert _run([_get(reply(502))], request)[0].status == 502


def test_a_failure_before_the_response_is_resent() -> None:
    refused = TransportError("connection refused", before_response=True)
    response, sleeps, _ = _run([_get(refused), _get(refused), _get(reply(200))])
    assert response.status == 200 and sleeps == [1.0, 2.0]


def test_failures_before_the_response_end_after_three_attempts() -> None:
    refused = TransportError("connection refused", before_response=True)
    with pytest.raises(TransportError, match="connection refused"):
        _run([_get(refused)] * 3)


def test_a_failure_that_may_have_reached_the_server_is_not_resent() -> None:
    with pytest.raises(TransportError, match="reset mid-response"):
        _run([_get(TransportError("reset mid-response"))])  # before_response defaults to False


def test_an_insecure_ping_falls_back_to_http_without_waiting() -> None:
    refused = TransportError("TLS handshake: wrong version", before_response=True)
    script = Transcript(
        [
            Expect("GET", "https://reg.test/v2/", refused),
            Expect("GET", "http://reg.test/v2/", reply(200)),
            Expect("GET", "http://reg.test/v2/ns/app/tags/list", reply(200, b'{"tags":["v1"]}')),
        ]
    )
    sleeps: list[float] = []
    session = RegistrySession(ClientConfig(tls_verify=False))
    tags = run_sync(
        session.list_tags(ImageRef.parse("reg.test/ns/app")), script, sleep=sleeps.append
    )
    assert tags == ("v1",) and sleeps == []


# --- the policy's knobs -----------------------------------------------------------------------


def test_a_fixed_delay_replaces_back_off_but_not_retry_after() -> None:
    policy = RetryPolicy.of_flags(times=3, delay=0.5)
    script = [
        _get(reply(502)),
        _get(reply(429, b"", ("Retry-After", "4"))),
        _get(reply(502)),
        _get(reply(200)),
    ]
    _, sleeps, _ = _run(script, policy=policy)
    assert sleeps == [0.5, 4.0, 0.5]


def test_retry_times_zero_sends_once() -> None:
    response, sleeps, _ = _run([_get(reply(429))], policy=RetryPolicy.of_flags(times=0))
    assert response.status == 429 and sleeps == []


def test_waits_are_capped_by_max_delay() -> None:
    policy = RetryPolicy(attempts=6, first_delay=4.0, max_delay=10.0)
    _, sleeps, _ = _run([_get(reply(500))] * 5 + [_get(reply(200))], policy=policy)
    assert sleeps == [4.0, 8.0, 10.0, 10.0, 10.0]


def test_jitter_is_a_deterministic_spread_of_up_to_half_the_wait() -> None:
    seeded = RetryPolicy(jitter_seed=7)
    script = [_get(reply(503)), _get(reply(503)), _get(reply(200))]
    _, first, _ = _run(script, policy=seeded)
    _, again, _ = _run(script, policy=seeded)
    _, other, _ = _run(script, policy=RetryPolicy(jitter_seed=8))
    assert first == again  # the same seed replays the same waits
    assert first != other
    for waits in (first, other):
        assert 1.0 <= waits[0] < 1.5 and 2.0 <= waits[1] < 3.0


@given(st.integers(0, 2**64 - 1), st.integers(1, 8), st.text(max_size=20))
def test_a_jittered_wait_stays_within_its_bounds(seed: int, retry: int, key: str) -> None:
    policy = RetryPolicy(jitter_seed=seed, max_delay=30.0)
    base = 2.0**retry
    wait = policy.backoff(base, retry=retry, key=key)
    assert min(base, 30.0) <= wait <= min(1.5 * base, 30.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"attempts": 0}, {"throttled_attempts": 0}, {"first_delay": -1.0}, {"fixed_delay": -0.5}],
)
def test_a_policy_that_cannot_work_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_negative_retry_times_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy.of_flags(times=-1)


# --- the property: bounded whatever the registry does -----------------------------------------

ANSWERS = st.one_of(
    st.builds(
        lambda status, after: reply(status, b"", *((("Retry-After", after),) if after else ())),
        st.sampled_from([200, 404, 429, 500, 502, 503, 504]),
        st.one_of(st.none(), st.sampled_from(["0", "1", "59", "60", "-5", "x"])),
    ),
    st.builds(lambda before: TransportError("lost", before_response=before), st.booleans()),
)


@given(
    st.lists(ANSWERS, min_size=12, max_size=12),
    st.integers(1, 5),
    st.integers(1, 6),
    st.floats(0.0, 5.0),
    st.floats(1.0, 60.0),
    st.one_of(st.none(), st.integers(0, 2**32)),
)
def test_attempts_and_waits_are_bounded_by_the_policy(
    answers: list[Response | TransportError],
    attempts: int,
    throttled: int,
    first: float,
    cap: float,
    seed: int | None,
) -> None:
    policy = RetryPolicy(
        attempts=attempts,
        throttled_attempts=throttled,
        first_delay=first,
        max_delay=cap,
        jitter_seed=seed,
    )
    sent: list[Request] = []

    def transport(request: Request) -> Response:
        answer = answers[len(sent)]
        sent.append(request)
        if isinstance(answer, TransportError):
            raise answer
        return answer

    sleeps: list[float] = []
    flow = Flow(retrying(Request(method="GET", url=URL), fetch, policy))
    with contextlib.suppress(TransportError, TooManyRequests, ServerError):
        run_sync(flow, transport, sleep=sleeps.append)
    assert 1 <= len(sent) <= max(attempts, throttled)
    assert len(sleeps) <= len(sent) - 1
    assert all(0 < s <= cap for s in sleeps)
    assert sum(sleeps) <= (max(attempts, throttled) - 1) * cap


# --- token requests go through the same path --------------------------------------------------

REALM: Final = "https://auth.test/token"
CHALLENGE: Final = Challenge("bearer", (("realm", REALM), ("service", "reg")))
SCOPE: Final = Scope("repository", "ns/app", "pull")
TOKEN_URL: Final = f"{REALM}?scope=repository%3Ans%2Fapp%3Apull&service=reg"
TOKEN_BODY: Final = b'{"token":"t0k","expires_in":300}'


def _token(creds: Credentials, script: Sequence[Expect]) -> tuple[str, list[float]]:
    flow = Flow(
        bearer_token(
            CHALLENGE, [SCOPE], creds, TokenCache(), now=0.0, user_agent="ua", retry=EXACT
        )
    )
    sleeps: list[float] = []
    token = run_sync(flow, Transcript(list(script)), sleep=sleeps.append)
    return token, sleeps


def test_a_token_get_is_resent_after_a_503() -> None:
    script = [
        Expect("GET", TOKEN_URL, reply(503)),
        Expect("GET", TOKEN_URL, reply(200, TOKEN_BODY)),
    ]
    assert _token(Credentials(), script) == ("t0k", [1.0])


def test_an_oauth2_token_post_is_resent_after_a_lost_connection() -> None:
    lost = TransportError("connection refused", before_response=True)
    creds = Credentials(username="u", identity_token="refresh-me")
    script = [Expect("POST", REALM, lost), Expect("POST", REALM, reply(200, TOKEN_BODY))]
    assert _token(creds, script) == ("t0k", [1.0])


def test_a_token_get_redirected_to_another_origin_drops_the_basic_credentials() -> None:
    creds = Credentials("alice", "secret")
    url = f"{REALM}?account=alice&scope=repository%3Ans%2Fapp%3Apull&service=reg"
    script = [
        Expect(
            "GET",
            url,
            reply(307, b"", ("Location", "https://elsewhere.test/token")),
            present={"Authorization": None},
        ),
        Expect(
            "GET",
            "https://elsewhere.test/token",
            reply(200, TOKEN_BODY),
            absent=("Authorization",),
        ),
    ]
    assert _token(creds, script)[0] == "t0k"


def test_a_token_post_is_never_redirected_to_another_origin() -> None:
    creds = Credentials(username="u", identity_token="refresh-me")
    moved = reply(307, b"", ("Location", "https://elsewhere.test/token"))
    with pytest.raises(RemoteProtocolError, match="refusing to send a request body"):
        _token(creds, [Expect("POST", REALM, moved)])


def test_a_token_post_may_follow_a_redirect_on_its_own_origin() -> None:
    creds = Credentials(username="u", identity_token="refresh-me")
    moved = reply(307, b"", ("Location", "/token2"))
    script = [
        Expect("POST", REALM, moved),
        Expect("POST", "https://auth.test/token2", reply(200, TOKEN_BODY)),
    ]
    assert _token(creds, script)[0] == "t0k"


# --- a dead mirror is passed over, a dead primary waited for ----------------------------------


def test_an_unreachable_mirror_is_passed_over_without_waiting() -> None:
    manifest = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    oci = ("Content-Type", "application/vnd.oci.image.manifest.v1+json")
    refused = TransportError("connection refused", before_response=True)
    conf = RegistriesConf(
        registries=(
            Registry(prefix="reg.test", location="reg.test", mirrors=(Mirror("mirror.test"),)),
        )
    )
    script = Transcript(
        [
            Expect("GET", "https://mirror.test/v2/", refused),  # once: the primary is next
            Expect("GET", "https://reg.test/v2/", refused),  # the last source: resent
            Expect("GET", "https://reg.test/v2/", reply(200)),
            _get(reply(200, manifest, oci)),
        ]
    )
    sleeps: list[float] = []
    session = RegistrySession(ClientConfig(registries=conf))
    source = run_sync(
        session.open_image(ImageRef.parse("reg.test/ns/app:v1")), script, sleep=sleeps.append
    )
    assert source.manifest.raw == manifest
    assert sleeps == [1.0]
