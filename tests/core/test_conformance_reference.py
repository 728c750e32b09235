"""The conformance suite against the reference drivers, and against broken ones it must catch.

Two drivers pass every case: the sync example (``examples/sync_driver.py``: sockets, ssl, h11,
keep-alive, streamed bodies) and ``run_sync`` over an ``http.client`` transport (buffered).
Then deliberately broken variants of the second prove each case can fail, with a readable
transcript diff: following redirects itself (keeping ``Authorization``), cutting bodies at
``max_body``, never aborting, ignoring ``Sleep``, speaking plain HTTP to ``https://`` URLs,
never verifying TLS, asking for gzip, dropping error bodies, and letting ``OSError`` escape.
"""

from __future__ import annotations

import http.client
import re
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from examples.sync_driver import Connections, run_streamed
from sansio_registry.errors import BodyTooLarge, TransportError
from sansio_registry.flow import Done, Flow, FlowState, Open, Reply
from sansio_registry.http import Headers, Request, Response, ResponseHead
from sansio_registry.session import RegistryState
from sansio_registry.testing import run_sync
from sansio_registry_driverkit.conformance import (
    Case,
    ConformanceFailure,
    RunFlow,
    conformance_cases,
    stop_after,
)

CASES = conformance_cases()


class _Interrupt(BaseException):
    """What a sync driver sees when its caller is interrupted (like KeyboardInterrupt)."""


def _interrupt() -> None:
    raise _Interrupt


# --- the sync example ---------------------------------------------------------------------------


@contextmanager
def sync_example() -> Iterator[RunFlow]:
    with closing(Connections(timeout=10)) as conns:

        def run_flow(
            flow: Flow[Any], state: RegistryState, abort_after: int | None
        ) -> tuple[Any, bytes | None]:
            if abort_after is not None:
                flow = stop_after(flow, abort_after, _interrupt)
            try:
                value, body = run_streamed(flow, conns)
            except _Interrupt:
                return None, None
            if body is None:
                return value, None
            try:
                return value, b"".join(iter(body.read, b""))
            finally:
                body.close()

        yield run_flow


def test_case_names_are_stable() -> None:
    assert [c.name for c in CASES] == [
        "anonymous_manifest",
        "token_dance",
        "unauthorized_without_challenge",
        "redirect_across_origins",
        "open_error_body",
        "open_error_body_cut",
        "body_over_cap",
        "transport_error_mid_body",
        "abort_everywhere",
        "sleep_and_429",
        "tls_verify",
        "file_url",
    ]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_sync_example_passes(case: Case) -> None:
    with sync_example() as run_flow:
        case.run(run_flow)


def test_sync_example_keeps_connections_alive() -> None:
    """One keep-alive connection per origin carries a whole token dance and blob download."""
    opened: list[object] = []
    original = Connections.exchange

    def counting(self: Connections, request: Request) -> tuple[ResponseHead, Any]:
        head, body = original(self, request)
        opened.append(body._conn)
        return head, body

    Connections.exchange = counting  # type: ignore[method-assign]
    try:
        with sync_example() as run_flow:
            next(c for c in CASES if c.name == "token_dance").run(run_flow)
    finally:
        Connections.exchange = original  # type: ignore[method-assign]
    # ping + manifest + config blob on A, token on B: two connections for four requests
    assert len(opened) == 4
    assert len({id(c) for c in opened}) == 2


# --- run_sync over http.client, with switchable faults ----------------------------------------


@dataclass(frozen=True)
class Faults:
    """Ways to break the reference driver."""

    follow_redirects: bool = False  # follows 3xx itself and keeps every header
    cut_at_max_body: bool = False  # keeps the first max_body bytes instead of failing
    never_abort: bool = False
    ignore_sleep: bool = False
    plain_for_https: bool = False
    never_verify: bool = False  # ignores request.tls_verify
    gzip: bool = False
    drop_error_bodies: bool = False  # answers a non-2xx Open with a bare head
    raw_os_errors: bool = False  # lets OSError out instead of TransportError


