"""TokenCache: what it is for, as a state machine, plus the key's identity rules.

The machine fetches tokens through ``bearer_token`` from a model token server whose clock is
its own (an epoch far from the client's monotonic clock) and checks what matters:

* isolation: a token issued for one (realm, service, scopes, account and password) is never
  served for another, and a cached token means no request;
* expiry by the server's clock: a token issued at ``issued_at`` for ``expires_in`` seconds (at
  least 60, Docker's token spec) is served while the server's time is before
  ``issued_at + expires_in``, whatever the client's clock says;
* eviction: ``invalidate(key, rejected)`` drops exactly the rejected token; a newer token under
  the same key, and every other key's token, stay.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sansio_registry.auth import (
    BearerToken,
    Challenge,
    Credentials,
    Scope,
    TokenCache,
    TokenKey,
    bearer_token,
    token_cache_key,
)
from sansio_registry.flow import Flow
from sansio_registry.http import Headers, Request, Response
from sansio_registry.testing import run_sync


@dataclass(frozen=True)
class Who:
    """One token identity: who asks which realm and service for which scopes."""

    realm: str
    service: str
    repos: tuple[str, ...]
    user: str = ""
    password: str = ""

    @property
    def challenge(self) -> Challenge:
        return Challenge("bearer", {"realm": self.realm, "service": self.service})

    @property
    def scopes(self) -> list[Scope]:
        return [Scope("repository", repo, "pull") for repo in self.repos]

    @property
    def creds(self) -> Credentials:
        return Credentials(self.user, self.password)

    @property
    def key(self) -> TokenKey:
        return token_cache_key(self.challenge, self.scopes, self.creds)


WHO = [
    Who("https://t/token", "svc", ("a",), "alice", "pw"),
    Who("https://t/token", "svc", ("a",), "alice", "pw2"),  # another password, same account
    Who("https://t/token", "svc", ("a",), "bob", "pw"),
    Who("https://t/token", "svc", ("a",)),  # anonymous
    Who("https://t/token", "svc", ("b",), "alice", "pw"),
    Who("https://t/token", "svc", ("a", "b"), "alice", "pw"),
    Who("https://t/token", "other", ("a",), "alice", "pw"),
    Who("https://u/token", "svc", ("a",), "alice", "pw"),
]
MIN_LIFETIME = 60  # Docker's token spec: a shorter (or missing) expires_in means 60 seconds
SERVER_EPOCH = 1_800_000_000  # the server's clock when the client's monotonic clock reads 0


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Issued:
    token: str
    who: Who
    valid_until: int  # on the server's clock


class TokenCacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cache = TokenCache()
        self.now = 0  # the client's monotonic clock, whole seconds (HTTP dates have no more)
        self.server_offset = SERVER_EPOCH
        self.current: dict[Who, Issued] = {}  # the last token issued for each identity
        self.history: list[Issued] = []

    @initialize(offset=st.integers(-100_000_000, 100_000_000))
    def server_clock(self, offset: int) -> None:
        self.server_offset = SERVER_EPOCH + offset

    def server_now(self) -> int:
        return self.server_offset + self.now

    def valid(self, issued: Issued) -> bool:
        return self.server_now() < issued.valid_until

    @rule(
        who=st.sampled_from(WHO),
        expires_in=st.none() | st.integers(-10, 400),
        age=st.integers(0, 120),
    )
    def need_token(self, who: Who, expires_in: int | None, age: int) -> None:
        """Ask for a token; a fetch happens only when no valid token for ``who`` is cached."""
        asked: list[Issued] = []

        def token_server(request: Request) -> Response:
            query = parse_qs(urlsplit(request.url).query)
            assert request.url.startswith(who.realm + "?")
            assert query.get("service") == [who.service]
            assert sorted(query["scope"]) == [f"repository:{r}:pull" for r in who.repos]
            assert query.get("account") == ([who.user] if who.user else None)
            if who.user:
                assert request.headers.get("authorization") == _basic(who.user, who.password)
            issued_at = self.server_now() - age
            lifetime = max(expires_in or 0, MIN_LIFETIME)
            issued = Issued(f"T{len(self.history) + 1}", who, issued_at + lifetime)
            asked.append(issued)
            doc: dict[str, object] = {"token": issued.token, "issued_at": _rfc3339(issued_at)}
            if expires_in is not None:
                doc["expires_in"] = expires_in
            headers = Headers.of([("Date", formatdate(self.server_now(), usegmt=True))])
            body = json.dumps(doc).encode()
            return Response(status=200, headers=headers, body=body, received_at=self.now)

        steps = bearer_token(
            who.challenge, who.scopes, who.creds, self.cache, now=self.now, user_agent="t"
        )
        token = run_sync(Flow(steps), token_server)
        cached = self.current.get(who)
        if cached is not None and self.valid(cached):
            assert (token, asked) == (cached.token, [])
        else:
            assert len(asked) == 1
            assert token == asked[0].token
            self.current[who] = asked[0]
            self.history.append(asked[0])

    @rule(seconds=st.integers(0, 200))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds

    @rule(who=st.sampled_from(WHO))
    def registry_rejects_the_current_token(self, who: Who) -> None:
        issued = self.current.pop(who, None)
        self.cache.invalidate(who.key, rejected=issued.token if issued else "T-unknown")

    @rule(data=st.data())
    def registry_rejects_an_older_token(self, data: st.DataObject) -> None:
        """A flow still holding a replaced token is refused: the newer token stays."""
        stale = [i for i in self.history if self.current.get(i.who) is not i]
        if stale:
            old = data.draw(st.sampled_from(stale))
            self.cache.invalidate(old.who.key, rejected=old.token)

    @invariant()
    def each_identity_gets_its_own_token_while_the_server_says_valid(self) -> None:
        for who in WHO:
            got = self.cache.get(who.key, self.now)
            issued = self.current.get(who)
            if issued is None or not self.valid(issued):
                assert got is None
            else:
                assert got is not None
                assert got.token == issued.token


def _rfc3339(server_time: int) -> str:
    return datetime.fromtimestamp(server_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


TestTokenCacheMachine = TokenCacheMachine.TestCase


def test_expiry_boundary_is_exclusive() -> None:
    cache = TokenCache()
    cache.put(WHO[0].key, BearerToken("T", 100.0))
    assert cache.get(WHO[0].key, 99.999) == BearerToken("T", 100.0)
    assert cache.get(WHO[0].key, 100.0) is None
    assert cache.get(WHO[0].key, 50.0) is None  # the expired entry was dropped
    cache.put(WHO[0].key, BearerToken("T", 100.0))
    cache.clear()
    assert len(cache) == 0


CHALLENGE = Challenge("bearer", {"realm": "https://t/token", "service": "svc"})
PULL = Scope("repository", "a", "pull")


def test_key_separates_every_credential_and_request_part() -> None:
    base = token_cache_key(CHALLENGE, [PULL], Credentials("alice", "pw"))
    variants = [
        token_cache_key(CHALLENGE, [PULL], Credentials("alice", "other")),
        token_cache_key(CHALLENGE, [PULL], Credentials("bob", "pw")),
        token_cache_key(CHALLENGE, [PULL], Credentials("alice", "pw", identity_token="R")),
        token_cache_key(CHALLENGE, [PULL], Credentials()),
        token_cache_key(
            CHALLENGE, [PULL, Scope("repository", "b", "pull")], Credentials("alice", "pw")
        ),
        token_cache_key(CHALLENGE, [Scope("repository", "a", "*")], Credentials("alice", "pw")),
        token_cache_key(
            Challenge("bearer", {"realm": "https://t/token"}), [PULL], Credentials("alice", "pw")
        ),
        token_cache_key(
            Challenge("bearer", {"realm": "https://u/token", "service": "svc"}),
            [PULL],
            Credentials("alice", "pw"),
        ),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)


def test_key_ignores_scope_order_and_registry_token() -> None:
    b = Scope("repository", "b", "pull")
    assert token_cache_key(CHALLENGE, [PULL, b], Credentials("u", "p")) == token_cache_key(
        CHALLENGE, [b, PULL], Credentials("u", "p")
    )
    assert token_cache_key(CHALLENGE, [PULL], Credentials("u", "p")).scopes == (
        "repository:a:pull",
    )


@pytest.mark.parametrize("secret", ["pw-very-secret", "R-refresh-secret"])
def test_key_and_token_reprs_hide_secrets(secret: str) -> None:
    key = token_cache_key(CHALLENGE, [PULL], Credentials("u", secret, identity_token=secret))
    assert secret not in repr(key)
    assert key.secret_id not in repr(key)
    token = BearerToken("TOKEN-SECRET", 5.0)
    assert "TOKEN-SECRET" not in repr(token)
    cache = TokenCache()
    cache.put(key, token)
    assert "TOKEN-SECRET" not in repr(cache)
