"""Wire transcripts of ``list_signatures`` (docs/behaviour.md#signatures, Go's traces).

Each test scripts what the core must ask and what it gets: the extension API replaces the
lookaside when the ping advertises it; lookaside reads never carry registry credentials (even
on the registry's own origin); enumeration stops at the first missing signature, at the cap
(128, upstream) and on any other status with Go's text; ``file://`` lookasides are real files
under ``tmp_path`` (``run_sync`` answers them); sigstore attachments are fetched and verified
layer by layer. Hypothesis drives the enumeration loop over generated sets of present
signatures, over http and ``file://``.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_registry.auth import Credentials
from sansio_registry.config.registries_d import RegistriesD, Section, file_url
from sansio_registry.digest import Digest
from sansio_registry.errors import (
    ConfigError,
    DigestMismatch,
    RegistryResponseError,
    RemoteProtocolError,
    ServerError,
    TransportError,
)
from sansio_registry.flows.manifest import ImageSource, Manifest
from sansio_registry.flows.pipeline import Endpoint
from sansio_registry.flows.signatures import (
    MAX_LOOKASIDE_SIGNATURES,
    TooManySignatures,
    list_signatures,
)
from sansio_registry.http import Headers, Request, Response
from sansio_registry.media_types import MANIFEST_ACCEPT
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.signature import Signature
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import error_body
from sansio_registry.testing.transcript import Expect, Transcript, reply

UA = "sig-test/1.0"
H = "reg.test"
T = "auth.reg.test"
SIGS = "sigs.test"
OCI = "application/vnd.oci.image.manifest.v1+json"
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
RAW = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                   "digest": str(Digest.of(b"{}"))},
        "layers": [],
    }
).encode()  # fmt: skip
DIGEST = Digest.of(RAW)
INSTANCE = Digest.of(b"some other manifest")
NO_DEFAULT = "file:///nonexistent/sansio-registry-test/sigstore"
BASE = f"https://{SIGS}/lookaside"
SIG_BLOBS = [b"\x00simple-signing\nSIG-%d" % n for n in range(1, 200)]
BASIC = "Basic " + base64.b64encode(b"alice:s3cret").decode()
CREDS = Credentials(username="alice", password="s3cret")


def source(
    ref_text: str = f"{H}/ns/app:v1", *, creds: Credentials | None = None, raw: bytes = RAW
) -> ImageSource:
    """An opened image built by hand (the manifest fetch is covered elsewhere)."""
    ref = ImageRef.parse(ref_text)
    ep = Endpoint(host=ref.connection_host, repository=ref.path, credentials=creds, user_agent=UA)
    manifest = Manifest(raw=raw, media_type=OCI, digest=Digest.of(raw), reference=ref)
    return ImageSource(logical=ref, physical=ref, endpoint=ep, manifest=manifest)


def lookaside(base: str = BASE, *, scope: str = H, sigstore: bool | None = None) -> RegistriesD:
    return RegistriesD(docker={scope: Section(lookaside=base, use_sigstore_attachments=sigstore)})


def sig_url(n: int, digest: Digest = DIGEST, base: str = BASE, repo: str = "ns/app") -> str:
    return f"{base}/{repo}@{digest.algorithm}={digest.hex}/signature-{n}"


def ping(*headers: tuple[str, str], status: int = 200) -> Expect:
    return Expect("GET", f"https://{H}/v2/", reply(status, b"", *headers))


def extension_ping() -> Expect:
    return ping(("X-Registry-Supports-Signatures", "1"))


def no_creds_get(url: str, answer: Response) -> Expect:
    """A lookaside GET: plain, no registry headers, no credentials."""
    return Expect(
        "GET",
        url,
        answer,
        present={"User-Agent": UA},
        absent=("Authorization", "Docker-Distribution-Api-Version", "Accept"),
    )


def run(
    transport: Callable[[Request], Response],
    src: ImageSource | None = None,
    registries_d: RegistriesD | None = None,
    *,
    instance: Digest | None = None,
    default_dir: str = NO_DEFAULT,
    state: RegistryState | None = None,
) -> tuple[Signature, ...]:
    settings = ClientConfig(
        registries_d=registries_d if registries_d is not None else lookaside(),
        lookaside_default=default_dir,
    )
    flow = list_signatures(
        src or source(), config=settings, state=state or RegistryState(), instance=instance
    )
    return run_sync(flow, transport)


# --- the extension API ---------------------------------------------------------------------------

#: Go's extension API trace: three entries, only the version-2 "atomic" one counts.
EXTENSION_19_14 = (
    b'{"signatures":[{"content":"U0lHLU9ORQ==","name":"sha256:x@1","schemaVersion":2,'
    b'"type":"atomic"},{"content":"T0xE","name":"sha256:x@2","schemaVersion":1,'
    b'"type":"atomic"},{"content":"T1RIRVI=","name":"sha256:x@3","schemaVersion":2,'
    b'"type":"other"}]}'
)


def test_extension_vector_19_14_replaces_lookaside() -> None:
    """Exactly one signature ``SIG-ONE``; the configured lookaside is never asked."""
    script = Transcript(
        [
            extension_ping(),
            Expect(
                "GET",
                f"https://{H}/extensions/v2/ns/app/signatures/{DIGEST}",
                reply(200, EXTENSION_19_14, ("Content-Type", "application/json")),
                present={"Docker-Distribution-Api-Version": "registry/2.0", "User-Agent": UA},
                absent=("Accept",),
            ),
        ]
    )
    found = run(script)  # a lookaside at https://sigs.test is configured: any GET there fails
    assert len(found) == 1
    assert found[0].raw == b"SIG-ONE"
    assert found[0].source == "extension"
    assert found[0].index == 1
    assert found[0].claims is None  # not an OpenPGP message: nothing is claimed


def test_extension_request_is_authenticated() -> None:
    """The extension lives on the registry: its credentials go with it."""
    script = Transcript(
        [
            ping(
                ("X-Registry-Supports-Signatures", "1"),
                ("WWW-Authenticate", 'Basic realm="r"'),
                status=401,
            ),
            Expect(
                "GET",
                f"https://{H}/extensions/v2/ns/app/signatures/{DIGEST}",
                reply(200, b'{"signatures":[]}'),
                present={"Authorization": BASIC},
            ),
        ]
    )
    assert run(script, source(creds=CREDS)) == ()


def test_extension_header_must_be_exactly_1() -> None:
    """``X-Registry-Supports-Signatures: true`` is not ``1``: the lookaside is read instead."""
    script = Transcript(
        [ping(("X-Registry-Supports-Signatures", "true")), no_creds_get(sig_url(1), reply(404))]
    )
    assert run(script) == ()


def test_extension_error_names_digest_and_image() -> None:
    script = Transcript(
        [
            extension_ping(),
            # a 500 is resent (3 attempts in all by default); the last one is reported
            *[
                Expect(
                    "GET",
                    f"https://{H}/extensions/v2/ns/app/signatures/{DIGEST}",
                    reply(500, b"boom", ("Content-Type", "text/plain")),
                )
            ]
            * 3,
        ]
    )
    with pytest.raises(ServerError) as info:
        run(script)
    assert str(info.value).startswith(f"downloading signatures for {DIGEST} in {H}/ns/app: ")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"signatures":[{"schemaVersion":2,"type":"atomic","name":"n","content":"!!"}]}',
        b'{"signatures":[{"schemaVersion":"2","type":"atomic"}]}',
    ],
)
def test_extension_bad_list_fails_whole_listing(body: bytes) -> None:
    script = Transcript(
        [
            extension_ping(),
            Expect(
                "GET", f"https://{H}/extensions/v2/ns/app/signatures/{DIGEST}", reply(200, body)
            ),
        ]
    )
    with pytest.raises(RemoteProtocolError, match="decoding signature list"):
        run(script)


# --- lookaside over http(s) ----------------------------------------------------------------------


def test_lookaside_stops_at_first_missing() -> None:
    script = Transcript(
        [
            ping(),
            no_creds_get(sig_url(1), reply(200, SIG_BLOBS[0])),
            no_creds_get(sig_url(2), reply(200, SIG_BLOBS[1])),
            no_creds_get(sig_url(3), reply(404, b"not found")),
            # signature-4 may exist on the server: it must not be asked for
        ]
    )
    found = run(script)
    assert [s.raw for s in found] == SIG_BLOBS[:2]
    assert [s.index for s in found] == [1, 2]
    assert [s.location for s in found] == [sig_url(1), sig_url(2)]
    assert {s.source for s in found} == {"lookaside"}
    assert {s.format for s in found} == {"simple-signing"}


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_lookaside_never_gets_registry_credentials(auth: str) -> None:
    """Even on the registry's own origin (Go's trace: ``http://H/lookaside``) and with
    credentials configured, lookaside GETs carry no Authorization and no token is fetched."""
    challenge = (
        'Basic realm="r"' if auth == "basic" else f'Bearer realm="https://{T}/token",service="s"'
    )
    base = f"https://{H}/lookaside"
    script = Transcript(
        [
            ping(("WWW-Authenticate", challenge), status=401),
            no_creds_get(sig_url(1, base=base), reply(200, SIG_BLOBS[0])),
            no_creds_get(sig_url(2, base=base), reply(404)),
        ]
    )
    found = run(script, source(creds=CREDS), lookaside(base))
    assert [s.raw for s in found] == [SIG_BLOBS[0]]


def test_lookaside_500_is_an_error_with_go_text() -> None:
    script = Transcript(
        [
            ping(),
            no_creds_get(sig_url(1), reply(200, SIG_BLOBS[0])),
            no_creds_get(sig_url(2), reply(500, b"oops")),
        ]
    )
    with pytest.raises(RemoteProtocolError) as info:
        run(script)
    assert (
        str(info.value)
        == f"reading signature from {sig_url(2)}: status 500 (Internal Server Error)"
    )


def test_lookaside_transport_error_propagates() -> None:
    script = Transcript([ping(), Expect("GET", sig_url(1), TransportError("connection refused"))])
    with pytest.raises(TransportError):
        run(script)


def test_lookaside_redirect_followed_without_credentials() -> None:
    moved = f"https://cdn.test/x/{DIGEST.hex}/signature-1"
    script = Transcript(
        [
            ping(("WWW-Authenticate", 'Basic realm="r"'), status=401),
            no_creds_get(sig_url(1), reply(302, b"", ("Location", moved))),
            no_creds_get(moved, reply(200, SIG_BLOBS[0])),
            no_creds_get(sig_url(2), reply(404)),
        ]
    )
    assert [s.raw for s in run(script, source(creds=CREDS))] == [SIG_BLOBS[0]]


def test_lookaside_bad_blob_names_its_url() -> None:
    # (Go parses each blob as it arrives; we parse after the loop, hence signature-2.)
    script = Transcript(
        [
            ping(),
            no_creds_get(sig_url(1), reply(200, b"plain text")),
            no_creds_get(sig_url(2), reply(404)),
        ]
    )
    with pytest.raises(RemoteProtocolError) as info:
        run(script)
    assert str(info.value) == (
        f"parsing signature {sig_url(1)}: unrecognized signature format, starting with binary 0x70"
    )


def counting_lookaside(
    present: Callable[[int], bool], *, base: str = BASE, digest: Digest = DIGEST
) -> tuple[Callable[[Request], Response], list[int]]:
    """A transport: the ping, then signature-N answered 200 when ``present(N)``, else 404."""
    asked: list[int] = []
    prefix = f"{base}/ns/app@{digest.algorithm}={digest.hex}/signature-"

    def transport(request: Request) -> Response:
        if request.url == f"https://{H}/v2/":
            return reply(200)
        assert request.url.startswith(prefix), request.url
        assert "Authorization" not in request.headers
        n = int(request.url[len(prefix) :])
        asked.append(n)
        return reply(200, SIG_BLOBS[0]) if present(n) else reply(404)

    return transport, asked


def test_lookaside_cap_is_128() -> None:
    transport, asked = counting_lookaside(lambda n: True)
    with pytest.raises(TooManySignatures) as info:
        run(transport)
    assert MAX_LOOKASIDE_SIGNATURES == 128
    assert asked == list(range(1, 129))
    assert str(info.value) == (
        "server provided 128 signatures, assuming that's unreasonable and a server error"
    )
    assert isinstance(info.value, RemoteProtocolError)


def test_lookaside_127_signatures_are_fine() -> None:
    transport, asked = counting_lookaside(lambda n: n <= 127)
    assert len(run(transport)) == 127
    assert asked == list(range(1, 129))


def test_lookaside_body_limit() -> None:
    script = Transcript([ping(), no_creds_get(sig_url(1), reply(200, b"\x88" * (4 * 2**20 + 1)))])
    with pytest.raises(RemoteProtocolError, match="4194304"):
        run(script)


def test_lookaside_request_limit() -> None:
    transport, _ = counting_lookaside(lambda n: False)
    seen: list[Request] = []

    def recording(request: Request) -> Response:
        seen.append(request)
        return transport(request)

    run(recording)
    assert seen[-1].max_body == 4 * 2**20


# --- which digest --------------------------------------------------------------------------------


def test_instance_digest_is_used() -> None:
    script = Transcript(
        [
            ping(),
            no_creds_get(sig_url(1, INSTANCE), reply(200, SIG_BLOBS[0])),
            no_creds_get(sig_url(2, INSTANCE), reply(404)),
        ]
    )
    found = run(script, instance=INSTANCE)
    assert found[0].location == sig_url(1, INSTANCE)


def test_digest_reference_uses_its_digest() -> None:
    """A ``@sha256:`` reference names the digest itself (here not the cached manifest's)."""
    script = Transcript([ping(), no_creds_get(sig_url(1, INSTANCE), reply(404))])
    assert run(script, source(f"{H}/ns/app@{INSTANCE}")) == ()


def test_tag_reference_uses_manifest_digest() -> None:
    script = Transcript([ping(), no_creds_get(sig_url(1, DIGEST), reply(404))])
    assert run(script, source(f"{H}/ns/app:v1")) == ()


def test_scope_is_the_physical_repository() -> None:
    base = "https://team.sigs.test/s"
    rd = RegistriesD(
        docker={
            f"{H}/ns": Section(lookaside=base),
            H: Section(lookaside=BASE),
        }
    )
    script = Transcript([ping(), no_creds_get(sig_url(1, base=base), reply(404))])
    assert run(script, registries_d=rd) == ()


# --- file:// lookaside ---------------------------------------------------------------------------


def write_sigs(root: Path, count: int, *, digest: Digest = DIGEST, repo: str = "ns/app") -> Path:
    folder = root / f"{repo}@{digest.algorithm}={digest.hex}"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        (folder / f"signature-{n}").write_bytes(SIG_BLOBS[n - 1])
    return folder


def test_file_lookaside_reads_local_files(tmp_path: Path) -> None:
    folder = write_sigs(tmp_path, 3)
    (folder / "signature-5").write_bytes(SIG_BLOBS[4])  # after a gap: never read
    script = Transcript([ping()])  # nothing but the ping goes to the network
    found = run(script, registries_d=lookaside(file_url(str(tmp_path))))
    assert [s.raw for s in found] == SIG_BLOBS[:3]
    assert found[0].location == f"{file_url(str(tmp_path))}/ns/app@sha256={DIGEST.hex}/signature-1"


def test_builtin_default_dir_when_nothing_configured(tmp_path: Path) -> None:
    write_sigs(tmp_path, 2)
    script = Transcript([ping()])
    found = run(script, registries_d=RegistriesD(), default_dir=file_url(str(tmp_path)))
    assert [s.raw for s in found] == SIG_BLOBS[:2]


def test_file_lookaside_instance_digest(tmp_path: Path) -> None:
    write_sigs(tmp_path, 1, digest=INSTANCE)
    write_sigs(tmp_path, 2, digest=DIGEST)
    rd = lookaside(file_url(str(tmp_path)))
    assert [s.raw for s in run(Transcript([ping()]), registries_d=rd, instance=INSTANCE)] == [
        SIG_BLOBS[0]
    ]
    assert len(run(Transcript([ping()]), registries_d=rd)) == 2


def test_file_lookaside_unreadable_entry_is_an_error(tmp_path: Path) -> None:
    folder = write_sigs(tmp_path, 1)
    (folder / "signature-2").mkdir()  # exists but cannot be read as a file
    with pytest.raises(TransportError):
        run(Transcript([ping()]), registries_d=lookaside(file_url(str(tmp_path))))


def test_file_lookaside_empty_signature_file(tmp_path: Path) -> None:
    folder = write_sigs(tmp_path, 0)
    (folder / "signature-1").write_bytes(b"")
    with pytest.raises(RemoteProtocolError, match="empty signature blob"):
        run(Transcript([ping()]), registries_d=lookaside(file_url(str(tmp_path))))


# --- the enumeration loop, generated -------------------------------------------------------------


@settings(max_examples=60)
@given(present=st.sets(st.integers(min_value=1, max_value=20), max_size=20))
def test_http_loop_returns_the_contiguous_prefix(present: set[int]) -> None:
    transport, asked = counting_lookaside(present.__contains__)
    found = run(transport)
    prefix = next(n for n in range(1, 22) if n not in present) - 1
    assert [s.index for s in found] == list(range(1, prefix + 1))
    assert asked == list(range(1, prefix + 2))  # never past the first missing one


@settings(max_examples=25)
@given(present=st.sets(st.integers(min_value=1, max_value=20), max_size=20))
def test_file_loop_returns_the_contiguous_prefix(present: set[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="sig-loop-") as tmp:
        folder = write_sigs(Path(tmp), 0)
        for n in present:
            (folder / f"signature-{n}").write_bytes(SIG_BLOBS[n - 1])
        found = run(Transcript([ping()]), registries_d=lookaside(file_url(tmp)))
    prefix = next(n for n in range(1, 22) if n not in present) - 1
    assert [s.raw for s in found] == SIG_BLOBS[:prefix]


@settings(max_examples=30)
@given(first_missing=st.integers(min_value=1, max_value=200))
def test_loop_never_passes_the_cap(first_missing: int) -> None:
    transport, asked = counting_lookaside(lambda n: n < first_missing)
    if first_missing <= MAX_LOOKASIDE_SIGNATURES:
        assert len(run(transport)) == first_missing - 1
    else:
        with pytest.raises(TooManySignatures):
            run(transport)
    assert max(asked) <= MAX_LOOKASIDE_SIGNATURES
    assert len(asked) == min(first_missing, MAX_LOOKASIDE_SIGNATURES)


_COMPONENT = st.from_regex(r"[a-z0-9]{1,6}([._-][a-z0-9]{1,4})?", fullmatch=True)


@settings(max_examples=40)
@given(
    path=st.lists(_COMPONENT, min_size=1, max_size=3).map("/".join),
    seed=st.binary(max_size=16),
    present=st.integers(min_value=0, max_value=5),
)
def test_loop_urls_stay_under_the_base_for_generated_refs(
    path: str, seed: bytes, present: int
) -> None:
    digest = Digest.of(seed)
    ref = ImageRef.parse(f"{H}/{path}@{digest}")
    prefix = f"{BASE}/{ref.path}@sha256={digest.hex}/signature-"
    urls: list[str] = []

    def transport(request: Request) -> Response:
        if request.url == f"https://{H}/v2/":
            return reply(200)
        urls.append(request.url)
        n = len(urls)
        return reply(200, SIG_BLOBS[n - 1]) if n <= present else reply(404)

    found = run(transport, source(str(ref)))
    assert len(found) == present
    assert urls == [f"{prefix}{n}" for n in range(1, present + 2)]


# --- sigstore attachments ------------------------------------------------------------------------

SIG_TAG = f"sha256-{DIGEST.hex}.sig"
LAYER_MT = "application/vnd.dev.cosign.simplesigning.v1+json"
PAYLOADS = [b'{"critical":{"identity":{"docker-reference":"reg.test/ns/app"}}}', b"second"]
ANNOTATIONS = [
    {"dev.cosignproject.cosign/signature": "MEUCIQ==", "extra": "1"},
    {"dev.cosignproject.cosign/signature": "MEQCIA=="},
]


def attachment_manifest(
    payloads: list[bytes] = PAYLOADS, *, digests: list[str] | None = None
) -> bytes:
    layers = [
        {
            "mediaType": LAYER_MT,
            "size": len(p),
            "digest": (digests or [])[i] if digests else str(Digest.of(p)),
            "annotations": ANNOTATIONS[i],
        }
        for i, p in enumerate(payloads)
    ]
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                   "digest": str(Digest.of(b"{}"))},
        "layers": layers,
    }  # fmt: skip
    return json.dumps(doc).encode()


