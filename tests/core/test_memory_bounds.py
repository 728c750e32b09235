"""Bounds that are not a single body: the token cache and the ping's answer."""

from __future__ import annotations

import pytest

from sansio_registry.auth import MAX_CACHED_TOKENS, BearerToken, TokenCache, TokenKey
from sansio_registry.errors import RegistryResponseError
from sansio_registry.flows.manifest import open_image
from sansio_registry.http import MAX_PING_BODY, Request, Response
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.transcript import reply


def key(n: int) -> TokenKey:
    return TokenKey(realm=f"https://auth.test/{n}", service="s", scopes=(), account="")


def token(n: int) -> BearerToken:
    return BearerToken(token=f"T{n}", expires_at=1e9)


def test_the_token_cache_keeps_at_most_its_cap_dropping_the_oldest() -> None:
    cache = TokenCache()
    for n in range(MAX_CACHED_TOKENS + 10):
        cache.put(key(n), token(n))
    assert len(cache) == MAX_CACHED_TOKENS == 256
    assert cache.get(key(9), now=0.0) is None  # the ten oldest went
    assert cache.get(key(10), now=0.0) == token(10)
    assert cache.get(key(MAX_CACHED_TOKENS + 9), now=0.0) == token(MAX_CACHED_TOKENS + 9)


def test_replacing_a_token_does_not_evict_another() -> None:
    cache = TokenCache()
    for n in range(MAX_CACHED_TOKENS):
        cache.put(key(n), token(n))
    cache.put(key(0), token(1000))
    assert len(cache) == MAX_CACHED_TOKENS
    assert cache.get(key(0), now=0.0) == token(1000)
    assert cache.get(key(1), now=0.0) == token(1)


def test_the_ping_reads_at_most_64_kib() -> None:
    asked: list[Request] = []

    def transport(request: Request) -> Response:
        asked.append(request)
        return reply(404)

    ref = ImageRef.parse("reg.test/ns/app:v1")
    with pytest.raises(RegistryResponseError, match="invalid status code from registry 404"):
        run_sync(open_image(ref, config=ClientConfig(), state=RegistryState()), transport)
    assert asked[0].url == "https://reg.test/v2/" and asked[0].max_body == MAX_PING_BODY
    assert MAX_PING_BODY == 64 * 1024
