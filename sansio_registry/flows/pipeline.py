"""The authenticated request pipeline every registry request goes through (SPEC §5-§7).

Below it, :mod:`sansio_registry.flows.exchange` follows redirects and backs off on 429.

* :func:`send` — ping once per endpoint, add ``Authorization`` from the ping's first supported
  challenge (SPEC §7.2), and retry once with an extra scope on ``insufficient_scope``
  (SPEC §6). Beyond Go (SPEC §18.5): a 401 ``invalid_token`` answered to a *cached* token
  evicts it and retries once with a fresh one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from sansio_registry.auth import (
    Challenge,
    Credentials,
    Scope,
    basic_authorization,
    bearer_token,
    choose_challenge,
    parse_challenges,
    parse_scope,
)
from sansio_registry.errors import RegistryClientError
from sansio_registry.flow import Steps
from sansio_registry.flows.exchange import retry_429
from sansio_registry.flows.ping import API_VERSION_HEADER, PingResult, ping
from sansio_registry.http import Headers, Purpose, Request, Response
from sansio_registry.session import RegistryState

__all__ = ["Endpoint", "ensure_ping", "send"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One registry endpoint as one attempt sees it (SPEC §4).

    ``host`` is the connection host (``registry-1.docker.io`` for ``docker.io``);
    ``repository`` the physical path used in URLs and token scopes.
    """

    host: str
    repository: str
    insecure: bool = False
    credentials: Credentials | None = dataclasses.field(default=None, repr=False)
    user_agent: str
    actions: str = "pull"

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
        endpoint.host, insecure=endpoint.insecure, user_agent=endpoint.user_agent
    )
    state.pings[key] = result
    return result


def _authorization(
    endpoint: Endpoint,
    state: RegistryState,
    challenge: Challenge | None,
    extra: Scope | None,
) -> Steps[str | None]:
    if challenge is None:
        return None
    creds = endpoint.credentials or Credentials()
    if challenge.scheme == "basic":
        return basic_authorization(creds)
    scopes: Sequence[Scope] = (endpoint.scope,) if extra is None else (endpoint.scope, extra)
    token = yield from bearer_token(
        challenge,
        scopes,
        creds,
        state.tokens,
        now=state.now,
        user_agent=endpoint.user_agent,
        allow_insecure_realm=endpoint.insecure,
    )
    return f"Bearer {token}"


def _bearer_error(response: Response) -> tuple[str, str]:
    """(error, scope) of the first bearer challenge with an ``error`` parameter."""
    for challenge in parse_challenges(response.headers.get_all("WWW-Authenticate")):
        if challenge.scheme == "bearer":
            params = dict(challenge.params)
            if "error" in params:
                return params["error"], params.get("scope", "")
    return "", ""


def send(
    endpoint: Endpoint,
    state: RegistryState,
    path: str,
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    purpose: Purpose,
    max_body: int,
) -> Steps[Response]:
    """Sub-flow: an authenticated registry request to ``path`` (``/v2/...``)."""
    pinged = yield from ensure_ping(endpoint, state)
    challenge = choose_challenge(pinged.challenges)
    url = f"{pinged.scheme}://{endpoint.host}{path}"
    extra: Scope | None = None
    retried = False
    while True:
        authorization = yield from _authorization(endpoint, state, challenge, extra)
        lines = [API_VERSION_HEADER, *headers, ("User-Agent", endpoint.user_agent)]
        if authorization is not None:
            lines.append(("Authorization", authorization))
        request = Request(
            method=method,
            url=url,
            headers=Headers(tuple(lines)),
            purpose=purpose,
            max_body=max_body,
            tls_verify=not endpoint.insecure,
        )
        response = yield from retry_429(request)
        state.now = max(state.now, response.received_at)
        if response.status != 401 or retried or challenge is None:
            return response
        if challenge.scheme != "bearer" or (endpoint.credentials or Credentials()).registry_token:
            return response
        error, scope_text = _bearer_error(response)
        if error == "insufficient_scope" and scope_text:
            try:
                extra = parse_scope(scope_text)
            except RegistryClientError:
                return response  # SPEC §6: unparsable scopes are silently not retried
        elif error == "invalid_token":
            state.tokens.clear()
        else:
            return response
        retried = True