def sig_manifest_get(answer: Response) -> Expect:
    return Expect(
        "GET",
        f"https://{H}/v2/ns/app/manifests/{SIG_TAG}",
        answer,
        header_lines=(("Accept", MANIFEST_ACCEPT),),
    )


def blob_get(digest: Digest | str, body: bytes) -> Expect:
    return Expect("GET", f"https://{H}/v2/ns/app/blobs/{digest}", reply(200, body))


def sigstore_d(tmp_path: Path) -> RegistriesD:
    """An empty file lookaside plus attachments enabled (no lookaside requests on the wire)."""
    return lookaside(file_url(str(tmp_path)), sigstore=True)


def test_sigstore_attachment_missing_means_none(tmp_path: Path) -> None:
    script = Transcript(
        [
            ping(),
            sig_manifest_get(
                reply(404, error_body("MANIFEST_UNKNOWN", "manifest unknown"),
                      ("Content-Type", "application/json"))
            ),
        ]
    )  # fmt: skip
    assert run(script, registries_d=sigstore_d(tmp_path)) == ()


@pytest.mark.parametrize(
    "answer",
    [
        reply(404, error_body("UNKNOWN", "Not Found"), ("Content-Type", "application/json")),
        reply(404, b"<html>Not found</html>", ("Content-Type", "text/html")),
    ],
)
def test_sigstore_other_not_found_shapes(tmp_path: Path, answer: Response) -> None:
    script = Transcript([ping(), sig_manifest_get(answer)])
    assert run(script, registries_d=sigstore_d(tmp_path)) == ()