class _Last:
    """Remembers the last effect answered, so the body of a final Open can be handed back."""

    def __init__(self, flow: Flow[Any], *, never_abort: bool = False) -> None:
        self.flow = flow
        self.last_open: Response | None = None
        self.never_abort = never_abort  # a broken driver: run_sync's own abort is lost too

    @property
    def state(self) -> FlowState:
        return self.flow.state

    def begin(self, *, at: float | None = None) -> Any:
        return self.flow.begin(at=at)

    def reply(self, reply: Reply) -> Any:
        is_open = isinstance(self.flow.pending, Open)
        step = self.flow.reply(reply)
        self.last_open = reply if is_open and isinstance(reply, Response) else None
        return step

    def fail(self, exc: Any) -> Any:
        self.last_open = None
        return self.flow.fail(exc)

    def abort(self) -> None:
        if not self.never_abort:
            self.flow.abort()


_UNVERIFIED = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
_UNVERIFIED.check_hostname, _UNVERIFIED.verify_mode = False, ssl.CERT_NONE


def http_client_transport(
    faults: Faults, opening: Callable[[], bool] = lambda: False
) -> Callable[[Request], Response]:
    """One connection per request; ``opening()`` says whether an ``Open`` is pending."""

    def once(request: Request) -> Response:
        origin = request.origin
        if origin.scheme == "https" and not faults.plain_for_https:
            verify = request.tls_verify and not faults.never_verify
            ctx = ssl.create_default_context() if verify else _UNVERIFIED
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                origin.host, origin.port, timeout=10, context=ctx
            )
        else:
            conn = http.client.HTTPConnection(origin.host, origin.port, timeout=10)
        try:
            conn.putrequest(request.method, request.target, skip_accept_encoding=True)
            for name, value in request.headers:
                conn.putheader(name, value)
            if faults.gzip:
                conn.putheader("Accept-Encoding", "gzip")
            if request.body:
                conn.putheader("Content-Length", str(len(request.body)))
            conn.endheaders(request.body or None)
            resp = conn.getresponse()
            limit = request.max_body
            body = resp.read(limit + 1)
            if len(body) > limit:
                error_of_open = opening() and not 200 <= resp.status < 300
                if not (faults.cut_at_max_body or error_of_open):
                    raise BodyTooLarge(limit)
                body = body[:limit]
                resp.close()
            body += resp.read()  # nothing left, or IncompleteRead when the body was cut short
            if not 200 <= resp.status < 300 and faults.drop_error_bodies:
                body = b""
            return Response(
                status=resp.status,
                headers=Headers.of(resp.getheaders()),
                reason=resp.reason,
                body=body,
                received_at=time.monotonic(),
            )
        except (OSError, http.client.HTTPException) as exc:
            if faults.raw_os_errors and isinstance(exc, OSError):
                raise
            raise TransportError(f"{request.method} {request.url}: {exc}") from exc
        finally:
            conn.close()

    def transport(request: Request) -> Response:
        response = once(request)
        hops = 0
        while faults.follow_redirects and response.status in (301, 302, 307, 308) and hops < 10:
            location = response.headers.get("Location") or ""
            request = Request(
                method=request.method,
                url=urljoin(request.url, location),
                headers=request.headers,
                max_body=request.max_body,
            )
            response = once(request)
            hops += 1
        return response

    return transport


def http_client_driver(faults: Faults = Faults()) -> RunFlow:
    sleep = None if faults.ignore_sleep else time.sleep

    def run_flow(
        flow: Flow[Any], state: RegistryState, abort_after: int | None
    ) -> tuple[Any, bytes | None]:
        last = _Last(flow, never_abort=faults.never_abort)
        transport = http_client_transport(faults, lambda: isinstance(flow.pending, Open))
        driven: Flow[Any] = last  # type: ignore[assignment]
        if abort_after is not None:
            driven = stop_after(driven, abort_after, _interrupt)

        try:
            value = run_sync(driven, transport, sleep=sleep, clock=time.monotonic)
        except _Interrupt:
            if not faults.never_abort:
                flow.abort()
            return None, None
        return value, last.last_open.body if last.last_open is not None else None

    return run_flow


