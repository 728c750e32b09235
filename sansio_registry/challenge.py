"""``WWW-Authenticate`` challenges (RFC 9110 §11.6.1): parsing and choosing one.

Its own module because both the auth sub-flow and the reading of error responses (a 401's
bearer ``error=``) need it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["Challenge", "choose_challenge", "parse_challenges", "parse_www_authenticate"]


@dataclass(frozen=True, slots=True, init=False)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a lowercased scheme and its parameters.

    Parameters are stored as key-sorted pairs so that two challenges with the same parameters
    compare equal whatever order the server sent them in.
    """

    scheme: str
    params: tuple[tuple[str, str], ...]

    def __init__(
        self, scheme: str, params: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    ) -> None:
        pairs = dict(params.items() if isinstance(params, Mapping) else params)
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "params", tuple(sorted(pairs.items())))

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of parameter ``key`` (lowercase), or ``default``."""
        for k, v in self.params:
            if k == key:
                return v
        return default

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.params)

    @property
    def param_map(self) -> dict[str, str]:
        """The parameters as a fresh dict."""
        return dict(self.params)


_SEPARATORS: Final = frozenset(' \t"(),/:;<=>?@[]\\{}')
_SPACES: Final = frozenset(" \t\r\n")


def _is_token_char(c: str) -> bool:
    # RFC 7230 token: visible ASCII except separators (Go's octetTypes isToken).
    return "!" <= c <= "~" and c not in _SEPARATORS


def _scan_token(s: str, i: int) -> int:
    n = len(s)
    while i < n and _is_token_char(s[i]):
        i += 1
    return i


def _skip_space(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in _SPACES:
        i += 1
    return i


def _token_or_quoted(s: str, i: int) -> tuple[str, int]:
    """Go's ``expectTokenOrQuoted``: ``("", …)`` for an unterminated quoted string."""
    n = len(s)
    if i >= n or s[i] != '"':
        j = _scan_token(s, i)
        return s[i:j], j
    out: list[str] = []
    i += 1
    while i < n:
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            i += 1
            if i >= n:
                break
            c = s[i]
        out.append(c)
        i += 1
    return "", n


def parse_www_authenticate(value: str) -> Challenge | None:
    """Parse one header line with the exact (lenient, stop-at-anything-odd) Go grammar.

    Returns ``None`` when the line has no scheme (e.g. it starts with a space). Never raises.
    """
    i = _scan_token(value, 0)
    if i == 0:
        return None
    scheme = value[:i].lower()
    params: dict[str, str] = {}
    n = len(value)
    i = _skip_space(value, i)
    first = True  # Go prepends a virtual "," before the first parameter
    while True:
        if first:
            first = False
        elif i < n and value[i] == ",":
            i += 1
        else:
            break
        i = _skip_space(value, i)
        j = _scan_token(value, i)
        if j == i:
            break
        key = value[i:j].lower()
        i = j
        if i >= n or value[i] != "=":
            break
        pvalue, i = _token_or_quoted(value, i + 1)
        if not pvalue:
            break
        params[key] = pvalue
        i = _skip_space(value, i)
    return Challenge(scheme, params)


def parse_challenges(lines: Iterable[str]) -> tuple[Challenge, ...]:
    """Every challenge of the ``WWW-Authenticate`` lines, in header order (one per line)."""
    out: list[Challenge] = []
    for line in lines:
        challenge = parse_www_authenticate(line)
        if challenge is not None:
            out.append(challenge)
    return tuple(out)


def choose_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The first ``basic`` or ``bearer`` challenge; ``None`` → no Authorization."""
    for challenge in challenges:
        if challenge.scheme in ("basic", "bearer"):
            return challenge
    return None