def test_sigstore_server_error_fails_the_listing(tmp_path: Path) -> None:
    failed = sig_manifest_get(reply(500, error_body("UNKNOWN", "disk")))
    script = Transcript([ping(), failed, failed, failed])  # 3 attempts in all by default
    with pytest.raises(ServerError):
        run(script, registries_d=sigstore_d(tmp_path))


def test_sigstore_not_asked_unless_enabled(tmp_path: Path) -> None:
    script = Transcript([ping()])
    rd = lookaside(file_url(str(tmp_path)), sigstore=False)
    assert run(script, registries_d=rd) == ()


def test_sigstore_layers_fetched_and_returned(tmp_path: Path) -> None:
    manifest = attachment_manifest()
    script = Transcript(
        [
            ping(),
            sig_manifest_get(reply(200, manifest, ("Content-Type", OCI))),
            blob_get(Digest.of(PAYLOADS[0]), PAYLOADS[0]),
            blob_get(Digest.of(PAYLOADS[1]), PAYLOADS[1]),
        ]
    )
    found = run(script, registries_d=sigstore_d(tmp_path))
    assert [s.raw for s in found] == PAYLOADS
    assert [s.source for s in found] == ["sigstore", "sigstore"]
    assert [s.index for s in found] == [1, 2]
    assert {s.media_type for s in found} == {LAYER_MT}
    assert [dict(s.annotations) for s in found] == ANNOTATIONS
    assert found[0].location.startswith(f"{H}/ns/app:{SIG_TAG}")


