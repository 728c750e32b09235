"""Content digests: parsing, incremental verification, and manifest digests.

A :class:`Digest` is ``algorithm:hex`` as go-digest validates it. :class:`DigestVerifier` checks
streamed bytes against a digest and size without buffering them. :func:`manifest_digest` is
Go's ``manifest.Digest``: sha256 of the bytes, except for signed schema1 manifests, whose digest
covers the JWS payload with the signatures removed.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec

from sansio_registry import go_json
from sansio_registry.errors import (
    DigestMismatch,
    LocalProtocolError,
    RemoteProtocolError,
    SizeMismatch,
)
from sansio_registry.media_types import DOCKER_SCHEMA1_SIGNED, guess_parsed
from sansio_registry.quoting import quote

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = [
    "ALGORITHMS",
    "Digest",
    "DigestVerifier",
    "ManifestDigestError",
    "manifest_digest",
]

#: Supported algorithms and their hex lengths (go-digest's available algorithms).
ALGORITHMS: Final[dict[str, int]] = {"sha256": 64, "sha384": 96, "sha512": 128}
#: Their hash constructors (a direct call skips ``hashlib.new``'s lookup by name).
_HASHES: Final = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}

# go-digest's DigestRegexpAnchored, used to tell "unsupported" from "malformed".
_DIGEST_SHAPE: Final = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_LOWER_HEX: Final = re.compile(r"[a-f0-9]+")


def _digest_problem(text: str) -> str | None:
    """go-digest's ``Digest.Validate`` verdict: None when valid, else its error text."""
    i = text.find(":")
    if i <= 0 or i + 1 == len(text):
        return "invalid checksum digest format"
    algorithm, encoded = text[:i], text[i + 1 :]
    size = ALGORITHMS.get(algorithm)
    if size is None:
        if not _DIGEST_SHAPE.fullmatch(text):
            return "invalid checksum digest format"
        return "unsupported digest algorithm"
    if len(encoded) != size:
        return "invalid checksum digest length"
    if not _LOWER_HEX.fullmatch(encoded):
        return "invalid checksum digest format"
    return None


