"""RegistryClient end to end over loopback sockets, against the in-memory fakes.

Covers what only real sockets show: token coalescing between concurrent tasks, cancellation
hygiene in the pool, keep-alive reuse, TLS verification (and that unverified connections never
serve verifying requests), credentials dropped on cross-origin redirects, and the 4 MiB
manifest limit.

Plain-HTTP fakes are reached with ``ClientConfig(tls_verify=False)``: the ping tries https
first (one TCP connection that fails the TLS handshake), then http.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme

from sansio_registry.auth import Challenge, Credentials, Scope, TokenCache, TokenKey, bearer_token
from sansio_registry.config.registries_conf import Mirror, RegistriesConf, Registry
from sansio_registry.errors import BodyTooLarge, RegistryClientError, TransportError
from sansio_registry.flow import Flow, FlowState
from sansio_registry.http import MAX_MANIFEST_BODY, Headers, Origin, Request, Response
from sansio_registry.retry_policy import RetryPolicy
from sansio_registry.session import ClientConfig
from sansio_registry.testing.fake import FakeRegistry, FakeTokenServer, sha256_digest
from tests.backend.fake_server import (
    OCI_MANIFEST,
    FakeServer,
    Image,
    make_image,
    poll_until,
    run_trio,
    serve_fake,
    tls_server_context,
)
from tests.backend.loopback import Exchange, free_port, serve
from trio_backend.client import RegistryClient, open_client
from trio_backend.driver import AsyncTransport, Coalescer, drive
from trio_backend.pool import ConnectionPool
from trio_backend.tls import CertDirSearch, HostTLS, TLSConfig

INSECURE = ClientConfig(tls_verify=False)
NO_CERT_DIRS_SEARCH = CertDirSearch(enabled=False)
NO_CERT_DIRS = TLSConfig(cert_dirs=NO_CERT_DIRS_SEARCH)


def registry_with(image: Image, *tags: str, **kwargs: Any) -> FakeRegistry:
    registry = FakeRegistry(**kwargs)
    for tag in tags or ("v1",):
        registry.put_manifest("app", tag, image.manifest, OCI_MANIFEST)
    registry.blobs.setdefault("app", {})[image.config_digest] = image.config
    return registry


def manifest_requests(srv: FakeServer) -> list[Request]:
    return [r for r in srv.seen if "/manifests/" in r.url]


# --- 3. coalescing ----------------------------------------------------------------------------


class TokenCountingCoalescer(Coalescer):
    """A Coalescer that counts token fetches handed to it (pings are coalesced too)."""

    def __init__(self) -> None:
        super().__init__()
        self.token_calls = 0

    async def fetch(self, transport: AsyncTransport, request: Request) -> Response:
        if isinstance(
            request.coalesce_key, TokenKey
        ):  # token fetches are keyed by their cache key
            self.token_calls += 1
        return await super().fetch(transport, request)


def count_token_fetches(client: RegistryClient) -> TokenCountingCoalescer:
    """Swap the client's (fresh, unused) coalescer for a counting one."""
    counting = TokenCountingCoalescer()
    client._coalescer = counting
    return counting


@run_trio()
async def test_concurrent_first_calls_share_one_token_request() -> None:
    image = make_image()
    tokens = FakeTokenServer()
    registry = registry_with(image, auth="bearer", token_server=tokens)
    holder: list[TokenCountingCoalescer] = []

    async def hold_until_everyone_waits(ex: Exchange, request: Request) -> bool:
        # Answer only once all ten tasks asked the coalescer for this token, so the test
        # proves sharing in flight rather than a cache hit after the fact.
        await poll_until(lambda: holder[0].token_calls >= 10)
        return False

    async with (
        serve_fake(tokens, intercept=hold_until_everyone_waits) as token_srv,
        serve_fake(registry) as srv,
        open_client(INSECURE) as client,
    ):
        holder.append(count_token_fetches(client))
        registry.realm = token_srv.url("/token")
        results: list[Any] = [None] * 10

        async def one(i: int) -> None:
            results[i] = await client.get_manifest(f"{srv.netloc}/app:v1")

        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(one, i)
    assert tokens.requests == 1
    assert holder[0].token_calls == 10
    assert len(token_srv.seen) == 1
    assert {(m.raw, str(m.digest), m.media_type) for m in results} == {
        (image.manifest, image.digest, OCI_MANIFEST)
    }
    assert {r.headers.get("Authorization") for r in manifest_requests(srv)} == {"Bearer tok-1"}
    assert len(manifest_requests(srv)) == 10


