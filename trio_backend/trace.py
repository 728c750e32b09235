"""What was asked of whom: one log line per exchange, and the registries' ``Warning`` texts.

:class:`TracingTransport` wraps the connection pool. Each exchange becomes one ``DEBUG``
record on the ``trio_backend.http`` logger: method, URL (credentials removed), status, time
taken, the token scope a token request asked for, and Docker Hub's rate-limit headers. A
``Warning: 299 - "text"`` response header (OCI distribution spec, "Warnings") is logged once
per distinct text on ``trio_backend.warnings`` at ``WARNING`` and kept in
:attr:`ExchangeTrace.warnings` for library callers. Nothing else of a request or response is
ever logged: no header values but these, no bodies (a token request's body holds a password
or a refresh token; only its ``scope`` fields are read).

The loggers are silent unless the application configures logging (the CLI's ``--debug``).
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import parse_qs, urlsplit, urlunsplit

import trio

from sansio_registry.errors import RegistryClientError
from sansio_registry.http import Headers, Request, Response
from trio_backend.driver import AsyncBody, AsyncTransport

__all__ = ["ExchangeTrace", "TracingTransport", "redact_url", "warning_texts"]

HTTP_LOG: Final = logging.getLogger("trio_backend.http")
WARNING_LOG: Final = logging.getLogger("trio_backend.warnings")

#: Docker Hub's rate-limit headers, shown in the trace when present.
RATE_LIMIT_HEADERS: Final = ("ratelimit-limit", "ratelimit-remaining", "docker-ratelimit-source")

# warn-code SP warn-agent SP warn-text (RFC 7234 §5.5); the distribution spec uses 299 and "-".
_WARNING: Final = re.compile(r'\s*299\s+\S+\s+"((?:[^"\\]|\\.)*)"')


def warning_texts(headers: Headers) -> tuple[str, ...]:
    """The texts of the ``Warning: 299`` headers of a response, in order."""
    texts: list[str] = []
    for value in headers.get_all("Warning"):
        for match in _WARNING.finditer(value):
            texts.append(re.sub(r"\\(.)", r"\1", match.group(1)))
    return tuple(texts)


def redact_url(url: str) -> str:
    """``url`` without user information (a lookaside URL may carry a password)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def _token_scopes(request: Request) -> list[str]:
    """The scopes a token request asks for (query, or the OAuth2 form), else nothing."""
    query = parse_qs(urlsplit(request.url).query)
    scopes = query.get("scope", [])
    if request.method == "POST" and b"grant_type=" in request.body:
        form = parse_qs(request.body.decode("ascii", "replace"))
        scopes = [*scopes, *form.get("scope", [])]
    return [s for scope in scopes for s in scope.split()]


class ExchangeTrace:
    """The trace of one client: distinct warnings so far, and the logging of each exchange."""

    def __init__(self) -> None:
        self._warnings: dict[str, None] = {}

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every distinct ``Warning: 299`` text the registries sent, first seen first."""
        return tuple(self._warnings)

    def exchanged(self, request: Request, status: int, headers: Headers, took: float) -> None:
        """Record one answered exchange."""
        for text in warning_texts(headers):
            if text not in self._warnings:
                self._warnings[text] = None
                WARNING_LOG.warning("%s", text)
        if not HTTP_LOG.isEnabledFor(logging.DEBUG):
            return
        extra = [f"scope {s}" for s in _token_scopes(request)]
        extra += [f"{name} {v}" for name in RATE_LIMIT_HEADERS if (v := headers.get(name))]
        HTTP_LOG.debug(
            "%s %s -> %d in %.0f ms%s",
            request.method,
            redact_url(request.url),
            status,
            took * 1000,
            f" ({'; '.join(extra)})" if extra else "",
        )

    def failed(self, request: Request, error: BaseException, took: float) -> None:
        """Record an exchange that ended without an answer."""
        HTTP_LOG.debug(
            "%s %s -> failed after %.0f ms: %s",
            request.method,
            redact_url(request.url),
            took * 1000,
            error,
        )


class TracingTransport:
    """An :class:`~trio_backend.driver.AsyncTransport` that traces what passes through it."""

    def __init__(self, inner: AsyncTransport, trace: ExchangeTrace) -> None:
        self._inner = inner
        self.trace = trace

    async def fetch(self, request: Request) -> Response:
        started = trio.current_time()
        try:
            response = await self._inner.fetch(request)
        except RegistryClientError as exc:
            self.trace.failed(request, exc, trio.current_time() - started)
            raise
        self.trace.exchanged(
            request, response.status, response.headers, trio.current_time() - started
        )
        return response

    async def open(self, request: Request) -> AsyncBody:
        started = trio.current_time()
        try:
            body = await self._inner.open(request)
        except RegistryClientError as exc:
            self.trace.failed(request, exc, trio.current_time() - started)
            raise
        head = body.head
        self.trace.exchanged(request, head.status, head.headers, trio.current_time() - started)
        return body
