"""JSON decoding with Go's leniency for invalid UTF-8 (``encoding/json`` turns it into U+FFFD).

msgspec rejects invalid UTF-8 inside strings (``DecodeError``; before 0.19 a
``UnicodeDecodeError``); Go accepts it, so documents Go reads must not fail here.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["decode_like_go"]


def decode_like_go(decoder: msgspec.json.Decoder[Any], data: bytes) -> Any:
    """``decoder.decode(data)``, retried with invalid UTF-8 replaced by U+FFFD.

    Raises ``msgspec.DecodeError`` when the data is not JSON even then.
    """
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        repaired = data.decode("utf-8", "replace").encode()
        if repaired == data:
            raise
    return decoder.decode(repaired)
