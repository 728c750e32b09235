"""A fault-injecting HTTP/1.1 proxy for the lab: breaks blob downloads on purpose.

`FaultProxy` listens on ``127.0.0.1:<free port>`` and forwards plain-HTTP requests to an
upstream (usually a real lab registry). It understands just enough HTTP/1.1 to find a
request's line, headers and ``Content-Length`` body, and a response's status line, headers and
body framing. Each client request is sent upstream on a fresh connection with
``Connection: close`` (so the end of the response is the upstream's EOF); the answer goes back
without that header, so the client's own connection stays keep-alive as with the real server.

`Rule`\\ s pick a `Fault` for matching requests (by method and a regex on the target, for
``times`` requests or forever):

- ``Fault.cut(n)``: send the head and ``n`` body bytes, then close the connection (a break
  mid-blob; a client should resume with ``Range: bytes=n-``);
- ``Fault.flip(n)``: invert the body byte at offset ``n`` (default: the middle);
- ``Fault.short(n)``: a complete but short answer: ``Content-Length: n`` and ``n`` bytes;
- ``Fault.stall()``: read the request, never answer; ``Fault.stall_body(n)``: send the head and
  ``n`` body bytes, then nothing more;
- ``Fault.redirect(base)``: answer ``307`` with ``Location: base + target`` itself;
- ``Fault.answer(status, headers)``: answer ``status`` with ``headers`` itself (a 503 burst, a
  429 with ``Retry-After``); the upstream is not asked;
- ``Fault.hang_up()``: read the request, close the connection without a response byte.
- ``Fault.close_after()``: answer in full, then close the client's connection without
  saying so (a server dropping an idle keep-alive connection: the client's next request on
  it gets no answer);
- ``Fault.drip(step, pause)``: the whole body, ``step`` bytes at a time with ``pause``
  seconds between pieces (a slow but moving transfer).

``tls=`` (a server `ssl.SSLContext`) makes the proxy listen with HTTPS (the upstream stays
plain HTTP): an https origin for redirect tests.

Body faults act only on 200/206 answers with a ``Content-Length``; anything else passes. Every
request is recorded (`SeenRequest`: line, headers, the fault applied, the upstream status) so
a test can assert e.g. the ``Range`` of a resumed request. All waits are bounded; stalls end
when the proxy stops.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import re
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Self

from tests.lab.serving import LoopbackService, last_header, listen_loopback

__all__ = [
    "BLOB_GET",
    "FaultKind",
    "Fault",
    "Rule",
    "SeenRequest",
    "FaultProxy",
]

#: Target pattern of a blob GET (``/v2/<name>/blobs/<digest>``).
BLOB_GET = r"^/v2/.+/blobs/[a-z0-9]+:[0-9a-fA-F]+$"

_MAX_HEAD = 64 * 1024
_CHUNK = 64 * 1024


class FaultKind(enum.Enum):
    PASS = "pass"
    CUT = "cut"
    FLIP = "flip"
    SHORT = "short"
    STALL = "stall"
    STALL_BODY = "stall-body"
    REDIRECT = "redirect"
    ANSWER = "answer"
    HANG_UP = "hang-up"
    DRIP = "drip"
    CLOSE_AFTER = "close-after"


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to one exchange; build with the class methods."""

    kind: FaultKind
    offset: int | None = None  # body offset the fault acts at (None: the middle, for FLIP)
    location: str = ""  # REDIRECT: base URL the target is appended to
    status: int = 0  # ANSWER: the status answered
    headers: tuple[tuple[str, str], ...] = ()  # ANSWER: extra response headers
    pause: float = 0.0  # DRIP: seconds between pieces of ``offset`` bytes

    @classmethod
    def passthrough(cls) -> Fault:
        return cls(FaultKind.PASS)

    @classmethod
    def cut(cls, after: int) -> Fault:
        return cls(FaultKind.CUT, after)

    @classmethod
    def flip(cls, at: int | None = None) -> Fault:
        return cls(FaultKind.FLIP, at)

    @classmethod
    def short(cls, keep: int) -> Fault:
        return cls(FaultKind.SHORT, keep)

    @classmethod
    def stall(cls) -> Fault:
        return cls(FaultKind.STALL)

    @classmethod
    def stall_body(cls, after: int) -> Fault:
        return cls(FaultKind.STALL_BODY, after)

    @classmethod
    def close_after(cls) -> Fault:
        return cls(FaultKind.CLOSE_AFTER)

    @classmethod
    def drip(cls, step: int, pause: float) -> Fault:
        return cls(FaultKind.DRIP, step, pause=pause)

    @classmethod
    def redirect(cls, base: str) -> Fault:
        return cls(FaultKind.REDIRECT, location=base.rstrip("/"))

    @classmethod
    def answer(cls, status: int, headers: Sequence[tuple[str, str]] = ()) -> Fault:
        return cls(FaultKind.ANSWER, status=status, headers=tuple(headers))

    @classmethod
    def hang_up(cls) -> Fault:
        return cls(FaultKind.HANG_UP)


