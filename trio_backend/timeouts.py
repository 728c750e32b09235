"""How long each wait of the IO shell may take: a frozen value given to the pool once.

Operations take no ``timeout=`` (trio style: a caller bounds a whole call with a cancel
scope); these deadlines bound each single wait instead, so a server that stops answering is
noticed while a slow but moving transfer of any size still completes. Defaults follow Go's
``net/http`` as containers/image uses it (30 s dial, 10 s TLS handshake, 90 s idle
connections), plus a first-byte and an idle-read deadline of 60 s each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sansio_registry.errors import LocalProtocolError

__all__ = ["Timeouts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Per-wait deadlines in seconds (``math.inf`` turns one off).

    Attributes:
        connect: establishing the TCP connection.
        tls_handshake: the TLS handshake once connected.
        response_header: from the end of sending a request to its complete response head.
        idle: between two received (or sent) pieces of a body; a stall mid-blob then breaks
            the connection and the blob resumes with ``Range``.
        idle_connection: how long an unused keep-alive connection stays in the pool.
    """

    connect: float = 30.0
    tls_handshake: float = 10.0
    response_header: float = 60.0
    idle: float = 60.0
    idle_connection: float = 90.0

    def __post_init__(self) -> None:
        for name in ("connect", "tls_handshake", "response_header", "idle", "idle_connection"):
            value = getattr(self, name)
            if math.isnan(value) or value <= 0:
                raise LocalProtocolError(f"Timeouts.{name} must be positive, got {value!r}")
