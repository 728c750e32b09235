"""Small HTTP servers for the lab: external (foreign-layer) URLs and redirect targets.

- `StaticServer`: a threaded loopback HTTP/1.1 server answering ``GET``/``HEAD`` for the paths
  it was given (bytes per path), with per-path status overrides (e.g. a first URL that 404s)
  and a record of every request's headers, so a test can say "no Authorization arrived".
- `redirect_blobs`: a `FaultProxy` rule that answers every blob GET of a registry with
  ``307 Location: <static server>/<same path>``; `blob_paths` lays the blobs out there.

stdlib ``http.server`` only; nothing here imports the product.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterable, Mapping
from typing import ClassVar, Self

from tests.lab.faultproxy import Fault, Rule
from tests.lab.images import Blob
from tests.lab.serving import BackgroundHTTPServer, LoopbackService, ServedRequest

__all__ = ["ServedRequest", "StaticServer", "redirect_blobs", "blob_paths"]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout: ClassVar[float] = 30.0

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read `StaticServer.requests` instead."""

    def _answer(self, *, body: bool) -> None:
        owner = self.server.owner
        path = self.path
        data = owner.files.get(path)
        status = owner.status.get(path, 200 if data is not None else 404)
        owner._record(ServedRequest(self.command, path, tuple(self.headers.items()), status))
        payload = data if status == 200 and data is not None else b"not here\n"
        self.send_response(status)
        ctype = "application/octet-stream" if status == 200 else "text/plain"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)


class _Server(http.server.ThreadingHTTPServer):
    owner: StaticServer


class StaticServer(LoopbackService):
    """Serve ``files`` (path -> bytes) on ``127.0.0.1:<free port>``; a context manager.

    ``status`` overrides the answer for a path (a 404 or 500 even where a file exists).
    """

    def __init__(
        self,
        files: Mapping[str, bytes] | None = None,
        *,
        status: Mapping[str, int] | None = None,
    ) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.status: dict[str, int] = dict(status or {})
        self._lock = threading.Lock()
        self._requests: list[ServedRequest] = []
        self._server: BackgroundHTTPServer[_Server] | None = None
        self.port = 0

    def url_for(self, path: str) -> str:
        return self.url + path

    def _record(self, request: ServedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._requests)

    def authorizations(self) -> list[str]:
        """Every ``Authorization`` value that arrived (should be none for foreign hosts)."""
        return [v for r in self.requests if (v := r.header("Authorization")) is not None]

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


def blob_paths(repo: str, blobs: Iterable[Blob]) -> dict[str, bytes]:
    """``/v2/<repo>/blobs/<digest>`` -> bytes: a registry's blob paths, for `StaticServer`."""
    return {f"/v2/{repo}/blobs/{blob.digest}": blob.data for blob in blobs}


def redirect_blobs(target: StaticServer, *, times: int | None = None) -> Rule:
    """A `FaultProxy` rule: every blob GET gets ``307`` to the same path on ``target``."""
    return Rule(Fault.redirect(target.url), times=times)