async def _fetch_tokens(
    token_srv: FakeServer, creds: list[Credentials], coalescer: Coalescer
) -> list[str | RegistryClientError]:
    """Drive one bearer-token flow per credential set, concurrently, on one pool/coalescer."""
    challenge = Challenge("bearer", {"realm": token_srv.url("/token"), "service": "fake"})
    scopes = [Scope("repository", "app", "pull")]
    out: list[str | RegistryClientError] = [""] * len(creds)
    async with ConnectionPool(tls=NO_CERT_DIRS) as pool:

        async def one(i: int) -> None:
            flow = Flow(
                bearer_token(
                    challenge,
                    scopes,
                    creds[i],
                    TokenCache(),
                    now=0.0,
                    user_agent="test",
                    allow_insecure_realm=True,
                )
            )
            try:
                token = await drive(flow, pool, coalescer)
                out[i] = token
            except RegistryClientError as exc:
                out[i] = exc

        async with trio.open_nursery() as nursery:
            for i in range(len(creds)):
                nursery.start_soon(one, i)
    return out


@run_trio()
async def test_different_credentials_never_share_a_token_fetch() -> None:
    tokens = FakeTokenServer(users={"alice": "a-secret", "bob": "b-secret"})
    held: list[trio.Event] = []

    async def hold_until_all_arrived(ex: Exchange, request: Request) -> bool:
        event = trio.Event()
        held.append(event)
        if len(held) == 3:  # alice, bob, and the impostor with alice's name
            for e in held:
                e.set()
        with trio.move_on_after(2):  # if they were (wrongly) shared, only one ever arrives
            await event.wait()
        return False

    creds = [
        Credentials("alice", "a-secret"),
        Credentials("bob", "b-secret"),
        Credentials("alice", "wrong"),  # same username: the secret keeps the keys apart
    ]
    coalescer = Coalescer()
    async with serve_fake(tokens, intercept=hold_until_all_arrived) as token_srv:
        out = await _fetch_tokens(token_srv, creds, coalescer)
    assert tokens.requests == 3
    assert coalescer.shared == 0
    alice, bob, impostor = out
    assert isinstance(alice, str) and isinstance(bob, str) and alice != bob
    assert tokens.issued[alice][0] == "alice"
    assert tokens.issued[bob][0] == "bob"
    assert isinstance(impostor, RegistryClientError)  # refused, not handed alice's token
    assert len(tokens.issued) == 2


@run_trio()
async def test_identical_credentials_do_share_a_token_fetch() -> None:
    tokens = FakeTokenServer(users={"alice": "a-secret"})
    coalescer = Coalescer()

    async def hold_until_shared(ex: Exchange, request: Request) -> bool:
        await poll_until(lambda: coalescer.shared >= 1)
        return False

    creds = [Credentials("alice", "a-secret")] * 2
    async with serve_fake(tokens, intercept=hold_until_shared) as token_srv:
        out = await _fetch_tokens(token_srv, creds, coalescer)
    assert tokens.requests == 1
    assert out[0] == out[1] == "tok-1"


def state_of(flow: Flow[Any]) -> FlowState:
    return flow.state


