"""Plain exchanges: redirects and 429 back-off, below authentication (SPEC §4, §6).

* :func:`follow_redirects` — at most 10 hops, no loops, each hop checked by the
  :class:`~sansio_registry.url_policy.UrlPolicy`: ``Authorization`` and cookies are dropped as
  soon as the origin (scheme, host, port) changes (Go keeps them for subdomains; we do not:
  credentials are bound to the origin they were given for), TLS is decided per origin and a
  verified ``https`` origin never leads to plain ``http``.
* :func:`retry_429` — up to 5 attempts with ``Retry-After`` / doubling back-off (SPEC §6).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final, TypeAlias, TypeVar

from sansio_registry.errors import RemoteProtocolError
from sansio_registry.flow import Steps, sleep
from sansio_registry.http import Request, ResponseHead, parse_http_date
from sansio_registry.retry import (
    FIRST_429_DELAY,
    MAX_429_ATTEMPTS,
    MAX_429_DELAY,
    retry_after_delay,
)
from sansio_registry.url_policy import MAX_REDIRECTS, STRICT_POLICY, UrlPolicy, shown_url

__all__ = ["MAX_REDIRECTS", "Exchange", "follow_redirects", "redirected", "retry_429"]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})

R = TypeVar("R", bound=ResponseHead)


def redirected(
    request: Request, status: int, location: str, policy: UrlPolicy = STRICT_POLICY
) -> Request:
    """The request to send after a redirect: where ``policy`` allows, with RFC 9110 §15.4
    method rules."""
    request = policy.redirect_target(request, location)
    method, body, headers = request.method, request.body, request.headers
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", b""
        headers = headers.without("Content-Type", "Content-Length")
    return dataclasses.replace(request, headers=headers, method=method, body=body)


#: One exchange: :func:`~sansio_registry.flow.fetch` (buffered) or
#: :func:`~sansio_registry.flow.open_` (streamed: a 2xx body stays with the driver, any other
#: status arrives read in full, so redirects, 401 and 429 are handled the same way).
Exchange: TypeAlias = Callable[[Request], Steps[R]]


def follow_redirects(
    request: Request, exchange: Exchange[R], policy: UrlPolicy = STRICT_POLICY
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
        request = redirected(request, response.status, location, policy)
        if request.url in seen:
            raise RemoteProtocolError(
                f"redirect loop: {shown_url(request.url)} was already visited"
            )
        seen.add(request.url)
    raise RemoteProtocolError(f"stopped after {MAX_REDIRECTS} redirects")


def retry_429(
    request: Request, exchange: Exchange[R], policy: UrlPolicy = STRICT_POLICY
) -> Steps[R]:
    """Sub-flow: send, and on 429 wait and resend, up to :data:`MAX_429_ATTEMPTS` in all."""
    delay = FIRST_429_DELAY
    for attempt in range(1, MAX_429_ATTEMPTS + 1):
        response = yield from follow_redirects(request, exchange, policy)
        if response.status != 429 or attempt == MAX_429_ATTEMPTS or request.body:
            return response
        delay = retry_after_delay(
            response.headers.get("Retry-After"),
            fallback=delay,
            now_http_date=parse_http_date(response.headers.get("Date") or ""),
        )
        delay = min(delay, MAX_429_DELAY)
        if delay > 0:
            yield from sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover
