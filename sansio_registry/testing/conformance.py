"""The conformance suite every IO backend must pass: standard transcripts over loopback sockets.

A backend's own test runs each case with a ``run_flow`` callable built on its driver::

    @pytest.mark.parametrize("case", conformance_cases(), ids=str)
    def test_my_backend(case: Case) -> None:
        with MyConnections() as conns:
            case.run(lambda flow, state, abort_after: my_run_flow(conns, flow, state, abort_after))

:data:`RunFlow` is ``run_flow(flow, state, abort_after) -> (value, body)``: drive ``flow`` to
its end from ``flow.begin(at=clock)`` (``state`` is the flows' own: drivers leave it alone),
return its value and the bytes of the body kept for a final ``Open`` read to the end
(``None`` when the flow did not end on one). Errors of the flow, or of reading the kept body,
propagate. With ``abort_after=k`` the driver performs ``k`` effects and then stops as it
would when cancelled (:func:`stop_after` helps): ``flow.abort()`` must be called and
``run_flow`` must return.

Each case starts a scripted server (threads, stdlib sockets and h11; origins ``A`` and ``B``
on free 127.0.0.1 ports, plain HTTP; a TLS ClientHello is answered by closing the connection,
so the insecure https→http fallback runs), drives flows built with
``ClientConfig(tls_verify=False)``, and fails with :class:`ConformanceFailure` carrying an
expected/actual transcript diff. The cases, by name: ``anonymous_manifest``, ``token_dance``,
``unauthorized_without_challenge``, ``redirect_across_origins``, ``open_error_body``,
``open_error_body_cut``, ``body_over_cap``, ``transport_error_mid_body``, ``abort_everywhere``,
``sleep_and_429``, ``tls_verify``, ``file_url`` (each :class:`Case` has a one-line ``doc``).

This module does IO (threads, sockets); the purity test exempts ``testing/``.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Final, Generic, TypeAlias, TypeVar, cast

import h11

from sansio_registry.auth import Credentials
from sansio_registry.digest import Digest
from sansio_registry.errors import (
    BlobUnknown,
    BodyTooLarge,
    RegistryClientError,
    TransportError,
    Unauthorized,
)
from sansio_registry.flow import Done, Effect, Flow, FlowState, Open, Reply, Steps, open_
from sansio_registry.flow import fetch as fetch_step
from sansio_registry.flow import sleep as sleep_step
from sansio_registry.flows.blob import BlobDownload, get_config_blob, open_blob
from sansio_registry.flows.exchange import retry_429
from sansio_registry.flows.manifest import ImageSource, open_image
from sansio_registry.http import Headers, Request, Response
from sansio_registry.manifest import MANIFEST_ACCEPT
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState

__all__ = [
    "Answer",
    "Case",
    "ConformanceFailure",
    "LoopbackServer",
    "RunFlow",
    "Seen",
    "Want",
    "conformance_cases",
    "stop_after",
]

T = TypeVar("T")

#: ``run_flow(flow, state, abort_after) -> (value, body of a final Open or None)``.
RunFlow: TypeAlias = Callable[[Flow[Any], RegistryState, int | None], tuple[Any, bytes | None]]

#: How long one ``run_flow`` call may take before the case reports a hang.
DEADLINE: Final = 15.0
_IO_TIMEOUT: Final = 20.0


class ConformanceFailure(AssertionError):
    """A backend did not behave as the contract says; the message is a transcript diff."""


# --- stopping a driver after N effects --------------------------------------------------------


class _Stopping(Generic[T]):
    """Looks like the :class:`Flow` it wraps; calls ``stop()`` when effect ``limit + 1`` comes."""

    def __init__(self, flow: Flow[T], limit: int, stop: Callable[[], None]) -> None:
        self._flow, self._limit, self._stop = flow, limit, stop
        self.produced = 0

    @property
    def state(self) -> FlowState:
        return self._flow.state

    @property
    def pending(self) -> Effect | None:
        return self._flow.pending

    def begin(self, *, at: float | None = None) -> Effect | Done[T]:
        return self._count(self._flow.begin(at=at))

    def reply(self, reply: Reply) -> Effect | Done[T]:
        return self._count(self._flow.reply(reply))

    def fail(self, exc: RegistryClientError) -> Effect | Done[T]:
        return self._count(self._flow.fail(exc))

    def abort(self) -> None:
        self._flow.abort()

    def _count(self, step: Effect | Done[T]) -> Effect | Done[T]:
        if not isinstance(step, Done):
            self.produced += 1
            if self.produced == self._limit + 1:
                self._stop()  # raise (a sync driver's interrupt) or cancel a scope (async)
        return step


def stop_after(flow: Flow[T], limit: int, stop: Callable[[], None]) -> Flow[T]:
    """``flow`` as a driver sees it, calling ``stop()`` once ``limit`` effects were performed.

    ``stop`` raises (what a sync driver sees on an interrupt) or cancels a scope (async); the
    driver must then call ``flow.abort()``, as it must on any cancellation.
    """
    return cast(Flow[T], _Stopping(flow, limit, stop))


# --- the scripted loopback server --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What the server sends.

    ``chunked`` frames the body with chunked encoding instead of Content-Length; ``cut_after``
    announces the full length but sends only that many body bytes, then closes the connection.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    chunked: bool = False
    cut_after: int | None = None


@dataclass(frozen=True, slots=True)
class Seen:
    """One thing the server received: a request, or (``method == "TLS"``) a TLS ClientHello."""

    origin: str
    method: str
    target: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""


#: A self-signed certificate for 127.0.0.1 (valid until 2126) and its key: nothing trusts it.
_TLS_PEM: Final = """\
-----BEGIN CERTIFICATE-----
MIIBrjCCAVWgAwIBAgIUG5m+Ogp7VnJkoLhhrInrH/kn2L4wCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTY29uZm9ybWFuY2UuaW52YWxpZDAgFw0yNjExMjgwNzE0MTZa
GA8yMTI2MTEwNDA3MTQxNlowHjEcMBoGA1UEAwwTY29uZm9ybWFuY2UuaW52YWxp
ZDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDcpDXK6IkElpn6FKbnc7dtTXC+0
mCt1GcP1tfkckLOHdPXhl39zPmzBfWZUanSgNJBLPU59O3V6Qx9QQLLbT5ijbzBt
MB0GA1UdDgQWBBReMuXz6iRkreupXZkHueLDLUt5kjAfBgNVHSMEGDAWgBReMuXz
6iRkreupXZkHueLDLUt5kjAPBgNVHRMBAf8EBTADAQH/MBoGA1UdEQQTMBGHBH8A
AAGCCWxvY2FsaG9zdDAKBggqhkjOPQQDAgNHADBEAiAPpjwnLn4jTDiV0Oqm1+rp
M2Vd3aQJqJ1w1mkQm3ua6gIgQ2agB3mwKc14TYCGSAz/b3eQwVwhX7bPn0IEwpOf
c/A=
-----END CERTIFICATE-----
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwmJsp0E2t5Oo4UaP
GRu6HsRVTXXGIMeebCRBx77yc/uhRANCAAQ3KQ1yuiJBJaZ+hSm53O3bU1wvtJgr
dRnD9bX5HJCzh3T14Zd/cz5swX1mVGp0oDSQSz1OfTt1ekMfUECy20+Y
-----END PRIVATE KEY-----
"""


def _server_tls() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with TemporaryDirectory() as tmp:  # load_cert_chain reads files only
        path = Path(tmp) / "server.pem"
        path.write_text(_TLS_PEM, encoding="ascii")
        ctx.load_cert_chain(path)
    return ctx


@dataclass(slots=True)
class _Conn:
    origin: str
    sock: socket.socket
    busy: bool = False
    closed: bool = False


class LoopbackServer:
    """Origins on free 127.0.0.1 ports answering from a route table, recording what arrives.

    Routes map ``(origin, method, target)`` to answers given in order (the last one repeats);
    an unrouted request gets a 404 (and shows up in the transcript diff). Origins named in
    ``tls`` speak HTTPS with a self-signed certificate (for 127.0.0.1) no client trusts;
    the others refuse TLS.
    """

    def __init__(self, origins: Sequence[str] = ("A", "B"), *, tls: Sequence[str] = ()) -> None:
        self.seen: list[Seen] = []
        self._tls = {origin: _server_tls() for origin in tls}
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str, str], list[Answer]] = {}
        self._conns: list[_Conn] = []
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._ports: dict[str, int] = {}
        for origin in origins:
            listener = socket.create_server(("127.0.0.1", 0))
            listener.settimeout(0.05)
            self._ports[origin] = listener.getsockname()[1]
            self._spawn(self._accept, origin, listener)

    def host(self, origin: str) -> str:
        """``127.0.0.1:port`` of ``origin``."""
        return f"127.0.0.1:{self._ports[origin]}"

    def url(self, origin: str) -> str:
        """``http://127.0.0.1:port`` of ``origin``."""
        return f"http://{self.host(origin)}"

    def route(self, origin: str, method: str, target: str, *answers: Answer) -> None:
        """Answer ``method target`` on ``origin`` with ``answers`` in order (replacing any)."""
        with self._lock:
            self._routes[(origin, method, target)] = list(answers)

    def mark(self) -> int:
        """How many things were seen so far (to slice :attr:`seen` later)."""
        with self._lock:
            return len(self.seen)

    def settle(self, timeout: float = 3.0) -> list[str]:
        """Wait until no connection is in the middle of an exchange; describe those that are."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                busy = [
                    f"a connection to {c.origin} left mid-exchange" for c in self._conns if c.busy
                ]
            if not busy or time.monotonic() > deadline:
                return busy
            time.sleep(0.01)

    def close(self) -> None:
        """Stop accepting, shut every connection, join every thread."""
        self._closing.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=_IO_TIMEOUT)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, origin: str, listener: socket.socket) -> None:
        with listener:
            while not self._closing.is_set():
                try:
                    sock, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = _Conn(origin, sock)
                with self._lock:
                    self._conns.append(conn)
                self._spawn(self._serve, conn)

    def _answer(self, seen: Seen) -> Answer:
        with self._lock:
            self.seen.append(seen)
            answers = self._routes.get((seen.origin, seen.method, seen.target))
            if not answers:
                return Answer(404, (), b"no route for " + seen.target.encode())
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def _serve(self, conn: _Conn) -> None:
        sock = conn.sock
        try:
            sock.settimeout(_IO_TIMEOUT)
            tls = self._tls.get(conn.origin)
            if tls is not None:  # a failed handshake (the client refused the cert) ends here
                conn.sock = sock = tls.wrap_socket(sock, server_side=True)
            elif sock.recv(1, socket.MSG_PEEK) == b"\x16":  # a TLS handshake record: refuse it
                self._answer(Seen(conn.origin, "TLS"))
                return
            http = h11.Connection(h11.SERVER)
            while True:
                seen = self._receive(conn, http)
                if seen is None:
                    return
                answer = self._answer(seen)
                if not self._send(sock, http, answer):
                    return
                conn.busy = False
                if h11.MUST_CLOSE in (http.our_state, http.their_state):
                    return
                http.start_next_cycle()
        except (OSError, h11.ProtocolError):
            return
        finally:
            conn.busy, conn.closed = False, True
            sock.close()

    @staticmethod
    def _receive(conn: _Conn, http: h11.Connection) -> Seen | None:
        request: h11.Request | None = None
        body = b""
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                data = conn.sock.recv(65536)
                conn.busy = conn.busy or bool(data)
                http.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                headers = Headers.of(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers
                )
                method, target = request.method.decode(), request.target.decode("latin-1")
                return Seen(conn.origin, method, target, headers, body)
            else:
                return None

    @staticmethod
    def _send(sock: socket.socket, http: h11.Connection, answer: Answer) -> bool:
        framing = (
            ("Transfer-Encoding", "chunked")
            if answer.chunked
            else ("Content-Length", str(len(answer.body)))
        )
        head = h11.Response(status_code=answer.status, headers=[*answer.headers, framing])
        sock.sendall(http.send(head) or b"")
        body = answer.body if answer.cut_after is None else answer.body[: answer.cut_after]
        for start in range(0, len(body), 65536):
            sock.sendall(http.send(h11.Data(data=body[start : start + 65536])) or b"")
        if answer.cut_after is not None:
            return False
        sock.sendall(http.send(h11.EndOfMessage()) or b"")
        return True


# --- transcripts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Want:
    """One expected arrival; ``headers`` maps a name to its value, ``None`` meaning absent.

    ``authorization`` is always checked (absent unless given); ``accept-encoding`` must never
    be sent (bodies must arrive as stored).
    """

    origin: str
    method: str
    target: str = ""
    headers: Mapping[str, str | None] = field(default_factory=dict)


def _hello(origin: str) -> Want:
    return Want(origin, "TLS")


def _render(item: Want | Seen, keys: Sequence[str]) -> str:
    if item.method == "TLS":
        return f"{item.origin} TLS ClientHello (refused)"
    parts = [f"{item.origin} {item.method} {item.target}"]
    for name in keys:
        if isinstance(item, Want):
            value = item.headers.get(name)
        else:
            values = item.headers.get_all(name)
            value = ", ".join(values) if values else None
        parts.append(f"{name}: {value}" if value is not None else f"no {name}")
    if isinstance(item, Seen) and "accept-encoding" in item.headers:
        parts.append(f"accept-encoding: {item.headers.get('accept-encoding')}")
    return "  |  ".join(parts)


def _keys(want: Want | None) -> list[str]:
    extra = [k.lower() for k in (want.headers if want else {}) if k.lower() != "authorization"]
    return ["authorization", *extra]


class _Transcript:
    """Expected and actual lines side by side; :meth:`verify` raises with a diff."""

    def __init__(self, case: str) -> None:
        self.case = case
        self.expected: list[str] = []
        self.actual: list[str] = []

    def section(self, title: str) -> None:
        self.expected.append(f"## {title}")
        self.actual.append(f"## {title}")

    def exchanges(self, wants: Sequence[Want], seen: Sequence[Seen]) -> None:
        self.expected += [_render(w, _keys(w)) for w in wants]
        for index, item in enumerate(seen):
            want = wants[index] if index < len(wants) else None
            self.actual.append(_render(item, _keys(want)))

    def fact(self, expected: str, actual: str) -> None:
        self.expected.append(expected)
        self.actual.append(actual)

    def verify(self) -> None:
        if self.expected == self.actual:
            return
        diff = difflib.unified_diff(
            self.expected, self.actual, "expected", "actual", lineterm="", n=2
        )
        raise ConformanceFailure(
            f"conformance case {self.case!r} failed:\n"
            + "\n".join(diff)
            + "\n\nfull actual transcript:\n  "
            + "\n  ".join(self.actual)
        )


# --- running a flow under a deadline ------------------------------------------------------


@dataclass(slots=True)
class _Result:
    flow: Flow[Any]
    log: list[Effect]
    value: Any = None
    body: bytes | None = None
    error: BaseException | None = None


def _logged(inner: Flow[T], log: list[Effect]) -> Steps[T]:
    """Re-yield ``inner``'s effects (recording them); closing this aborts ``inner``."""
    step = inner.begin()
    try:
        while not isinstance(step, Done):
            log.append(step)
            try:
                reply = yield step
            except RegistryClientError as exc:
                step = inner.fail(exc)
            else:
                step = inner.reply(reply)
        return step.value
    finally:
        inner.abort()


class _Later:
    """A flow built from the previous flow's value, when the chain gets there."""

    def __init__(self, make: Callable[[Any], Flow[Any]]) -> None:
        self.make = make


def _run(
    run_flow: RunFlow,
    parts: Sequence[Flow[Any] | _Later],
    state: RegistryState,
    abort: int | None = None,
) -> _Result:
    """Chain ``parts`` into one logged flow, run it under :data:`DEADLINE`, keep the outcome."""
    log: list[Effect] = []

    def chained() -> Steps[Any]:
        value: Any = None
        for part in parts:
            flow = part.make(value) if isinstance(part, _Later) else part
            value = yield from _logged(flow, log)
        return value

    flow: Flow[Any] = Flow(chained(), on_time=state.observe)  # the driver's times reach state
    result = _Result(flow, log)

    def target() -> None:
        try:
            result.value, result.body = run_flow(flow, state, abort)
        except BaseException as exc:  # reported in the transcript, never lost in a thread
            result.error = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        raise ConformanceFailure(
            f"run_flow did not return within {DEADLINE:g} s (flow {flow.state.value}): "
            "the driver hangs"
        )
    return result


def _outcome(result: _Result, describe: Callable[[Any, bytes | None], str]) -> str:
    if result.error is not None:
        return f"=> raised {_error_name(result.error)}"
    return "=> " + describe(result.value, result.body)


