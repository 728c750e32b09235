"""The one image every case serves (an OCI manifest, a config, a 300 kB layer) and its routes.

Also the one-line descriptions of outcomes the transcripts compare (``describe_*``).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Final

from sansio_registry.credentials import Credentials
from sansio_registry.digest import Digest
from sansio_registry.flow import Flow, FlowState
from sansio_registry.flows.blob import BlobDownload, open_blob
from sansio_registry.flows.manifest import ImageSource, open_image
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry_driverkit.conformance.report import Want, tls_hello
from sansio_registry_driverkit.conformance.runner import Later, Result
from sansio_registry_driverkit.conformance.server import Answer, LoopbackServer

REPO: Final = "ns/app"
OCI: Final = "application/vnd.oci.image.manifest.v1+json"
CONFIG: Final = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
#: 300 kB, so a body takes several reads.
LAYER: Final = bytes((i * 7 + i // 251) % 256 for i in range(300_000))
CONFIG_DIGEST: Final = Digest.of(CONFIG)
LAYER_DIGEST: Final = Digest.of(LAYER)
MANIFEST: Final = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": str(CONFIG_DIGEST),
            "size": len(CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": str(LAYER_DIGEST),
                "size": len(LAYER),
            }
        ],
    },
    indent=2,
).encode()
MANIFEST_DIGEST: Final = Digest.of(MANIFEST)
MANIFEST_PATH: Final = f"/v2/{REPO}/manifests/v1"
CONFIG_PATH: Final = f"/v2/{REPO}/blobs/{CONFIG_DIGEST}"
LAYER_PATH: Final = f"/v2/{REPO}/blobs/{LAYER_DIGEST}"
API: Final = ("Docker-Distribution-Api-Version", "registry/2.0")
CREDS: Final = Credentials(username="alice", password="s3cret")
BASIC: Final = "Basic " + base64.b64encode(b"alice:s3cret").decode()
TOKEN_TARGET: Final = "/token?account=alice&scope=repository%3Ans%2Fapp%3Apull&service=reg.test"

PING_OK: Final = Answer(200, (API,), b"{}")
MANIFEST_OK: Final = Answer(
    200,
    (("Content-Type", OCI), ("Docker-Content-Digest", str(MANIFEST_DIGEST)), API),
    MANIFEST,
)


def image_ref(server: LoopbackServer) -> ImageRef:
    return ImageRef.parse(f"{server.host('A')}/{REPO}:v1")


def client_config(credentials: Credentials | None = None) -> ClientConfig:
    return ClientConfig(tls_verify=False, credentials=credentials)


def describe_image(value: Any, body: bytes | None) -> str:
    if not isinstance(value, ImageSource):
        return f"unexpected value {value!r}"
    manifest = value.manifest
    same = "bytes as served" if manifest.raw == MANIFEST else "BYTES DIFFER"
    return f"manifest {manifest.digest} ({manifest.media_type}, {same})"


def describe_blob(value: Any, body: bytes | None) -> str:
    if not isinstance(value, BlobDownload):
        return f"unexpected value {value!r}"
    if body is None:
        return f"blob {value.digest}: no body handed over"
    ok = "digest matches" if Digest.of(body) == value.digest else "DIGEST DIFFERS"
    return f"blob {value.digest} ({len(body)} bytes, {ok})"


def describe_bytes(value: Any, body: bytes | None) -> str:
    if isinstance(value, bytes):
        return f"{len(value)} bytes {Digest.of(value)}"
    return f"unexpected value {value!r}"


def flow_state(result: Result, *allowed: FlowState) -> str:
    state = result.flow.state
    return f"flow {allowed[0].value}" if state in allowed else f"flow {state.value}"


def image_wants() -> list[Want]:
    """An anonymous open_image on origin A: refused TLS, ping, manifest."""
    return [tls_hello("A"), Want("A", "GET", "/v2/"), Want("A", "GET", MANIFEST_PATH)]


# --- the cases -------------------------------------------------------------------------------


def image_stub() -> str:
    """The outcome line of a correct ``open_image`` run."""
    return f"manifest {MANIFEST_DIGEST} ({OCI}, bytes as served)"


def blob_stub() -> str:
    return f"blob {LAYER_DIGEST} ({len(LAYER)} bytes, digest matches)"


def bearer_routes(server: LoopbackServer) -> None:
    realm = f'Bearer realm="{server.url("B")}/token",service="reg.test"'
    server.route("A", "GET", "/v2/", Answer(401, (("WWW-Authenticate", realm), API), b"{}"))
    token = json.dumps({"token": "tok-1", "expires_in": 60}).encode()
    server.route(
        "B", "GET", TOKEN_TARGET, Answer(200, (("Content-Type", "application/json"),), token)
    )
    server.route("A", "GET", MANIFEST_PATH, MANIFEST_OK)


def redirect_routes(server: LoopbackServer) -> str:
    cdn = "/cdn/layer?sig=1"
    redirect = Answer(307, (("Location", f"{server.url('B')}{cdn}"),), b"")
    server.route("A", "GET", LAYER_PATH, redirect)
    server.route(
        "B", "GET", cdn, Answer(200, (("Content-Type", "application/octet-stream"),), LAYER)
    )
    return cdn


def blob_flows(
    server: LoopbackServer, config: ClientConfig, state: RegistryState
) -> list[Flow[Any] | Later]:
    """open_image, then open_blob of the layer from the ImageSource it returned."""

    def blob(source: ImageSource) -> Flow[BlobDownload]:
        return open_blob(source, LAYER_DIGEST, state=state, size=len(LAYER))

    return [open_image(image_ref(server), config=config, state=state), Later(blob)]
