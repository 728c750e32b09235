"""What a case expected and what arrived, side by side; a miss raises a unified diff."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sansio_registry_driverkit.conformance.server import Seen

__all__ = ["ConformanceFailure", "TranscriptDiff", "Want", "tls_hello"]


class ConformanceFailure(AssertionError):
    """A backend did not behave as the contract says; the message is a transcript diff."""


@dataclass(frozen=True, slots=True)
class Want:
    """One expected arrival; ``headers`` maps a name to its value, ``None`` meaning absent.

    ``authorization`` is always checked (absent unless given); ``accept-encoding`` must never
    be sent (bodies must arrive as stored).
    """

    origin: str
    method: str
    target: str = ""
    headers: Mapping[str, str | None] = field(default_factory=dict)


def tls_hello(origin: str) -> Want:
    return Want(origin, "TLS")


def _render(item: Want | Seen, keys: Sequence[str]) -> str:
    if item.method == "TLS":
        return f"{item.origin} TLS ClientHello (refused)"
    parts = [f"{item.origin} {item.method} {item.target}"]
    for name in keys:
        if isinstance(item, Want):
            value = item.headers.get(name)
        else:
            values = item.headers.get_all(name)
            value = ", ".join(values) if values else None
        parts.append(f"{name}: {value}" if value is not None else f"no {name}")
    if isinstance(item, Seen) and "accept-encoding" in item.headers:
        parts.append(f"accept-encoding: {item.headers.get('accept-encoding')}")
    return "  |  ".join(parts)


def _keys(want: Want | None) -> list[str]:
    extra = [k.lower() for k in (want.headers if want else {}) if k.lower() != "authorization"]
    return ["authorization", *extra]


class TranscriptDiff:
    """Expected and actual lines side by side; :meth:`verify` raises with a diff."""

    def __init__(self, case: str) -> None:
        self.case = case
        self.expected: list[str] = []
        self.actual: list[str] = []

    def section(self, title: str) -> None:
        self.expected.append(f"## {title}")
        self.actual.append(f"## {title}")

    def exchanges(self, wants: Sequence[Want], seen: Sequence[Seen]) -> None:
        self.expected += [_render(w, _keys(w)) for w in wants]
        for index, item in enumerate(seen):
            want = wants[index] if index < len(wants) else None
            self.actual.append(_render(item, _keys(want)))

    def fact(self, expected: str, actual: str) -> None:
        self.expected.append(expected)
        self.actual.append(actual)

    def verify(self) -> None:
        if self.expected == self.actual:
            return
        diff = difflib.unified_diff(
            self.expected, self.actual, "expected", "actual", lineterm="", n=2
        )
        raise ConformanceFailure(
            f"conformance case {self.case!r} failed:\n"
            + "\n".join(diff)
            + "\n\nfull actual transcript:\n  "
            + "\n  ".join(self.actual)
        )