def _error_name(exc: BaseException) -> str:
    for cls in (BodyTooLarge, TransportError, BlobUnknown, Unauthorized):
        if isinstance(exc, cls):
            return cls.__name__
    return f"{type(exc).__name__}: {exc}"


# --- the image the scripted registry serves ------------------------------------------------

_REPO: Final = "ns/app"
_OCI: Final = "application/vnd.oci.image.manifest.v1+json"
_CONFIG: Final = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
#: 300 kB, so a body takes several reads.
_LAYER: Final = bytes((i * 7 + i // 251) % 256 for i in range(300_000))
_CONFIG_DIGEST: Final = Digest.of(_CONFIG)
_LAYER_DIGEST: Final = Digest.of(_LAYER)
_MANIFEST: Final = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": _OCI,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": str(_CONFIG_DIGEST),
            "size": len(_CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": str(_LAYER_DIGEST),
                "size": len(_LAYER),
            }
        ],
    },
    indent=2,
).encode()
_MANIFEST_DIGEST: Final = Digest.of(_MANIFEST)
_MANIFEST_PATH: Final = f"/v2/{_REPO}/manifests/v1"
_CONFIG_PATH: Final = f"/v2/{_REPO}/blobs/{_CONFIG_DIGEST}"
_LAYER_PATH: Final = f"/v2/{_REPO}/blobs/{_LAYER_DIGEST}"
_API: Final = ("Docker-Distribution-Api-Version", "registry/2.0")
_CREDS: Final = Credentials(username="alice", password="s3cret")
_BASIC: Final = "Basic " + base64.b64encode(b"alice:s3cret").decode()
_TOKEN_TARGET: Final = "/token?account=alice&scope=repository%3Ans%2Fapp%3Apull&service=reg.test"

_PING_OK: Final = Answer(200, (_API,), b"{}")
_MANIFEST_OK: Final = Answer(
    200,
    (("Content-Type", _OCI), ("Docker-Content-Digest", str(_MANIFEST_DIGEST)), _API),
    _MANIFEST,
)


def _ref(server: LoopbackServer) -> ImageRef:
    return ImageRef.parse(f"{server.host('A')}/{_REPO}:v1")


def _config(credentials: Credentials | None = None) -> ClientConfig:
    return ClientConfig(tls_verify=False, credentials=credentials)


def _image(value: Any, body: bytes | None) -> str:
    if not isinstance(value, ImageSource):
        return f"unexpected value {value!r}"
    manifest = value.manifest
    same = "bytes as served" if manifest.raw == _MANIFEST else "BYTES DIFFER"
    return f"manifest {manifest.digest} ({manifest.media_type}, {same})"


def _blob(value: Any, body: bytes | None) -> str:
    if not isinstance(value, BlobDownload):
        return f"unexpected value {value!r}"
    if body is None:
        return f"blob {value.digest}: no body handed over"
    ok = "digest matches" if Digest.of(body) == value.digest else "DIGEST DIFFERS"
    return f"blob {value.digest} ({len(body)} bytes, {ok})"


def _bytes_of(value: Any, body: bytes | None) -> str:
    if isinstance(value, bytes):
        return f"{len(value)} bytes {Digest.of(value)}"
    return f"unexpected value {value!r}"