def test_sigstore_after_lookaside(tmp_path: Path) -> None:
    """Lookaside first, then attachments, in one list."""
    write_sigs(tmp_path, 1)
    manifest = attachment_manifest(PAYLOADS[:1])
    script = Transcript(
        [
            ping(),
            sig_manifest_get(reply(200, manifest, ("Content-Type", OCI))),
            blob_get(Digest.of(PAYLOADS[0]), PAYLOADS[0]),
        ]
    )
    found = run(script, registries_d=sigstore_d(tmp_path))
    assert [(s.source, s.raw) for s in found] == [
        ("lookaside", SIG_BLOBS[0]),
        ("sigstore", PAYLOADS[0]),
    ]


def test_sigstore_with_extension(tmp_path: Path) -> None:
    """Attachments are appended whichever of extension/lookaside was used."""
    manifest = attachment_manifest(PAYLOADS[:1])
    script = Transcript(
        [
            extension_ping(),
            Expect(
                "GET",
                f"https://{H}/extensions/v2/ns/app/signatures/{DIGEST}",
                reply(200, EXTENSION_19_14),
            ),
            sig_manifest_get(reply(200, manifest, ("Content-Type", OCI))),
            blob_get(Digest.of(PAYLOADS[0]), PAYLOADS[0]),
        ]
    )
    found = run(script, registries_d=sigstore_d(tmp_path))
    assert [s.source for s in found] == ["extension", "sigstore"]


