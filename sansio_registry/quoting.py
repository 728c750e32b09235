"""Quoting untrusted text inside error messages.

Messages quote names, header values and bodies a peer or a config file supplied: in double
quotes, with control and other non-printable characters escaped so that a message always prints
on one line and shows what was really sent (the ``%q`` form containers/image prints).
"""

from __future__ import annotations

from typing import Final

__all__ = ["quote"]

_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an invalid UTF-8 byte, kept by "surrogateescape"
        return f"\\x{code - 0xDC00:02x}"
    if ch.isprintable():
        return ch
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote(text: str | bytes) -> str:
    """``text`` in double quotes, escaped; bytes that are not UTF-8 show as ``\\xNN``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    return '"' + "".join(map(_escape, text)) + '"'