def _flow_state(result: _Result, *allowed: FlowState) -> str:
    state = result.flow.state
    return f"flow {allowed[0].value}" if state in allowed else f"flow {state.value}"


def _image_wants() -> list[Want]:
    """An anonymous open_image on origin A: refused TLS, ping, manifest."""
    return [_hello("A"), Want("A", "GET", "/v2/"), Want("A", "GET", _MANIFEST_PATH)]


# --- the cases -------------------------------------------------------------------------------


def _anonymous_manifest(run_flow: RunFlow) -> None:
    t = _Transcript("anonymous_manifest")
    with LoopbackServer(("A",)) as server:
        server.route("A", "GET", "/v2/", _PING_OK)
        server.route("A", "GET", _MANIFEST_PATH, _MANIFEST_OK)
        state = RegistryState()
        result = _run(run_flow, [open_image(_ref(server), config=_config(), state=state)], state)
        host, agent = server.host("A"), _config().user_agent
        plain = {"host": host, "user-agent": agent}
        accept = ", ".join(MANIFEST_ACCEPT)
        t.exchanges(
            [
                _hello("A"),
                Want("A", "GET", "/v2/", plain),
                Want("A", "GET", _MANIFEST_PATH, {**plain, "accept": accept}),
            ],
            server.seen,
        )
        t.fact(f"=> {_image_stub()}", _outcome(result, _image))
        t.fact("flow done", _flow_state(result, FlowState.DONE))
    t.verify()


def _image_stub() -> str:
    """The outcome line of a correct ``open_image`` run."""
    return f"manifest {_MANIFEST_DIGEST} ({_OCI}, bytes as served)"


def _blob_stub() -> str:
    return f"blob {_LAYER_DIGEST} ({len(_LAYER)} bytes, digest matches)"


def _bearer_routes(server: LoopbackServer) -> None:
    realm = f'Bearer realm="{server.url("B")}/token",service="reg.test"'
    server.route("A", "GET", "/v2/", Answer(401, (("WWW-Authenticate", realm), _API), b"{}"))
    token = json.dumps({"token": "tok-1", "expires_in": 60}).encode()
    server.route(
        "B", "GET", _TOKEN_TARGET, Answer(200, (("Content-Type", "application/json"),), token)
    )
    server.route("A", "GET", _MANIFEST_PATH, _MANIFEST_OK)


def _token_dance(run_flow: RunFlow) -> None:
    t = _Transcript("token_dance")
    with LoopbackServer() as server:
        _bearer_routes(server)
        server.route("A", "GET", _CONFIG_PATH, Answer(200, (), _CONFIG))
        state = RegistryState()
        config = _config(_CREDS)
        t.section("open_image: ping, token from the realm on origin B, manifest with the token")
        first = _run(run_flow, [open_image(_ref(server), config=config, state=state)], state)
        t.exchanges(
            [
                _hello("A"),
                Want("A", "GET", "/v2/"),
                Want("B", "GET", _TOKEN_TARGET, {"authorization": _BASIC}),
                Want("A", "GET", _MANIFEST_PATH, {"authorization": "Bearer tok-1"}),
            ],
            server.seen,
        )
        t.fact(f"=> {_image_stub()}", _outcome(first, _image))
        t.section("get_config_blob with the same state: the cached token is reused")
        mark = server.mark()
        second = _run(run_flow, [_config_flow(first, state)], state) if first.value else first
        t.exchanges(
            [Want("A", "GET", _CONFIG_PATH, {"authorization": "Bearer tok-1"})],
            server.seen[mark:],
        )
        t.fact(f"=> {_bytes_of(_CONFIG, None)}", _outcome(second, _bytes_of))
    t.verify()


def _config_flow(first: _Result, state: RegistryState) -> Flow[bytes]:
    source: ImageSource = first.value
    return get_config_blob(source, _CONFIG_DIGEST, size=len(_CONFIG), state=state)


def _unauthorized_without_challenge(run_flow: RunFlow) -> None:
    t = _Transcript("unauthorized_without_challenge")
    with LoopbackServer(("A",)) as server:
        denied = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        server.route("A", "GET", "/v2/", Answer(401, (_API,), b"{}"))
        server.route("A", "GET", _MANIFEST_PATH, Answer(401, (_API,), denied))
        state = RegistryState()
        flow = open_image(_ref(server), config=_config(_CREDS), state=state)
        result = _run(run_flow, [flow], state)
        t.exchanges(
            [_hello("A"), Want("A", "GET", "/v2/"), Want("A", "GET", _MANIFEST_PATH)], server.seen
        )
        t.fact("=> raised Unauthorized", _outcome(result, _image))
        t.fact("flow failed", _flow_state(result, FlowState.FAILED))
    t.verify()