def test_sigstore_layer_digest_mismatch(tmp_path: Path) -> None:
    wrong = str(Digest.of(b"something else"))
    manifest = attachment_manifest(PAYLOADS[:1], digests=[wrong])
    script = Transcript(
        [
            ping(),
            sig_manifest_get(reply(200, manifest, ("Content-Type", OCI))),
            blob_get(wrong, PAYLOADS[0]),
        ]
    )
    with pytest.raises(DigestMismatch):
        run(script, registries_d=sigstore_d(tmp_path))


def test_sigstore_wrong_media_type(tmp_path: Path) -> None:
    manifest = attachment_manifest()
    script = Transcript(
        [ping(), sig_manifest_get(reply(200, manifest, ("Content-Type", SCHEMA2)))]
    )
    with pytest.raises(RemoteProtocolError) as info:
        run(script, registries_d=sigstore_d(tmp_path))
    assert str(info.value) == (
        f'unexpected MIME type for sigstore attachment manifest {H}/ns/app:{SIG_TAG}: "{SCHEMA2}"'
    )


def test_sigstore_blob_error(tmp_path: Path) -> None:
    manifest = attachment_manifest(PAYLOADS[:1])
    d = Digest.of(PAYLOADS[0])
    script = Transcript(
        [
            ping(),
            sig_manifest_get(reply(200, manifest, ("Content-Type", OCI))),
            Expect(
                "GET",
                f"https://{H}/v2/ns/app/blobs/{d}",
                reply(404, error_body("BLOB_UNKNOWN", "blob unknown to registry")),
            ),
        ]
    )
    with pytest.raises(RegistryResponseError) as info:
        run(script, registries_d=sigstore_d(tmp_path))
    assert f"reading blob {d} in {H}/ns/app" in str(info.value)


