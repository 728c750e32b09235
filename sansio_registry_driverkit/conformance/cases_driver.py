"""Cases about the driver's own duties: its clock and Sleep, TLS verification, ``file://``."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Final

from sansio_registry.errors import TransportError
from sansio_registry.flow import Flow, Steps
from sansio_registry.flow import fetch as fetch_step
from sansio_registry.flow import sleep as sleep_step
from sansio_registry.flows.exchange import retrying
from sansio_registry.http import Request, Response
from sansio_registry.retry_policy import RetryPolicy
from sansio_registry.session import RegistryState
from sansio_registry_driverkit.conformance.image import MANIFEST_OK, MANIFEST_PATH
from sansio_registry_driverkit.conformance.report import TranscriptDiff, Want
from sansio_registry_driverkit.conformance.runner import RunFlow, run_chain
from sansio_registry_driverkit.conformance.server import Answer, LoopbackServer

#: The Sleep the ``sleep_and_429`` case asks for (short: the suite stays fast).
_NAP: Final = 0.25


def _timed(
    server: LoopbackServer, state: RegistryState
) -> Steps[tuple[float, float, float, Response]]:
    """Probe, Sleep, probe, then a request answered 429 (Retry-After: 0) and then 200."""
    begun = state.now  # what begin(at=…) told the flow, before any answer
    before = yield from fetch_step(_plain_request(server, "/probe"))
    yield from sleep_step(_NAP)
    after = yield from fetch_step(_plain_request(server, "/probe"))
    response = yield from retrying(
        _plain_request(server, MANIFEST_PATH), fetch_step, RetryPolicy()
    )
    return begun, before.received_at, after.received_at, response


def _plain_request(server: LoopbackServer, path: str) -> Request:
    return Request(method="GET", url=f"{server.url('A')}{path}", tls_verify=False)


def sleep_and_429(run_flow: RunFlow) -> None:
    t = TranscriptDiff("sleep_and_429")
    with LoopbackServer(("A",)) as server:
        busy = Answer(429, (("Retry-After", "0"),), b"")
        server.route("A", "GET", "/probe", Answer(200, (), b"probe"))
        server.route("A", "GET", MANIFEST_PATH, busy, MANIFEST_OK)
        state = RegistryState(now=float("-inf"))
        result = run_chain(run_flow, [Flow(_timed(server, state))], state)
        probe, manifest = Want("A", "GET", "/probe"), Want("A", "GET", MANIFEST_PATH)
        t.exchanges([probe, probe, manifest, manifest], server.seen)
        kinds = ", ".join(type(e).__name__ for e in result.log)
        t.fact("effects: Fetch, Sleep, Fetch, Fetch, Fetch", f"effects: {kinds}")
        slept = f"received_at advanced >= {_NAP} s across the Sleep (the driver's clock)"
        later = "state.now >= the last received_at"
        begun_at = "begin(at=…) carried the driver's clock (<= the first received_at)"
        if result.error is not None or not isinstance(result.value, tuple):
            t.fact("=> 200 after the 429", f"=> raised {result.error!r}")
        else:
            begun, before, after, response = result.value
            t.fact(begun_at, begun_at if float("-inf") < begun <= before else f"begun at {begun}")
            waited = after - before
            t.fact("=> 200 after the 429", f"=> {response.status} after the 429")
            t.fact(slept, slept if waited >= _NAP else f"received_at advanced only {waited:.3f} s")
            t.fact(
                later,
                later
                if state.now >= response.received_at
                else f"state.now {state.now} < last received_at {response.received_at}",
            )
        t.section("aborted at the Sleep")
        fresh = RegistryState()
        aborted = run_chain(run_flow, [Flow(_timed(server, fresh))], fresh, abort=1)
        t.fact("flow aborted", f"flow {aborted.flow.state.value}")
        t.fact("no error", "no error" if aborted.error is None else repr(aborted.error))
    t.verify()


def tls_verify(run_flow: RunFlow) -> None:
    t = TranscriptDiff("tls_verify")
    with LoopbackServer(("A",), tls=("A",)) as server:
        server.route("A", "GET", "/probe", Answer(200, (), b"probe"))
        url = f"https://{server.host('A')}/probe"

        def probe(verify: bool) -> Steps[str]:
            request = Request(method="GET", url=url, tls_verify=verify)
            try:
                response = yield from fetch_step(request)
            except TransportError:
                return "TransportError"
            return f"{response.status} {response.body!r}"

        def three() -> Steps[list[str]]:
            return [(yield from probe(False)), (yield from probe(True)), (yield from probe(False))]

        result = run_chain(run_flow, [Flow(three())], RegistryState())
        t.exchanges([Want("A", "GET", "/probe"), Want("A", "GET", "/probe")], server.seen)
        expected = (
            "=> unverified: 200 b'probe', verified: TransportError, unverified: 200 b'probe'"
        )
        if result.error is not None or not isinstance(result.value, list):
            t.fact(expected, f"=> raised {result.error!r}")
        else:
            first, second, third = result.value
            t.fact(expected, f"=> unverified: {first}, verified: {second}, unverified: {third}")
    t.verify()


def file_url(run_flow: RunFlow) -> None:
    t = TranscriptDiff("file_url")
    with TemporaryDirectory() as tmp, LoopbackServer(("A",)) as server:
        path = Path(tmp) / "signature-1"
        path.write_bytes(b"signature bytes")
        request = Request(method="GET", url=path.as_uri())
        missing = Request(method="GET", url=(Path(tmp) / "nope").as_uri())

        def both() -> Steps[tuple[Response, Response]]:
            found = yield from fetch_step(request)
            gone = yield from fetch_step(missing)
            return found, gone

        result = run_chain(run_flow, [Flow(both())], RegistryState())
        t.exchanges([], server.seen)
        if result.error is not None or not isinstance(result.value, tuple):
            t.fact("=> 200 b'signature bytes', 404", f"=> raised {result.error!r}")
        else:
            found, gone = result.value
            t.fact(
                "=> 200 b'signature bytes', 404",
                f"=> {found.status} {found.body!r}, {gone.status}",
            )
    t.verify()
