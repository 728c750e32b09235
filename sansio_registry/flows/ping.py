"""Ping: ``GET /v2/`` to learn the scheme, the auth challenges and the signature extension.

Request sequence (docs/behaviour.md#ping)::

    GET https://HOST/v2/            200 or 401 -> done
        (transport failure, insecure endpoint only)
    GET http://HOST/v2/             200 or 401 -> done; else the error

Deviation from Go (never downgrade): plain HTTP is tried only when HTTPS failed at the
transport level (refused, TLS error). An HTTPS server that answered with a wrong status is
believed; Go retries it over plain HTTP. The v1 ``/_ping`` probe is not made (upstream
removed it too).
"""

from __future__ import annotations

from sansio_registry.auth import parse_challenges
from sansio_registry.errors import TransportError, response_error_class
from sansio_registry.flow import Steps, fetch
from sansio_registry.flows.exchange import retrying
from sansio_registry.http import MAX_PING_BODY, Headers, Request, status_text
from sansio_registry.retry_policy import RetryPolicy
from sansio_registry.state import PingResult
from sansio_registry.url_policy import STRICT_POLICY, UrlPolicy

__all__ = ["API_VERSION_HEADER", "PingResult", "ping"]

API_VERSION_HEADER = ("Docker-Distribution-Api-Version", "registry/2.0")


def ping(
    host: str,
    *,
    insecure: bool,
    user_agent: str,
    retry: RetryPolicy,
    fallback: bool = False,
    urls: UrlPolicy = STRICT_POLICY,
) -> Steps[PingResult]:
    """Sub-flow: ping ``host`` (``host[:port]`` as connected to); never sends credentials.

    A host that cannot be reached is not waited for when something else can be tried at once:
    an insecure endpoint's HTTPS probe falls back to plain HTTP, and with ``fallback`` (a
    mirror, with the next pull source after it) the failure goes to the caller. Otherwise a
    connection that failed before any response byte is resent as ``retry`` allows. ``urls``
    checks and verifies where redirects lead.
    """
    schemes = ("https", "http") if insecure else ("https",)
    error: TransportError | None = None
    for scheme in schemes:
        request = Request(
            method="GET",
            url=f"{scheme}://{host}/v2/",
            headers=Headers((API_VERSION_HEADER, ("User-Agent", user_agent))),
            max_body=MAX_PING_BODY,
            tls_verify=not insecure,
            # Concurrent first requests to one registry share one ping (the shell
            # single-flights requests with equal keys).
            coalesce_key=("ping", scheme, host, insecure),
        )
        try:
            move_on = fallback or scheme != schemes[-1]
            response = yield from retrying(
                request, fetch, retry, urls, transport_retries=not move_on
            )
        except TransportError as exc:
            error = exc
            continue
        if response.status in (200, 401):
            return PingResult(
                scheme=scheme,
                challenges=parse_challenges(response.headers.get_all("WWW-Authenticate")),
                supports_signatures=response.headers.get("X-Registry-Supports-Signatures") == "1",
            )
        reason = status_text(response.status) or response.reason
        cls = response_error_class(response.status, "")
        raise cls(
            f"pinging container registry {host}: invalid status code from registry "
            f"{response.status} ({reason})",
            status=response.status,
            method="GET",
            url=request.url,
        )
    assert error is not None
    # The same class (a ProxyError stays one), with the host in the message.
    raise type(error)(
        f"pinging container registry {host}: {error}", before_response=error.before_response
    ) from error
