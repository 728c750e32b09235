"""Cases about bodies and connections: error bodies, limits, cuts, and aborting anywhere."""

from __future__ import annotations

from sansio_registry.flow import Flow, FlowState, Steps, open_
from sansio_registry.flows.manifest import open_image
from sansio_registry.http import Request, Response
from sansio_registry.session import RegistryState
from sansio_registry_driverkit.conformance.image import (
    API,
    BASIC,
    CREDS,
    LAYER,
    LAYER_PATH,
    MANIFEST,
    MANIFEST_OK,
    MANIFEST_PATH,
    OCI,
    PING_OK,
    TOKEN_TARGET,
    bearer_routes,
    blob_flows,
    blob_stub,
    client_config,
    describe_blob,
    describe_image,
    flow_state,
    image_ref,
    image_stub,
    image_wants,
    redirect_routes,
)
from sansio_registry_driverkit.conformance.report import TranscriptDiff, Want, tls_hello
from sansio_registry_driverkit.conformance.runner import RunFlow, error_name, outcome, run_chain
from sansio_registry_driverkit.conformance.server import Answer, LoopbackServer


def open_error_body(run_flow: RunFlow) -> None:
    t = TranscriptDiff("open_error_body")
    with LoopbackServer(("A",)) as server:
        unknown = b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}'
        server.route("A", "GET", "/v2/", PING_OK)
        server.route("A", "GET", MANIFEST_PATH, MANIFEST_OK)
        server.route(
            "A", "GET", LAYER_PATH, Answer(404, (("Content-Type", "application/json"),), unknown)
        )
        state = RegistryState()
        result = run_chain(run_flow, blob_flows(server, client_config(), state), state)
        t.exchanges([*image_wants(), Want("A", "GET", LAYER_PATH)], server.seen)
        t.fact("=> raised BlobUnknown", outcome(result, describe_blob))
    t.verify()


def open_error_body_cut(run_flow: RunFlow) -> None:
    t = TranscriptDiff("open_error_body_cut")
    body = b"0123456789abcdef" * 4

    def opened(path: str) -> Steps[str]:
        request = Request(method="GET", url=f"{server.url('A')}{path}", max_body=16)
        head = yield from open_(request)
        data = head.body if isinstance(head, Response) else None
        return f"{head.status} with body {data!r}"

    def both() -> Steps[tuple[str, str]]:
        return (yield from opened("/sized")), (yield from opened("/chunked"))

    with LoopbackServer(("A",)) as server:
        server.route("A", "GET", "/sized", Answer(404, (), body))
        server.route("A", "GET", "/chunked", Answer(404, (), body, chunked=True))
        result = run_chain(run_flow, [Flow(both())], RegistryState())
        t.exchanges([Want("A", "GET", "/sized"), Want("A", "GET", "/chunked")], server.seen)
        cut = f"404 with body {body[:16]!r}"
        if result.error is not None or not isinstance(result.value, tuple):
            t.fact(f"=> {cut}, {cut}", f"=> raised {error_name(result.error or Exception())}")
        else:
            t.fact(f"=> {cut}, {cut}", f"=> {result.value[0]}, {result.value[1]}")
    t.verify()


def body_over_cap(run_flow: RunFlow) -> None:
    t = TranscriptDiff("body_over_cap")
    limit = 64 * 1024  # the ping's max_body
    runs = [
        ("exactly max_body bytes (Content-Length)", Answer(200, (API,), b" " * limit), False),
        ("max_body + 1 bytes (Content-Length)", Answer(200, (API,), b" " * (limit + 1)), True),
        ("max_body + 1 bytes (chunked)", Answer(200, (API,), b" " * (limit + 1), True), True),
    ]
    with LoopbackServer(("A",)) as server:
        server.route("A", "GET", MANIFEST_PATH, MANIFEST_OK)
        for title, ping, too_large in runs:
            t.section(f"ping answered with {title}")
            server.route("A", "GET", "/v2/", ping)
            mark = server.mark()
            state = RegistryState()
            result = run_chain(
                run_flow,
                [open_image(image_ref(server), config=client_config(), state=state)],
                state,
            )
            wants = image_wants()
            t.exchanges(wants[:2] if too_large else wants, server.seen[mark:])
            expected = "=> raised BodyTooLarge" if too_large else f"=> {image_stub()}"
            t.fact(expected, outcome(result, describe_image))
    t.verify()


