"""Registry error responses turned into exceptions with containers/image's texts (SPEC §8).

Three layers, as in the Go code:

* :func:`decode_error_details` is ``handleErrorResponse`` (§8.1): the bearer ``error=`` of a
  401's ``WWW-Authenticate``, the legacy ``{"details": …}`` body, the ``{"errors": […]}``
  envelope, or an "unexpected response" carrying the raw body and Go's JSON parse error text.
* :func:`registry_error` is the "registry wrapper" used for manifests (§8.2).
* :func:`simple_error` is the "simple wrapper" used for ping, tokens, blobs and tag lists.

Texts match the Go 5.23.1 vectors (§19.5) for ordinary inputs; unlike Go, every quoted piece of a
body or header is bounded, and cuts never split a UTF-8 sequence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import msgspec

from sansio_registry.errors import (
    DEFAULT_MESSAGES,
    ErrorDetail,
    RegistryResponseError,
    TooManyRequests,
    Unauthorized,
    response_error_class,
)
from sansio_registry.http import Headers, Response

__all__ = [
    "STATUS_TEXT",
    "status_text",
    "ErrorEntry",
    "ErrorEnvelope",
    "LegacyDetails",
    "CodedError",
    "UnexpectedBody",
    "ErrorList",
    "decode_error_details",
    "registry_error",
    "simple_error",
    "is_manifest_unknown",
    "EXCERPT_BYTES",
    "MAX_QUOTED_BYTES",
    "MAX_ENTRIES",
]

# Go's net/http status texts (go1.19 ``StatusText``), reproduced exactly: messages quote them.
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

#: The registry wrapper quotes at most this many body bytes, then ``...`` (SPEC §16).
EXCERPT_BYTES: Final = 50
#: Any other quoted body, header value or registry message is cut after this many bytes.
MAX_QUOTED_BYTES: Final = 1024
#: A list text names at most this many errors (Go prints them all; bodies are attacker-sized).
_MAX_LISTED: Final = 16
#: At most this many entries of an ``errors`` list are decoded (Go decodes them all).
MAX_ENTRIES: Final = 1000

_NO_ERRORS_IN_BODY: Final = "no error details found in HTTP response body"


def status_text(code: int) -> str:
    """Go's ``http.StatusText``: the reason phrase for ``code``, ``""`` when unknown."""
    return STATUS_TEXT.get(code, "")


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
        quoted = _go_quote(_cut_bytes(self.body, MAX_QUOTED_BYTES))
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
    """What §8.1 decodes a refusal into.

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


# --- §8.1 ---------------------------------------------------------------------------------


def decode_error_details(resp: Response) -> ErrorList:
    """Decode a refusal like Go's ``handleErrorResponse`` (SPEC §8.1); never raises."""
    status = resp.status
    if not 400 <= status < 500:
        return ErrorList(status, status_line=_status_line(resp))
    body_items, omitted = _parse_body(status, resp.body)
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


def _parse_body(status: int, body: bytes) -> tuple[tuple[CodedError | UnexpectedBody, ...], int]:
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
    """Decode any JSON value; on failure, Go's parse error text."""
    try:
        return msgspec.json.decode(body), None
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        pass
    syntax = _go_syntax_error(body)
    if syntax is not None:
        return None, syntax
    # Valid for Go but not for msgspec (invalid UTF-8 inside strings, deep nesting, huge
    # numbers): Go replaces bad UTF-8 with U+FFFD, so retry on the repaired text.
    try:
        return msgspec.json.decode(body.decode("utf-8", "replace")), None
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        return None, f"json: {_cut_text(str(exc))}"


