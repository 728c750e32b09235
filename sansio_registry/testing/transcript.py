"""Scripted transcripts: expected requests with canned replies (mitmproxy Playbook style).

A :class:`Transcript` is a transport for :func:`~sansio_registry.testing.run_sync`. Each
:class:`Expect` names the method and URL it must see, header values that must be present and
header names that must be absent (``authorization`` on a mirror or a cross-origin redirect),
and the reply. A mismatch fails with a readable expected/actual diff.

A script not used up is a failure too, and nobody has to remember to check it: every
:class:`Transcript` made inside :func:`transcripts_used_up` is checked when that block ends
(the project's ``tests/conftest.py`` wraps every test in it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from sansio_registry.errors import RegistryClientError
from sansio_registry.http import Headers, Request, Response

__all__ = ["Expect", "Transcript", "reply", "transcripts_used_up"]

#: The transcripts made inside each active :func:`transcripts_used_up` block, innermost last.
_WATCHING: list[list[Transcript]] = []


def reply(
    status: int = 200, body: bytes = b"", *headers: tuple[str, str], at: float = 0.0
) -> Response:
    """A canned response."""
    return Response(status=status, headers=Headers(tuple(headers)), body=body, received_at=at)


@dataclass(frozen=True)
class Expect:
    """One expected request and what to answer."""

    method: str
    url: str
    answer: Response | RegistryClientError
    present: Mapping[str, str | None] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    body: bytes | None = None
    header_lines: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def mismatches(self, request: Request) -> list[str]:
        """What about ``request`` differs from this expectation."""
        problems: list[str] = []
        if request.method != self.method or request.url != self.url:
            problems.append(
                f"expected {self.method} {self.url}\n     got {request.method} {request.url}"
            )
        for name, value in self.present.items():
            got = request.headers.get(name)
            if got is None:
                problems.append(f"header {name} missing")
            elif value is not None and got != value:
                problems.append(f"header {name}: expected {value!r}, got {got!r}")
        for name in self.absent:
            if name in request.headers:
                problems.append(f"header {name} must be absent")
        for name, values in self.header_lines:
            got_all = request.headers.get_all(name)
            if got_all != values:
                problems.append(f"header lines {name}: expected {values!r}, got {got_all!r}")
        if self.body is not None and request.body != self.body:
            problems.append(f"body: expected {self.body!r}, got {request.body!r}")
        return problems


@dataclass
class Transcript:
    """Replays a script of exchanges, checking each request on the way."""

    script: list[Expect]
    seen: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        if _WATCHING:
            _WATCHING[-1].append(self)

    def __call__(self, request: Request) -> Response:
        """Check ``request`` against the next expectation and return its canned answer."""
        index = len(self.seen)
        self.seen.append(request)
        if index >= len(self.script):
            raise AssertionError(
                f"unexpected request #{index + 1} after the script ended: "
                f"{request.method} {request.url}"
            )
        expect = self.script[index]
        problems = expect.mismatches(request)
        if problems:
            raise AssertionError(f"request #{index + 1} differs:\n  " + "\n  ".join(problems))
        if isinstance(expect.answer, RegistryClientError):
            raise expect.answer
        return expect.answer

    def done(self) -> None:
        """Fail unless every scripted exchange happened."""
        if len(self.seen) < len(self.script):
            missing = self.script[len(self.seen) :]
            raise AssertionError(
                "script not used up; still expected: "
                + ", ".join(f"{e.method} {e.url}" for e in missing)
            )


@contextmanager
def transcripts_used_up() -> Iterator[list[Transcript]]:
    """Check, when the block ends without an error, that every transcript made in it was used up.

    Yields the list of those transcripts. An error leaving the block is not masked.
    """
    made: list[Transcript] = []
    _WATCHING.append(made)
    try:
        yield made
    finally:
        _WATCHING.remove(made)
    for transcript in made:
        transcript.done()
