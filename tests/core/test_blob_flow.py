"""Wire transcripts of the ``open_blob`` flow (blobs, redirects, paths).

Each test scripts the exact requests the core must send and the answers it gets, through
``run_sync`` (which answers ``Open`` with a full ``Response``): registry credentials on the
registry only, never on external URLs or another origin after a redirect; external URLs in
order with an aggregated error; per-blob fallback to later pull sources; ``Range`` resumes.
A hypothesis property replays BlobStream's resume bookkeeping over the core flow for any blob
and any set of cut points.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_registry.auth import Challenge, Credentials
from sansio_registry.config.registries_conf import merge_registries_conf, parse_registries_conf
from sansio_registry.digest import Digest
from sansio_registry.errors import (
    BlobUnknown,
    RegistryClientError,
    RegistryResponseError,
    RemoteProtocolError,
    ServerError,
    TransportError,
)
from sansio_registry.flows.blob import BlobDownload, ExternalBlobUnavailable, open_blob
from sansio_registry.flows.manifest import ImageSource, Manifest, open_image
from sansio_registry.flows.ping import PingResult
from sansio_registry.flows.pipeline import Endpoint
from sansio_registry.http import Request, Response
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import error_body
from sansio_registry.testing.transcript import Expect, Transcript, reply

UA = "blob-test/1.0"
H = "reg.test"
M = "mirror.test"
T = "auth.reg.test"
CDN = "cdn.test"
E = "ext.test"
OCI = "application/vnd.oci.image.manifest.v1+json"
BLOB = bytes(i * 7 % 251 for i in range(2000))
DIGEST = Digest.of(BLOB)
CREDS = Credentials(username="alice", password="s3cret")
BASIC = "Basic " + base64.b64encode(b"alice:s3cret").decode()
BASIC_CHALLENGE = Challenge("basic", {"realm": "reg"})


def blob_url(host: str = H, repo: str = "ns/app") -> str:
    return f"https://{host}/v2/{repo}/blobs/{DIGEST}"


def endpoint(host: str = H, repo: str = "ns/app", creds: Credentials | None = None) -> Endpoint:
    return Endpoint(host=host, repository=repo, credentials=creds, user_agent=UA)


def image_source(
    primary: Endpoint | None = None, *fallbacks: Endpoint, domain: str = H
) -> ImageSource:
    """An ImageSource built by hand (the manifest is irrelevant to blob flows)."""
    primary = primary or endpoint()
    physical = ImageRef.parse(f"{primary.host}/{primary.repository}:v1")
    raw = b"{}"
    return ImageSource(
        logical=ImageRef.parse(f"{domain}/ns/app:v1"),
        physical=physical,
        endpoint=primary,
        manifest=Manifest(raw=raw, media_type=OCI, digest=Digest.of(raw), reference=physical),
        fallbacks=tuple((ImageRef.parse(f"{fb.host}/{fb.repository}:v1"), fb) for fb in fallbacks),
    )


def pinged(state: RegistryState, host: str, *challenges: Challenge) -> RegistryState:
    """Pretend ``host`` was pinged already (the ping is covered by test_pipeline)."""
    state.pings[(host, False)] = PingResult("https", tuple(challenges), False)
    return state


def ok(body: bytes = BLOB, *headers: tuple[str, str]) -> Response:
    return reply(200, body, ("Content-Length", str(len(body))), *headers)


def blob_unknown() -> Response:
    return reply(
        404,
        error_body("BLOB_UNKNOWN", "blob unknown to registry"),
        ("Content-Type", "application/json"),
    )


def partial(start: int, body: bytes = BLOB, total: str | None = None) -> Response:
    part = body[start:]
    size = total if total is not None else str(len(body))
    return reply(
        206,
        part,
        ("Content-Length", str(len(part))),
        ("Content-Range", f"bytes {start}-{len(body) - 1}/{size}"),
    )


def run(
    script: Transcript,
    source: ImageSource,
    state: RegistryState,
    *,
    size: int | None = len(BLOB),
    urls: tuple[str, ...] = (),
    resume: tuple[BlobDownload, int] | None = None,
) -> BlobDownload:
    flow = open_blob(source, DIGEST, state=state, size=size, urls=urls, resume=resume)
    result = run_sync(flow, script)
    return result


# --- registry GET, credentials and redirects ---------------------------------------------------


def test_registry_blob_get_carries_the_endpoints_basic_authorization() -> None:
    script = Transcript(
        [
            Expect(
                "GET",
                blob_url(),
                ok(),
                present={
                    "Authorization": BASIC,
                    "User-Agent": UA,
                    "Docker-Distribution-Api-Version": "registry/2.0",
                },
                absent=("Range", "Accept-Encoding"),
            )
        ]
    )
    state = pinged(RegistryState(), H, BASIC_CHALLENGE)
    download = run(script, image_source(endpoint(creds=CREDS)), state)
    assert (download.place, download.start, download.skip) == (0, 0, 0)
    assert download.head.status == 200 and download.size == 2000
    assert download.digest == DIGEST
    assert download.url == f"{H}/ns/app@{DIGEST}"


def test_size_comes_from_content_length_when_the_descriptor_gives_none() -> None:
    script = Transcript([Expect("GET", blob_url(), ok())])
    download = run(script, image_source(), pinged(RegistryState(), H), size=None)
    assert download.size == 2000
    verifier = download.verifier()
    assert verifier.expected_size == 2000 and verifier.expected == DIGEST


@pytest.mark.parametrize("value", ["\u00b2", "1\u0661", "12x", "-1", "+2", ""])
def test_a_content_length_that_is_not_ascii_digits_is_a_protocol_error(value: str) -> None:
    script = Transcript([Expect("GET", blob_url(), reply(200, BLOB, ("Content-Length", value)))])
    with pytest.raises(RemoteProtocolError, match="invalid Content-Length"):
        run(script, image_source(), pinged(RegistryState(), H), size=None)


def test_bearer_token_is_fetched_with_the_repository_scope_and_sent_on_the_blob_get() -> None:
    challenge = f'Bearer realm="https://{T}/token",service="svc"'
    token = json.dumps({"token": "BLOBTOKEN", "expires_in": 300}).encode()
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(401, b"", ("WWW-Authenticate", challenge))),
            Expect(
                "GET",
                f"https://{T}/token?account=alice&scope=repository%3Ans%2Fapp%3Apull&service=svc",
                reply(200, token),
                present={"Authorization": BASIC},
            ),
            Expect("GET", blob_url(), ok(), present={"Authorization": "Bearer BLOBTOKEN"}),
        ]
    )
    run(script, image_source(endpoint(creds=CREDS)), RegistryState())


@pytest.mark.parametrize(
    ("location", "keeps"),
    [
        (f"https://{CDN}/storage/blob?sig=abc", False),
        (f"https://{H}:8443/other", False),  # another port is another origin
        ("/v2/ns/app/moved", True),  # same origin (relative)
        (f"https://{H}/storage/x", True),
    ],
)
def test_redirect_drops_authorization_on_another_origin_only(location: str, keeps: bool) -> None:
    target = location if "://" in location else f"https://{H}{location}"
    script = Transcript(
        [
            Expect(
                "GET",
                blob_url(),
                reply(307, b"", ("Location", location)),
                present={"Authorization": BASIC},
            ),
            Expect(
                "GET",
                target,
                ok(),
                present={"Authorization": BASIC} if keeps else {"User-Agent": UA},
                absent=() if keeps else ("Authorization", "Cookie"),
            ),
        ]
    )
    state = pinged(RegistryState(), H, BASIC_CHALLENGE)
    download = run(script, image_source(endpoint(creds=CREDS)), state)
    assert download.head.status == 200 and download.place == 0


def test_redirect_keeps_the_range_header_on_a_resume() -> None:
    first = run(Transcript([Expect("GET", blob_url(), ok())]), image_source(), _state())
    script = Transcript(
        [
            Expect(
                "GET",
                blob_url(),
                reply(307, b"", ("Location", f"https://{CDN}/b")),
                present={"Range": "bytes=1000-"},
            ),
            Expect(
                "GET",
                f"https://{CDN}/b",
                partial(1000),
                present={"Range": "bytes=1000-"},
                absent=("Authorization",),
            ),
        ]
    )
    download = run(script, image_source(), _state(), resume=(first, 1000))
    assert (download.start, download.skip) == (1000, 0)


def _state(*challenges: Challenge) -> RegistryState:
    return pinged(RegistryState(), H, *challenges)


# --- external URLs (foreign layers) ------------------------------------------------------------


def _external(url: str, answer: Response | RegistryClientError) -> Expect:
    return Expect(
        "GET",
        url,
        answer,
        present={"User-Agent": UA, "Docker-Distribution-Api-Version": "registry/2.0"},
        absent=("Authorization", "Cookie", "Range"),
    )


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_external_urls_in_order_ftp_skipped_404_moves_on_no_credentials(auth: str) -> None:
    state = RegistryState()
    if auth == "basic":
        pinged(state, H, BASIC_CHALLENGE)
    else:
        pinged(state, H, Challenge("bearer", {"realm": f"https://{T}/token", "service": "s"}))
    urls = (
        "ftp://x/y",
        f"https://{E}/missing",
        # The registry's own host: still an external URL, still no credentials.
        f"https://{H}/foreign/ok",
        f"https://{E}/never-asked",
    )
    script = Transcript(
        [
            _external(urls[1], reply(404, b"not here")),
            _external(urls[2], ok()),
        ]
    )
    download = run(script, image_source(endpoint(creds=CREDS)), state, urls=urls)
    assert download.url == urls[2]
    assert download.place == 1  # index among the usable URLs, for resuming
    assert download.head.status == 200 and download.size == 2000
    # Nothing reached the token server or the registry's blob endpoint.
    assert [r.url for r in script.seen] == [urls[1], urls[2]]


def test_external_redirect_to_the_registry_host_still_sends_no_credentials() -> None:
    script = Transcript(
        [
            _external(f"https://{E}/l", reply(302, b"", ("Location", f"https://{H}/blob"))),
            _external(f"https://{H}/blob", ok()),
        ]
    )
    state = _state(BASIC_CHALLENGE)
    run(script, image_source(endpoint(creds=CREDS)), state, urls=(f"https://{E}/l",))


def test_all_external_urls_failing_raises_an_error_naming_each() -> None:
    urls = (
        f"https://{E}/a",
        "ftp://skipped/b",
        f"http://{E}/c",
        f"https://{CDN}/d",
    )
    script = Transcript(
        [
            _external(urls[0], reply(404, b"")),
            _external(urls[2], TransportError("connecting to http://ext.test: refused")),
            _external(urls[3], reply(500, b"boom")),
        ]
    )
    with pytest.raises(ExternalBlobUnavailable) as info:
        run(script, image_source(endpoint(creds=CREDS)), _state(BASIC_CHALLENGE), urls=urls)
    message = str(info.value)
    assert str(DIGEST) in message
    for url in (urls[0], urls[2], urls[3]):
        assert url in message
    assert "ftp://skipped/b" not in message
    assert "404" in message and "500" in message and "refused" in message
    assert [url for url, _ in info.value.failures] == [urls[0], urls[2], urls[3]]
    assert isinstance(info.value, RegistryClientError)


@pytest.mark.parametrize(
    "urls",
    [("ftp://only/unsupported",), ("file:///etc/passwd", "s3://bucket/key", "not a url")],
)
def test_only_unusable_external_urls_fall_back_to_the_registry(urls: tuple[str, ...]) -> None:
    script = Transcript([Expect("GET", blob_url(), ok(), present={"Authorization": BASIC})])
    download = run(script, image_source(endpoint(creds=CREDS)), _state(BASIC_CHALLENGE), urls=urls)
    assert download.place == 0 and download.url == f"{H}/ns/app@{DIGEST}"


def test_external_resume_asks_the_same_url_with_a_range() -> None:
    urls = (f"https://{E}/a", f"https://{E}/b")
    first = run(
        Transcript([_external(urls[0], reply(404)), _external(urls[1], ok())]),
        image_source(),
        RegistryState(),
        urls=urls,
    )
    assert first.place == 1
    script = Transcript(
        [
            Expect(
                "GET",
                urls[1],
                partial(700),
                present={"Range": "bytes=700-"},
                absent=("Authorization",),
            )
        ]
    )
    download = run(script, image_source(), RegistryState(), urls=urls, resume=(first, 700))
    assert (download.place, download.start, download.skip) == (1, 700, 0)


# --- per-blob fallback to later pull sources ---------------------------------------------------

CONF = f"""
[[registry]]
prefix = "{H}/ns"
location = "{H}/ns"
[[registry.mirror]]
location = "{M}/cache"
"""
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": str(DIGEST),
            "size": len(BLOB),
        },
        "layers": [],
    }
).encode()


def _open_via_mirror(state: RegistryState) -> ImageSource:
    """open_image with a registries.conf mirror that serves the manifest."""
    config = ClientConfig(
        registries=merge_registries_conf([parse_registries_conf(CONF.encode(), path="t.conf")]),
        credentials=CREDS,
        user_agent=UA,
    )
    script = Transcript(
        [
            Expect("GET", f"https://{M}/v2/", reply(200), absent=("Authorization",)),
            Expect(
                "GET",
                f"https://{M}/v2/cache/app/manifests/v1",
                reply(200, MANIFEST, ("Content-Type", OCI)),
                absent=("Authorization",),
            ),
        ]
    )
    source = run_sync(
        open_image(ImageRef.parse(f"{H}/ns/app:v1"), config=config, state=state), script
    )
    return source


def test_mirror_blob_unknown_falls_back_to_the_primary_with_its_own_credentials() -> None:
    state = RegistryState()
    source = _open_via_mirror(state)
    assert source.physical.domain == M
    assert [ref.domain for ref, _ in source.fallbacks] == [H]
    script = Transcript(
        [
            Expect(
                "GET",
                blob_url(M, "cache/app"),
                blob_unknown(),
                absent=("Authorization",),  # the caller's credentials stay with the primary
            ),
            Expect(
                "GET",
                f"https://{H}/v2/",
                reply(401, b"", ("WWW-Authenticate", 'Basic realm="r"')),
                absent=("Authorization",),
            ),
            Expect("GET", blob_url(), ok(), present={"Authorization": BASIC}),
        ]
    )
    download = run(script, source, state)
    assert download.place == 1
    assert download.url == f"{H}/ns/app@{DIGEST}"
    # A resume goes to the place that served, not back to the mirror.
    again = Transcript(
        [
            Expect(
                "GET",
                blob_url(),
                partial(5),
                present={"Range": "bytes=5-", "Authorization": BASIC},
            )
        ]
    )
    resumed = run(again, source, state, resume=(download, 5))
    assert (resumed.place, resumed.start) == (1, 5)


def test_every_source_failing_raises_the_first_sources_error_with_the_others_as_data() -> None:
    source = image_source(endpoint(M, "cache/app"), endpoint(H), endpoint("third.test"))
    state = pinged(pinged(RegistryState(), M), H)
    script = Transcript(
        [
            Expect("GET", blob_url(M, "cache/app"), blob_unknown()),
            # a 503 is resent (the default policy: 3 attempts in all) before moving on
            *[Expect("GET", blob_url(), reply(503, b"", ("Content-Type", "text/plain")))] * 3,
            Expect("GET", "https://third.test/v2/", TransportError("third.test: refused")),
        ]
    )
    with pytest.raises(BlobUnknown) as info:
        run(script, source, state)
    assert info.value.status == 404
    assert str(DIGEST) in str(info.value) and M in str(info.value)
    assert "invalid status code from registry 404 (Not Found)" in str(info.value)
    others = info.value.also_failed
    assert [str(f.reference) for f in others] == [f"{H}/ns/app:v1", "third.test/ns/app:v1"]
    assert isinstance(others[0].error, ServerError) and others[0].error.status == 503
    assert isinstance(others[1].error, TransportError) and "refused" in str(others[1].error)
    notes = info.value.__notes__  # the same, for tracebacks
    assert len(notes) == 2
    assert notes[0].startswith(f"{H}/ns/app:v1 also failed:") and "503" in notes[0]
    assert notes[1].startswith("third.test/ns/app:v1 also failed:") and "refused" in notes[1]


def test_a_transport_error_on_the_source_moves_on_to_the_fallback() -> None:
    source = image_source(endpoint(M, "cache/app"), endpoint(H))
    state = pinged(pinged(RegistryState(), M), H)
    script = Transcript(
        [
            Expect("GET", blob_url(M, "cache/app"), TransportError("reset")),
            Expect("GET", blob_url(), ok()),
        ]
    )
    assert run(script, source, state).place == 1


# --- resume ------------------------------------------------------------------------------------


def _first(size: int | None = len(BLOB)) -> BlobDownload:
    return run(Transcript([Expect("GET", blob_url(), ok())]), image_source(), _state(), size=size)


def _resume_expect(answer: Response, offset: int = 1000, host: str = H) -> Expect:
    return Expect(
        "GET",
        blob_url(host),
        answer,
        present={"Range": f"bytes={offset}-", "Authorization": BASIC},
    )


@pytest.mark.parametrize("total", ["2000", "*"])
def test_resume_sends_range_and_accepts_a_matching_206(total: str) -> None:
    first = _first()
    script = Transcript([_resume_expect(partial(1000, total=total))])
    source = image_source(endpoint(creds=CREDS))
    download = run(script, source, _state(BASIC_CHALLENGE), resume=(first, 1000))
    assert (download.start, download.skip, download.place) == (1000, 0, 0)
    assert download.size == 2000


def test_resume_answered_200_skips_the_bytes_already_seen() -> None:
    first = _first()
    script = Transcript([_resume_expect(ok())])
    source = image_source(endpoint(creds=CREDS))
    download = run(script, source, _state(BASIC_CHALLENGE), resume=(first, 1000))
    assert (download.start, download.skip) == (0, 1000)
    assert download.size == 2000


@pytest.mark.parametrize("answer", ["206", "200"])
def test_resume_keeps_the_whole_blob_size_when_the_descriptor_gave_none(answer: str) -> None:
    # The size came from the first answer's Content-Length; a 206's Content-Length is the
    # remaining length only and must not become the blob's size.
    first = _first(size=None)
    assert first.size == 2000
    script = Transcript([_resume_expect(partial(1000) if answer == "206" else ok())])
    source = image_source(endpoint(creds=CREDS))
    download = run(script, source, _state(BASIC_CHALLENGE), size=None, resume=(first, 1000))
    assert download.size == 2000


def test_resume_206_without_a_known_size_takes_the_total_from_content_range() -> None:
    first = run(
        Transcript([Expect("GET", blob_url(), reply(200, BLOB))]),  # no Content-Length
        image_source(),
        _state(),
        size=None,
    )
    assert first.size is None
    script = Transcript(
        [Expect("GET", blob_url(), partial(1000), present={"Range": "bytes=1000-"})]
    )
    download = run(script, image_source(), _state(), size=None, resume=(first, 1000))
    assert download.size == 2000


@pytest.mark.parametrize(
    "content_range",
    [
        "bytes 0-1999/2000",
        "bytes 999-1999/2000",
        "bytes 1001-1999/2000",
        "",
        "garbage",
        "bytes \u00b9\u2070\u2070\u2070-1999/2000",  # superscript digits: not a number here
    ],
)
def test_resume_206_with_a_wrong_content_range_moves_on_then_fails(content_range: str) -> None:
    bad = reply(206, BLOB[1000:], *([("Content-Range", content_range)] if content_range else []))
    # With a later source: that one is asked (with the same Range).
    first = _first()
    source = image_source(endpoint(), endpoint(M, "cache/app"))
    state = pinged(_state(), M)
    script = Transcript(
        [
            Expect("GET", blob_url(), bad, present={"Range": "bytes=1000-"}),
            Expect(
                "GET", blob_url(M, "cache/app"), partial(1000), present={"Range": "bytes=1000-"}
            ),
        ]
    )
    download = run(script, source, state, resume=(first, 1000))
    assert (download.place, download.start) == (1, 1000)
    # Alone: an error, never a download that would splice the wrong bytes.
    script = Transcript([Expect("GET", blob_url(), bad)])
    with pytest.raises(RemoteProtocolError, match="did not start at byte 1000"):
        run(script, image_source(), _state(), resume=(first, 1000))


def test_resume_answered_416_is_an_error() -> None:
    first = _first()
    script = Transcript(
        [Expect("GET", blob_url(), reply(416, b"", ("Content-Range", "bytes */2000")))]
    )
    with pytest.raises(RegistryResponseError) as info:
        run(script, image_source(), _state(), resume=(first, 1000))
    assert info.value.status == 416
    assert "416" in str(info.value)


def test_resume_after_a_fallback_does_not_go_back_to_earlier_sources() -> None:
    source = image_source(endpoint(M, "cache/app"), endpoint(H))
    state = pinged(pinged(RegistryState(), M), H)
    first = run(
        Transcript(
            [
                Expect("GET", blob_url(M, "cache/app"), blob_unknown()),
                Expect("GET", blob_url(), ok()),
            ]
        ),
        source,
        state,
    )
    # The serving place answers 416: nothing later to try, and the mirror is not asked again.
    script = Transcript([Expect("GET", blob_url(), reply(416))])
    with pytest.raises(RegistryResponseError):
        run(script, source, state, resume=(first, 10))


# --- property: resume bookkeeping reassembles exactly the blob --------------------------------


class RangeServer:
    """A transport serving one blob, honouring ``Range`` (or ignoring it, per request)."""

    def __init__(self, blob: bytes, ignore_range: list[bool]) -> None:
        self.blob = blob
        self.ignore_range = ignore_range
        self.ranges: list[str | None] = []

    def __call__(self, request: Request) -> Response:
        wanted = request.headers.get("Range")
        self.ranges.append(wanted)
        ignore = self.ignore_range.pop(0) if self.ignore_range else False
        if wanted is None or ignore:
            return ok(self.blob)
        start = int(wanted.removeprefix("bytes=").removesuffix("-"))
        return partial(start, self.blob)


@settings(max_examples=150, deadline=None)
@given(
    blob=st.binary(min_size=1, max_size=3000),
    cuts=st.lists(st.floats(min_value=0.0, max_value=1.0, exclude_max=True), max_size=6),
    ignore=st.lists(st.booleans(), max_size=8),
    known_size=st.booleans(),
)
def test_any_cut_points_reassemble_exactly_the_blob(
    blob: bytes, cuts: list[float], ignore: list[bool], known_size: bool
) -> None:
    """BlobStream's loop over the core flow: deliver, break, resume at the byte reached."""
    digest = Digest.of(blob)
    server = RangeServer(blob, list(ignore))
    state = _state()
    size = len(blob) if known_size else None
    source = image_source()
    download = run_sync(open_blob(source, digest, state=state, size=size), server)
    assert isinstance(download.head, Response)
    verifier = download.verifier()
    delivered = bytearray()
    pending = list(cuts)
    offsets: list[int] = []
    body, skip = download.head.body, download.skip
    while True:
        assert len(body) == len(blob) - download.start  # what the server sent this time
        body = body[skip:]
        # The connection breaks somewhere in what is left (a cut point), or not at all.
        if pending:
            reached = int(pending.pop(0) * len(body))
            verifier.update(body[:reached])
            delivered += body[:reached]
            offsets.append(len(delivered))
            download = run_sync(
                open_blob(
                    source, digest, state=state, size=size, resume=(download, len(delivered))
                ),
                server,
            )
            assert isinstance(download.head, Response)
            body, skip = download.head.body, download.skip
            assert download.start + skip == len(delivered)
            continue
        verifier.update(body)
        delivered += body
        break
    verifier.finish()
    assert bytes(delivered) == blob
    assert server.ranges == [None] + [f"bytes={o}-" if o else None for o in offsets]
    assert hashlib.sha256(delivered).hexdigest() == digest.hex
