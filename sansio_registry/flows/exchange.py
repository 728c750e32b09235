"""Plain exchanges: redirects and bounded retries, below authentication.

See docs/behaviour.md#request-pipeline.

* :func:`follow_redirects` — at most 10 hops, no loops, each hop checked by the
  :class:`~sansio_registry.url_policy.UrlPolicy`: ``Authorization`` and cookies are dropped as
  soon as the origin (scheme, host, port) changes (Go keeps them for subdomains; we do not:
  credentials are bound to the origin they were given for), TLS is decided per origin and a
  verified ``https`` origin never leads to plain ``http``. A request body (a token POST's
  refresh token) never follows a redirect to another origin.
* :func:`retrying` — resends a retry-safe request (``Request.retry_safe``) on 429, 5xx, or a
  connection that failed before any response byte, as a :class:`RetryPolicy` allows: waits
  are ``Sleep`` effects, ``Retry-After`` is honoured on 429 and 503 (RFC 9110 §10.2.3), and
  one longer than the policy allows fails at once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Final, TypeAlias, TypeVar

from sansio_registry.errors import (
    RemoteProtocolError,
    TransportError,
    response_error_class,
)
from sansio_registry.flow import Steps, sleep
from sansio_registry.http import Request, ResponseHead, parse_http_date, status_text
from sansio_registry.retry import retry_after_delay
from sansio_registry.retry_policy import BACKOFF_STATUSES, THROTTLE_STATUSES, RetryPolicy
from sansio_registry.url_policy import MAX_REDIRECTS, STRICT_POLICY, UrlPolicy, shown_url

__all__ = ["MAX_REDIRECTS", "Exchange", "follow_redirects", "redirected", "retrying"]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_RETRIED: Final = THROTTLE_STATUSES | BACKOFF_STATUSES
_NOT_NAMED: Final = -math.inf

R = TypeVar("R", bound=ResponseHead)


def redirected(
    request: Request, status: int, location: str, urls: UrlPolicy = STRICT_POLICY
) -> Request:
    """The request to send after a redirect: where ``urls`` allows, with RFC 9110 §15.4
    method rules."""
    target = urls.redirect_target(request, location)
    method, body, headers = target.method, target.body, target.headers
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", b""
        headers = headers.without("Content-Type", "Content-Length")
    if body and target.origin != request.origin:
        raise RemoteProtocolError(
            f"refusing to send a request body to {target.origin} after a redirect from "
            f"{request.origin}"
        )
    return dataclasses.replace(target, headers=headers, method=method, body=body)


#: One exchange: :func:`~sansio_registry.flow.fetch` (buffered) or
#: :func:`~sansio_registry.flow.open_` (streamed: a 2xx body stays with the driver, any other
#: status arrives read in full, so redirects, 401 and 429 are handled the same way).
Exchange: TypeAlias = Callable[[Request], Steps[R]]


def follow_redirects(
    request: Request, exchange: Exchange[R], urls: UrlPolicy = STRICT_POLICY
) -> Steps[R]:
    """Sub-flow: one logical exchange, following up to :data:`MAX_REDIRECTS` redirects.

    A URL met twice in the chain is a loop: refused before it is asked again.
    """
    seen = {request.url}
    for _ in range(MAX_REDIRECTS + 1):
        response = yield from exchange(request)
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or not location:
            return response
        request = redirected(request, response.status, location, urls)
        if request.url in seen:
            raise RemoteProtocolError(
                f"redirect loop: {shown_url(request.url)} was already visited"
            )
        seen.add(request.url)
    raise RemoteProtocolError(f"stopped after {MAX_REDIRECTS} redirects")


def retrying(
    request: Request,
    exchange: Exchange[R],
    policy: RetryPolicy,
    urls: UrlPolicy = STRICT_POLICY,
    *,
    transport_retries: bool = True,
) -> Steps[R]:
    """Sub-flow: one logical exchange (redirects followed), resent as ``policy`` allows.

    Only a ``request.retry_safe`` request is resent; a transport failure only when it came
    before any response byte (and ``transport_retries``: an insecure ping's HTTPS probe falls
    back to HTTP at once instead). The last answer, whatever its status, goes to the caller.
    """
    base = policy.first_delay
    key = f"{request.method} {request.url}"
    attempt = 0
    while True:
        attempt += 1
        try:
            response = yield from follow_redirects(request, exchange, urls)
        except TransportError as exc:
            resend = transport_retries and exc.before_response and request.retry_safe
            if not resend or attempt >= policy.limit(None):
                raise
            wait = policy.backoff(base, retry=attempt, key=key)
            base *= 2
        else:
            status = response.status
            if status not in _RETRIED or not request.retry_safe or attempt >= policy.limit(status):
                return response
            named = _named_wait(response, request, policy) if status in THROTTLE_STATUSES else None
            if named is None:
                wait = policy.backoff(base, retry=attempt, key=key)
                base *= 2
            else:
                wait = named
                base = 2 * max(named, policy.first_delay)
        if wait > 0:
            yield from sleep(wait)


def _named_wait(response: ResponseHead, request: Request, policy: RetryPolicy) -> float | None:
    """The wait ``Retry-After`` asks for (``None`` when it names none); too long fails here."""
    named = retry_after_delay(
        response.headers.get("Retry-After"),
        fallback=_NOT_NAMED,
        now_http_date=parse_http_date(response.headers.get("Date") or ""),
    )
    if named == _NOT_NAMED:
        return None
    if named > policy.max_delay:
        status = response.status
        raise response_error_class(status, "")(
            f"{status} {status_text(status) or response.reason}: the registry asks to wait "
            f"{named:g} s; the retry policy allows at most {policy.max_delay:g} s",
            status=status,
            method=request.method,
            url=request.url,
        )
    return max(named, 0.0)