def _fold(obj: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Go matches JSON keys to struct fields case-insensitively; the last match wins."""
    wanted = set(names)
    out: dict[str, Any] = {}
    for key, val in obj.items():
        lowered = key.lower()
        if lowered in wanted:
            out[lowered] = val
    return out


def _legacy_details(value: Any) -> str:
    """The non-empty ``details`` string, or ``""`` (any type mismatch counts as absent)."""
    if not isinstance(value, dict):
        return ""
    try:
        legacy = msgspec.convert(_fold(value, ("details",)), LegacyDetails)
    except msgspec.ValidationError:
        return ""
    return legacy.details or ""


_GO_KIND: Final = {
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
    list: "array",
    dict: "object",
}


def _kind(value: Any) -> str:
    return "null" if value is None else _GO_KIND.get(type(value), "value")


_ENVELOPE_TYPE: Final = 'struct { Errors []errcode.Error "json:\\"errors,omitempty\\"" }'


def _envelope_entries(value: Any) -> tuple[list[CodedError], str | None, int]:
    """The ``errors`` list as Go decodes it, or Go's type-error text; and how many were left."""
    if value is None:
        return [], None, 0
    if not isinstance(value, dict):
        kind = _kind(value)
        return [], f"json: cannot unmarshal {kind} into Go value of type {_ENVELOPE_TYPE}", 0
    raw = _fold(value, ("errors",)).get("errors")
    if raw is None:
        return [], None, 0
    if not isinstance(raw, list):
        return (
            [],
            (
                f"json: cannot unmarshal {_kind(raw)} into Go struct field .errors "
                "of type []errcode.Error"
            ),
            0,
        )
    folded: list[dict[str, Any] | None] = []
    for element in raw[:MAX_ENTRIES]:
        if element is None:  # Go: a zero Error, whose code prints as "unknown"
            folded.append(None)
            continue
        if not isinstance(element, dict):
            return (
                [],
                (
                    f"json: cannot unmarshal {_kind(element)} into Go struct field .errors "
                    "of type errcode.Error"
                ),
                0,
            )
        fields = _fold(element, _ENTRY_FIELDS)
        problem = _entry_type_error(fields)
        if problem is not None:
            return [], problem, 0
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


def _entry_type_error(fields: Mapping[str, Any]) -> str | None:
    code = fields.get("code", "")
    if not isinstance(code, str):
        return (
            f"json: cannot unmarshal {_kind(code)} into Go struct field Error.errors.code "
            "of type errcode.ErrorCode"
        )
    message = fields.get("message")
    if message is not None and not isinstance(message, str):
        return (
            f"json: cannot unmarshal {_kind(message)} into Go struct field Error.errors.message "
            "of type string"
        )
    return None


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
    # Imported here so that auth.py may import this module without a cycle.
    from sansio_registry.auth import parse_challenges

    for challenge in parse_challenges(headers.get_all("WWW-Authenticate")):
        if challenge.scheme != "bearer":
            continue
        code = _BEARER_ERRORS.get(challenge.get("error") or "")
        if code is None:
            continue
        message = challenge.get("error_description") or DEFAULT_MESSAGES[code]
        return CodedError(code, message)
    return None


# --- Go text helpers ------------------------------------------------------------------------


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


def _go_printable(ch: str) -> bool:
    """Go's ``unicode.IsPrint``: graphic characters, with U+0020 the only space allowed."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


_GO_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
}


def _go_quote_char(ch: str, quote: str) -> str:
    if ch == quote:
        return "\\" + ch
    if ch in _GO_ESCAPES:
        return _GO_ESCAPES[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a surrogate-escaped invalid byte
        return f"\\x{code - 0xDC00:02x}"
    if _go_printable(ch):
        return ch
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _go_quote(data: bytes) -> str:
    """Go's ``%q`` of ``string(data)`` (invalid UTF-8 bytes as ``\\xNN``)."""
    text = data.decode("utf-8", "surrogateescape")
    return '"' + "".join(_go_quote_char(ch, '"') for ch in text) + '"'


def _go_quote_byte(byte: int) -> str:
    """Go's ``quoteChar`` for the offending byte of a JSON syntax error."""
    if byte == 0x27:
        return "'\\''"
    if byte == 0x22:
        return "'\"'"
    return "'" + _go_quote_char(chr(byte), '"') + "'"


# --- Go's JSON syntax errors (encoding/json scanner) ----------------------------------------

_WS_RE: Final = re.compile(rb"[ \t\r\n]*")
_STR_RE: Final = re.compile(rb'[^"\\\x00-\x1f]*')
_DIGITS_RE: Final = re.compile(rb"[0-9]*")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_LITERALS: Final = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}
_MAX_DEPTH: Final = 10000
_SCAN_LIMIT: Final = 64 * 1024


