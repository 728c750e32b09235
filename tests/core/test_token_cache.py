"""TokenCache: a model-based state machine plus the key's identity rules."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sansio_registry.auth import (
    BearerToken,
    Challenge,
    Credentials,
    Scope,
    TokenCache,
    TokenKey,
    token_cache_key,
)

KEYS = [
    TokenKey("https://t/token", "svc", ("repository:a:pull",), "alice", "s1"),
    TokenKey("https://t/token", "svc", ("repository:a:pull",), "alice", "s2"),  # other password
    TokenKey("https://t/token", "svc", ("repository:a:pull",), "bob", "s1"),
    TokenKey("https://t/token", "svc", ("repository:a:pull", "repository:b:pull"), "alice", "s1"),
    TokenKey("https://t/token", "other", ("repository:a:pull",), "alice", "s1"),
    TokenKey("https://u/token", "svc", ("repository:a:pull",), "alice", "s1"),
    TokenKey("https://t/token", "svc", (), "", ""),
]


class TokenCacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cache = TokenCache()
        self.model: dict[TokenKey, BearerToken] = {}
        self.clock = 0.0
        self.serial = 0

    @rule(key=st.sampled_from(KEYS), lifetime=st.floats(-10, 400, allow_nan=False))
    def store(self, key: TokenKey, lifetime: float) -> None:
        self.serial += 1
        token = BearerToken(f"T{self.serial}", self.clock + lifetime)
        self.cache.put(key, token)
        self.model[key] = token

    @rule(key=st.sampled_from(KEYS))
    def lookup(self, key: TokenKey) -> None:
        got = self.cache.get(key, self.clock)
        expected = self.model.get(key)
        if expected is None or self.clock >= expected.expires_at:
            assert got is None
        else:
            assert got == expected

    @rule(dt=st.floats(0, 200, allow_nan=False))
    def advance(self, dt: float) -> None:
        self.clock += dt

    @rule(key=st.sampled_from(KEYS))
    def invalidate(self, key: TokenKey) -> None:
        self.cache.invalidate(key)
        self.model.pop(key, None)

    @rule()
    def prune(self) -> None:
        self.cache.prune(self.clock)
        assert len(self.cache) == sum(t.expires_at > self.clock for t in self.model.values())

    @invariant()
    def never_expired_never_foreign(self) -> None:
        for key in KEYS:
            got = self.cache.get(key, self.clock)
            if got is None:
                continue
            assert self.clock < got.expires_at
            assert got == self.model[key]  # the latest token stored under this very key


TestTokenCacheMachine = TokenCacheMachine.TestCase


def test_expiry_boundary_is_exclusive() -> None:
    cache = TokenCache()
    cache.put(KEYS[0], BearerToken("T", 100.0))
    assert cache.get(KEYS[0], 99.999) == BearerToken("T", 100.0)
    assert cache.get(KEYS[0], 100.0) is None
    assert cache.get(KEYS[0], 50.0) is None  # the expired entry was dropped
    cache.put(KEYS[0], BearerToken("T", 100.0))
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