def transport_error_mid_body(run_flow: RunFlow) -> None:
    t = TranscriptDiff("transport_error_mid_body")
    cut_manifest = Answer(200, (("Content-Type", OCI),), MANIFEST, cut_after=100)
    with LoopbackServer(("A",)) as server:
        server.route("A", "GET", "/v2/", PING_OK)
        server.route("A", "GET", MANIFEST_PATH, cut_manifest, MANIFEST_OK)
        server.route(
            "A",
            "GET",
            LAYER_PATH,
            Answer(200, (), LAYER, cut_after=1000),
            Answer(200, (), LAYER),
        )
        state = RegistryState()
        t.section("the manifest body stops after 100 bytes (Fetch)")
        result = run_chain(
            run_flow, [open_image(image_ref(server), config=client_config(), state=state)], state
        )
        t.exchanges(image_wants(), server.seen)
        t.fact("=> raised TransportError", outcome(result, describe_image))
        t.fact("flow failed", flow_state(result, FlowState.FAILED))
        t.section("the blob body stops after 1000 bytes (Open; raised by the flow or the body)")
        mark = server.mark()
        result = run_chain(run_flow, blob_flows(server, client_config(), state), state)
        blob_want = Want("A", "GET", LAYER_PATH)
        t.exchanges([Want("A", "GET", MANIFEST_PATH), blob_want], server.seen[mark:])
        t.fact("=> raised TransportError", outcome(result, describe_blob))
        t.fact("flow done", flow_state(result, FlowState.DONE, FlowState.FAILED))
        t.section("the same driver then fetches the blob whole (no broken connection reused)")
        mark = server.mark()
        result = run_chain(run_flow, blob_flows(server, client_config(), state), state)
        t.exchanges([Want("A", "GET", MANIFEST_PATH), blob_want], server.seen[mark:])
        t.fact(f"=> {blob_stub()}", outcome(result, describe_blob))
    t.verify()


def abort_everywhere(run_flow: RunFlow) -> None:
    t = TranscriptDiff("abort_everywhere")
    with LoopbackServer() as server:
        bearer_routes(server)
        cdn = redirect_routes(server)
        config = client_config(CREDS)
        state = RegistryState()
        full = run_chain(run_flow, blob_flows(server, config, state), state)
        count = len(full.log)
        t.fact(f"=> {blob_stub()}", outcome(full, describe_blob))
        t.fact("effects: 6", f"effects: {count}")
        for k in range(count):
            state = RegistryState()
            result = run_chain(run_flow, blob_flows(server, config, state), state, abort=k)
            expected = f"abort after {k} effects: flow aborted, returned"
            if result.error is not None:
                actual = f"abort after {k} effects: run_flow raised {result.error!r}"
            else:
                actual = f"abort after {k} effects: flow {result.flow.state.value}, returned"
            t.fact(expected, actual)
            busy = server.settle()
            settled = f"after abort {k}: every connection closed or between exchanges"
            t.fact(settled, "; ".join(busy) if busy else settled)
        t.section("a full run afterwards, on whatever connections the driver kept")
        mark = server.mark()
        state = RegistryState()
        again = run_chain(run_flow, blob_flows(server, config, state), state)
        t.exchanges(
            [
                tls_hello("A"),
                Want("A", "GET", "/v2/"),
                Want("B", "GET", TOKEN_TARGET, {"authorization": BASIC}),
                Want("A", "GET", MANIFEST_PATH, {"authorization": "Bearer tok-1"}),
                Want("A", "GET", LAYER_PATH, {"authorization": "Bearer tok-1"}),
                Want("B", "GET", cdn),
            ],
            server.seen[mark:],
        )
        t.fact(f"=> {blob_stub()}", outcome(again, describe_blob))
    t.verify()