@dataclass(frozen=True, slots=True)
class Digest:
    """A validated content digest: ``algorithm`` (sha256/sha384/sha512) and lowercase ``hex``."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        if len(self.hex) == ALGORITHMS.get(self.algorithm) and _LOWER_HEX.fullmatch(self.hex):
            return  # the common case, valid, decided without building the text
        problem = _digest_problem(f"{self.algorithm}:{self.hex}")
        if problem is not None:
            raise LocalProtocolError(problem)

    @classmethod
    def parse(cls, text: str, *, remote: bool = False) -> Digest:
        """Parse ``algo:hex`` with go-digest's rules and error texts.

        ``remote=True`` for digests a registry sent (manifest fields, headers): the error is then
        a :class:`RemoteProtocolError` instead of a :class:`LocalProtocolError`.
        """
        problem = _digest_problem(text)
        if problem is not None:
            raise (RemoteProtocolError if remote else LocalProtocolError)(problem)
        algorithm, _, hex_ = text.partition(":")
        return cls(algorithm, hex_)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        new_hash = _HASHES.get(algorithm)
        if new_hash is None:
            raise LocalProtocolError("unsupported digest algorithm")
        return cls(algorithm, new_hash(data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def verifier(self, size: int | None = None, *, what: str = "content") -> DigestVerifier:
        """A :class:`DigestVerifier` for this digest."""
        return DigestVerifier(self, size, what=what)


class DigestVerifier:
    """Checks streamed bytes against a digest and, optionally, a size.

    ``update`` fails as soon as more bytes than ``expected_size`` arrive (so a lying peer can't
    make us read forever); ``finish`` checks the size, then the digest. ``copy`` snapshots the
    state, e.g. to resume a ranged download from a known offset.
    """

    __slots__ = ("_done", "_expected", "_expected_size", "_hash", "_seen", "_what")

    def __init__(
        self, expected: Digest, expected_size: int | None = None, *, what: str = "content"
    ) -> None:
        if expected_size is not None and expected_size < 0:
            raise LocalProtocolError(f"invalid expected size {expected_size}")
        self._expected = expected
        self._expected_size = expected_size
        self._what = what
        self._hash: _Hash = hashlib.new(expected.algorithm)
        self._seen = 0
        self._done = False

    @property
    def expected(self) -> Digest:
        """The digest the bytes must have."""
        return self._expected

    @property
    def expected_size(self) -> int | None:
        """The size the bytes must have, if known."""
        return self._expected_size

    @property
    def bytes_seen(self) -> int:
        """How many bytes were fed so far."""
        return self._seen

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Feed the next bytes; raises :class:`SizeMismatch` once past the expected size."""
        if self._done:
            raise LocalProtocolError("DigestVerifier.update() after finish()")
        self._hash.update(chunk)
        self._seen += len(chunk) if not isinstance(chunk, memoryview) else chunk.nbytes
        if self._expected_size is not None and self._seen > self._expected_size:
            self._done = True
            raise SizeMismatch(self._expected_size, self._seen, self._what)

    def current(self) -> Digest:
        """The digest of the bytes fed so far."""
        return Digest(self._expected.algorithm, self._hash.hexdigest())

    def finish(self) -> None:
        """Declare the end of the bytes: SizeMismatch or DigestMismatch if they are wrong."""
        if self._done:
            raise LocalProtocolError("DigestVerifier.finish() called twice")
        self._done = True
        if self._expected_size is not None and self._seen != self._expected_size:
            raise SizeMismatch(self._expected_size, self._seen, self._what)
        actual = self._hash.hexdigest()
        if actual != self._expected.hex:
            raise DigestMismatch(
                str(self._expected), f"{self._expected.algorithm}:{actual}", self._what
            )

    def copy(self) -> DigestVerifier:
        """An independent verifier in the same state."""
        clone = DigestVerifier.__new__(DigestVerifier)
        clone._expected = self._expected
        clone._expected_size = self._expected_size
        clone._what = self._what
        clone._hash = self._hash.copy()
        clone._seen = self._seen
        clone._done = self._done
        return clone


# --------------------------------------------------------------------------------------------
# Manifest digests (docs/behaviour.md#manifest-digests): Go's manifest.Digest +
# libtrust.ParsePrettySignature


class ManifestDigestError(RemoteProtocolError):
    """A signed schema1 manifest whose signature block cannot be used to rebuild its payload."""


class _SignatureHeader(msgspec.Struct):
    jwk: Any = msgspec.UNSET  # a json.RawMessage in libtrust: present even when null
    alg: str = ""
    x5c: list[str] | None = None


class _Signature(msgspec.Struct):
    """libtrust's ``jsParsedSignature``."""

    header: _SignatureHeader = msgspec.field(default_factory=_SignatureHeader)
    signature: str = ""
    protected: str = ""


_B64URL: Final = re.compile(r"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?")


def _jose_b64_decode(s: str) -> bytes:
    """libtrust's joseBase64UrlDecode: newlines and spaces dropped, padding optional."""
    s = s.replace("\n", "").replace(" ", "")
    rem = len(s) % 4
    if rem == 1:
        raise ValueError("illegal base64url string")
    s += "=" * ((4 - rem) % 4)
    clean = s.replace("\r", "")  # Go's decoder skips CR/LF anywhere
    if not _B64URL.fullmatch(clean):
        m = _B64URL.match(clean)
        offset = m.end() if m is not None else 0
        raise ValueError(f"illegal base64 data at input byte {offset}")
    return base64.urlsafe_b64decode(clean)


def _go_int(value: float) -> int:
    """Go's float64 → int conversion on amd64 (out of range gives the minimum int64)."""
    if value != value or not -(2.0**63) <= value < 2.0**63:
        return -(2**63)
    return int(value)