@pytest.mark.parametrize("case", CASES, ids=str)
def test_run_sync_over_http_client_passes(case: Case) -> None:
    case.run(http_client_driver())


BROKEN: list[tuple[str, Faults, str, list[str]]] = [
    (
        "follows redirects itself",
        Faults(follow_redirects=True),
        "redirect_across_origins",
        ["+B GET /cdn/layer?sig=1  |  authorization: Basic", "-effects: Open"],
    ),
    (
        "cuts bodies at max_body",
        Faults(cut_at_max_body=True),
        "body_over_cap",
        ["-=> raised BodyTooLarge", "+=> manifest"],
    ),
    (
        "never aborts",
        Faults(never_abort=True),
        "abort_everywhere",
        ["+abort after 0 effects: flow"],
    ),
    (
        "ignores Sleep",
        Faults(ignore_sleep=True),
        "sleep_and_429",
        ["+received_at advanced only"],
    ),
    (
        "plain HTTP for https URLs",
        Faults(plain_for_https=True),
        "anonymous_manifest",
        ["-A TLS ClientHello (refused)", "+A GET /v2/"],
    ),
    (
        "never verifies TLS",
        Faults(never_verify=True),
        "tls_verify",
        ["+=> unverified: 200 b'probe', verified: 200 b'probe'"],
    ),
    ("asks for gzip", Faults(gzip=True), "token_dance", ["accept-encoding: gzip"]),
    (
        "drops error bodies of Open",
        Faults(drop_error_bodies=True),
        "open_error_body",
        ["-=> raised BlobUnknown"],
    ),
    (
        "lets OSError escape",
        Faults(raw_os_errors=True),
        "anonymous_manifest",
        ["+=> raised", "Error"],
    ),
]


@pytest.mark.parametrize(
    ("fault", "faults", "case_name", "needles"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_broken_driver_is_caught(
    fault: str, faults: Faults, case_name: str, needles: list[str]
) -> None:
    case = next(c for c in CASES if c.name == case_name)
    with pytest.raises(ConformanceFailure) as caught:
        case.run(http_client_driver(faults))
    message = str(caught.value)
    assert message.startswith(f"conformance case {case_name!r} failed:\n--- expected\n+++ actual")
    for needle in needles:
        assert needle in message, message


def test_a_hanging_driver_is_reported_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import sansio_registry_driverkit.conformance.runner as conformance

    monkeypatch.setattr(conformance, "DEADLINE", 0.3)
    release = time.monotonic() + 2

    def hangs(flow: Flow[Any], state: RegistryState, abort_after: int | None) -> tuple[Any, None]:
        step = flow.begin()
        while time.monotonic() < release:  # a driver stuck somewhere, for a while
            time.sleep(0.01)
        assert not isinstance(step, Done)
        flow.abort()
        return None, None

    with pytest.raises(ConformanceFailure, match=r"did not return within 0\.3 s"):
        CASES[0].run(hangs)


def test_readme_shows_the_sync_example_loop_verbatim() -> None:
    """The README's "Use it from your own IO" loop is the example's code, not a paraphrase."""
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    source = (root / "examples" / "sync_driver.py").read_text(encoding="utf-8")
    shown = next(
        b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def run_streamed" in b
    )
    lines = [line for line in shown.splitlines() if line.strip()]
    assert len(lines) >= 20
    for line in lines:
        assert line in source.splitlines(), line
    assert shown.strip() in _without_docstrings(source)


def test_sync_example_is_under_200_lines() -> None:
    source = Path(__file__).resolve().parents[2] / "examples" / "sync_driver.py"
    assert len(source.read_text(encoding="utf-8").splitlines()) < 200


def _without_docstrings(source: str) -> str:
    return re.sub(r'\n    """[^\n]*"""', "", source)