# --- 4. cancellation --------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before-head", "mid-body"])
@run_trio()
async def test_cancelled_call_closes_its_connection_and_aborts_its_flow(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    flows: list[Flow[Any]] = []
    real_drive = drive

    async def recording_drive(flow: Flow[Any], *args: Any) -> Any:
        flows.append(flow)
        return await real_drive(flow, *args)

    monkeypatch.setattr("trio_backend.client.drive", recording_drive)
    image = make_image()
    registry = registry_with(image)
    stall = True
    stalling = trio.Event()

    async def stall_manifest(ex: Exchange, request: Request) -> bool:
        if stall and "/manifests/" in request.url:
            stalling.set()
            if where == "mid-body":
                length = str(len(image.manifest))
                await ex.send_head(
                    200, [("Content-Type", OCI_MANIFEST), ("Content-Length", length)]
                )
                await ex.send_data(image.manifest[:10])
            await ex.stall()
        return False

    async with serve_fake(registry, intercept=stall_manifest) as srv:
        origin = Origin("http", "127.0.0.1", srv.port)
        async with open_client(INSECURE) as client:
            ref = f"{srv.netloc}/app:v1"
            with trio.move_on_after(10) as scope:

                async def cancel_once_stalled() -> None:
                    await stalling.wait()
                    # Let the client take in what was sent and block on the rest.
                    await trio.testing.wait_all_tasks_blocked(cushion=0.01)
                    scope.cancel()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(cancel_once_stalled)
                    await client.get_manifest(ref)
            assert scope.cancelled_caught
            stats = client.statistics()
            assert stats.active == 0
            assert stats.idle_for(origin) == 0  # the stalled connection was not pooled
            assert state_of(flows[-1]) is FlowState.ABORTED
            assert flows[-1].pending is None
            stalled = srv.loopback.requests[-1]
            assert "/manifests/" in stalled.target
            # The server sees the stalled connection hang up (it was closed, not kept); the
            # connections so far are the https probe and this one, so count them all.
            with trio.fail_after(5):
                await srv.loopback.wait_closed(stalled.connection)
            opened = stats.connections_opened

            stall = False
            manifest = await client.get_manifest(ref)
            assert manifest.raw == image.manifest
            assert state_of(flows[-1]) is FlowState.DONE
            after = client.statistics()
            assert after.connections_opened == opened + 1
            assert after.active == 0
            assert after.idle_for(origin) == 1
            fresh = srv.loopback.requests[-1]
            assert "/manifests/" in fresh.target
            assert fresh.connection > stalled.connection  # a new connection, not the stalled one


# --- 5. keep-alive ----------------------------------------------------------------------------


@run_trio()
async def test_sequential_calls_reuse_one_connection_and_concurrent_ones_at_most_five() -> None:
    image = make_image()
    tags = [f"t{i}" for i in range(5)]
    registry = registry_with(image, "v1", *tags)
    async with serve_fake(registry) as srv, open_client(INSECURE) as client:
        for _ in range(20):
            manifest = await client.get_manifest(f"{srv.netloc}/app:v1")
            assert manifest.raw == image.manifest
        stats = client.statistics()
        # One failed https probe (no HTTP request on it), then one keep-alive connection.
        assert stats.connections_opened == 2
        assert srv.connections_with_requests() == {2}
        assert len(manifest_requests(srv)) == 20
        assert stats.idle_for(srv.origin) == 1

        async with trio.open_nursery() as nursery:
            for tag in tags:
                nursery.start_soon(client.get_manifest, f"{srv.netloc}/app:{tag}")
        after = client.statistics()
    assert len(manifest_requests(srv)) == 25
    assert 1 <= after.connections_opened - stats.connections_opened <= 4  # one was reused
    assert len(srv.connections_with_requests()) <= 5
    assert after.active == 0
    assert 1 <= after.idle_for(srv.origin) <= 5


# --- 6. TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def untrusted_ca() -> trustme.CA:
    return trustme.CA()


@run_trio()
async def test_tls_verify_false_reaches_an_untrusted_server(untrusted_ca: trustme.CA) -> None:
    image = make_image()
    registry = registry_with(image)
    ctx = tls_server_context(untrusted_ca)
    async with serve_fake(registry, ssl_context=ctx) as srv, open_client(INSECURE) as client:
        manifest = await client.get_manifest(f"{srv.netloc}/app:v1")
        stats = client.statistics()
    assert manifest.raw == image.manifest
    assert stats.connections_opened == 1  # https worked: no plain-HTTP fallback
    assert all(r.url.startswith("https://") for r in srv.seen)


@run_trio()
async def test_default_settings_refuse_an_untrusted_certificate(untrusted_ca: trustme.CA) -> None:
    registry = registry_with(make_image())
    ctx = tls_server_context(untrusted_ca)
    async with serve_fake(registry, ssl_context=ctx) as srv, open_client(tls=NO_CERT_DIRS) as c:
        with pytest.raises(TransportError, match="certificate") as info:
            await c.get_manifest(f"{srv.netloc}/app:v1")
    assert "certificate verify failed" in str(info.value)
    assert srv.seen == []  # no HTTP request was sent over the unverified channel


@run_trio()
async def test_unverified_connection_is_not_reused_by_a_verifying_client(
    untrusted_ca: trustme.CA,
) -> None:
    image = make_image()
    registry = registry_with(image)
    ctx = tls_server_context(untrusted_ca)
    async with (
        serve_fake(registry, ssl_context=ctx) as srv,
        ConnectionPool(tls=NO_CERT_DIRS) as pool,
    ):
        insecure = RegistryClient(pool, INSECURE)
        secure = RegistryClient(pool, ClientConfig())
        await insecure.get_manifest(f"{srv.netloc}/app:v1")
        assert pool.statistics().idle_for(srv.origin) == 1
        seen = len(srv.seen)
        with pytest.raises(TransportError, match="certificate verify failed"):
            await secure.get_manifest(f"{srv.netloc}/app:v1")
        assert len(srv.seen) == seen  # nothing went over the unverified connection
        stats = pool.statistics()
        assert stats.connections_opened == 2
        assert stats.idle_for(srv.origin) == 1  # the unverified one, still idle
        # ... and it still serves the insecure client.
        await insecure.get_manifest(f"{srv.netloc}/app:v1")
        assert pool.statistics().connections_opened == 2


@run_trio()
async def test_raw_pool_unverified_then_verifying_request(untrusted_ca: trustme.CA) -> None:
    ctx = tls_server_context(untrusted_ca)

    async def ok(ex: Exchange) -> None:
        await ex.respond(200, body=b"hello")

    def req(url: str, *, verify: bool) -> Request:
        return Request(method="GET", url=url, headers=Headers(), tls_verify=verify)

    async with serve(ok, ssl_context=ctx) as srv, ConnectionPool(tls=NO_CERT_DIRS) as pool:
        assert (await pool.fetch(req(srv.url("/v2/"), verify=False))).body == b"hello"
        with pytest.raises(TransportError, match="certificate verify failed"):
            await pool.fetch(req(srv.url("/v2/"), verify=True))
        assert len(srv.requests) == 1
        assert (await pool.fetch(req(srv.url("/v2/"), verify=False))).body == b"hello"
        assert pool.statistics().connections_opened == 2


@run_trio()
async def test_trusted_ca_verifies_and_verified_connection_serves_both(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    tls = TLSConfig(
        default=HostTLS(ca_files=(str(ca_file),)), cert_dirs=CertDirSearch(enabled=False)
    )
    image = make_image()
    registry = registry_with(image)
    async with (
        serve_fake(registry, ssl_context=tls_server_context(ca)) as srv,
        ConnectionPool(tls=tls) as pool,
    ):
        secure = RegistryClient(pool, ClientConfig())
        insecure = RegistryClient(pool, INSECURE)
        assert (await secure.get_manifest(f"{srv.netloc}/app:v1")).raw == image.manifest
        assert (await insecure.get_manifest(f"{srv.netloc}/app:v1")).raw == image.manifest
        assert pool.statistics().connections_opened == 1


# --- 7. redirects -----------------------------------------------------------------------------


@run_trio()
async def test_redirect_to_another_origin_drops_authorization() -> None:
    image = make_image()
    tokens = FakeTokenServer()
    registry = registry_with(image, auth="bearer", token_server=tokens)

    async def storage(ex: Exchange) -> None:
        if ex.recorded.target == "/storage/manifest":
            await ex.respond(
                200,
                [("Content-Type", OCI_MANIFEST), ("Docker-Content-Digest", image.digest)],
                image.manifest,
            )
        elif ex.recorded.target == "/storage/config":
            await ex.respond(200, body=image.config)
        else:
            await ex.respond(404)

    async with (
        serve(storage) as storage_srv,
        serve_fake(tokens) as token_srv,
    ):

        async def redirect(ex: Exchange, request: Request) -> bool:
            if "/manifests/" in request.url and registry._authorized(request, "app", "pull"):
                await ex.respond(307, [("Location", storage_srv.url("/storage/manifest"))])
                return True
            if "/blobs/" in request.url and registry._authorized(request, "app", "pull"):
                await ex.respond(307, [("Location", storage_srv.url("/storage/config"))])
                return True
            return False

        async with serve_fake(registry, intercept=redirect) as srv, open_client(INSECURE) as c:
            registry.realm = token_srv.url("/token")
            source = await c.open_image(f"{srv.netloc}/app:v1")
            config = await c.get_config(source, source.manifest)
    assert source.manifest.raw == image.manifest
    assert config == image.config
    assert [r.target for r in storage_srv.requests] == ["/storage/manifest", "/storage/config"]
    for recorded in storage_srv.requests:
        assert recorded.header_values("Authorization") == []
        assert recorded.header_values("Host") == [f"127.0.0.1:{storage_srv.port}"]
    sent_to_registry = [r for r in srv.seen if "/manifests/" in r.url or "/blobs/" in r.url]
    assert sent_to_registry  # the registry itself did get the token
    assert all(
        (r.headers.get("Authorization") or "").startswith("Bearer ") for r in sent_to_registry
    )


# --- 8. body limits ---------------------------------------------------------------------------

LIMIT_TEXT = f"exceeded maximum allowed size of {MAX_MANIFEST_BODY} bytes"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size", [MAX_MANIFEST_BODY + 1, MAX_MANIFEST_BODY])
@run_trio()
async def test_manifest_size_limit(size: int, chunked: bool) -> None:
    assert MAX_MANIFEST_BODY == 4194304
    raw = b"{" + b" " * (size - 2) + b"}"
    registry = FakeRegistry()
    registry.put_manifest("app", "big", raw, OCI_MANIFEST)

    async def maybe_chunked(ex: Exchange, request: Request) -> bool:
        if not chunked or "/manifests/" not in request.url:
            return False
        headers = [("Content-Type", OCI_MANIFEST), ("Transfer-Encoding", "chunked")]
        await ex.send_head(200, headers)
        for start in range(0, size, 1 << 20):
            await ex.send_data(raw[start : start + (1 << 20)])
        await ex.end()
        return True

    async with serve_fake(registry, intercept=maybe_chunked) as srv, open_client(INSECURE) as c:
        ref = f"{srv.netloc}/app:big"
        if size > MAX_MANIFEST_BODY:
            with pytest.raises(BodyTooLarge) as info:
                await c.get_manifest(ref)
            assert str(info.value) == LIMIT_TEXT
            assert info.value.limit == MAX_MANIFEST_BODY
            assert c.statistics().idle_for(srv.origin) == 0  # the rest was not read
        else:
            try:
                manifest = await c.get_manifest(ref)
            except BodyTooLarge:  # pragma: no cover - the assertion this test is about
                pytest.fail("a body of exactly the limit must be accepted")
            except RegistryClientError:
                pass  # the transport accepted it; what the core thinks of it is not our point
            else:
                assert len(manifest.raw) == MAX_MANIFEST_BODY
                assert str(manifest.digest) == sha256_digest(raw)


# --- shared errors ----------------------------------------------------------------------------


@run_trio()
async def test_a_coalesced_token_failure_gets_only_its_own_callers_mirror_notes() -> None:
    """Each caller's error carries one note per mirror *it* tried, not the others'."""
    image = make_image()
    tokens = FakeTokenServer()
    registry = registry_with(image, auth="bearer", token_server=tokens)
    holder: list[TokenCountingCoalescer] = []

    async def hang_up_once_shared(stream: trio.abc.Stream) -> None:
        await poll_until(lambda: holder[0].token_calls >= 2)
        await trio.aclose_forcefully(stream)

    dead_mirror = f"127.0.0.1:{free_port()}"
    async with serve(raw=hang_up_once_shared) as broken_token_srv, serve_fake(registry) as srv:
        registry.realm = broken_token_srv.url("/token")
        conf = RegistriesConf(
            registries=(
                Registry(prefix=srv.netloc, location=srv.netloc, mirrors=(Mirror(dead_mirror),)),
            )
        )
        # one attempt each: the shared failure is the point here, not its retries
        config = ClientConfig(registries=conf, tls_verify=False, retry=RetryPolicy(attempts=1))
        errors: list[TransportError] = []
        async with open_client(config) as client:
            holder.append(count_token_fetches(client))

            async def one() -> None:
                try:
                    await client.get_manifest(f"{srv.netloc}/app:v1")
                except TransportError as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(one)
                nursery.start_soon(one)
    assert holder[0].token_calls == 2
    assert tokens.requests == 0  # the one token fetch failed in transport: it was shared
    assert len(errors) == 2
    for error in errors:
        notes = getattr(error, "__notes__", [])
        assert len(notes) == 1, notes
        assert notes[0].startswith(f"mirror {dead_mirror}/app:v1 also failed: ")