def _check_jwk(jwk: object) -> None:
    """A light UnmarshalPublicKeyJWK: only the ``kty`` dispatch is reproduced.

    libtrust also validates the EC/RSA key material, so a malformed key makes digesting fail,
    though the key has nothing to do with the digest; that is copied only as far as the key
    type, so no key cryptography runs here.
    """
    if jwk is not None and not isinstance(jwk, dict):
        raise ManifestDigestError(
            "error unmarshalling public key: decoding JWK Public Key JSON data: not an object"
        )
    kty = (jwk or {}).get("kty", msgspec.UNSET)
    if kty is msgspec.UNSET:
        problem = 'JWK Public Key type: "kty" value not specified'
    elif not isinstance(kty, str):
        problem = 'JWK Public Key type: "kty" value must be a string'
    elif kty not in ("EC", "RSA"):
        problem = f"JWK Public Key type not supported: {quote(kty)}"
    else:
        return
    raise ManifestDigestError(f"error unmarshalling public key: {problem}")


def _protected_header(protected: str) -> dict[str, Any]:
    """The JSON object inside a signature's ``protected`` field (base64url)."""
    try:
        protected_bytes = _jose_b64_decode(protected)
    except ValueError as exc:
        raise ManifestDigestError(f"base64 decode error: {exc}") from None
    try:
        tree = go_json.loads(protected_bytes)
        return {} if tree is None else go_json.convert(tree, dict[str, Any])
    except (ValueError, msgspec.ValidationError) as exc:
        raise ManifestDigestError(f"error unmarshalling protected header: {exc}") from None


def _schema1_payload(raw: bytes, tree: object) -> bytes:
    """libtrust.ParsePrettySignature(raw, "signatures").Payload()."""
    block = (
        tree.last("signatures", msgspec.UNSET) if isinstance(tree, go_json.JSONObject) else None
    )
    if block is msgspec.UNSET:
        raise ManifestDigestError("missing signature key")
    try:
        signatures = [] if block is None else go_json.convert(block, list[_Signature])
    except msgspec.ValidationError as exc:
        raise ManifestDigestError(f"error unmarshalling signatures: {exc}") from None
    format_length = 0
    format_tail = b""
    for sig in signatures:
        header = _protected_header(sig.protected)
        length = header.get("formatLength")
        if not isinstance(length, float):  # any-typed JSON numbers are floats
            raise ManifestDigestError("missing formatted length")
        encoded_tail = header.get("formatTail")
        if not isinstance(encoded_tail, str):
            raise ManifestDigestError("missing formatted tail")
        try:
            tail = _jose_b64_decode(encoded_tail)
        except ValueError as exc:
            raise ManifestDigestError(f"base64 decode error on tail: {exc}") from None
        length_int = _go_int(length)
        # libtrust's agreement checks: a zero length / empty tail seen so far is "unset".
        if format_length == 0:
            format_length = length_int
        elif format_length != length_int:
            raise ManifestDigestError("conflicting format length")
        if not format_tail:
            format_tail = tail
        elif format_tail != tail:
            raise ManifestDigestError("conflicting format tail")
        if sig.header.jwk is not msgspec.UNSET:
            _check_jwk(sig.header.jwk)
    # libtrust would panic slicing with a negative length; reported like an oversized one.
    if format_length > len(raw) or format_length < 0:
        raise ManifestDigestError("invalid format length")
    return raw[:format_length] + format_tail


def _may_be_signed(raw: bytes) -> bool:
    """Whether ``raw`` could be guessed a signed schema1 manifest, without parsing it.

    That guess needs a key folding to ``signatures``; with no escape in the bytes, such a key
    is there literally, ASCII letters in any case (a long s still leaves ``ignature``), and
    replacing invalid UTF-8 only ever adds U+FFFD.
    """
    return b"\\" in raw or b"ignature" in raw.lower()


def manifest_digest(raw: bytes) -> Digest:
    """The digest of a manifest as the registry and Go compute it (always sha256).

    Raises :class:`ManifestDigestError` for a signed schema1 manifest whose signature block is
    unusable (texts from libtrust: ``missing formatted length``, ``invalid format length``…).
    """
    if not _may_be_signed(raw):
        return Digest.of(raw)
    try:
        tree = go_json.loads(raw)
    except ValueError:
        return Digest.of(raw)
    if guess_parsed(tree) != DOCKER_SCHEMA1_SIGNED:
        return Digest.of(raw)
    return Digest.of(_schema1_payload(raw, tree))
