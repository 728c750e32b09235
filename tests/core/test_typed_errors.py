"""Only the core's own error tree leaves a flow, whatever a server answers.

Hypothesis drives real flows (open_image, get_manifest, open_blob, list_tags,
list_signatures) against arbitrary answers: random statuses, garbage in the headers the core
reads (Content-Length, Location, WWW-Authenticate, Docker-Content-Digest, Link, Retry-After,
Content-Range, Content-Type) and random or almost-valid bodies. A flow may succeed or raise a
:class:`RegistryClientError`; a ValueError, KeyError, UnicodeError, AssertionError... escaping
is a bug. Plus: ``run_sync`` never leaves a flow suspended.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.auth import Credentials
from sansio_registry.config.registries_d import RegistriesD, Section
from sansio_registry.digest import Digest
from sansio_registry.errors import RegistryClientError, TransportError
from sansio_registry.flow import Flow, FlowState
from sansio_registry.flows.blob import open_blob
from sansio_registry.flows.manifest import ImageSource, Manifest, get_manifest, open_image
from sansio_registry.flows.pipeline import Endpoint
from sansio_registry.flows.signatures import list_signatures
from sansio_registry.flows.tags import list_tags
from sansio_registry.http import Headers, Request, Response
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync

H = "reg.test"
OCI = "application/vnd.oci.image.manifest.v1+json"
GOOD = str(Digest.of(b"x"))
REF = ImageRef.parse(f"{H}/ns/app:v1")

_text = st.text(max_size=40)
_garbage_digest = (
    st.sampled_from(
        [GOOD, "sha256:", "sha256:zz", "md5:abc", "", ":", "sha256:" + "A" * 64, "\u00e9:\u00e9"]
    )
    | _text
)
_location = (
    st.sampled_from(
        [
            "/v2/ns/app/blobs/x",
            "https://cdn.test/b?sig=1",
            "http://cdn.test/b",
            "file:///etc/passwd",
            "ftp://f.test/x",
            "//other.test/x",
            "http://[::1",
            "https://h:99999/",
            "\x00",
            "",
        ]
    )
    | _text
)
_challenge = (
    st.sampled_from(
        [
            'Bearer realm="https://auth.test/token",service="s"',
            'Bearer realm="http://auth.test/token"',
            'Bearer realm="file:///x"',
            "Bearer realm=",
            'Bearer error="invalid_token"',
            'Bearer error="insufficient_scope",scope="repository:ns/app:pull,push"',
            'Basic realm="r"',
            "Negotiate",
            ",,,",
        ]
    )
    | _text
)
_header = st.one_of(
    st.tuples(st.just("Content-Length"), st.sampled_from(["0", "-1", "1e3", "²", "99999999999"])),
    st.tuples(st.just("Location"), _location),
    st.tuples(st.just("WWW-Authenticate"), _challenge),
    st.tuples(st.just("Docker-Content-Digest"), _garbage_digest),
    st.tuples(st.just("Content-Type"), st.sampled_from([OCI, "application/json", "text/html"])),
    st.tuples(
        st.just("Link"), st.sampled_from(['</v2/x?n=1>; rel="next"', "<", '<>; rel="next"'])
    ),
    st.tuples(st.just("Retry-After"), st.sampled_from(["0", "-5", "1e9", "Fri, 31 Dec 1999"])),
    st.tuples(st.just("Content-Range"), st.sampled_from(["bytes 0-0/1", "bytes 5-1/*", "x"])),
    st.tuples(st.just("X-Registry-Supports-Signatures"), st.sampled_from(["1", "0"])),
    st.tuples(_text, _text),
)


def _manifest(digest: str, size: object, urls: object) -> bytes:
    layer = {"mediaType": "application/octet-stream", "digest": digest, "size": size}
    if urls is not None:
        layer["urls"] = urls
    doc = {"schemaVersion": 2, "mediaType": OCI, "config": layer, "layers": [layer]}
    return json.dumps(doc).encode()


_json_body = st.one_of(
    st.builds(
        _manifest,
        _garbage_digest,
        st.one_of(st.integers(-2, 2**64), st.none(), _text),
        st.one_of(st.none(), st.lists(_location, max_size=2)),
    ),
    st.builds(
        lambda d: json.dumps(
            {"schemaVersion": 2, "manifests": [{"digest": d, "mediaType": OCI, "size": 1}]}
        ).encode(),
        _garbage_digest,
    ),
    st.sampled_from(
        [
            b'{"token":"T","expires_in":-1,"issued_at":"not a date"}',
            b'{"access_token":"","token":""}',
            b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x","detail":{}}]}',
            b'{"errors":"nope"}',
            b'{"tags":["a",null]}',
            b'{"tags":null}',
            b'{"signatures":[{"schemaVersion":2,"type":"atomic","content":"!!"}]}',
            b'{"signatures":[{"schemaVersion":2,"type":"atomic","content":"AAAA"}]}',
            b"\x00simple-signing\n\xff\xfe",
            b"\xff\xfe\x00",
            b"[]",
            b"null",
        ]
    ),
)
_answer = st.builds(
    lambda status, headers, body: Response(
        status=status, headers=Headers(tuple(headers)), body=body
    ),
    # Half the answers are 200s, so flows get past their first exchanges.
    st.one_of(
        st.just(200),
        st.sampled_from([206, 301, 302, 303, 307, 308, 401, 403, 404, 416, 429, 500, 503]),
    )
    | st.one_of(st.just(200), st.integers(100, 599)),
    st.lists(_header, max_size=5),
    st.one_of(_json_body, st.binary(max_size=64)),
)


def _transport(answers: list[Response]) -> Callable[[Request], Response]:
    queue: Iterator[Response] = iter(answers)

    def transport(request: Request) -> Response:
        answer = next(queue, None)
        if answer is None:
            raise TransportError("the scripted server hung up")
        return answer

    return transport


def _source() -> ImageSource:
    endpoint = Endpoint(host=H, repository="ns/app", user_agent="ua", credentials=CREDS)
    raw = _manifest(GOOD, 1, None)
    manifest = Manifest(raw=raw, media_type=OCI, digest=Digest.of(raw), reference=REF)
    return ImageSource(logical=REF, physical=REF, endpoint=endpoint, manifest=manifest)


CREDS = Credentials(username="u", password="p")
CONFIG = ClientConfig(
    credentials=CREDS,
    registries_d=RegistriesD(
        default_docker=Section(lookaside="https://sigs.test/l", use_sigstore_attachments=True)
    ),
)

FLOWS: dict[str, Callable[[], Flow[object]]] = {
    "open_image": lambda: open_image(REF, config=CONFIG, state=RegistryState()),
    "get_manifest": lambda: get_manifest(
        REF, config=CONFIG, state=RegistryState(), instance=Digest.of(b"i")
    ),
    "open_blob": lambda: open_blob(
        _source(), Digest.of(b"x"), state=RegistryState(), size=1, urls=("https://cdn.test/x",)
    ),
    "open_blob_registry": lambda: open_blob(_source(), Digest.of(b"x"), state=RegistryState()),
    "list_tags": lambda: list_tags(REF, config=CONFIG, state=RegistryState()),
    "list_signatures": lambda: list_signatures(_source(), config=CONFIG, state=RegistryState()),
}


@pytest.mark.parametrize("name", sorted(FLOWS))
@given(answers=st.lists(_answer, max_size=8))
def test_only_registry_client_errors_leave_a_flow(name: str, answers: list[Response]) -> None:
    flow = FLOWS[name]()
    try:
        run_sync(flow, _transport(answers))
    except RegistryClientError:
        assert flow.state is FlowState.FAILED
    else:
        assert flow.state is FlowState.DONE


def test_run_sync_aborts_the_flow_when_the_transport_raises() -> None:
    class Broken(Exception):
        pass

    def transport(request: Request) -> Response:
        raise Broken(request.url)

    flow = open_image(REF, config=CONFIG, state=RegistryState())
    with pytest.raises(Broken):
        run_sync(flow, transport)
    assert flow.state is FlowState.ABORTED
