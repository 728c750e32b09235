"""Signature values, the signature blob format and simple-signing claim extraction.

A lookaside or extension signature is a *blob*: either a bare OpenPGP message (the historical
simple-signing format, recognised by its first byte) or ``\\x00<format>\\n<data>``.
:func:`parse_signature_blob` reproduces Go's ``signature.FromBlob`` sniffing and error texts.

:func:`simple_signing_claims` reads the signed JSON out of an OpenPGP message *without checking
the signature*: it is for display ("this signature claims to be for image X"), never for trust.
Verification belongs to a policy engine with the right keys, which this library does not have.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from sansio_registry import go_json
from sansio_registry.digest import Digest
from sansio_registry.errors import RemoteProtocolError
from sansio_registry.json_decode import decode_json
from sansio_registry.quoting import quote

__all__ = [
    "SIMPLE_SIGNING",
    "SIGSTORE_JSON",
    "SIGSTORE",
    "SOURCE_LOOKASIDE",
    "SOURCE_EXTENSION",
    "SOURCE_SIGSTORE",
    "MAX_CLAIMS_DECOMPRESSED",
    "SimpleSigningClaims",
    "Signature",
    "parse_signature_blob",
    "decode_sigstore_json",
    "simple_signing_claims",
    "sigstore_attachment_tag",
]

#: ``Signature.format`` values.
SIMPLE_SIGNING: Final = "simple-signing"
SIGSTORE_JSON: Final = "sigstore-json"
SIGSTORE: Final = "sigstore"
#: ``Signature.source`` values.
SOURCE_LOOKASIDE: Final = "lookaside"
SOURCE_EXTENSION: Final = "extension"
SOURCE_SIGSTORE: Final = "sigstore"

#: Upper bound on what one Compressed Data packet may expand to when extracting claims.
MAX_CLAIMS_DECOMPRESSED: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SimpleSigningClaims:
    """What a simple-signing payload *claims* (unverified): image identity and manifest digest."""

    docker_reference: str
    manifest_digest: str
    type: str
    creator: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True, slots=True, repr=False)
class Signature:
    """One signature found for an image.

    ``index`` is 1-based within its ``source`` (``lookaside``, ``extension``, ``sigstore``);
    ``location`` is where it came from (URL, file path, or the ``sha256-….sig`` tag); ``raw``
    the signature bytes (the OpenPGP message, or the sigstore payload); ``format`` one of
    ``simple-signing``, ``sigstore-json``, ``sigstore``. ``claims`` are unverified.
    """

    index: int
    source: str
    location: str
    raw: bytes
    format: str
    claims: SimpleSigningClaims | None = None
    media_type: str = ""
    annotations: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        # Never dump the (possibly large, binary) signature into logs or tracebacks.
        return (
            f"Signature(index={self.index!r}, source={self.source!r}, "
            f"location={self.location!r}, raw=<{len(self.raw)} bytes>, format={self.format!r}, "
            f"claims={self.claims!r}, media_type={self.media_type!r}, "
            f"annotations={self.annotations!r})"
        )


# --- blob format (Go's signature.FromBlob) ---------------------------------------------------

# First bytes of an OpenPGP message as Go recognises them. Go lists 0x3D among the old-format
# one-pass-signature tags (0x90-0x93); that is a typo for 0x93 (0x3D is not even a packet tag,
# bit 7 is clear). We keep 0x3D so that every blob Go accepts is accepted, and add 0x93.
_OPENPGP_FIRST_BYTES: Final = frozenset(
    {
        0xA0, 0xA1, 0xA2, 0xA3, 0xC8,  # compressed data (old format, any length type; new)
        0x90, 0x91, 0x92, 0x93, 0x3D, 0xC4,  # one-pass signature (0x3D: Go's typo, see above)
        0x88, 0x89, 0x8A, 0x8B, 0xC2,  # signature
    }
)  # fmt: skip


def parse_signature_blob(data: bytes, *, location: str) -> tuple[str, bytes]:
    """Split a signature blob into ``(format, payload)`` (docs/behaviour.md#signature-blobs).

    ``simple-signing`` → the OpenPGP message; ``sigstore-json`` → the JSON document (already
    checked with :func:`decode_sigstore_json`). Errors are
    ``RemoteProtocolError("parsing signature <location>: <Go's text>")``.
    """

    def fail(err: str) -> RemoteProtocolError:
        return RemoteProtocolError(f"parsing signature {location}: {err}")

    if not data:
        raise fail("empty signature blob")
    first = data[0]
    if first in _OPENPGP_FIRST_BYTES:
        return SIMPLE_SIGNING, bytes(data)
    if first != 0:
        raise fail(f"unrecognized signature format, starting with binary {first:#x}")
    fmt_bytes, newline, chunk = bytes(data[1:]).partition(b"\n")
    if not newline:
        raise fail("invalid signature format, missing newline")
    for b in fmt_bytes:
        if b < 0x20 or b >= 0x7F:
            raise fail(f"invalid signature format, non-ASCII byte {b:#x}")
    fmt = fmt_bytes.decode("ascii")
    if fmt == SIMPLE_SIGNING:
        return SIMPLE_SIGNING, chunk
    if fmt == SIGSTORE_JSON:
        decode_sigstore_json(chunk, location=location)
        return SIGSTORE_JSON, chunk
    raise fail(f"unrecognized signature format {quote(fmt)}")


_SIGSTORE_FIELDS: Final = ("mimeType", "payload", "annotations")


def decode_sigstore_json(
    data: bytes, *, location: str
) -> tuple[str, bytes, tuple[tuple[str, str], ...]]:
    """The ``sigstore-json`` document → ``(mime type, payload, annotations)``.

    Strict as Go's ``ParanoidUnmarshalJSONObjectExactFields``: exactly the three keys, no
    duplicates; the payload is standard base64; ``null`` means empty.
    """

    def fail(err: str) -> RemoteProtocolError:
        return RemoteProtocolError(f"parsing signature {location}: {err}")

    try:
        top = go_json.loads(data)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not isinstance(top, go_json.JSONObject):
        raise fail("JSON object expected")
    values: dict[str, Any] = {}
    for key, value in top:
        if key in values:
            raise fail(f'Duplicate key "{key}"')
        if key not in _SIGSTORE_FIELDS:
            raise fail(f'Unknown key "{key}"')
        values[key] = value
    for key in _SIGSTORE_FIELDS:
        if key not in values:
            raise fail(f'Key "{key}" missing in a JSON object')
    mime, payload_b64, annotations = (values[k] for k in _SIGSTORE_FIELDS)
    if mime is None:
        mime = ""
    if not isinstance(mime, str):
        raise fail("mimeType is not a string")
    if payload_b64 is None:
        payload_b64 = ""
    if not isinstance(payload_b64, str):
        raise fail("payload is not a string")
    try:
        # Go's StdEncoding skips CR/LF and wants canonical padding.
        payload = base64.b64decode(payload_b64.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise fail(f"illegal base64 data: {exc}") from None
    if annotations is None:
        annotations = go_json.JSONObject()
    if not isinstance(annotations, go_json.JSONObject) or not all(
        isinstance(v, str) for _, v in annotations
    ):
        raise fail("annotations is not an object of strings")
    merged = {k: str(v) for k, v in annotations}  # a map: the last duplicate wins
    return mime, payload, tuple(sorted(merged.items()))


def sigstore_attachment_tag(digest: Digest) -> str:
    """The tag holding sigstore attachments of ``digest``: ``<algo>-<hex>.sig``."""
    return f"{digest.algorithm}-{digest.hex}.sig"


# --- simple-signing claims (no cryptography) -------------------------------------------------

_TAG_SIGNATURE: Final = 2
_TAG_ONE_PASS: Final = 4
_TAG_COMPRESSED: Final = 8
_TAG_MARKER: Final = 10
_TAG_LITERAL: Final = 11
_MAX_NESTING: Final = 4
# A simple-signing message has three packets; anything far beyond that is not one.
_MAX_PACKETS: Final = 64


class _Malformed(Exception):
    """Internal: the OpenPGP structure is not what we expect (turned into ``None``)."""


def _packets(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Split ``data`` into ``(tag, body)`` packets (RFC 4880 §4.2, both header formats)."""
    pos, end = 0, len(data)
    count = 0
    while pos < end:
        count += 1
        if count > _MAX_PACKETS:
            raise _Malformed("too many packets")
        header = data[pos]
        pos += 1
        if not header & 0x80:
            raise _Malformed("not a packet header")
        if header & 0x40:  # new format
            tag = header & 0x3F
            body, pos = _new_format_body(data, pos)
        else:
            tag = (header >> 2) & 0x0F
            length_type = header & 0x03
            if length_type == 3:  # indeterminate: to the end of the data
                body, pos = data[pos:], end
            else:
                size = (1, 2, 4)[length_type]
                if pos + size > end:
                    raise _Malformed("truncated length")
                length = int.from_bytes(data[pos : pos + size], "big")
                pos += size
                if pos + length > end:
                    raise _Malformed("truncated body")
                body, pos = data[pos : pos + length], pos + length
        yield tag, body


def _new_format_body(data: bytes, pos: int) -> tuple[bytes, int]:
    """A new-format body, joining partial body lengths (RFC 4880 §4.2.2)."""
    chunks: list[bytes] = []
    end = len(data)
    while True:
        if pos >= end:
            raise _Malformed("truncated length")
        first = data[pos]
        pos += 1
        partial = False
        if first < 192:
            length = first
        elif first < 224:
            if pos >= end:
                raise _Malformed("truncated length")
            length = ((first - 192) << 8) + data[pos] + 192
            pos += 1
        elif first == 255:
            if pos + 4 > end:
                raise _Malformed("truncated length")
            length = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
        else:
            length = 1 << (first & 0x1F)
            partial = True
        if pos + length > end:
            raise _Malformed("truncated body")
        chunks.append(data[pos : pos + length])
        pos += length
        if not partial:
            return b"".join(chunks), pos


def _decompress(body: bytes) -> bytes:
    """A Compressed Data packet's contents, refusing more than the cap."""
    if not body:
        raise _Malformed("empty compressed packet")
    algorithm, compressed = body[0], body[1:]
    cap = MAX_CLAIMS_DECOMPRESSED
    try:
        if algorithm == 0:
            out = compressed
        elif algorithm in (1, 2):
            dec = zlib.decompressobj(-15 if algorithm == 1 else 15)
            out = dec.decompress(compressed, cap + 1)
        elif algorithm == 3:
            out = bz2.BZ2Decompressor().decompress(compressed, cap + 1)
        else:
            raise _Malformed("unknown compression algorithm")
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        raise _Malformed(str(exc)) from None
    if len(out) > cap:
        raise _Malformed("decompressed data too large")
    return out


def _literal_data(message: bytes, depth: int = 0) -> bytes | None:
    """The body of the first Literal Data packet, looking inside Compressed Data packets."""
    if depth > _MAX_NESTING:
        raise _Malformed("too deeply nested")
    for tag, body in _packets(message):
        if tag == _TAG_LITERAL:
            if len(body) < 2:
                raise _Malformed("short literal packet")
            name_len = body[1]
            start = 2 + name_len + 4  # format, name length, name, 4-byte date
            if start > len(body):
                raise _Malformed("short literal packet")
            return body[start:]
        if tag == _TAG_COMPRESSED:
            return _literal_data(_decompress(body), depth + 1)
        if tag not in (_TAG_SIGNATURE, _TAG_ONE_PASS, _TAG_MARKER):
            # e.g. encrypted data: not a simple-signing message.
            return None
    return None


class _Identity(msgspec.Struct, rename={"docker_reference": "docker-reference"}):
    docker_reference: str


class _Image(msgspec.Struct, rename={"docker_manifest_digest": "docker-manifest-digest"}):
    docker_manifest_digest: str


class _Critical(msgspec.Struct):
    identity: _Identity
    image: _Image
    type: str


class _Optional(msgspec.Struct):
    creator: Any = None
    timestamp: Any = None


class _Payload(msgspec.Struct):
    critical: _Critical
    optional: _Optional | None = None


_PAYLOAD_DECODER: Final = msgspec.json.Decoder(_Payload)


def simple_signing_claims(gpg_blob: bytes) -> SimpleSigningClaims | None:
    """The claims inside a simple-signing OpenPGP message, or None if it has none.

    NOT verification: the signature packet is skipped, not checked; anyone can write a blob
    with any claims. Malformed input gives None; work is bounded (decompression is capped at
    :data:`MAX_CLAIMS_DECOMPRESSED`, nesting at a few levels).
    """
    try:
        literal = _literal_data(bytes(gpg_blob))
        if literal is None:
            return None
        payload = decode_json(_PAYLOAD_DECODER, literal)
    except (_Malformed, msgspec.DecodeError, msgspec.ValidationError, ValueError, RecursionError):
        return None
    creator: str | None = None
    timestamp: int | None = None
    if payload.optional is not None:
        if isinstance(payload.optional.creator, str):
            creator = payload.optional.creator
        ts = payload.optional.timestamp
        # Go decodes JSON numbers as float64 and then truncates to int64.
        if isinstance(ts, int) and not isinstance(ts, bool):
            timestamp = ts
        elif isinstance(ts, float) and ts.is_integer():
            timestamp = int(ts)
    critical = payload.critical
    return SimpleSigningClaims(
        docker_reference=critical.identity.docker_reference,
        manifest_digest=critical.image.docker_manifest_digest,
        type=critical.type,
        creator=creator,
        timestamp=timestamp,
    )