def test_headers_helper_sanity() -> None:
    """The transcript helpers above really check absence (guards the tests themselves)."""
    expect = no_creds_get("https://x/", reply(200))
    bad = Request(
        method="GET",
        url="https://x/",
        headers=Headers((("User-Agent", UA), ("Authorization", "Basic x"))),
        max_body=1,
    )
    assert expect.mismatches(bad) == ["header Authorization must be absent"]


# --- past product bugs, kept as regression tests -------------------------------------------------


def test_lookaside_error_redacts_password() -> None:
    base = "https://user:hunter2@sigs.test/l"
    script = Transcript([ping(), Expect("GET", sig_url(1, base=base), reply(500))])
    with pytest.raises(RemoteProtocolError) as info:
        run(script, registries_d=lookaside(base))
    assert "hunter2" not in str(info.value)
    redacted = sig_url(1, base="https://user:xxxxx@sigs.test/l")
    assert str(info.value) == (
        f"reading signature from {redacted}: status 500 (Internal Server Error)"
    )


def test_unsupported_lookaside_scheme() -> None:
    script = Transcript([ping()])
    with pytest.raises(ConfigError) as info:
        run(script, registries_d=lookaside("ftp://sigs.test/x"))
    assert str(info.value) == (
        f"Unsupported scheme when reading signature from {sig_url(1, base='ftp://sigs.test/x')}"
    )
    assert len(script.seen) == 1  # only the ping: nothing was asked of an ftp "server"