def _redirect_routes(server: LoopbackServer) -> str:
    cdn = "/cdn/layer?sig=1"
    redirect = Answer(307, (("Location", f"{server.url('B')}{cdn}"),), b"")
    server.route("A", "GET", _LAYER_PATH, redirect)
    server.route(
        "B", "GET", cdn, Answer(200, (("Content-Type", "application/octet-stream"),), _LAYER)
    )
    return cdn


def _blob_flows(
    server: LoopbackServer, config: ClientConfig, state: RegistryState
) -> list[Flow[Any] | _Later]:
    """open_image, then open_blob of the layer from the ImageSource it returned."""

    def blob(source: ImageSource) -> Flow[BlobDownload]:
        return open_blob(source, _LAYER_DIGEST, state=state, size=len(_LAYER))

    return [open_image(_ref(server), config=config, state=state), _Later(blob)]


def _redirect_across_origins(run_flow: RunFlow) -> None:
    t = _Transcript("redirect_across_origins")
    with LoopbackServer() as server:
        basic = Answer(401, (("WWW-Authenticate", 'Basic realm="reg"'), _API), b"{}")
        server.route("A", "GET", "/v2/", basic)
        server.route("A", "GET", _MANIFEST_PATH, _MANIFEST_OK)
        cdn = _redirect_routes(server)
        state = RegistryState()
        result = _run(run_flow, _blob_flows(server, _config(_CREDS), state), state)
        t.exchanges(
            [
                _hello("A"),
                Want("A", "GET", "/v2/"),
                Want("A", "GET", _MANIFEST_PATH, {"authorization": _BASIC}),
                Want("A", "GET", _LAYER_PATH, {"authorization": _BASIC}),
                Want("B", "GET", cdn, {"host": server.host("B")}),
            ],
            server.seen,
        )
        opens = [f"{type(e).__name__} {e.request.url}" for e in result.log if isinstance(e, Open)]
        t.fact(
            f"effects: Open {server.url('A')}{_LAYER_PATH}, Open {server.url('B')}{cdn}",
            "effects: " + ", ".join(opens),
        )
        t.fact(f"=> {_blob_stub()}", _outcome(result, _blob))
    t.verify()


def _open_error_body(run_flow: RunFlow) -> None:
    t = _Transcript("open_error_body")
    with LoopbackServer(("A",)) as server:
        unknown = b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}'
        server.route("A", "GET", "/v2/", _PING_OK)
        server.route("A", "GET", _MANIFEST_PATH, _MANIFEST_OK)
        server.route(
            "A", "GET", _LAYER_PATH, Answer(404, (("Content-Type", "application/json"),), unknown)
        )
        state = RegistryState()
        result = _run(run_flow, _blob_flows(server, _config(), state), state)
        t.exchanges([*_image_wants(), Want("A", "GET", _LAYER_PATH)], server.seen)
        t.fact("=> raised BlobUnknown", _outcome(result, _blob))
    t.verify()


def _open_error_body_cut(run_flow: RunFlow) -> None:
    t = _Transcript("open_error_body_cut")
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
        result = _run(run_flow, [Flow(both())], RegistryState())
        t.exchanges([Want("A", "GET", "/sized"), Want("A", "GET", "/chunked")], server.seen)
        cut = f"404 with body {body[:16]!r}"
        if result.error is not None or not isinstance(result.value, tuple):
            t.fact(f"=> {cut}, {cut}", f"=> raised {_error_name(result.error or Exception())}")
        else:
            t.fact(f"=> {cut}, {cut}", f"=> {result.value[0]}, {result.value[1]}")
    t.verify()


def _body_over_cap(run_flow: RunFlow) -> None:
    t = _Transcript("body_over_cap")
    limit = 64 * 1024  # the ping's max_body
    runs = [
        ("exactly max_body bytes (Content-Length)", Answer(200, (_API,), b" " * limit), False),
        ("max_body + 1 bytes (Content-Length)", Answer(200, (_API,), b" " * (limit + 1)), True),
        ("max_body + 1 bytes (chunked)", Answer(200, (_API,), b" " * (limit + 1), True), True),
    ]
    with LoopbackServer(("A",)) as server:
        server.route("A", "GET", _MANIFEST_PATH, _MANIFEST_OK)
        for title, ping, too_large in runs:
            t.section(f"ping answered with {title}")
            server.route("A", "GET", "/v2/", ping)
            mark = server.mark()
            state = RegistryState()
            result = _run(
                run_flow, [open_image(_ref(server), config=_config(), state=state)], state
            )
            wants = _image_wants()
            t.exchanges(wants[:2] if too_large else wants, server.seen[mark:])
            expected = "=> raised BodyTooLarge" if too_large else f"=> {_image_stub()}"
            t.fact(expected, _outcome(result, _image))
    t.verify()


