"""Plain exchanges: redirects and 429 back-off, below authentication.

See docs/behaviour.md#request-pipeline.

* :func:`follow_redirects` — at most 10 hops; ``Authorization`` and cookies are dropped as soon
  as the origin (scheme, host, port) changes. Go keeps them for subdomains; we do not:
  credentials are bound to the origin they were given for (docs/design.md#security-defaults).
* :func:`retry_429` — up to 5 attempts with ``Retry-After`` / doubling back-off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final, TypeAlias, TypeVar
from urllib.parse import urljoin

from sansio_registry.errors import LocalProtocolError, RemoteProtocolError
from sansio_registry.flow import Steps, sleep
from sansio_registry.http import Origin, Request, ResponseHead, parse_http_date
from sansio_registry.retry import (
    FIRST_429_DELAY,
    MAX_429_ATTEMPTS,
    MAX_429_DELAY,
    retry_after_delay,
)

__all__ = ["MAX_REDIRECTS", "Exchange", "follow_redirects", "redirected", "retry_429"]

MAX_REDIRECTS: Final = 10
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})

R = TypeVar("R", bound=ResponseHead)


def redirected(request: Request, status: int, location: str) -> Request:
    """The request to send after a redirect, following RFC 9110 §15.4 method rules."""
    url = urljoin(request.url, location)
    try:
        origin = Origin.of(url)
    except LocalProtocolError:
        raise RemoteProtocolError(f"redirect to an unsupported location {location!r}") from None
    headers = request.headers
    if origin != request.origin:
        headers = headers.without("Authorization", "Cookie")
    method, body = request.method, request.body
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", b""
        headers = headers.without("Content-Type", "Content-Length")
    return dataclasses.replace(request, url=url, headers=headers, method=method, body=body)


#: One exchange: :func:`~sansio_registry.flow.fetch` (buffered) or
#: :func:`~sansio_registry.flow.open_` (streamed: a 2xx body stays with the driver, any other
#: status arrives read in full, so redirects, 401 and 429 are handled the same way).
Exchange: TypeAlias = Callable[[Request], Steps[R]]


def follow_redirects(request: Request, exchange: Exchange[R]) -> Steps[R]:
    """Sub-flow: one logical exchange, following up to :data:`MAX_REDIRECTS` redirects."""
    for _ in range(MAX_REDIRECTS + 1):
        response = yield from exchange(request)
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or not location:
            return response
        request = redirected(request, response.status, location)
    raise RemoteProtocolError(f"stopped after {MAX_REDIRECTS} redirects")


def retry_429(request: Request, exchange: Exchange[R]) -> Steps[R]:
    """Sub-flow: send, and on 429 wait and resend, up to :data:`MAX_429_ATTEMPTS` in all."""
    delay = FIRST_429_DELAY
    for attempt in range(1, MAX_429_ATTEMPTS + 1):
        response = yield from follow_redirects(request, exchange)
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
