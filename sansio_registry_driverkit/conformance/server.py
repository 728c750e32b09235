"""A scripted HTTP/1.1 server on loopback: origins on free ports answering from a route table.

Threads, stdlib sockets and h11. It records every request (and every refused TLS ClientHello)
so a case can compare what a driver sent with what the contract says it must send.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Final

import h11

from sansio_registry.http import Headers

__all__ = ["Answer", "LoopbackServer", "Seen"]

_IO_TIMEOUT: Final = 20.0


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
