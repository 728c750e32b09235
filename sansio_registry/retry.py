"""Reading ``Retry-After`` and ``Link`` pagination (RFC 8288), as pure functions.

The core has no clock, so an HTTP-date ``Retry-After`` is judged against the response's own
``Date`` header, which the caller parses and passes in. How often and how long to retry is a
:class:`~sansio_registry.retry_policy.RetryPolicy`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

from sansio_registry.http import parse_http_date

__all__ = ["retry_after_delay", "parse_link_next"]

_INT_RE: Final = re.compile(r"[+-]?[0-9]+")
_INT64_MAX: Final = 2**63 - 1
_INT64_MIN: Final = -(2**63)


def retry_after_delay(
    header: str | None,
    *,
    fallback: float,
    now_http_date: datetime | None,
    cap: float | None = None,
) -> float:
    """Seconds a ``Retry-After`` asks for, like Go's ``parseRetryAfter``.

    Integer seconds as Go's ``strconv.ParseInt`` reads them (``0`` and negatives mean "no
    wait"); else an HTTP date later than ``now_http_date`` (the response's ``Date``); else
    ``fallback``. A date cannot be judged without ``now_http_date``, so it falls back. ``cap``
    bounds the result when given.
    """
    delay = _uncapped_delay(header, fallback, now_http_date)
    return min(delay, float(cap)) if cap is not None else delay


def _uncapped_delay(header: str | None, fallback: float, now: datetime | None) -> float:
    value = (header or "").strip(" \t")
    if not value:
        return fallback
    if _INT_RE.fullmatch(value):
        seconds = int(value)
        if _INT64_MIN <= seconds <= _INT64_MAX:
            return float(seconds)
    when = parse_http_date(value)
    if when is None or now is None:
        return fallback
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    delta = (when - now).total_seconds()
    return delta if delta > 0 else fallback


def parse_link_next(header: str | None) -> str | None:
    """The path and query of the ``rel="next"`` target of a ``Link`` header, or None.

    Relative or absolute targets are accepted; only path and query are kept, so the
    next page is always asked of the same registry. Never raises. Unlike 5.23.1 (which takes
    the first URL whatever its ``rel``), links that are not ``rel="next"`` are ignored.
    """
    if not header:
        return None
    for target, rels in _links(header):
        if "next" in rels:
            return _path_and_query(target)
    return None


def _links(header: str) -> list[tuple[str, set[str]]]:
    """``<target>; param=value, …`` entries, leniently (RFC 8288 §3)."""
    out: list[tuple[str, set[str]]] = []
    i, n = 0, len(header)
    while i < n:
        start = header.find("<", i)
        if start < 0:
            break
        end = header.find(">", start + 1)
        if end < 0:
            break
        target = header[start + 1 : end]
        i = end + 1
        rels: set[str] | None = None
        while True:
            while i < n and header[i] in " \t":
                i += 1
            if i >= n or header[i] != ";":
                break
            i += 1
            name, value, i = _param(header, i)
            if name == "rel" and rels is None:
                rels = {r.lower() for r in value.split()}
        out.append((target, rels or set()))
        # skip to the next link (after a comma outside quotes)
        quoted = False
        while i < n and (quoted or header[i] != ","):
            if header[i] == '"':
                quoted = not quoted
            elif header[i] == "\\" and quoted:
                i += 1
            i += 1
        i += 1
    return out


_PARAM_NAME: Final = re.compile(r"[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]*)[ \t]*")


def _param(header: str, i: int) -> tuple[str, str, int]:
    """One ``name[=value]`` link parameter starting at ``i`` (after the ``;``)."""
    match = _PARAM_NAME.match(header, i)
    assert match is not None  # the pattern can match the empty string
    name = match.group(1).lower()
    i = match.end()
    if i >= len(header) or header[i] != "=":
        return name, "", i
    i += 1
    while i < len(header) and header[i] in " \t":
        i += 1
    if i < len(header) and header[i] == '"':
        chars: list[str] = []
        i += 1
        while i < len(header) and header[i] != '"':
            if header[i] == "\\" and i + 1 < len(header):
                i += 1
            chars.append(header[i])
            i += 1
        return name, "".join(chars), i + 1
    start = i
    while i < len(header) and header[i] not in ";, \t":
        i += 1
    return name, header[start:i], i


def _path_and_query(target: str) -> str | None:
    """``/path?query`` of a URL reference, or None when unusable in a request line."""
    try:
        parts = urlsplit(target.strip())
    except ValueError:
        return None
    path = parts.path
    if not path.startswith("/"):
        return None
    result = f"{path}?{parts.query}" if parts.query else path
    if not all("\x21" <= ch <= "\x7e" for ch in result):
        return None
    return result