def _transport_error_mid_body(run_flow: RunFlow) -> None:
    t = _Transcript("transport_error_mid_body")
    cut_manifest = Answer(200, (("Content-Type", _OCI),), _MANIFEST, cut_after=100)
    with LoopbackServer(("A",)) as server:
        server.route("A", "GET", "/v2/", _PING_OK)
        server.route("A", "GET", _MANIFEST_PATH, cut_manifest, _MANIFEST_OK)
        server.route(
            "A",
            "GET",
            _LAYER_PATH,
            Answer(200, (), _LAYER, cut_after=1000),
            Answer(200, (), _LAYER),
        )
        state = RegistryState()
        t.section("the manifest body stops after 100 bytes (Fetch)")
        result = _run(run_flow, [open_image(_ref(server), config=_config(), state=state)], state)
        t.exchanges(_image_wants(), server.seen)
        t.fact("=> raised TransportError", _outcome(result, _image))
        t.fact("flow failed", _flow_state(result, FlowState.FAILED))
        t.section("the blob body stops after 1000 bytes (Open; raised by the flow or the body)")
        mark = server.mark()
        result = _run(run_flow, _blob_flows(server, _config(), state), state)
        blob_want = Want("A", "GET", _LAYER_PATH)
        t.exchanges([Want("A", "GET", _MANIFEST_PATH), blob_want], server.seen[mark:])
        t.fact("=> raised TransportError", _outcome(result, _blob))
        t.fact("flow done", _flow_state(result, FlowState.DONE, FlowState.FAILED))
        t.section("the same driver then fetches the blob whole (no broken connection reused)")
        mark = server.mark()
        result = _run(run_flow, _blob_flows(server, _config(), state), state)
        t.exchanges([Want("A", "GET", _MANIFEST_PATH), blob_want], server.seen[mark:])
        t.fact(f"=> {_blob_stub()}", _outcome(result, _blob))
    t.verify()


def _abort_everywhere(run_flow: RunFlow) -> None:
    t = _Transcript("abort_everywhere")
    with LoopbackServer() as server:
        _bearer_routes(server)
        cdn = _redirect_routes(server)
        config = _config(_CREDS)
        state = RegistryState()
        full = _run(run_flow, _blob_flows(server, config, state), state)
        count = len(full.log)
        t.fact(f"=> {_blob_stub()}", _outcome(full, _blob))
        t.fact("effects: 6", f"effects: {count}")
        for k in range(count):
            state = RegistryState()
            result = _run(run_flow, _blob_flows(server, config, state), state, abort=k)
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
        again = _run(run_flow, _blob_flows(server, config, state), state)
        t.exchanges(
            [
                _hello("A"),
                Want("A", "GET", "/v2/"),
                Want("B", "GET", _TOKEN_TARGET, {"authorization": _BASIC}),
                Want("A", "GET", _MANIFEST_PATH, {"authorization": "Bearer tok-1"}),
                Want("A", "GET", _LAYER_PATH, {"authorization": "Bearer tok-1"}),
                Want("B", "GET", cdn),
            ],
            server.seen[mark:],
        )
        t.fact(f"=> {_blob_stub()}", _outcome(again, _blob))
    t.verify()


#: The Sleep the ``sleep_and_429`` case asks for (short: the suite stays fast).
_NAP: Final = 0.25


def _timed(
    server: LoopbackServer, state: RegistryState
) -> Steps[tuple[float, float, float, Response]]:
    """Probe, Sleep, probe, then a request answered 429 (Retry-After: 0) and then 200."""
    begun = state.now  # what begin(at=…) told the flow, before any answer
    before = yield from fetch_step(_plain_request(server, "/probe"))
    yield from sleep_step(_NAP)
    after = yield from fetch_step(_plain_request(server, "/probe"))
    response = yield from retry_429(_plain_request(server, _MANIFEST_PATH), fetch_step)
    return begun, before.received_at, after.received_at, response


def _plain_request(server: LoopbackServer, path: str) -> Request:
    return Request(method="GET", url=f"{server.url('A')}{path}", tls_verify=False)


def _sleep_and_429(run_flow: RunFlow) -> None:
    t = _Transcript("sleep_and_429")
    with LoopbackServer(("A",)) as server:
        busy = Answer(429, (("Retry-After", "0"),), b"")
        server.route("A", "GET", "/probe", Answer(200, (), b"probe"))
        server.route("A", "GET", _MANIFEST_PATH, busy, _MANIFEST_OK)
        state = RegistryState(now=float("-inf"))
        result = _run(run_flow, [Flow(_timed(server, state))], state)
        probe, manifest = Want("A", "GET", "/probe"), Want("A", "GET", _MANIFEST_PATH)
        t.exchanges([probe, probe, manifest, manifest], server.seen)
        kinds = ", ".join(type(e).__name__ for e in result.log)
        t.fact("effects: Fetch, Sleep, Fetch, Fetch, Fetch", f"effects: {kinds}")
        slept = f"received_at advanced >= {_NAP} s across the Sleep (the driver's clock)"
        later = "state.now >= the last received_at"
        begun_at = "begin(at=…) carried the driver's clock (<= the first received_at)"
        if result.error is not None or not isinstance(result.value, tuple):
            t.fact("=> 200 after the 429", f"=> raised {result.error!r}")
        else:
            begun, before, after, response = result.value
            t.fact(begun_at, begun_at if float("-inf") < begun <= before else f"begun at {begun}")
            waited = after - before
            t.fact("=> 200 after the 429", f"=> {response.status} after the 429")
            t.fact(slept, slept if waited >= _NAP else f"received_at advanced only {waited:.3f} s")
            t.fact(
                later,
                later
                if state.now >= response.received_at
                else f"state.now {state.now} < last received_at {response.received_at}",
            )
        t.section("aborted at the Sleep")
        fresh = RegistryState()
        aborted = _run(run_flow, [Flow(_timed(server, fresh))], fresh, abort=1)
        t.fact("flow aborted", f"flow {aborted.flow.state.value}")
        t.fact("no error", "no error" if aborted.error is None else repr(aborted.error))
    t.verify()


