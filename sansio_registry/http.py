"""Immutable HTTP values the core emits and consumes.

The core never opens a connection: it builds :class:`Request` values and receives
:class:`Response` (body read in full, bounded by ``Request.max_body``) or :class:`ResponseHead`
(body kept by the driver) values back.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from sansio_registry.errors import LocalProtocolError

__all__ = [
    "MAX_DELETE_BODY",
    "MAX_ERROR_BODY",
    "MAX_MANIFEST_BODY",
    "MAX_SIGNATURE_BODY",
    "MAX_TOKEN_BODY",
    "Headers",
    "Origin",
    "Request",
    "Response",
    "ResponseHead",
    "is_file_url",
]

# SPEC §16: the buffered-read limits. Error bodies are capped too (SPEC §8 weakness fixed).
MAX_MANIFEST_BODY: Final = 4 * 1024 * 1024
MAX_SIGNATURE_BODY: Final = 4 * 1024 * 1024
MAX_TOKEN_BODY: Final = 1024 * 1024
MAX_DELETE_BODY: Final = 1024 * 1024
MAX_ERROR_BODY: Final = 1024 * 1024


def is_file_url(url: str) -> bool:
    """Whether ``url`` names a local file (lookaside storage); drivers answer those from disk."""
    return url[:5].lower() == "file:"


@dataclass(frozen=True, slots=True)
class Headers:
    """An ordered, immutable multi-map of header lines; names compare case-insensitively."""

    items: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]] = ()) -> Headers:
        """Build from (name, value) pairs, keeping order and repeats."""
        return cls(tuple((str(k), str(v)) for k, v in pairs))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        lname = name.lower()
        for k, v in self.items:
            if k.lower() == lname:
                return v
        return default

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of ``name``, in order (e.g. several ``WWW-Authenticate`` lines)."""
        lname = name.lower()
        return tuple(v for k, v in self.items if k.lower() == lname)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def with_(self, name: str, value: str) -> Headers:
        """A copy with ``name`` appended."""
        return Headers((*self.items, (name, value)))

    def without(self, *names: str) -> Headers:
        """A copy with every line of the given names removed."""
        drop = {n.lower() for n in names}
        return Headers(tuple((k, v) for k, v in self.items if k.lower() not in drop))

    def __repr__(self) -> str:
        # Never print credentials, even in a debugger or a failed assertion.
        shown = [(k, "<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in self.items]
        return f"Headers({shown!r})"


_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclass(frozen=True, slots=True, order=True)
class Origin:
    """scheme://host:port, the unit credentials and connections are bound to."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of an absolute http(s) URL; raises LocalProtocolError otherwise."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise LocalProtocolError(f"invalid URL {url!r}: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise LocalProtocolError(f"not an absolute http(s) URL: {url!r}")
        if port is None:
            port = 443 if scheme == "https" else 80
        return cls(scheme, parts.hostname.lower(), port)

    @property
    def netloc(self) -> str:
        """host[:port] as it goes into a Host header (default ports left out)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One HTTP request the core wants sent.

    ``max_body`` bounds how much of a buffered (``Fetch``) response body the driver may read;
    ``coalesce_key`` marks requests (token fetches) that identical concurrent callers may share.
    ``tls_verify`` is ``False`` only for endpoints configured insecure: the core decides, the
    driver obeys.
    """

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    # Not in repr: an OAuth2 token request's body carries the refresh token.
    body: bytes = field(default=b"", repr=False)
    max_body: int = MAX_ERROR_BODY
    coalesce_key: Hashable | None = None
    tls_verify: bool = True

    @property
    def origin(self) -> Origin:
        """Where this request goes."""
        return Origin.of(self.url)

    @property
    def target(self) -> str:
        """The request-target (path and query) for the request line."""
        parts = urlsplit(self.url)
        path = parts.path or "/"
        return f"{path}?{parts.query}" if parts.query else path


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseHead:
    """Status line and headers; the body, if any, stays with the driver."""

    status: int
    headers: Headers = field(default_factory=Headers)
    reason: str = ""
    received_at: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Response(ResponseHead):
    """A response whose body was read in full (at most the request's ``max_body`` bytes)."""

    body: bytes = b""
