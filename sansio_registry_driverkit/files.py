"""``file://`` requests: how every driver answers them (lookaside signature storage).

The core asks for local files the same way it asks for URLs, so flows stay pure and every
driver can serve them with this one synchronous function (the trio driver runs it in a
worker thread): ``GET`` reads at most ``max_body`` bytes (200, or 404 when missing);
``DELETE`` removes the file (204, or 404 when missing). Other I/O failures are the core's
``TransportError``.
"""

from __future__ import annotations

import errno
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sansio_registry.errors import BodyTooLarge, LocalProtocolError, TransportError
from sansio_registry.http import Headers, Request, Response

__all__ = ["file_exchange", "file_path"]

_MISSING = (errno.ENOENT, errno.ENOTDIR)


def file_path(url: str) -> Path:
    """The local path of a ``file://`` URL (percent-decoded; only the local host)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        raise LocalProtocolError(f"not a local file URL: {url!r}")
    return Path(unquote(parts.path))


def file_exchange(request: Request) -> Response:
    """Answer a ``file://`` request from the local file system."""
    path = file_path(request.url)
    try:
        if request.method == "GET":
            with path.open("rb") as handle:
                body = handle.read(request.max_body + 1)
            if len(body) > request.max_body:
                raise BodyTooLarge(request.max_body)
            return Response(status=200, headers=Headers(), body=body)
        if request.method == "DELETE":
            path.unlink()
            return Response(status=204, headers=Headers())
    except OSError as exc:
        if exc.errno in _MISSING:
            return Response(status=404, headers=Headers(), reason="Not Found")
        raise TransportError(f"{request.method} {path}: {exc.strerror or exc}") from exc
    raise LocalProtocolError(f"{request.method} is not supported for file URLs")
