"""Stateful fault scripts: whole flows against a FakeRegistry world that misbehaves on cue.

A hypothesis state machine keeps one client state (token cache, learned schemes) and runs the
five read flows (``open_image``, ``get_manifest``, ``open_blob`` read to its end and verified
as a driver does, ``list_tags``, ``list_signatures``) in any order against one world: a bearer
registry, its token issuer and a CDN host. Before each flow it draws a fault script, one entry
per request the flow sends: a transport error before or after the response began, a 429 or
5xx with a ``Retry-After``, a truncated or flipped body, a wrong ``Docker-Content-Digest``, a
redirect to the CDN or back to the registry. Whatever the script, each flow must

* end in the registry's own content (verified) or a :class:`RegistryClientError` (a tag list
  has no digest: a byte flipped in one cannot be caught, by this client or any other);
* send the user's password only to the token issuer, bearer tokens only to the registry, and
  nothing that authenticates to the CDN;
* send a bounded number of requests and wait a bounded time.

``make test`` runs the ``ci`` profile; ``make test-long`` thousands of examples.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sansio_registry.auth import Credentials
from sansio_registry.config.registries_d import RegistriesD, Section
from sansio_registry.digest import Digest
from sansio_registry.errors import RegistryClientError, TransportError
from sansio_registry.flow import Flow
from sansio_registry.flows.blob import open_blob
from sansio_registry.flows.manifest import ImageSource, get_manifest, open_image
from sansio_registry.flows.signatures import list_signatures
from sansio_registry.flows.tags import list_tags
from sansio_registry.http import Headers, Request, Response
from sansio_registry.reference import ImageRef
from sansio_registry.retry_policy import RetryPolicy
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import (
    FakeNetwork,
    FakeRegistry,
    FakeTokenServer,
    error_body,
    sha256_digest,
)
from tests.core.test_mirror_worlds import OCI, SIGNATURE_TYPE, manifest_bytes

T = TypeVar("T")

REGISTRY, ISSUER, CDN = "reg.test", "auth.test", "cdn.test"
REPO = "ns/app"
CREDS = Credentials(username="alice", password="secret")
PASSWORD = "Basic " + base64.b64encode(b"alice:secret").decode()
POLICY = RetryPolicy()
#: Most requests a flow sends with no fault (ping, token, manifest, and their 401 retries).
CLEAN_FLOW_REQUESTS = 6
#: The built-in lookaside: a directory that does not exist, so only sigstore signatures.
NO_LOOKASIDE = "file:///nonexistent/sansio-registry-test/fault-scripts"
CONFIG = ClientConfig(
    credentials=CREDS,
    registries_d=RegistriesD(default_docker=Section(use_sigstore_attachments=True)),
    lookaside_default=NO_LOOKASIDE,
    retry=POLICY,
)
REF = ImageRef.parse(f"{REGISTRY}/{REPO}:v1")


LAYER = bytes(range(256)) * 16
IMAGE = manifest_bytes("the image", [("application/vnd.oci.image.layer.v1.tar", LAYER)])
SIGNATURE = b'{"critical":{"identity":{"docker-reference":"reg.test/ns/app"}}}'
ATTACHMENT = manifest_bytes("its signature", [(SIGNATURE_TYPE, SIGNATURE)])
SIGSTORE_TAG = f"sha256-{hashlib.sha256(IMAGE).hexdigest()}.sig"
TAGS = tuple(sorted(("v1", "v2", SIGSTORE_TAG)))


def world() -> FakeNetwork:
    """The bearer registry, its token issuer, and a CDN holding the same content openly."""
    network = FakeNetwork()
    issuer = FakeTokenServer(users={"alice": "secret"})
    network.add(ISSUER, issuer)
    registry = FakeRegistry(auth="bearer", realm=f"https://{ISSUER}/token", token_server=issuer)
    cdn = FakeRegistry()
    for host in (registry, cdn):
        for tag in ("v1", "v2"):
            host.put_manifest(REPO, tag, IMAGE, OCI)
        host.put_manifest(REPO, SIGSTORE_TAG, ATTACHMENT, OCI)
        host.blobs[REPO] = {sha256_digest(LAYER): LAYER, sha256_digest(SIGNATURE): SIGNATURE}
    network.add(REGISTRY, registry)
    network.add(CDN, cdn)
    return network


@dataclass(frozen=True)
class Fault:
    """What happens to one request: ``kind`` and its parameters."""

    kind: str
    status: int = 0
    retry_after: str | None = None
    where: str = CDN


PASS = Fault("pass")

faults = st.one_of(
    st.just(PASS),
    st.sampled_from(
        [
            Fault("refused"),  # nothing of a response arrived: a retry-safe request is resent
            Fault("reset"),  # the connection broke after response bytes
            Fault("truncate"),
            Fault("flip"),
            Fault("wrong-digest"),
            Fault("redirect", where=CDN),
            Fault("redirect", where=REGISTRY),
        ]
    ),
    st.builds(
        Fault,
        kind=st.just("status"),
        status=st.sampled_from([429, 500, 502, 503, 504]),
        retry_after=st.none() | st.sampled_from(["0", "1", "2", "30", "3600", "soon", "-1"]),
    ),
)
scripts = st.lists(faults, max_size=10)


@dataclass
class Scripted:
    """A transport: the world, with each request's fault taken from the script in turn."""

    network: FakeNetwork
    script: list[Fault]
    seen: list[Request] = field(default_factory=list)
    #: URLs whose answer's body was changed (a tag list has no digest to catch that by)
    tampered: list[str] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        self.seen.append(request)
        fault = self.script.pop(0) if self.script else PASS
        if fault.kind == "refused":
            raise TransportError("connection refused", before_response=True)
        if fault.kind == "reset":
            raise TransportError("connection reset mid-body")
        if fault.kind == "status":
            headers = Headers(
                () if fault.retry_after is None else (("Retry-After", fault.retry_after),)
            )
            return Response(
                status=fault.status, headers=headers, body=error_body("UNAVAILABLE", "try later")
            )
        if fault.kind == "redirect":
            parts = urlsplit(request.url)
            target = f"https://{fault.where}{parts.path}" + (
                f"?{parts.query}" if parts.query else ""
            )
            return Response(status=307, headers=Headers((("Location", target),)))
        response = self.network(request)
        body = response.body
        if fault.kind in ("truncate", "flip"):
            self.tampered.append(request.url)
        if fault.kind == "truncate":
            return dataclasses.replace(response, body=body[: len(body) // 2])
        if fault.kind == "flip" and body:
            at = len(body) // 2
            return dataclasses.replace(
                response, body=body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]
            )
        if fault.kind == "wrong-digest":
            wrong = sha256_digest(body + b"not these bytes")
            headers = response.headers.without("Docker-Content-Digest")
            return dataclasses.replace(
                response, headers=headers.with_("Docker-Content-Digest", wrong)
            )
        return response


class FaultScripts(RuleBasedStateMachine):
    """One client state against one world, flow after flow, each under its own fault script."""

    def __init__(self) -> None:
        super().__init__()
        self.network = world()
        self.state = RegistryState()
        self.source: ImageSource | None = None
        self.last: Scripted | None = None
        self.sleeps: list[float] = []
        self.faults = 0

    def _run(self, flow: Flow[T], script: list[Fault]) -> T | RegistryClientError:
        """The flow's value, or the typed error it ended with (any other exception escapes)."""
        transport = Scripted(self.network, list(script))
        self.last, self.sleeps = transport, []
        self.faults = sum(1 for fault in script if fault != PASS)
        try:
            return run_sync(flow, transport, sleep=self.sleeps.append)
        except RegistryClientError as exc:
            return exc

    @rule(script=scripts)
    def open_image(self, script: list[Fault]) -> None:
        got = self._run(open_image(REF, config=CONFIG, state=self.state), script)
        if not isinstance(got, RegistryClientError):
            assert got.manifest.raw == IMAGE
            assert got.manifest.digest == Digest.of(IMAGE)
            self.source = got

    @rule(script=scripts)
    def get_manifest(self, script: list[Fault]) -> None:
        got = self._run(get_manifest(REF, config=CONFIG, state=self.state), script)
        if not isinstance(got, RegistryClientError):
            assert got.raw == IMAGE

    @precondition(lambda self: self.source is not None)
    @rule(script=scripts)
    def open_blob_read_to_the_end(self, script: list[Fault]) -> None:
        assert self.source is not None
        flow = open_blob(self.source, Digest.of(LAYER), state=self.state, size=len(LAYER))
        got = self._run(flow, script)
        if isinstance(got, RegistryClientError):
            return
        # What a driver does with the body it holds: skip, hash, and check at the end.
        assert isinstance(got.head, Response)
        body = got.head.body[got.skip :]
        verifier = got.verifier()
        try:
            verifier.update(body)
            verifier.finish()
        except RegistryClientError:
            assert body != LAYER
        else:
            assert body == LAYER

    @rule(script=scripts)
    def list_tags(self, script: list[Fault]) -> None:
        got = self._run(list_tags(REF, config=CONFIG, state=self.state), script)
        assert self.last is not None
        tampered = any("/tags/list" in url for url in self.last.tampered)
        if not isinstance(got, RegistryClientError) and not tampered:
            assert got == TAGS

    @precondition(lambda self: self.source is not None)
    @rule(script=scripts)
    def list_signatures(self, script: list[Fault]) -> None:
        assert self.source is not None
        got = self._run(list_signatures(self.source, config=CONFIG, state=self.state), script)
        if not isinstance(got, RegistryClientError):
            assert [s.raw for s in got] == [SIGNATURE]

    @invariant()
    def credentials_stay_where_they_belong(self) -> None:
        for request in self.last.seen if self.last else ():
            host = urlsplit(request.url).netloc
            authorization = request.headers.get("Authorization")
            assert host in (REGISTRY, ISSUER, CDN), request.url
            if host == CDN:
                assert authorization is None, request
            if authorization == PASSWORD:
                assert host == ISSUER, request
            elif authorization is not None:
                assert authorization.startswith("Bearer ") and host == REGISTRY, request

    @invariant()
    def requests_and_waits_are_bounded(self) -> None:
        if self.last is None:
            return
        # a clean flow needs a few requests; each fault costs at most a resend or a hop more
        assert len(self.last.seen) <= CLEAN_FLOW_REQUESTS + 2 * self.faults, [
            r.url for r in self.last.seen
        ]
        assert len(self.sleeps) <= 2 * POLICY.throttled_attempts
        assert all(0 <= s <= POLICY.max_delay for s in self.sleeps), self.sleeps


#: Unset values come from the loaded profile (``ci`` in ``make test``, ``thorough`` in
#: ``make test-long``).
FaultScripts.TestCase.settings = settings(stateful_step_count=8)
TestFaultScripts = FaultScripts.TestCase
