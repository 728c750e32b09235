"""Cases about what goes on the wire: headers as asked, tokens, redirects left to the core."""

from __future__ import annotations

from sansio_registry.flow import Flow, FlowState, Open
from sansio_registry.flows.blob import get_config_blob
from sansio_registry.flows.manifest import ImageSource, open_image
from sansio_registry.media_types import MANIFEST_ACCEPT
from sansio_registry.session import RegistryState
from sansio_registry_driverkit.conformance.image import (
    API,
    BASIC,
    CONFIG,
    CONFIG_DIGEST,
    CONFIG_PATH,
    CREDS,
    LAYER_PATH,
    MANIFEST_OK,
    MANIFEST_PATH,
    PING_OK,
    TOKEN_TARGET,
    bearer_routes,
    blob_flows,
    blob_stub,
    client_config,
    describe_blob,
    describe_bytes,
    describe_image,
    flow_state,
    image_ref,
    image_stub,
    redirect_routes,
)
from sansio_registry_driverkit.conformance.report import TranscriptDiff, Want, tls_hello
from sansio_registry_driverkit.conformance.runner import Result, RunFlow, outcome, run_chain
from sansio_registry_driverkit.conformance.server import Answer, LoopbackServer


def anonymous_manifest(run_flow: RunFlow) -> None:
    t = TranscriptDiff("anonymous_manifest")
    with LoopbackServer(("A",)) as server:
        server.route("A", "GET", "/v2/", PING_OK)
        server.route("A", "GET", MANIFEST_PATH, MANIFEST_OK)
        state = RegistryState()
        result = run_chain(
            run_flow, [open_image(image_ref(server), config=client_config(), state=state)], state
        )
        host, agent = server.host("A"), client_config().user_agent
        plain = {"host": host, "user-agent": agent}
        accept = ", ".join(MANIFEST_ACCEPT)
        t.exchanges(
            [
                tls_hello("A"),
                Want("A", "GET", "/v2/", plain),
                Want("A", "GET", MANIFEST_PATH, {**plain, "accept": accept}),
            ],
            server.seen,
        )
        t.fact(f"=> {image_stub()}", outcome(result, describe_image))
        t.fact("flow done", flow_state(result, FlowState.DONE))
    t.verify()


def token_dance(run_flow: RunFlow) -> None:
    t = TranscriptDiff("token_dance")
    with LoopbackServer() as server:
        bearer_routes(server)
        server.route("A", "GET", CONFIG_PATH, Answer(200, (), CONFIG))
        state = RegistryState()
        config = client_config(CREDS)
        t.section("open_image: ping, token from the realm on origin B, manifest with the token")
        first = run_chain(
            run_flow, [open_image(image_ref(server), config=config, state=state)], state
        )
        t.exchanges(
            [
                tls_hello("A"),
                Want("A", "GET", "/v2/"),
                Want("B", "GET", TOKEN_TARGET, {"authorization": BASIC}),
                Want("A", "GET", MANIFEST_PATH, {"authorization": "Bearer tok-1"}),
            ],
            server.seen,
        )
        t.fact(f"=> {image_stub()}", outcome(first, describe_image))
        t.section("get_config_blob with the same state: the cached token is reused")
        mark = server.mark()
        second = run_chain(run_flow, [_config_flow(first, state)], state) if first.value else first
        t.exchanges(
            [Want("A", "GET", CONFIG_PATH, {"authorization": "Bearer tok-1"})],
            server.seen[mark:],
        )
        t.fact(f"=> {describe_bytes(CONFIG, None)}", outcome(second, describe_bytes))
    t.verify()


def _config_flow(first: Result, state: RegistryState) -> Flow[bytes]:
    source: ImageSource = first.value
    return get_config_blob(source, CONFIG_DIGEST, size=len(CONFIG), state=state)


def unauthorized_without_challenge(run_flow: RunFlow) -> None:
    t = TranscriptDiff("unauthorized_without_challenge")
    with LoopbackServer(("A",)) as server:
        denied = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        server.route("A", "GET", "/v2/", Answer(401, (API,), b"{}"))
        server.route("A", "GET", MANIFEST_PATH, Answer(401, (API,), denied))
        state = RegistryState()
        flow = open_image(image_ref(server), config=client_config(CREDS), state=state)
        result = run_chain(run_flow, [flow], state)
        t.exchanges(
            [tls_hello("A"), Want("A", "GET", "/v2/"), Want("A", "GET", MANIFEST_PATH)],
            server.seen,
        )
        t.fact("=> raised Unauthorized", outcome(result, describe_image))
        t.fact("flow failed", flow_state(result, FlowState.FAILED))
    t.verify()


def redirect_across_origins(run_flow: RunFlow) -> None:
    t = TranscriptDiff("redirect_across_origins")
    with LoopbackServer() as server:
        basic = Answer(401, (("WWW-Authenticate", 'Basic realm="reg"'), API), b"{}")
        server.route("A", "GET", "/v2/", basic)
        server.route("A", "GET", MANIFEST_PATH, MANIFEST_OK)
        cdn = redirect_routes(server)
        state = RegistryState()
        result = run_chain(run_flow, blob_flows(server, client_config(CREDS), state), state)
        t.exchanges(
            [
                tls_hello("A"),
                Want("A", "GET", "/v2/"),
                Want("A", "GET", MANIFEST_PATH, {"authorization": BASIC}),
                Want("A", "GET", LAYER_PATH, {"authorization": BASIC}),
                Want("B", "GET", cdn, {"host": server.host("B")}),
            ],
            server.seen,
        )
        opens = [f"{type(e).__name__} {e.request.url}" for e in result.log if isinstance(e, Open)]
        t.fact(
            f"effects: Open {server.url('A')}{LAYER_PATH}, Open {server.url('B')}{cdn}",
            "effects: " + ", ".join(opens),
        )
        t.fact(f"=> {blob_stub()}", outcome(result, describe_blob))
    t.verify()
