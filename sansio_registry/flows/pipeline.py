"""The authenticated request pipeline every registry request goes through.

See docs/behaviour.md#request-pipeline. Below it, :mod:`sansio_registry.flows.exchange`
follows redirects and retries (429, 5xx, connections that failed before any response byte)
as the endpoint's :class:`RetryPolicy` allows.

* :func:`send` — ping once per endpoint, add ``Authorization`` from the ping's first supported
  challenge, and retry once with an extra scope on ``insufficient_scope``. Beyond Go: a 401
  ``invalid_token`` (RFC 6750 §3.1) evicts the token that was sent (no other) and retries
  once with a fresh one.

Time comes from the flow (``RegistryState.now``, fed by ``Flow(on_time=state.observe)``);
nothing here writes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from sansio_registry.auth import (
    Challenge,
    Credentials,
    Scope,
    choose_challenge,
    insufficient_scope,
    parse_challenges,
    token_cache_key,
)
from sansio_registry.auth import authorization as auth_header
from sansio_registry.flow import Steps, fetch, open_
from sansio_registry.flows.exchange import Exchange, retrying
from sansio_registry.flows.ping import API_VERSION_HEADER, ping
from sansio_registry.http import Headers, Request, Response, ResponseHead
from sansio_registry.retry_policy import RetryPolicy
from sansio_registry.state import PingResult, RegistryState
from sansio_registry.url_policy import STRICT_POLICY, UrlPolicy

__all__ = ["Endpoint", "ensure_ping", "send", "send_streamed"]

R = TypeVar("R", bound=ResponseHead)

_ANONYMOUS: Final = Credentials()


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One registry endpoint as one attempt sees it (docs/behaviour.md#endpoints-and-tls).

    ``host`` is the connection host (``registry-1.docker.io`` for ``docker.io``);
    ``repository`` the physical path used in URLs and token scopes.
    """

    host: str
    repository: str
    insecure: bool = False
    credentials: Credentials | None = dataclasses.field(default=None, repr=False)
    user_agent: str
    actions: str = "pull"
    #: A registries.conf mirror rather than the primary location (for error reports).
    is_mirror: bool = False
    #: How requests to this endpoint (and its token realm) are retried.
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    #: How URLs the registry sends (redirects, token realms) are checked and verified.
    policy: UrlPolicy = dataclasses.field(default=STRICT_POLICY, repr=False)

    @property
    def scope(self) -> Scope:
        """The token scope for this endpoint's repository."""
        return Scope("repository", self.repository, self.actions)


def ensure_ping(endpoint: Endpoint, state: RegistryState) -> Steps[PingResult]:
    """Sub-flow: the endpoint's ping result, asking the registry only the first time."""
    key = (endpoint.host, endpoint.insecure)
    known = state.pings.get(key)
    if known is not None:
        return known
    result = yield from ping(
        endpoint.host,
        insecure=endpoint.insecure,
        user_agent=endpoint.user_agent,
        retry=endpoint.retry,
        fallback=endpoint.is_mirror,
        urls=endpoint.policy,
    )
    state.pings[key] = result
    return result


def _invalid_token(challenges: tuple[Challenge, ...]) -> bool:
    return any(c.scheme == "bearer" and c.get("error") == "invalid_token" for c in challenges)


def _evict(
    challenges: tuple[Challenge, ...],
    scopes: tuple[Scope, ...],
    creds: Credentials,
    state: RegistryState,
) -> None:
    """Forget exactly the token that was sent for ``scopes`` (other scopes keep theirs)."""
    challenge = choose_challenge(challenges)
    if challenge is not None:
        state.tokens.invalidate(token_cache_key(challenge, scopes, creds))


def send(
    endpoint: Endpoint,
    state: RegistryState,
    path: str,
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    max_body: int,
    coalesce: bool = False,
) -> Steps[Response]:
    """Sub-flow: an authenticated registry request to ``path`` (``/v2/...``), buffered.

    ``coalesce`` marks a request whose answer identical concurrent requests (same URL and
    headers, so the same credentials) may share: blobs by digest, tag-list pages.
    """
    # The sub-flow itself, not a generator around it: one layer less on every step.
    return _send(
        endpoint, state, path, method, headers, max_body, exchange=fetch, coalesce=coalesce
    )


def send_streamed(
    endpoint: Endpoint,
    state: RegistryState,
    path: str,
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    max_body: int,
) -> Steps[ResponseHead]:
    """Sub-flow: like :func:`send`, but a 2xx body stays with the driver (blobs).

    ``max_body`` then bounds only the body of a non-2xx answer, which arrives read in full.
    """
    return _send(endpoint, state, path, method, headers, max_body, exchange=open_)


def _send(
    endpoint: Endpoint,
    state: RegistryState,
    path: str,
    method: str,
    headers: Sequence[tuple[str, str]],
    max_body: int,
    *,
    exchange: Exchange[R],
    coalesce: bool = False,
) -> Steps[R]:
    pinged = yield from ensure_ping(endpoint, state)
    creds = endpoint.credentials or _ANONYMOUS
    url = f"{pinged.scheme}://{endpoint.host}{path}"
    scopes: tuple[Scope, ...] = (endpoint.scope,)
    retried = False
    while True:
        authorization = yield from auth_header(
            pinged.challenges,
            scopes,
            creds,
            state.tokens,
            now=state.now,
            user_agent=endpoint.user_agent,
            allow_insecure_realm=endpoint.insecure,
            retry=endpoint.retry,
            policy=endpoint.policy,
        )
        lines = [API_VERSION_HEADER, *headers, ("User-Agent", endpoint.user_agent)]
        if authorization is not None:
            lines.append(("Authorization", authorization))
        request = Request(
            method=method,
            url=url,
            headers=Headers(tuple(lines)),
            max_body=max_body,
            tls_verify=not endpoint.insecure,
            coalesce_key=(method, url, tuple(lines), max_body) if coalesce else None,
        )
        response = yield from retrying(request, exchange, endpoint.retry, endpoint.policy)
        bearer = authorization is not None and authorization.startswith("Bearer ")
        if response.status != 401 or retried or not bearer or creds.registry_token:
            return response
        challenges = parse_challenges(response.headers.get_all("WWW-Authenticate"))
        extra = insufficient_scope(challenges)
        if extra is not None:
            scopes = (endpoint.scope, extra)
        elif _invalid_token(challenges):
            # Beyond Go: the token went stale; fetch a fresh one once.
            _evict(pinged.challenges, scopes, creds, state)
        else:
            return response
        retried = True
