"""The pure half of an HTTP/1.1 driver on h11, whatever its IO (sockets, asyncio, ...).

What the driver contract in :mod:`sansio_registry` asks of every exchange, once: the request
sent exactly as the core wrote it (plus ``Host`` and ``Content-Length``), the head stamped
with the driver's clock, and a buffered body that stops at ``max_body``. The example drivers
(``examples/sync_driver.py``, ``examples/asyncio_driver.py``) do the IO around these.
"""

from __future__ import annotations

import h11

from sansio_registry.errors import BodyTooLarge
from sansio_registry.http import Headers, Request, Response, ResponseHead

__all__ = ["BoundedBody", "h11_request", "response_head"]


def h11_request(request: Request) -> h11.Request:
    """``request``'s method, target and headers, plus ``Host`` and, for a body, its length."""
    headers = [("Host", request.origin.netloc), *request.headers.without("Host")]
    if request.body or request.method in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Length", str(len(request.body))))
    return h11.Request(method=request.method, target=request.target, headers=headers)


def response_head(event: h11.Response, received_at: float) -> ResponseHead:
    """The core's head for h11's ``event``, stamped with the time it arrived."""
    return ResponseHead(
        status=event.status_code,
        headers=Headers.of((k.decode(), v.decode("latin-1")) for k, v in event.headers),
        reason=event.reason.decode("latin-1"),  # RFC 9110 §5.5: field values are not UTF-8
        received_at=received_at,
    )


class BoundedBody:
    """A body buffered up to ``limit`` bytes: one byte more is enough to know it is too long."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._data = bytearray()

    @property
    def full(self) -> bool:
        """Past ``limit``: stop reading, the rest is never wanted."""
        return len(self._data) > self.limit

    def add(self, chunk: bytes) -> None:
        self._data += chunk

    def response(self, head: ResponseHead, cut: bool = False) -> Response:
        """``head`` with the body: past ``limit`` BodyTooLarge, or cut at ``limit`` if ``cut``."""
        if self.full and not cut:
            raise BodyTooLarge(self.limit)
        return Response(
            status=head.status,
            headers=head.headers,
            reason=head.reason,
            received_at=head.received_at,
            body=bytes(self._data[: self.limit]),
        )
