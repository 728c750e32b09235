"""JSON decoding with Go's treatment of invalid UTF-8, the same on every supported msgspec.

Go's ``encoding/json`` replaces each byte of an invalid UTF-8 sequence inside a string with
U+FFFD, so a token response or an auth file with a stray byte still decodes there. msgspec
rejects such input, and how it says so changed between releases (``UnicodeDecodeError`` up
to 0.22, ``msgspec.DecodeError`` from 0.23). :func:`decode_json` decides by looking at the
bytes, not at which exception a given release raises.
"""

from __future__ import annotations

import codecs
from typing import Final, TypeVar

import msgspec

__all__ = ["decode_json", "replace_invalid_utf8"]

T = TypeVar("T")

_GO_REPLACE: Final = "sansio_registry.go-replace"


def _one_byte_at_a_time(error: UnicodeError) -> tuple[str, int]:
    # Go's utf8.DecodeRune reports an invalid sequence one byte at a time, so each bad byte
    # becomes its own U+FFFD; Python's "replace" folds a truncated sequence into one.
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "\ufffd", error.start + 1


codecs.register_error(_GO_REPLACE, _one_byte_at_a_time)


def replace_invalid_utf8(data: bytes) -> bytes:
    """``data`` with every byte of an invalid UTF-8 sequence replaced by U+FFFD, as Go does."""
    return data.decode("utf-8", _GO_REPLACE).encode("utf-8")


def decode_json(decoder: msgspec.json.Decoder[T], data: bytes) -> T:
    """Decode ``data``; invalid UTF-8 is replaced as Go does, never an error of its own.

    Raises ``msgspec.DecodeError`` (malformed JSON) or ``msgspec.ValidationError`` (wrong
    shape) only, whichever msgspec release is installed.
    """
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        repaired = replace_invalid_utf8(data)
        if repaired == data:
            if isinstance(exc, msgspec.DecodeError):
                raise
            raise msgspec.DecodeError(str(exc)) from None
    return decoder.decode(repaired)
