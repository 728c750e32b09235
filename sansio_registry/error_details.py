"""What a registry's refusal says: the error details of a 4xx response, decoded.

:func:`decode_error_details` reads them as containers/image's ``handleErrorResponse`` does: the
bearer ``error=`` of a 401's ``WWW-Authenticate``, the legacy ``{"details": …}`` body, the
``{"errors": […]}`` list of the distribution spec, or else an "unexpected body" quoted as
received. :mod:`sansio_registry.response_errors` turns the result into exceptions.

Unlike containers/image, every quoted piece of a body or header is bounded, and cuts never
split a UTF-8 sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from sansio_registry import go_json
from sansio_registry.challenge import parse_challenges
from sansio_registry.errors import (
    DEFAULT_MESSAGES,
    ErrorDetail,
)
from sansio_registry.http import Headers, Response, status_text
from sansio_registry.quoting import quote

__all__ = [
    "ErrorEntry",
    "ErrorEnvelope",
    "LegacyDetails",
    "CodedError",
    "UnexpectedBody",
    "ErrorList",
    "decode_error_details",
    "parse_error_body",
    "EXCERPT_BYTES",
    "MAX_QUOTED_BYTES",
    "MAX_ENTRIES",
]

#: The registry wrapper quotes at most this many body bytes, then ``...``.
EXCERPT_BYTES: Final = 50
#: Any other quoted body, header value or registry message is cut after this many bytes.
MAX_QUOTED_BYTES: Final = 1024
#: A list text names at most this many errors (Go prints them all; bodies are attacker-sized).
_MAX_LISTED: Final = 16
#: At most this many entries of an ``errors`` list are decoded (Go decodes them all).
MAX_ENTRIES: Final = 1000

_NO_ERRORS_IN_BODY: Final = "no error details found in HTTP response body"
_NOT_JSON: Final = "not JSON"  # the quoted body that follows shows why


# --- wire shapes ----------------------------------------------------------------------------


class ErrorEntry(msgspec.Struct):
    """One element of ``errors``; ``detail`` is any JSON value (``None`` when absent/null)."""

    code: str = ""
    message: str = ""
    detail: Any = None


class ErrorEnvelope(msgspec.Struct):
    """The distribution error body ``{"errors": [...]}``."""

    errors: list[ErrorEntry | None] | None = None


class LegacyDetails(msgspec.Struct):
    """The pre-distribution error body ``{"details": "..."}``."""

    details: str | None = None


_ENTRY_FIELDS: Final = ("code", "message", "detail")
_detail_encoder: Final = msgspec.json.Encoder(order="sorted")

# --- decoded values ---------------------------------------------------------------------------


def _display_name(code: str) -> str:
    """``MANIFEST_UNKNOWN`` → ``manifest unknown`` (Go's ``ErrorCode.Error``)."""
    return code.lower().replace("_", " ")


@dataclass(frozen=True, slots=True)
class CodedError:
    """An error with a distribution code.

    ``short`` is Go's elision: body entries without ``detail`` whose message is empty or the
    code's default decode to a bare ``ErrorCode`` and print only the display name. Errors built
    from a ``WWW-Authenticate`` challenge, a legacy ``details`` body or the 401 replacement are
    never short (verified: ``denied: requested access to the resource is denied``).
    """

    code: str
    message: str
    detail: str | None = None
    short: bool = False

    @property
    def text(self) -> str:
        name = _display_name(self.code)
        if self.short:
            return name
        return f"{name}: {_cut_text(self.message)}"

    def as_detail(self) -> ErrorDetail:
        return ErrorDetail(self.code, self.message, self.detail)


@dataclass(frozen=True, slots=True)
class UnexpectedBody:
    """A 4xx body that is not a registry error list (Go's ``unexpectedHTTPResponseError``)."""

    status: int
    parse_error: str
    body: bytes

    @property
    def text(self) -> str:
        quoted = quote(_cut_bytes(self.body, MAX_QUOTED_BYTES))
        if len(self.body) > MAX_QUOTED_BYTES:
            quoted += f"... (body cut, {len(self.body)} bytes)"
        return f"error parsing HTTP {self.status} response body: {self.parse_error}: {quoted}"

    @property
    def excerpt(self) -> str:
        """The registry wrapper's excerpt: 50 bytes + ``...`` (cut on a character boundary)."""
        if len(self.body) <= EXCERPT_BYTES:
            return self.body.decode("utf-8", "replace")
        return _cut_bytes(self.body, EXCERPT_BYTES).decode("utf-8", "replace") + "..."


@dataclass(frozen=True, slots=True)
class ErrorList:
    """What a refusal decodes into (docs/behaviour.md#registry-errors).

    ``status_line`` is set (and ``items`` empty) when the status is outside 400-499: Go then
    ignores the body and reports ``received unexpected HTTP status: <status line>``.
    ``omitted`` counts the body's errors beyond the first :data:`MAX_ENTRIES`, not decoded.
    """

    status: int
    items: tuple[CodedError | UnexpectedBody, ...] = ()
    status_line: str | None = None
    omitted: int = 0

    @property
    def text(self) -> str:
        """Go's ``Error()`` text of the decoded value."""
        if self.status_line is not None:
            return f"received unexpected HTTP status: {self.status_line}"
        total = len(self.items) + self.omitted
        if total == 1:
            return self.items[0].text
        if not self.items:
            return "<nil>"
        shown = [item.text for item in self.items[:_MAX_LISTED]]
        if total > _MAX_LISTED:
            shown.append(f"... and {total - _MAX_LISTED} more errors")
        return "errors:\n" + "".join(f"{line}\n" for line in shown)

    @property
    def details(self) -> tuple[ErrorDetail, ...]:
        """The coded errors as :class:`ErrorDetail` values (unexpected bodies left out)."""
        return tuple(item.as_detail() for item in self.items if isinstance(item, CodedError))

    @property
    def first_code(self) -> str:
        """The code of the first coded error, or ``""``."""
        for item in self.items:
            if isinstance(item, CodedError):
                return item.code
        return ""

    @property
    def unexpected(self) -> UnexpectedBody | None:
        """The unexpected body when it is the whole result (not merged into a list)."""
        if len(self.items) == 1 and isinstance(self.items[0], UnexpectedBody):
            return self.items[0]
        return None


# --- decoding ------------------------------------------------------------------------------


def decode_error_details(resp: Response) -> ErrorList:
    """Decode a refusal like Go's ``handleErrorResponse``; never raises."""
    status = resp.status
    if not 400 <= status < 500:
        return ErrorList(status, status_line=_status_line(resp))
    body_items, omitted = parse_error_body(status, resp.body)
    if status == 401:
        challenge = _bearer_error(resp.headers)
        if challenge is not None:
            return ErrorList(status, (challenge, *body_items), omitted=omitted)
        if len(body_items) == 1 and isinstance(body_items[0], UnexpectedBody):
            text = _cut_bytes(resp.body, MAX_QUOTED_BYTES).decode("utf-8", "replace")
            replaced = CodedError(
                "UNAUTHORIZED",
                DEFAULT_MESSAGES["UNAUTHORIZED"],
                _detail_encoder.encode(text).decode(),
            )
            return ErrorList(status, (replaced,))
    return ErrorList(status, body_items, omitted=omitted)


def _status_line(resp: Response) -> str:
    reason = resp.reason or status_text(resp.status)
    return f"{resp.status} {_cut_text(reason)}" if reason else str(resp.status)


def parse_error_body(
    status: int, body: bytes
) -> tuple[tuple[CodedError | UnexpectedBody, ...], int]:
    """``parseHTTPErrorResponse``: legacy ``details``, else the ``errors`` list (+ omitted)."""
    value, error = _decode_json(body)
    if error is not None:
        return (UnexpectedBody(status, error, body),), 0
    details = _legacy_details(value)
    if details:
        code = {401: "UNAUTHORIZED", 429: "TOOMANYREQUESTS"}.get(status, "UNKNOWN")
        return (CodedError(code, details),), 0
    entries, type_error, omitted = _envelope_entries(value)
    if type_error is not None:
        return (UnexpectedBody(status, type_error, body),), 0
    if not entries:
        return (UnexpectedBody(status, _NO_ERRORS_IN_BODY, body),), 0
    return tuple(entries), omitted


def _decode_json(body: bytes) -> tuple[Any, str | None]:
    """Decode any JSON value; on failure, :data:`_NOT_JSON`."""
    try:
        return go_json.decode_any(body), None
    except (msgspec.DecodeError, RecursionError):
        return None, _NOT_JSON


def _legacy_details(value: Any) -> str:
    """The non-empty ``details`` string, or ``""`` (any type mismatch counts as absent)."""
    if not isinstance(value, dict):
        return ""
    try:
        legacy = msgspec.convert(go_json.fold_fields(value.items(), ("details",)), LegacyDetails)
    except msgspec.ValidationError:
        return ""
    return legacy.details or ""


_KIND: Final = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else _KIND.get(type(value), "a value")


def _envelope_entries(value: Any) -> tuple[list[CodedError], str | None, int]:
    """The ``errors`` list as containers/image reads it, or why it is not one; and how many
    entries were left undecoded."""
    if value is None:
        return [], None, 0
    if not isinstance(value, dict):
        return [], f"expected a JSON object, found {_kind(value)}", 0
    raw = go_json.fold_fields(value.items(), ("errors",)).get("errors")
    if raw is None:
        return [], None, 0
    if not isinstance(raw, list):
        return [], f'"errors" is {_kind(raw)}, not an array', 0
    folded: list[dict[str, Any] | None] = []
    for i, element in enumerate(raw[:MAX_ENTRIES]):
        if element is None:  # a zero Error in Go, whose code prints as "unknown"
            folded.append(None)
            continue
        if not isinstance(element, dict):
            return [], f'"errors"[{i}] is {_kind(element)}, not an object', 0
        fields = go_json.fold_fields(element.items(), _ENTRY_FIELDS)
        for name in ("code", "message"):
            if fields.get(name) is not None and not isinstance(fields[name], str):
                return [], f'"errors"[{i}].{name} is {_kind(fields[name])}, not a string', 0
        folded.append({k: v for k, v in fields.items() if v is not None})
    envelope = msgspec.convert({"errors": folded}, ErrorEnvelope)
    entries: list[CodedError] = []
    for entry in envelope.errors or ():
        if entry is None:
            entries.append(_coded("UNKNOWN", "", None))
            continue
        code = entry.code if entry.code in DEFAULT_MESSAGES else "UNKNOWN"
        entries.append(_coded(code, entry.message, entry.detail))
    return entries, None, max(0, len(raw) - MAX_ENTRIES)


def _coded(code: str, message: str, detail: Any) -> CodedError:
    rendered = None if detail is None else _render_detail(detail)
    short = rendered is None and message in ("", DEFAULT_MESSAGES[code])
    return CodedError(code, message, rendered, short)


def _render_detail(detail: Any) -> str:
    try:
        return _detail_encoder.encode(detail).decode()
    except (msgspec.EncodeError, TypeError, ValueError, OverflowError):  # pragma: no cover
        return "null"


# --- WWW-Authenticate ----------------------------------------------------------------------

_BEARER_ERRORS: Final = {"invalid_token": "UNAUTHORIZED", "insufficient_scope": "DENIED"}


def _bearer_error(headers: Headers) -> CodedError | None:
    """The first bearer challenge with an RFC 6750 ``error`` we know, as a coded error."""
    for challenge in parse_challenges(headers.get_all("WWW-Authenticate")):
        if challenge.scheme != "bearer":
            continue
        code = _BEARER_ERRORS.get(challenge.get("error") or "")
        if code is None:
            continue
        message = challenge.get("error_description") or DEFAULT_MESSAGES[code]
        return CodedError(code, message)
    return None


# --- bounding quoted text -------------------------------------------------------------------


def _cut_bytes(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes, backing off (≤ 3 bytes) so no UTF-8 sequence is split."""
    if len(data) <= limit:
        return data
    cut = limit
    while cut > limit - 3 and cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    if (data[cut] & 0xC0) == 0x80:  # not UTF-8 anyway: keep the plain cut
        cut = limit
    return data[:cut]


def _cut_text(text: str) -> str:
    """A registry-supplied string, bounded to about :data:`MAX_QUOTED_BYTES`."""
    if len(text) <= MAX_QUOTED_BYTES:
        return text
    return text[:MAX_QUOTED_BYTES] + f"... (cut, {len(text)} characters)"
