"""Immutable HTTP values the core emits and consumes.

The core never opens a connection: it builds :class:`Request` values and receives
:class:`Response` (body read in full, bounded by ``Request.max_body``) or :class:`ResponseHead`
(body kept by the driver) values back.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from sansio_registry.errors import LocalProtocolError, RemoteProtocolError
from sansio_registry.quoting import quote

__all__ = [
    "MAX_DELETE_BODY",
    "MAX_ERROR_BODY",
    "MAX_MANIFEST_BODY",
    "MAX_PING_BODY",
    "MAX_SIGNATURE_BODY",
    "MAX_TOKEN_BODY",
    "Headers",
    "Origin",
    "Request",
    "Response",
    "ResponseHead",
    "is_file_url",
    "STATUS_TEXT",
    "status_text",
    "content_length",
    "parse_http_date",
]

# The buffered-read limits (docs/behaviour.md#limits); unlike Go, error bodies are capped too.
MAX_MANIFEST_BODY: Final = 4 * 1024 * 1024
MAX_SIGNATURE_BODY: Final = 4 * 1024 * 1024
MAX_TOKEN_BODY: Final = 1024 * 1024
MAX_DELETE_BODY: Final = 1024 * 1024
MAX_ERROR_BODY: Final = 1024 * 1024
MAX_PING_BODY: Final = 64 * 1024

_DIGITS: Final = re.compile(r"[0-9]+")
#: Methods resent without an explicit mark (RFC 9110 §9.2.1: safe, hence idempotent).
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


# The reason phrases containers/image prints (Go's ``http.StatusText``): messages quote them.
STATUS_TEXT: Final[Mapping[int, str]] = MappingProxyType(
    {
        100: "Continue",
        101: "Switching Protocols",
        102: "Processing",
        103: "Early Hints",
        200: "OK",
        201: "Created",
        202: "Accepted",
        203: "Non-Authoritative Information",
        204: "No Content",
        205: "Reset Content",
        206: "Partial Content",
        207: "Multi-Status",
        208: "Already Reported",
        226: "IM Used",
        300: "Multiple Choices",
        301: "Moved Permanently",
        302: "Found",
        303: "See Other",
        304: "Not Modified",
        305: "Use Proxy",
        307: "Temporary Redirect",
        308: "Permanent Redirect",
        400: "Bad Request",
        401: "Unauthorized",
        402: "Payment Required",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        406: "Not Acceptable",
        407: "Proxy Authentication Required",
        408: "Request Timeout",
        409: "Conflict",
        410: "Gone",
        411: "Length Required",
        412: "Precondition Failed",
        413: "Request Entity Too Large",
        414: "Request URI Too Long",
        415: "Unsupported Media Type",
        416: "Requested Range Not Satisfiable",
        417: "Expectation Failed",
        418: "I'm a teapot",
        421: "Misdirected Request",
        422: "Unprocessable Entity",
        423: "Locked",
        424: "Failed Dependency",
        425: "Too Early",
        426: "Upgrade Required",
        428: "Precondition Required",
        429: "Too Many Requests",
        431: "Request Header Fields Too Large",
        451: "Unavailable For Legal Reasons",
        500: "Internal Server Error",
        501: "Not Implemented",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
        505: "HTTP Version Not Supported",
        506: "Variant Also Negotiates",
        507: "Insufficient Storage",
        508: "Loop Detected",
        510: "Not Extended",
        511: "Network Authentication Required",
    }
)


def status_text(code: int) -> str:
    """The reason phrase for ``code`` (Go's ``http.StatusText``), ``""`` when unknown."""
    return STATUS_TEXT.get(code, "")


def is_file_url(url: str) -> bool:
    """Whether ``url`` names a local file (lookaside storage); drivers answer those from disk."""
    return url[:5].lower() == "file:"


_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun")
_MONTHS2: Final = ("jul", "aug", "sep", "oct", "nov", "dec")
_DAYS: Final = "mon|tue|wed|thu|fri|sat|sun"
_LONG_DAYS: Final = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MON: Final = "(?P<mon>" + "|".join(_MONTHS + _MONTHS2) + ")"
_TIME: Final = r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})"
# The three layouts of RFC 9110 §5.6.7 (IMF-fixdate, RFC 850, asctime), as Go's http.ParseTime.
_RFC1123: Final = re.compile(
    rf"(?:{_DAYS}), (?P<d>[0-9]{{2}}) {_MON} (?P<y>[0-9]{{4}}) {_TIME} GMT", re.IGNORECASE
)
_RFC850: Final = re.compile(
    rf"(?:{_LONG_DAYS}), (?P<d>[0-9]{{2}})-{_MON}-(?P<yy>[0-9]{{2}}) {_TIME} [A-Z]{{3,4}}",
    re.IGNORECASE,
)
_ASCTIME: Final = re.compile(
    rf"(?:{_DAYS}) {_MON} (?: ?(?P<d>[0-9]{{1,2}})) {_TIME} (?P<y>[0-9]{{4}})", re.IGNORECASE
)


def parse_http_date(value: str) -> datetime | None:
    """An aware UTC datetime from an HTTP date in one of Go's three layouts, else None."""
    for pattern in (_RFC1123, _RFC850, _ASCTIME):
        match = pattern.fullmatch(value.strip(" \t"))
        if match is None:
            continue
        groups = match.groupdict()
        if groups.get("yy") is not None:
            yy = int(groups["yy"])
            year = 1900 + yy if yy >= 69 else 2000 + yy
        else:
            year = int(groups["y"])
        try:
            return datetime(
                year,
                (_MONTHS + _MONTHS2).index(groups["mon"].lower()) + 1,
                int(groups["d"]),
                int(groups["h"]),
                int(groups["m"]),
                int(groups["s"]),
                tzinfo=UTC,
            )
        except ValueError:
            return None
    return None


def content_length(headers: Headers) -> int | None:
    """The ``Content-Length`` of a response; None when absent, RemoteProtocolError if invalid.

    RFC 9110 §8.6: ASCII digits only (``str.isdigit`` would accept ``"²"``).
    """
    value = headers.get("Content-Length")
    if value is None:
        return None
    value = value.strip(" \t")
    if not _DIGITS.fullmatch(value):
        raise RemoteProtocolError(f"invalid Content-Length {quote(value[:64])}")
    return int(value)


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
    driver obeys. ``idempotent`` marks a request that may be sent again after a failure; left
    ``None`` it follows the method (GET and HEAD only), see :attr:`retry_safe`.
    """

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    # Not in repr: an OAuth2 token request's body carries the refresh token.
    body: bytes = field(default=b"", repr=False)
    max_body: int = MAX_ERROR_BODY
    # Not in repr: a registry request's key holds its headers, Authorization included.
    coalesce_key: Hashable | None = field(default=None, repr=False)
    tls_verify: bool = True
    idempotent: bool | None = None

    @property
    def retry_safe(self) -> bool:
        """Whether the core may resend this request (a token request's POST is marked so)."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in _SAFE_METHODS

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