@dataclass(frozen=True, slots=True)
class Rule:
    """Apply ``fault`` to requests whose method is ``method`` and target matches ``target``.

    ``times``: how many matching requests it applies to (None: all of them).
    """

    fault: Fault
    target: str = BLOB_GET
    method: str = "GET"
    times: int | None = 1


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as the client sent it, and what happened to it."""

    connection: int
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    fault: FaultKind = FaultKind.PASS
    status: int | None = None  # the upstream's status (None: never asked / no answer)

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (case-insensitive), or None."""
        return last_header(self.headers, name)


@dataclass(slots=True)
class _Armed:
    """A rule and how many more requests it applies to."""

    rule: Rule
    remaining: int | None


class _Closed(Exception):
    """The peer closed (or the proxy is stopping)."""


class _NotHTTP(Exception):
    """The client's first bytes are not an HTTP request line."""


_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\n400 Bad Request"
)


def _read_head(sock: socket.socket, buf: bytearray) -> bytes:
    """Bytes up to and including the blank line; the rest stays in ``buf``."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buf[: end + 4])
            del buf[: end + 4]
            return head
        if len(buf) > _MAX_HEAD:
            raise _Closed("head too large")
        data = sock.recv(_CHUNK)
        if not data:
            raise _Closed("EOF")
        buf += data
        if not buf[:1].isupper():
            # e.g. a TLS ClientHello (0x16): not HTTP. Answer as Go's server does at once,
            # so a client probing https first falls back without waiting for a timeout.
            raise _NotHTTP


def _read_exact(sock: socket.socket, buf: bytearray, n: int) -> bytes:
    while len(buf) < n:
        data = sock.recv(_CHUNK)
        if not data:
            raise _Closed("EOF in body")
        buf += data
    out = bytes(buf[:n])
    del buf[:n]
    return out


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _build_head(first: str, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [first, *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class FaultProxy(LoopbackService):
    """Forward ``127.0.0.1:<port>`` to ``upstream`` (``host:port``), applying `Rule`\\ s.

    A context manager; ``io_timeout`` bounds every socket wait, ``stall_limit`` how long a
    stalled exchange is held (it also ends when the proxy stops).
    """

    def __init__(
        self,
        upstream: str,
        rules: Sequence[Rule] = (),
        *,
        io_timeout: float = 30.0,
        stall_limit: float = 60.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.upstream = upstream
        self.tls = tls
        self.io_timeout = io_timeout
        self.stall_limit = stall_limit
        self.port = 0
        self._rules: list[_Armed] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._seen: list[SeenRequest] = []
        self._socks: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._connections = 0
        self.set_rules(rules)

    # -- configuration and records ---------------------------------------------------------

    def set_rules(self, rules: Sequence[Rule]) -> None:
        """Replace the rules (their counters start afresh)."""
        with self._lock:
            self._rules = [_Armed(rule, rule.times) for rule in rules]

    def seen(self) -> list[SeenRequest]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._seen)

    def blob_requests(self) -> list[SeenRequest]:
        """The blob GETs seen so far."""
        pattern = re.compile(BLOB_GET)
        return [r for r in self.seen() if r.method == "GET" and pattern.match(r.target)]

    def reset(self) -> None:
        with self._lock:
            self._seen = []

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def _pick(self, method: str, target: str) -> Fault:
        with self._lock:
            for armed in self._rules:
                rule = armed.rule
                if rule.method != method or not re.search(rule.target, target):
                    continue
                if armed.remaining is not None:
                    if armed.remaining <= 0:
                        continue
                    armed.remaining -= 1
                return rule.fault
        return Fault.passthrough()

    def _record(self, request: SeenRequest) -> int:
        with self._lock:
            self._seen.append(request)
            return len(self._seen) - 1

    def _set_status(self, index: int, status: int) -> None:
        with self._lock:
            self._seen[index] = dataclasses.replace(self._seen[index], status=status)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        sock = listen_loopback()
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._spawn(self._accept_loop)
        return self

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopping.is_set():
                sock.close()
                return False
            self._socks.add(sock)
            return True

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.discard(sock)
        _close(sock)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if not self._track(conn):
                return
            with self._lock:
                self._connections += 1
                number = self._connections
            self._spawn(self._serve, conn, number)

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            _close(self._listener)
            self._listener = None
        with self._lock:
            socks, self._socks = list(self._socks), set()
            threads, self._threads = list(self._threads), []
        for sock in socks:
            _close(sock)
        for thread in threads:
            thread.join(timeout=5)

    # -- one client connection ---------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.tls is not None else 'http'}://{self.host}"

    def _serve(self, client: socket.socket, number: int) -> None:
        client.settimeout(self.io_timeout)
        buf = bytearray()
        try:
            if self.tls is not None:
                client = self._handshake(client)
            while not self._stopping.is_set():
                if not self._exchange(client, buf, number):
                    return
        except _NotHTTP:
            with contextlib.suppress(OSError):
                client.sendall(_BAD_REQUEST)
        except (_Closed, OSError):
            return
        finally:
            self._untrack(client)

    def _handshake(self, client: socket.socket) -> socket.socket:
        """The TLS server side of ``client`` (tracked in its place, so `stop` closes it)."""
        assert self.tls is not None
        wrapped = self.tls.wrap_socket(client, server_side=True)
        with self._lock:
            self._socks.discard(client)
            self._socks.add(wrapped)
        return wrapped

    def _exchange(self, client: socket.socket, buf: bytearray, number: int) -> bool:
        """One request/response; False when the client connection must end."""
        head = _read_head(client, buf)
        first, headers = _parse_head(head)
        parts = first.split(" ")
        if len(parts) != 3:
            raise _Closed(f"bad request line {first!r}")
        method, target, _version = parts
        if last_header(headers, "transfer-encoding") is not None:
            raise _Closed("chunked request bodies are not supported")
        length = int(last_header(headers, "content-length") or 0)
        body = _read_exact(client, buf, length) if length else b""
        fault = self._pick(method, target)
        index = self._record(SeenRequest(number, method, target, tuple(headers), fault.kind))
        if fault.kind is FaultKind.STALL:
            self._stopping.wait(self.stall_limit)
            return False
        if fault.kind is FaultKind.HANG_UP:
            return False
        if fault.kind is FaultKind.ANSWER:
            body = f"injected {fault.status}".encode("ascii")
            lines = [*fault.headers, ("Content-Length", str(len(body)))]
            self._set_status(index, fault.status)  # before the client can see the answer
            client.sendall(_build_head(f"HTTP/1.1 {fault.status} Injected", lines) + body)
            return True
        if fault.kind is FaultKind.REDIRECT:
            location = fault.location + target
            client.sendall(
                _build_head(
                    "HTTP/1.1 307 Temporary Redirect",
                    [("Location", location), ("Content-Length", "0")],
                )
            )
            return True
        upstream_headers = [(k, v) for k, v in headers if k.lower() != "connection"]
        upstream_headers.append(("Connection", "close"))
        host, _, port = self.upstream.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=self.io_timeout)
        if not self._track(upstream):
            return False
        try:
            upstream.sendall(_build_head(first, upstream_headers) + body)
            return self._relay(client, upstream, method, fault, index)
        finally:
            self._untrack(upstream)

    def _relay(
        self, client: socket.socket, upstream: socket.socket, method: str, fault: Fault, index: int
    ) -> bool:
        ubuf = bytearray()
        status_line, headers = _parse_head(_read_head(upstream, ubuf))
        status = int(status_line.split(" ")[1])
        self._set_status(index, status)
        keep = [(k, v) for k, v in headers if k.lower() != "connection"]
        length_text = last_header(headers, "content-length")
        chunked = "chunked" in (last_header(headers, "transfer-encoding") or "").lower()
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        length = int(length_text) if length_text is not None else None
        acts = (
            fault.kind
            not in (FaultKind.PASS, FaultKind.STALL, FaultKind.REDIRECT, FaultKind.CLOSE_AFTER)
            and status in (200, 206)
            and length is not None
            and not no_body
        )
        if not acts:
            if not no_body and length is None and not chunked:
                # Close-delimited: the client needs the close to see the end.
                client.sendall(_build_head(status_line, headers))
                self._pump(upstream, client, ubuf, None)
                return False
            client.sendall(_build_head(status_line, keep))
            if not no_body:
                self._pump(upstream, client, ubuf, length)
            return fault.kind is not FaultKind.CLOSE_AFTER
        assert length is not None
        if fault.kind is FaultKind.SHORT:
            keep_bytes = min(fault.offset or 0, length)
            keep = [(k, str(keep_bytes) if k.lower() == "content-length" else v) for k, v in keep]
            client.sendall(_build_head(status_line, keep))
            self._pump(upstream, client, ubuf, keep_bytes)
            return False  # the rest is still upstream; start afresh on a new connection
        client.sendall(_build_head(status_line, keep))
        if fault.kind is FaultKind.DRIP:
            step = max(1, fault.offset or 1)
            for start in range(0, length, step):
                if start and self._stopping.wait(fault.pause):
                    return False
                self._pump(upstream, client, ubuf, min(step, length - start))
            return True
        if fault.kind is FaultKind.FLIP:
            at = length // 2 if fault.offset is None else min(fault.offset, max(length - 1, 0))
            self._pump(upstream, client, ubuf, length, flip_at=at)
            return True
        upto = min(fault.offset or 0, length)
        self._pump(upstream, client, ubuf, upto)
        if fault.kind is FaultKind.STALL_BODY:
            self._stopping.wait(self.stall_limit)
        return False  # CUT (and an ended STALL_BODY): drop the client connection

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        buf: bytearray,
        limit: int | None,
        *,
        flip_at: int | None = None,
    ) -> None:
        """Copy body bytes (``limit`` of them, or up to EOF), inverting one if asked."""
        sent = 0
        while limit is None or sent < limit:
            if buf:
                data = bytes(buf)
                buf.clear()
            else:
                want = _CHUNK if limit is None else min(_CHUNK, limit - sent)
                data = src.recv(want)
                if not data:
                    if limit is None:
                        return
                    raise _Closed("upstream EOF in body")
            if limit is not None and sent + len(data) > limit:
                buf[:0] = data[limit - sent :]  # the rest stays for the next call
                data = data[: limit - sent]
            if flip_at is not None and sent <= flip_at < sent + len(data):
                mutable = bytearray(data)
                mutable[flip_at - sent] ^= 0xFF
                data = bytes(mutable)
            dst.sendall(data)
            sent += len(data)
