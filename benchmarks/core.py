"""The pure core alone: a cached-token ``get_manifest`` driven by ``run_sync`` over the
in-memory ``FakeNetwork``, next to the two things it cannot avoid on the same body (decoding
the JSON with msgspec, hashing it with sha256).

The total is split in two: the ``FakeNetwork`` answering the flow's one request alone, and
the flow over a transport that hands back that same answer at once (the core's own cost,
sha256 of the body included)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import msgspec

from benchmarks.context import Bench, Spec
from benchmarks.measure import Measurement
from benchmarks.report import Row, format_count
from sansio_registry import ClientConfig, ImageRef, RegistryState, get_manifest
from sansio_registry.manifest import parse_manifest
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import FakeNetwork, FakeRegistry, FakeTokenServer
from tests.lab.images import build_image

__all__ = ["core"]

CALLS = 2000
_PART = "one part of the whole call in the first row, measured alone"


def _per_call(fn: Callable[[], object]) -> Measurement:
    t0 = time.perf_counter()
    for _ in range(CALLS):
        fn()
    return Measurement(wall=(time.perf_counter() - t0) / CALLS)


def core(bench: Bench) -> list[Row]:
    image = build_image(oci=True, layers=[{f"f{i}": b"x"} for i in range(5)], seed="core")
    body, media_type = image.manifest, image.media_type
    issuer = FakeTokenServer()
    registry = FakeRegistry(auth="bearer", realm="https://auth.test/token", token_server=issuer)
    registry.put_manifest("ns/app", "v1", body, media_type)
    network = FakeNetwork()
    network.add("auth.test", issuer)
    network.add("reg.test", registry)
    ref = ImageRef.parse("reg.test/ns/app:v1")
    config, state = ClientConfig(), RegistryState()

    def flow() -> object:
        return run_sync(get_manifest(ref, config=config, state=state), network)

    flow()  # the ping and the token: cached from here on
    tokens_before = issuer.requests
    request = network.log[-1]  # the manifest GET, as every cached call sends it
    answer = network(request)

    def over_canned_answer() -> object:
        return run_sync(get_manifest(ref, config=config, state=state), lambda _: answer)

    def cached() -> Measurement:
        done = _per_call(flow)
        return Measurement(done.wall, info={"tokens": issuer.requests - tokens_before})

    ours = "get_manifest, cached token (run_sync + FakeNetwork)"
    return bench.compare(
        f"core, per call ({len(body)}-byte OCI manifest)",
        [
            Spec(
                ours,
                cached,
                ours,
                lambda s: f"tokens fetched in the loop: {format_count(s.info('tokens'))}",
            ),
            Spec(
                "the flow alone (run_sync, the answer handed back at once)",
                lambda: _per_call(over_canned_answer),
                ours,
                why_faster=_PART,
            ),
            Spec(
                "FakeNetwork answering the manifest GET alone",
                lambda: _per_call(lambda: network(request)),
                ours,
                why_faster=_PART,
            ),
            Spec(
                "msgspec.json.decode(body)",
                lambda: _per_call(lambda: msgspec.json.decode(body)),
                ours,
                why_faster=_PART,
            ),
            Spec(
                "parse_manifest(body) (typed msgspec structs)",
                lambda: _per_call(lambda: parse_manifest(body, media_type)),
                ours,
                why_faster=_PART,
            ),
            Spec(
                "hashlib.sha256(body).hexdigest()",
                lambda: _per_call(lambda: hashlib.sha256(body).hexdigest()),
                ours,
                why_faster=_PART,
            ),
        ],
    )
