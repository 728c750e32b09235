"""Registry authentication: challenges, credentials, bearer tokens and their cache.

See docs/behaviour.md#authentication-challenges and docs/behaviour.md#bearer-tokens.

Everything here is pure: the token sub-flow sends the token request through the same exchange
path as every registry request (redirects and retries:
:func:`~sansio_registry.flows.exchange.retrying`); time comes in as data (``now`` for cache
lookups, ``Response.received_at`` for expiry), never from a clock.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Final
from urllib.parse import quote_plus, unquote_plus, urlsplit, urlunsplit

import msgspec

from sansio_registry import go_json
from sansio_registry.challenge import (
    Challenge,
    choose_challenge,
    parse_challenges,
    parse_www_authenticate,
)
from sansio_registry.credentials import Credentials
from sansio_registry.errors import (
    LocalProtocolError,
    RemoteProtocolError,
)
from sansio_registry.flow import Steps, fetch
from sansio_registry.flows.exchange import retrying
from sansio_registry.http import (
    MAX_TOKEN_BODY,
    Headers,
    Origin,
    Request,
    Response,
    parse_http_date,
)
from sansio_registry.response_errors import simple_error
from sansio_registry.retry_policy import RetryPolicy
from sansio_registry.url_policy import STRICT_POLICY, UrlPolicy

__all__ = [
    "MAX_CACHED_TOKENS",
    "MIN_TOKEN_LIFETIME",
    "BearerToken",
    "Challenge",
    "Credentials",
    "Scope",
    "TokenCache",
    "TokenKey",
    "authorization",
    "basic_authorization",
    "bearer_token",
    "choose_challenge",
    "insufficient_scope",
    "parse_challenges",
    "parse_scope",
    "parse_token_response",
    "parse_www_authenticate",
    "token_cache_key",
    "token_error_context",
    "token_request",
]

#: Shorter (or missing) token lifetimes are raised to this many seconds.
MIN_TOKEN_LIFETIME: Final = 60

_OAUTH2_CLIENT_ID: Final = "containers/image"


# --------------------------------------------------------------------------------------------
# Scopes (the insufficient_scope retry: docs/behaviour.md#request-pipeline)


@dataclass(frozen=True, slots=True)
class Scope:
    """A token scope ``<type>:<name>:<actions>``, e.g. ``repository:ns/app:pull``."""

    type: str
    name: str
    actions: str

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{self.actions}"

    @property
    def complete(self) -> bool:
        """Whether all three parts are non-empty (only those go into a token request)."""
        return bool(self.type and self.name and self.actions)


def parse_scope(text: str) -> Scope:
    """Split a scope on ``:`` into exactly three parts (Go's ``parseAuthScope``)."""
    parts = text.split(":")
    if len(parts) != 3:
        raise RemoteProtocolError(f"error parsing auth scope: '{text}'")
    return Scope(parts[0], parts[1], parts[2])


def insufficient_scope(challenges: Iterable[Challenge]) -> Scope | None:
    """The extra scope a 401 asks for, or ``None`` when there is no usable one.

    The first ``bearer`` challenge with ``error="insufficient_scope"`` and a non-empty scope
    that parses wins; unparseable scopes are skipped, as in Go.
    """
    for challenge in challenges:
        if challenge.scheme != "bearer" or challenge.get("error") != "insufficient_scope":
            continue
        text = challenge.get("scope")
        if not text:
            continue
        try:
            return parse_scope(text)
        except RemoteProtocolError:
            continue
    return None


# --------------------------------------------------------------------------------------------
# Credentials


def basic_authorization(creds: Credentials) -> str:
    """``Basic base64(user:password)``; sent even for empty credentials (``Basic Og==``)."""
    raw = f"{creds.username}:{creds.password}".encode(errors="surrogateescape")
    return "Basic " + base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------------------------
# Token requests (the Docker token spec: GET, or the OAuth2 POST with a refresh token)


@dataclass(frozen=True, slots=True)
class TokenKey:
    """Identity of a bearer token: who asked whom for what.

    ``secret_id`` is a digest of the secret material, so that two credential sets with the same
    username never share a cached (or coalesced) token; it is left out of repr.
    """

    realm: str
    service: str
    scopes: tuple[str, ...]
    account: str
    secret_id: str = field(default="", repr=False)


def token_cache_key(challenge: Challenge, scopes: Sequence[Scope], creds: Credentials) -> TokenKey:
    """The cache (and coalescing) key of the token that ``token_request`` would fetch."""
    secret_id = ""
    if creds.password or creds.identity_token:
        material = "\0".join((creds.password, creds.identity_token))
        secret_id = hashlib.sha256(material.encode(errors="surrogateescape")).hexdigest()
    return TokenKey(
        realm=challenge.get("realm") or "",
        service=challenge.get("service") or "",
        scopes=tuple(sorted({str(s) for s in scopes})),
        account=creds.username,
        secret_id=secret_id,
    )


_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _query_unescape(s: str) -> str | None:
    if _BAD_PERCENT.search(s):
        return None
    return unquote_plus(s, errors="surrogateescape")


def _parse_query(query: str) -> dict[str, list[str]]:
    """Go's ``url.ParseQuery`` (1.17+): ``&`` only, pairs with ``;`` or bad escapes dropped."""
    out: dict[str, list[str]] = {}
    for part in query.split("&"):
        if not part or ";" in part:
            continue
        raw_key, _, raw_value = part.partition("=")
        key = _query_unescape(raw_key)
        value = _query_unescape(raw_value)
        if key is None or value is None:
            continue
        out.setdefault(key, []).append(value)
    return out


def _form_encode(params: Mapping[str, Sequence[str]]) -> str:
    """Go's ``url.Values.Encode``: keys sorted, values of one key in order, ``+`` for space."""

    def esc(s: str) -> str:
        return quote_plus(s, safe="", errors="surrogateescape")

    return "&".join(f"{esc(k)}={esc(v)}" for k in sorted(params) for v in params[k])


def token_error_context(creds: Credentials) -> str:
    """The error prefix Go uses for a failed token request of this flow."""
    if creds.identity_token:
        return "Trying to obtain access token"
    return "Requesting bearer token"


def token_request(
    challenge: Challenge,
    scopes: Sequence[Scope],
    creds: Credentials,
    *,
    user_agent: str,
    allow_insecure_realm: bool = False,
    policy: UrlPolicy = STRICT_POLICY,
) -> Request:
    """The token request for ``challenge``: the OAuth2 POST flow with an identity token, else GET.

    Refuses (RemoteProtocolError) to send a password or refresh token to a plain-``http://``
    realm unless ``allow_insecure_realm`` (the registry itself being insecure implies it).
    The realm's TLS is verified as ``policy`` says for its origin; the request carries no
    registry ``Authorization`` (only the realm's own Basic credentials). Its redirects are
    followed by the same rules as every request's: the Basic credentials never reach another
    origin, and an OAuth2 POST's body is never sent there.
    """
    realm = challenge.get("realm")
    if realm is None:
        raise RemoteProtocolError("missing realm in bearer auth challenge")
    try:
        origin = Origin.of(realm)
    except LocalProtocolError:
        raise RemoteProtocolError(
            f"invalid realm {realm!r} in bearer auth challenge: not an absolute http(s) URL"
        ) from None
    parts = urlsplit(realm)
    params = _parse_query(parts.query)
    service = challenge.get("service")
    post = bool(creds.identity_token)
    sends_secret = post or bool(creds.username and creds.password)
    if sends_secret and origin.scheme == "http" and not allow_insecure_realm:
        raise RemoteProtocolError(
            f"refusing to send credentials to the token realm {realm} over plain HTTP "
            "(the registry is not configured as insecure)"
        )
    if not post and creds.username:
        params.setdefault("account", []).append(creds.username)
    if service:
        params.setdefault("service", []).append(service)
    for scope in scopes:
        if scope.complete:
            params.setdefault("scope", []).append(str(scope))
    key = token_cache_key(challenge, scopes, creds)
    headers = [("User-Agent", user_agent)]
    if post:
        params.setdefault("grant_type", []).append("refresh_token")
        params.setdefault("refresh_token", []).append(creds.identity_token)
        params.setdefault("client_id", []).append(_OAUTH2_CLIENT_ID)
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        return Request(
            method="POST",
            url=urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")),
            headers=Headers.of(headers),
            body=_form_encode(params).encode("ascii"),
            max_body=MAX_TOKEN_BODY,
            coalesce_key=key,
            # Asking for a token changes nothing on the server: safe to resend (RFC 6749 §6).
            idempotent=True,
            tls_verify=policy.verifies(origin),
        )
    if creds.username and creds.password:
        headers.append(("Authorization", basic_authorization(creds)))
    return Request(
        method="GET",
        url=urlunsplit((parts.scheme, parts.netloc, parts.path, _form_encode(params), "")),
        headers=Headers.of(headers),
        max_body=MAX_TOKEN_BODY,
        coalesce_key=key,
        idempotent=True,
        tls_verify=policy.verifies(origin),
    )


# --------------------------------------------------------------------------------------------
# Token responses (docs/behaviour.md#bearer-tokens)


@dataclass(frozen=True, slots=True)
class BearerToken:
    """A bearer token and the moment (in the driver's clock) it stops being usable."""

    token: str = field(repr=False)
    expires_at: float

    def __repr__(self) -> str:
        return f"BearerToken(token=<redacted>, expires_at={self.expires_at!r})"


_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{1,2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_GO_ZERO_TIME: Final = datetime(1, 1, 1, tzinfo=UTC)


def _parse_rfc3339(text: str) -> datetime:
    """Go 1.19 ``time.Parse(time.RFC3339, …)``; ValueError when it does not parse."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"parsing time {text!r} as RFC 3339 failed")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    micro = int((m.group(7) or ".0")[1:7].ljust(6, "0"))
    if m.group(8):
        tz = UTC
    else:
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(-offset if m.group(9) == "-" else offset)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def _bad_token(why: str) -> RemoteProtocolError:
    # The body is never quoted: it may hold the token itself.
    return RemoteProtocolError(f"decoding bearer token: {why}")


def parse_token_response(
    resp: Response,
    *,
    context: str = "Requesting bearer token",
    request: Request | None = None,
) -> BearerToken:
    """Decode a token endpoint's answer into a :class:`BearerToken`.

    ``expires_at = received_at + max(expires_in, 60) - age``, where ``age`` is how long before
    the server's ``Date`` the token was issued (``issued_at``), when both are known: the
    server's clock is only compared with itself, so client clock skew does not matter.
    """
    method = request.method if request is not None else ""
    url = request.url if request is not None else ""
    if resp.status != 200:
        # The "simple" wrapper (docs/behaviour.md#registry-errors): 401, 429, other statuses.
        raise simple_error(resp, method=method, url=url, context=context)
    try:
        doc = go_json.decode_any(resp.body)
    except msgspec.DecodeError:
        raise _bad_token("the response is not JSON") from None
    if doc is None:  # Go 5.23.1 crashes here; upstream treats it as an empty token
        return BearerToken("", resp.received_at + MIN_TOKEN_LIFETIME)
    if not isinstance(doc, dict):
        raise _bad_token("the response is not a JSON object")
    token, access_token, expires_in, issued_raw = "", "", 0, None
    for k, v in doc.items():
        name = go_json.fold_key(k)
        if name in ("token", "access_token"):
            if v is not None and not isinstance(v, str):
                raise _bad_token(f"{name} is not a string")
            if name == "token":
                token = v or ""
            else:
                access_token = v or ""
        elif name == "expires_in":
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not -(2**63) <= v < 2**63:
                raise _bad_token("expires_in is not an integer")
            expires_in = v
        elif name == "issued_at":
            if v is not None and not isinstance(v, str):
                raise _bad_token("issued_at is not a string")
            issued_raw = v
    issued: datetime | None = None
    if issued_raw is not None:
        try:
            issued = _parse_rfc3339(issued_raw)
        except ValueError:
            raise _bad_token("issued_at is not an RFC 3339 time") from None
        if issued == _GO_ZERO_TIME:
            issued = None
    lifetime = max(expires_in, MIN_TOKEN_LIFETIME)
    age = 0.0
    date = parse_http_date(resp.headers.get("Date") or "")
    if issued is not None and date is not None:
        age = max((date - issued).total_seconds(), 0.0)
    return BearerToken(token or access_token, resp.received_at + lifetime - age)


# --------------------------------------------------------------------------------------------
# Token cache and the auth sub-flows


#: Tokens one client keeps (one per realm, service, scopes and account); past it the oldest
#: goes first.
MAX_CACHED_TOKENS: Final = 256


class TokenCache:
    """Bearer tokens by :class:`TokenKey`; never hands out an expired one.

    A plain object, shared by the flows of one client; ``now`` is always passed in. Holds at
    most :data:`MAX_CACHED_TOKENS`.
    """

    __slots__ = ("_tokens",)

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, BearerToken] = {}

    def get(self, key: TokenKey, now: float) -> BearerToken | None:
        """The token under ``key`` unless absent or expired (``now >= expires_at``)."""
        token = self._tokens.get(key)
        if token is None:
            return None
        if now >= token.expires_at:
            del self._tokens[key]
            return None
        return token

    def put(self, key: TokenKey, token: BearerToken) -> None:
        """Remember ``token`` under ``key`` (replacing any older one; the oldest goes when
        full)."""
        self._tokens.pop(key, None)
        if len(self._tokens) >= MAX_CACHED_TOKENS:
            del self._tokens[next(iter(self._tokens))]
        self._tokens[key] = token

    def invalidate(self, key: TokenKey, rejected: str | None = None) -> None:
        """Forget the token under ``key`` (e.g. after the registry rejected it).

        With ``rejected`` (the token the registry refused), only while that token is the one
        stored: a newer token another flow fetched meanwhile stays.
        """
        stored = self._tokens.get(key)
        if stored is not None and (rejected is None or stored.token == rejected):
            del self._tokens[key]

    def clear(self) -> None:
        """Forget every token."""
        self._tokens.clear()

    def prune(self, now: float) -> None:
        """Drop every expired token."""
        for key in [k for k, t in self._tokens.items() if now >= t.expires_at]:
            del self._tokens[key]

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:
        return f"<TokenCache with {len(self._tokens)} tokens>"


def bearer_token(
    challenge: Challenge,
    scopes: Sequence[Scope],
    creds: Credentials,
    cache: TokenCache,
    *,
    now: float,
    user_agent: str,
    allow_insecure_realm: bool = False,
    retry: RetryPolicy | None = None,
    policy: UrlPolicy = STRICT_POLICY,
) -> Steps[str]:
    """Sub-flow: the bearer token to send.

    The caller's own ``registry_token`` if any (nothing fetched), else a cached token, else one
    fetched from the realm (redirects followed and retried as ``retry`` allows, the default
    policy when ``None``), cached and returned.
    """
    if creds.registry_token:
        return creds.registry_token
    key = token_cache_key(challenge, scopes, creds)
    cached = cache.get(key, now)
    if cached is not None:
        return cached.token
    request = token_request(
        challenge,
        scopes,
        creds,
        user_agent=user_agent,
        allow_insecure_realm=allow_insecure_realm,
        policy=policy,
    )
    resp = yield from retrying(request, fetch, retry or RetryPolicy(), policy)
    token = parse_token_response(resp, context=token_error_context(creds), request=request)
    cache.put(key, token)
    return token.token


def authorization(
    challenges: Sequence[Challenge],
    scopes: Sequence[Scope],
    creds: Credentials,
    cache: TokenCache,
    *,
    now: float,
    user_agent: str,
    allow_insecure_realm: bool = False,
    retry: RetryPolicy | None = None,
    policy: UrlPolicy = STRICT_POLICY,
) -> Steps[str | None]:
    """Sub-flow: the ``Authorization`` value for a registry request, or ``None``.

    ``challenges`` are the ping's; ``scopes`` the client scope plus any extra scope.
    """
    challenge = choose_challenge(challenges)
    if challenge is None:
        return None
    if challenge.scheme == "basic":
        return basic_authorization(creds)
    token = yield from bearer_token(
        challenge,
        scopes,
        creds,
        cache,
        now=now,
        user_agent=user_agent,
        allow_insecure_realm=allow_insecure_realm,
        retry=retry,
        policy=policy,
    )
    return f"Bearer {token}"
