"""What ``list_signatures`` holds in memory is bounded: count and bytes, every source together."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sansio_registry.digest import Digest
from sansio_registry.flows.signatures import (
    MAX_SIGNATURE_BYTES,
    MAX_SIGSTORE_LAYERS,
    TooManySignatures,
)
from sansio_registry.http import Request, Response
from sansio_registry.testing.transcript import Expect, Transcript, reply
from tests.core.test_signature_flows import (
    BASE,
    OCI,
    SIG_BLOBS,
    SIG_TAG,
    H,
    blob_get,
    lookaside,
    ping,
    run,
    sig_manifest_get,
    sig_url,
)

MIB = 1024 * 1024
#: A lookaside signature of exactly 1 MiB (a simple-signing blob padded).
ONE_MIB_SIG = SIG_BLOBS[0] + b"x" * (MIB - len(SIG_BLOBS[0]))


def test_the_byte_cap_is_16_mib() -> None:
    assert MAX_SIGNATURE_BYTES == 16 * MIB and MAX_SIGSTORE_LAYERS == 128


def lookaside_of(count: int) -> tuple[list[str], Callable[[Request], Response]]:
    asked: list[str] = []

    def transport(request: Request) -> Response:
        if request.url == f"https://{H}/v2/":
            return reply(200)
        asked.append(request.url)
        return reply(200, ONE_MIB_SIG) if len(asked) <= count else reply(404)

    return asked, transport


def test_a_lookaside_may_fill_the_byte_cap() -> None:
    asked, transport = lookaside_of(16)
    found = run(transport)
    assert len(found) == 16 and len(asked) == 17


def test_a_lookaside_past_the_byte_cap_stops_at_the_signature_that_crosses_it() -> None:
    asked, transport = lookaside_of(1000)
    with pytest.raises(TooManySignatures, match=f"over {16 * MIB} bytes"):
        run(transport)
    assert asked == [sig_url(n) for n in range(1, 18)]


def attachment(payloads: list[bytes]) -> bytes:
    layers = [
        {"mediaType": "application/octet-stream", "size": len(p), "digest": str(Digest.of(p))}
        for p in payloads
    ]
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
              "digest": str(Digest.of(b"{}"))}  # fmt: skip
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI, "config": config, "layers": layers}
    ).encode()


def test_sigstore_layers_past_the_count_cap_are_refused_before_any_blob() -> None:
    manifest = attachment([b"sig-%d" % n for n in range(MAX_SIGSTORE_LAYERS + 1)])
    script = Transcript(
        [
            ping(),
            Expect("GET", sig_url(1), reply(404)),
            sig_manifest_get(reply(200, manifest, ("Content-Type", OCI))),
        ]
    )
    with pytest.raises(TooManySignatures, match="129 layers"):
        run(script, registries_d=lookaside(BASE, sigstore=True))


def test_lookaside_and_sigstore_share_one_byte_budget() -> None:
    payloads = [b"a" * MIB, b"b" * MIB]
    lookaside_gets = [Expect("GET", sig_url(n), reply(200, ONE_MIB_SIG)) for n in range(1, 16)]
    script = Transcript(
        [
            ping(),
            *lookaside_gets,
            Expect("GET", sig_url(16), reply(404)),
            sig_manifest_get(reply(200, attachment(payloads), ("Content-Type", OCI))),
            blob_get(Digest.of(payloads[0]), payloads[0]),  # 16 MiB held: still fine
            blob_get(Digest.of(payloads[1]), payloads[1]),  # 17 MiB: over
        ]
    )
    with pytest.raises(TooManySignatures, match=f"sigstore attachment .*{SIG_TAG}"):
        run(script, registries_d=lookaside(BASE, sigstore=True))
    script.done()
