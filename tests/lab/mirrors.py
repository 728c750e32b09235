"""Mirror worlds for the lab: registries.conf files, a recording proxy, dead and silent ports.

- `RegistryEntry` / `MirrorEntry` / `registries_conf_text`: a real v2 registries.conf (TOML)
  written the way users write it, for ``--registries-conf`` / ``CONTAINERS_REGISTRIES_CONF``
  and for skopeo's hidden ``--registries-conf`` flag.
- `RecordingProxy`: a TCP forwarder in front of a registry that keeps every byte clients sent,
  so a test can say "no request reached this registry" or "no Authorization header carried
  alice's password" without trusting the client under test.
- `SilentServer`: accepts connections and never answers (timeouts).
- `dead_host`: ``127.0.0.1:PORT`` with nothing listening (connection refused at once).
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Self

from tests.lab.registry import free_port
from tests.lab.serving import Service, listen_loopback

__all__ = [
    "MirrorEntry",
    "RegistryEntry",
    "registries_conf_text",
    "dead_host",
    "RecordingProxy",
    "SilentServer",
]


@dataclass(frozen=True, slots=True)
class MirrorEntry:
    """One ``[[registry.mirror]]`` table."""

    location: str
    insecure: bool = False
    pull_from_mirror: str | None = None  # "all" | "digest-only" | "tag-only"


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One ``[[registry]]`` table."""

    location: str
    prefix: str | None = None
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[MirrorEntry, ...] = field(default=())


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bool(value: bool) -> str:
    return "true" if value else "false"


def registries_conf_text(entries: Sequence[RegistryEntry]) -> str:
    """A v2 registries.conf holding ``entries`` (and nothing else)."""
    lines: list[str] = []
    for entry in entries:
        lines.append("[[registry]]")
        if entry.prefix is not None:
            lines.append(f"prefix = {_toml_str(entry.prefix)}")
        lines.append(f"location = {_toml_str(entry.location)}")
        lines.append(f"insecure = {_bool(entry.insecure)}")
        if entry.blocked:
            lines.append("blocked = true")
        if entry.mirror_by_digest_only:
            lines.append("mirror-by-digest-only = true")
        for mirror in entry.mirrors:
            lines.append("")
            lines.append("[[registry.mirror]]")
            lines.append(f"location = {_toml_str(mirror.location)}")
            lines.append(f"insecure = {_bool(mirror.insecure)}")
            if mirror.pull_from_mirror is not None:
                lines.append(f"pull-from-mirror = {_toml_str(mirror.pull_from_mirror)}")
        lines.append("")
    return "\n".join(lines)


def dead_host() -> str:
    """``127.0.0.1:PORT`` for a port nothing listens on (refused immediately)."""
    return f"127.0.0.1:{free_port()}"


_REQUEST_LINE = re.compile(rb"(?m)^([A-Z]+) (\S+) HTTP/1\.[01]\r$")
_AUTHZ = re.compile(rb"(?im)^authorization:[ \t]*([^\r\n]*)\r$")


class _Listener(Service):
    """A loopback listening socket served by one accept thread."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closing = False
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        sock = listen_loopback()
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()
        return self

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closing:
                sock.close()
                return False
            self._open.append(sock)
            return True

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if not self._track(conn):
                return
            self._on_connection(conn)

    def _on_connection(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        with self._lock:
            self._closing = True
            socks, self._open = self._open, []
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class SilentServer(_Listener):
    """Accepts TCP connections, reads and discards what comes, never sends a byte."""

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0

    def _on_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections += 1
        threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass


class RecordingProxy(_Listener):
    """Forwards ``127.0.0.1:<own port>`` to ``upstream`` and records what clients sent.

    Only the client-to-server direction is recorded (requests); the server's answers pass
    through untouched. Plain TCP, so it also carries TLS (then the record is ciphertext).
    """

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self.connections = 0
        self._sent: list[bytearray] = []

    def _on_connection(self, conn: socket.socket) -> None:
        host, _, port = self.upstream.rpartition(":")
        try:
            up = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            conn.close()
            return
        up.settimeout(None)
        if not self._track(up):
            conn.close()
            return
        record = bytearray()
        with self._lock:
            self.connections += 1
            self._sent.append(record)
        threading.Thread(target=self._pump, args=(conn, up, record), daemon=True).start()
        threading.Thread(target=self._pump, args=(up, conn, None), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, record: bytearray | None) -> None:
        try:
            while data := src.recv(65536):
                if record is not None:
                    record.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        with self._lock:
            self.connections = 0
            self._sent = []

    def sent(self) -> bytes:
        """Everything clients sent so far, connections concatenated in accept order."""
        return b"".join(self._records())

    def _records(self) -> list[bytes]:
        with self._lock:
            return [bytes(r) for r in self._sent]

    def request_lines(self) -> list[tuple[str, str]]:
        """``(method, target)`` of every plain-HTTP request seen."""
        return [
            (m.decode(), t.decode())
            for record in self._records()
            for m, t in _REQUEST_LINE.findall(record)
        ]

    def authorizations(self) -> list[str]:
        """Every ``Authorization`` header value seen (plain HTTP only)."""
        return [
            v.decode(errors="replace")
            for record in self._records()
            for v in _AUTHZ.findall(record)
        ]

    def saw_basic_user(self, user: str) -> bool:
        """Whether any request carried Basic credentials for ``user``."""
        for value in self.authorizations():
            scheme, _, b64 = value.partition(" ")
            if scheme.lower() != "basic":
                continue
            try:
                decoded = base64.b64decode(b64.strip()).decode(errors="replace")
            except ValueError:
                continue
            if decoded.partition(":")[0] == user:
                return True
        return False