class _SyntaxErr(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _bad(data: bytes, i: int, context: str) -> _SyntaxErr:
    """Go's "invalid character" error for the byte at ``i`` (a space past the end)."""
    return _SyntaxErr(f"invalid character {_go_quote_byte(_at(data, i))} {context}", i)


def _end(data: bytes) -> _SyntaxErr:
    return _SyntaxErr("unexpected end of JSON input", len(data))


_EOF: Final = 0x20  # Go's scanner finishes by feeding one space at the end of input


def _go_syntax_error(data: bytes) -> str | None:
    """Go's ``json.Unmarshal`` syntax error text for ``data``, or None.

    Only the first :data:`_SCAN_LIMIT` bytes are scanned (pure-Python scanning of a 1 MiB body
    takes seconds); None means "no error found there", not "Go would accept it".
    """
    prefix = data[:_SCAN_LIMIT]
    try:
        _scan(prefix)
    except _SyntaxErr as exc:
        if exc.pos < len(prefix) or len(prefix) == len(data):
            return exc.message
    return None


def _scan(data: bytes) -> None:
    n = len(data)
    stack: list[bool] = []  # True = object, False = array
    i = _skip(_WS_RE, data, 0)
    state = "value"
    while True:
        if i >= n:
            # a complete top-level value is fine; anything open is "unexpected end".
            if state == "after" and not stack:
                return
            raise _end(data)
        c = data[i]
        if state in ("value", "value_or_close"):
            if state == "value_or_close" and c == 0x5D:  # ]
                stack.pop()
                i += 1
                state = "after"
            elif c == 0x7B:  # {
                stack.append(True)
                i += 1
                state = "key_or_close"
            elif c == 0x5B:  # [
                stack.append(False)
                i += 1
                state = "value_or_close"
            else:
                i = _scan_scalar(data, i, "looking for beginning of value")
                state = "after"
            if len(stack) > _MAX_DEPTH:
                raise _bad(data, i - 1, "exceeded max depth")
        elif state in ("key", "key_or_close"):
            if state == "key_or_close" and c == 0x7D:  # }
                stack.pop()
                i += 1
                state = "after"
            elif c == 0x22:
                i = _scan_string(data, i)
                i = _skip(_WS_RE, data, i)
                if i >= n:
                    raise _end(data)
                if data[i] != 0x3A:  # :
                    raise _bad(data, i, "after object key")
                i += 1
                state = "value"
            else:
                raise _bad(data, i, "looking for beginning of object key string")
        else:  # after a value
            if not stack:
                raise _bad(data, i, "after top-level value")
            if stack[-1]:
                if c == 0x2C:
                    state = "key"
                elif c == 0x7D:
                    stack.pop()
                else:
                    raise _bad(data, i, "after object key:value pair")
            elif c == 0x2C:
                state = "value"
            elif c == 0x5D:
                stack.pop()
            else:
                raise _bad(data, i, "after array element")
            i += 1
        i = _skip(_WS_RE, data, i)


def _skip(pattern: re.Pattern[bytes], data: bytes, i: int) -> int:
    match = pattern.match(data, i)
    return match.end() if match else i


def _at(data: bytes, i: int) -> int:
    return data[i] if i < len(data) else _EOF


def _scan_scalar(data: bytes, i: int, context: str) -> int:
    c = data[i]
    if c == 0x22:
        return _scan_string(data, i)
    if c == 0x2D or 0x30 <= c <= 0x39:
        return _scan_number(data, i)
    literal = _LITERALS.get(c)
    if literal is None:
        raise _bad(data, i, context)
    for k in range(1, len(literal)):
        got = _at(data, i + k)
        if got != literal[k]:
            raise _bad(
                data, i + k, f"in literal {literal.decode()} (expecting '{chr(literal[k])}')"
            )
    return i + len(literal)


def _scan_string(data: bytes, i: int) -> int:
    n = len(data)
    i += 1
    while True:
        i = _skip(_STR_RE, data, i)
        if i >= n:
            raise _end(data)
        c = data[i]
        if c == 0x22:
            return i + 1
        if c == 0x5C:
            esc = _at(data, i + 1)
            if esc in b'bfnrt\\/"':
                i += 2
                continue
            if esc != 0x75:  # u
                raise _bad(data, i + 1, "in string escape code")
            for k in range(2, 6):
                h = _at(data, i + k)
                if h not in _HEX:
                    raise _bad(data, i + k, "in \\u hexadecimal character escape")
            i += 6
            continue
        raise _bad(data, i, "in string literal")


def _scan_number(data: bytes, i: int) -> int:
    if data[i] == 0x2D:
        i += 1
        c = _at(data, i)
        if not 0x30 <= c <= 0x39:
            raise _bad(data, i, "in numeric literal")
    if data[i] == 0x30:
        i += 1
    else:
        i = _skip(_DIGITS_RE, data, i)
    if _at(data, i) == 0x2E:  # .
        i += 1
        c = _at(data, i)
        if not 0x30 <= c <= 0x39:
            raise _bad(data, i, "after decimal point in numeric literal")
        i = _skip(_DIGITS_RE, data, i)
    if _at(data, i) in (0x65, 0x45):  # e E
        i += 1
        if _at(data, i) in (0x2B, 0x2D):
            i += 1
        c = _at(data, i)
        if not 0x30 <= c <= 0x39:
            raise _bad(data, i, "in exponent of numeric literal")
        i = _skip(_DIGITS_RE, data, i)
    return i


# --- §8.2 wrappers ----------------------------------------------------------------------------


def _error_class(decoded: ErrorList) -> type[RegistryResponseError]:
    code = decoded.first_code if 400 <= decoded.status < 500 else ""
    return response_error_class(decoded.status, code)


def _body_details(resp: Response, decoded: ErrorList) -> tuple[ErrorDetail, ...]:
    """Coded errors for ``.errors``; for statuses Go does not decode, still read the body."""
    if decoded.status_line is None:
        return decoded.details
    items, _ = _parse_body(resp.status, resp.body)
    return tuple(item.as_detail() for item in items if isinstance(item, CodedError))


def registry_error(
    resp: Response, *, method: str, url: str, context: str
) -> RegistryResponseError:
    """The "registry wrapper" (manifests, SPEC §8.2): ``<context>: <text>``.

    An unexpected body becomes ``StatusCode: <code>, <first 50 bytes>...``; everything else is
    the §8.1 text.
    """
    decoded = decode_error_details(resp)
    unexpected = decoded.unexpected
    if unexpected is not None:
        text = f"StatusCode: {unexpected.status}, {unexpected.excerpt}"
    else:
        text = decoded.text
    message = f"{context}: {text}" if context else text
    cls = _error_class(decoded)
    return cls(
        message,
        status=resp.status,
        errors=_body_details(resp, decoded),
        method=method,
        url=url,
    )


def simple_error(
    resp: Response, *, method: str, url: str, context: str | None
) -> RegistryResponseError:
    """The "simple wrapper" (ping, token, blobs, tag list; SPEC §8.2).

    The text hides the body except on 401, as Go does; the class and ``.errors`` still come
    from the decoded body, so a blob 404 with ``BLOB_UNKNOWN`` is a :class:`BlobUnknown`.
    """
    decoded = decode_error_details(resp)
    details = _body_details(resp, decoded)
    status = resp.status
    cls: type[RegistryResponseError]
    if status == 429:
        cls, message = TooManyRequests, "too many requests to registry"
    elif status == 401:
        cls = Unauthorized
        message = f"unable to retrieve auth token: invalid username/password: {decoded.text}"
    else:
        cls = _error_class(decoded)
        prefix = f"{context}: " if context else ""
        # Go prints StatusText, empty for codes it does not know; the server's reason is kinder.
        text = status_text(status) or resp.reason
        message = f"{prefix}invalid status code from registry {status} ({text})"
    return cls(message, status=status, errors=details, method=method, url=url)


# --- manifest-unknown classification ----------------------------------------------------------


def is_manifest_unknown(
    exc_or_resp: RegistryResponseError | Response, *, legacy: bool = False
) -> bool:
    """Whether a manifest refusal means "no such manifest" (sigstore attachments absent).

    Default: upstream's rule (SPEC §17): first error MANIFEST_UNKNOWN; or UNKNOWN whose message
    contains "not found" in any case; or any 404 whose body is not a registry error list.
    ``legacy=True``: the 5.23.1 rule (SPEC §13.6): UNKNOWN only with message exactly
    ``Not Found``, and an unparsable 404 body only when it contains ``Not found``.
    """
    if isinstance(exc_or_resp, Response):
        decoded = decode_error_details(exc_or_resp)
        if decoded.status_line is not None or not decoded.items:
            return False
        first = decoded.items[0]
        if isinstance(first, UnexpectedBody):
            if decoded.unexpected is None or first.status != 404:
                return False
            return b"Not found" in first.body if legacy else True
        return _coded_is_unknown(first.code, first.message, short=first.short, legacy=legacy)
    exc = exc_or_resp
    if not 400 <= exc.status < 500:
        return False
    if exc.errors:
        first_detail = exc.errors[0]
        return _coded_is_unknown(
            first_detail.code, first_detail.message, short=False, legacy=legacy
        )
    if exc.status != 404:
        return False
    return "Not found" in str(exc) if legacy else True


def _coded_is_unknown(code: str, message: str, *, short: bool, legacy: bool) -> bool:
    if code == "MANIFEST_UNKNOWN":
        return True
    if code != "UNKNOWN" or short:
        return False
    return message == "Not Found" if legacy else "not found" in message.lower()