def _tls_verify(run_flow: RunFlow) -> None:
    t = _Transcript("tls_verify")
    with LoopbackServer(("A",), tls=("A",)) as server:
        server.route("A", "GET", "/probe", Answer(200, (), b"probe"))
        url = f"https://{server.host('A')}/probe"

        def probe(verify: bool) -> Steps[str]:
            request = Request(method="GET", url=url, tls_verify=verify)
            try:
                response = yield from fetch_step(request)
            except TransportError:
                return "TransportError"
            return f"{response.status} {response.body!r}"

        def three() -> Steps[list[str]]:
            return [(yield from probe(False)), (yield from probe(True)), (yield from probe(False))]

        result = _run(run_flow, [Flow(three())], RegistryState())
        t.exchanges([Want("A", "GET", "/probe"), Want("A", "GET", "/probe")], server.seen)
        expected = (
            "=> unverified: 200 b'probe', verified: TransportError, unverified: 200 b'probe'"
        )
        if result.error is not None or not isinstance(result.value, list):
            t.fact(expected, f"=> raised {result.error!r}")
        else:
            first, second, third = result.value
            t.fact(expected, f"=> unverified: {first}, verified: {second}, unverified: {third}")
    t.verify()


def _file_url(run_flow: RunFlow) -> None:
    t = _Transcript("file_url")
    with TemporaryDirectory() as tmp, LoopbackServer(("A",)) as server:
        path = Path(tmp) / "signature-1"
        path.write_bytes(b"signature bytes")
        request = Request(method="GET", url=path.as_uri())
        missing = Request(method="GET", url=(Path(tmp) / "nope").as_uri())

        def both() -> Steps[tuple[Response, Response]]:
            found = yield from fetch_step(request)
            gone = yield from fetch_step(missing)
            return found, gone

        result = _run(run_flow, [Flow(both())], RegistryState())
        t.exchanges([], server.seen)
        if result.error is not None or not isinstance(result.value, tuple):
            t.fact("=> 200 b'signature bytes', 404", f"=> raised {result.error!r}")
        else:
            found, gone = result.value
            t.fact(
                "=> 200 b'signature bytes', 404",
                f"=> {found.status} {found.body!r}, {gone.status}",
            )
    t.verify()


@dataclass(frozen=True, slots=True)
class Case:
    """One conformance case; ``run(run_flow)`` raises :class:`ConformanceFailure` on a miss."""

    name: str
    doc: str
    body: Callable[[RunFlow], None] = field(repr=False)

    def run(self, run_flow: RunFlow) -> None:
        """Run the case against a driver."""
        self.body(run_flow)

    def __str__(self) -> str:
        return self.name


def conformance_cases() -> list[Case]:
    """Every case, in a stable order (names are usable as pytest ids)."""
    table: list[tuple[Callable[[RunFlow], None], str]] = [
        (_anonymous_manifest, "ping over https refused, then http; manifest bytes as served"),
        (_token_dance, "bearer token from a realm on origin B; the token is reused"),
        (_unauthorized_without_challenge, "a 401 with no challenge: Unauthorized, nothing sent"),
        (_redirect_across_origins, "redirects are the core's; origin B gets no Authorization"),
        (_open_error_body, "a non-2xx Open is answered with its body read"),
        (_open_error_body_cut, "a non-2xx Open body longer than max_body is cut at max_body"),
        (_body_over_cap, "bodies over max_body fail with BodyTooLarge, at the limit pass"),
        (_transport_error_mid_body, "a connection closed mid-body is a TransportError"),
        (_abort_everywhere, "abort after every number of effects: ABORTED, no hang"),
        (_sleep_and_429, "Sleep waits in the driver's clock; a 429 is retried; abort at a Sleep"),
        (_tls_verify, "tls_verify=True rejects an untrusted certificate; False accepts it"),
        (_file_url, "file:// requests are answered from the file system"),
    ]
    return [Case(fn.__name__.lstrip("_"), doc, fn) for fn, doc in table]
