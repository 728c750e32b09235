"""A registry that speaks the ``X-Registry-Supports-Signatures`` API extension.

No registry in the lab implements the extension (OpenShift's integrated registry does), so
`ExtensionProxy` fakes one: a threaded loopback HTTP/1.1 reverse proxy in front of a real
plain-http lab registry that

- adds ``X-Registry-Supports-Signatures: 1`` to the answers of ``/v2/`` (unless
  ``advertise=False``, the control case),
- answers ``GET /extensions/v2/<name>/signatures/<digest>`` itself, from a dict
  ``(name, digest) -> entries`` (``{"signatures": [...]}``; unknown images get an empty list),
- forwards everything else, request and response bytes unchanged apart from hop-by-hop
  headers and ``Location`` values naming the upstream (rewritten to the proxy).

Every request is recorded (`ServedRequest`) so a test can tell whether the extension was asked.
stdlib only; nothing here imports the product.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from tests.lab.serving import BackgroundHTTPServer, LoopbackService, ServedRequest

__all__ = ["EXTENSION_HEADER", "ExtensionProxy", "ServedRequest", "atomic_entry"]

#: The header a registry sends on ``/v2/`` to advertise the extension.
EXTENSION_HEADER = "X-Registry-Supports-Signatures"

_EXTENSION_PATH = re.compile(r"^/extensions/v2/(?P<name>.+)/signatures/(?P<digest>[^/?]+)$")
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)


def atomic_entry(
    digest: str, number: int, blob: bytes, *, schema_version: int = 2, type_: str = "atomic"
) -> dict[str, Any]:
    """One entry of the extension's list as OpenShift writes it (``content`` is base64)."""
    return {
        "schemaVersion": schema_version,
        "name": f"{digest}@{number:032x}",
        "type": type_,
        "content": base64.b64encode(blob).decode(),
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout: ClassVar[float] = 30.0

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read `ExtensionProxy.requests`."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self, status: int, headers: Sequence[tuple[str, str]], body: bytes, *, length: int
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _handle(self) -> None:
        owner = self.server.owner
        body = self._body()
        match = _EXTENSION_PATH.match(self.path)
        if match is not None and self.command == "GET":
            entries = owner.entries_for(match["name"], match["digest"])
            payload = json.dumps({"signatures": entries}).encode()
            owner._record(self, 200)
            self._send(200, [("Content-Type", "application/json")], payload, length=len(payload))
            return
        status, headers, answer, length = owner._forward(self, body)
        owner._record(self, status)
        if owner.advertise and urlsplit(self.path).path == "/v2/":
            headers.append((EXTENSION_HEADER, "1"))
        headers.extend(owner.extra_headers)
        self._send(status, headers, answer, length=length)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(http.server.ThreadingHTTPServer):
    owner: ExtensionProxy


class ExtensionProxy(LoopbackService):
    """A reverse proxy adding the signature extension to a plain-http ``upstream`` registry.

    ``upstream`` is ``host:port`` of the real registry. ``signatures`` maps
    ``(repository name, digest)`` to the entries served (see `atomic_entry`, or use
    `set_signatures` with raw blobs). Use as a context manager.
    """

    def __init__(
        self,
        upstream: str,
        signatures: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]] | None = None,
        *,
        advertise: bool = True,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.upstream = upstream
        self.advertise = advertise
        #: Added to every forwarded answer (e.g. ``Warning: 299 - "…"``).
        self.extra_headers = tuple(extra_headers)
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], list[dict[str, Any]]] = {
            key: [dict(e) for e in value] for key, value in (signatures or {}).items()
        }
        self._requests: list[ServedRequest] = []
        self._server: BackgroundHTTPServer[_Server] | None = None
        self.port = 0

    def set_signatures(self, name: str, digest: str, blobs: Sequence[bytes]) -> None:
        """Serve ``blobs`` as the atomic version-2 signatures of ``name@digest``."""
        entries = [atomic_entry(digest, n, blob) for n, blob in enumerate(blobs, 1)]
        with self._lock:
            self._entries[(name, digest)] = entries

    def entries_for(self, name: str, digest: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries.get((name, digest), []))

    @property
    def requests(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._requests)

    def extension_requests(self) -> list[ServedRequest]:
        """The ``/extensions/v2/...`` requests answered so far."""
        return [r for r in self.requests if r.path.startswith("/extensions/")]

    def _record(self, handler: _Handler, status: int) -> None:
        request = ServedRequest(
            handler.command, handler.path, tuple(handler.headers.items()), status
        )
        with self._lock:
            self._requests.append(request)

    def _forward(
        self, handler: _Handler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes, int]:
        """Send the request upstream on a fresh connection; the answer read in full."""
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            # Header lines one by one: a registry request repeats Accept six times.
            conn.putrequest(
                handler.command, handler.path, skip_host=True, skip_accept_encoding=True
            )
            conn.putheader("Host", self.upstream)
            for name, value in handler.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            if body or handler.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            answer = response.read()
            out: list[tuple[str, str]] = []
            for name, value in response.getheaders():
                if name.lower() in _HOP_BY_HOP:
                    continue
                if name.lower() == "location":
                    value = value.replace(f"://{self.upstream}", f"://{self.host}", 1)
                out.append((name, value))
            length = len(answer)
            if handler.command == "HEAD":
                length = int(response.getheader("Content-Length") or 0)
            return response.status, out, answer, length
        finally:
            conn.close()

    def start(self) -> Self:
        background = BackgroundHTTPServer(_Server, _Handler)
        background.server.owner = self
        self.port = background.port
        self._server = background.start()
        return self

    def stop(self) -> None:
        background, self._server = self._server, None
        if background is not None:
            background.stop()
