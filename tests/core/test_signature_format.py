"""Signature blobs, sigstore-json, the sigstore tag and claim extraction.

The OpenPGP messages are built by hand for every packet length encoding and compression
algorithm, and also made by the real ``gpg`` (a throwaway key in a temporary GNUPGHOME); the
gpg tests fail, not skip, when gpg is missing (``make test`` installs gnupg).
"""

from __future__ import annotations

import bz2
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.digest import Digest
from sansio_registry.errors import RemoteProtocolError
from sansio_registry.signature import (
    MAX_CLAIMS_DECOMPRESSED,
    Signature,
    SimpleSigningClaims,
    decode_sigstore_json,
    parse_signature_blob,
    sigstore_attachment_tag,
    simple_signing_claims,
)

HEX = "817a12c32a39bbe394944ba49de563e085f1d3c5266eb8e9723256bc4448680e"
DIGEST = f"sha256:{HEX}"


def test_sigstore_tag_spec_19_8() -> None:
    assert sigstore_attachment_tag(Digest.parse(DIGEST)) == f"sha256-{HEX}.sig"
    d512 = Digest.of(b"", "sha512")
    assert sigstore_attachment_tag(d512) == f"sha512-{d512.hex}.sig"


# --- blob format -----------------------------------------------------------------------------

OPENPGP_FIRST_BYTES = [0xA0, 0xA1, 0xA2, 0xA3, 0xC8, 0x90, 0x91, 0x92, 0x93, 0x3D, 0xC4]
OPENPGP_FIRST_BYTES += [0x88, 0x89, 0x8A, 0x8B, 0xC2]


@pytest.mark.parametrize("first", OPENPGP_FIRST_BYTES, ids=hex)
def test_openpgp_first_bytes_are_simple_signing(first: int) -> None:
    blob = bytes([first]) + b"\x01rest"
    assert parse_signature_blob(blob, location="L") == ("simple-signing", blob)


@pytest.mark.parametrize("first", sorted(set(range(1, 256)) - set(OPENPGP_FIRST_BYTES)), ids=hex)
def test_other_first_bytes_are_refused(first: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_signature_blob(bytes([first, 0x0A]), location="https://s/x@sha256=1/signature-1")
    assert str(info.value) == (
        "parsing signature https://s/x@sha256=1/signature-1: "
        f"unrecognized signature format, starting with binary {first:#x}"
    )


SIGSTORE_DOC = (
    b'{"mimeType":"application/vnd.dev.cosign.simplesigning.v1+json",'
    b'"payload":"aGVsbG8=","annotations":{"dev.cosignproject.cosign/signature":"MEUC"}}'
)


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (b"\x00simple-signing\n\xa3\x01gpg", ("simple-signing", b"\xa3\x01gpg")),
        (b"\x00simple-signing\n", ("simple-signing", b"")),
        (b"\x00simple-signing\nline\nline", ("simple-signing", b"line\nline")),
        (b"\x00sigstore-json\n" + SIGSTORE_DOC, ("sigstore-json", SIGSTORE_DOC)),
    ],
)
def test_prefixed_formats(blob: bytes, expected: tuple[str, bytes]) -> None:
    assert parse_signature_blob(blob, location="L") == expected


@pytest.mark.parametrize(
    ("blob", "err"),
    [
        (b"", "empty signature blob"),
        (b"\x00", "invalid signature format, missing newline"),
        (b"\x00simple-signing", "invalid signature format, missing newline"),
        (b"\x00simple\x01signing\nx", "invalid signature format, non-ASCII byte 0x1"),
        (b"\x00\x1f\n", "invalid signature format, non-ASCII byte 0x1f"),
        (b"\x00abc\x7f\n", "invalid signature format, non-ASCII byte 0x7f"),
        (b"\x00\xc3\xa4\n", "invalid signature format, non-ASCII byte 0xc3"),
        (b"\x00foo\nbar", 'unrecognized signature format "foo"'),
        (b"\x00\n", 'unrecognized signature format ""'),
        (b'\x00a"b\\c\n', 'unrecognized signature format "a\\"b\\\\c"'),
        (b"\x00Simple-Signing\n", 'unrecognized signature format "Simple-Signing"'),
        (b"-----BEGIN PGP", "unrecognized signature format, starting with binary 0x2d"),
        (b"{}", "unrecognized signature format, starting with binary 0x7b"),
    ],
)
def test_blob_errors(blob: bytes, err: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_signature_blob(blob, location="/var/sigs/a@sha256=x/signature-2")
    assert str(info.value) == f"parsing signature /var/sigs/a@sha256=x/signature-2: {err}"


def test_sigstore_json_decoded() -> None:
    assert decode_sigstore_json(SIGSTORE_DOC, location="L") == (
        "application/vnd.dev.cosign.simplesigning.v1+json",
        b"hello",
        (("dev.cosignproject.cosign/signature", "MEUC"),),
    )
    nulls = b'{"mimeType":null,"payload":null,"annotations":null}'
    assert decode_sigstore_json(nulls, location="L") == ("", b"", ())


@pytest.mark.parametrize(
    ("doc", "err"),
    [
        (b'{"payload":"","annotations":{}}', 'Key "mimeType" missing in a JSON object'),
        (b'{"mimeType":"m","annotations":{}}', 'Key "payload" missing in a JSON object'),
        (b'{"mimeType":"m","payload":""}', 'Key "annotations" missing in a JSON object'),
        (
            b'{"mimeType":"m","payload":"","annotations":{},"x":1}',
            'Unknown key "x"',
        ),
        (
            b'{"mimeType":"m","mimeType":"m","payload":"","annotations":{}}',
            'Duplicate key "mimeType"',
        ),
        (b"[]", "JSON object expected"),
        (b'"x"', "JSON object expected"),
        (
            b'{"mimeType":1,"payload":"","annotations":{}}',
            "mimeType is not a string",
        ),
        (
            b'{"mimeType":"m","payload":"","annotations":{"a":1}}',
            "annotations is not an object of strings",
        ),
        (
            b'{"mimeType":"m","payload":"","annotations":[]}',
            "annotations is not an object of strings",
        ),
        (b'{"mimeType":"m","payload":1,"annotations":{}}', "payload is not a string"),
    ],
)
def test_sigstore_json_errors(doc: bytes, err: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_signature_blob(b"\x00sigstore-json\n" + doc, location="L")
    assert str(info.value) == f"parsing signature L: {err}"


@pytest.mark.parametrize("doc", [b'{"mimeType":"m"', b"", b"NaN", b'{"a":1} x'])
def test_sigstore_json_that_is_not_json(doc: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match=r"^parsing signature L: not JSON"):
        parse_signature_blob(b"\x00sigstore-json\n" + doc, location="L")


@pytest.mark.parametrize("payload", ["aGVsbG8", "a=b=", "!!!!", "aGVs bG8="])
def test_sigstore_json_bad_base64(payload: str) -> None:
    doc = json.dumps({"mimeType": "m", "payload": payload, "annotations": {}}).encode()
    with pytest.raises(RemoteProtocolError) as info:
        decode_sigstore_json(doc, location="L")
    assert str(info.value).startswith("parsing signature L: illegal base64 data")


def test_sigstore_json_syntax_error() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_sigstore_json(b'{"mimeType":', location="L")
    assert str(info.value).startswith("parsing signature L: ")


@given(st.binary(max_size=200))
def test_any_blob_parses_or_remote_error(data: bytes) -> None:
    for blob in (data, b"\x00sigstore-json\n" + data, b"\x00" + data):
        try:
            fmt, payload = parse_signature_blob(blob, location="L")
        except RemoteProtocolError as exc:
            assert str(exc).startswith("parsing signature L: ")
        else:
            assert fmt in ("simple-signing", "sigstore-json")
            assert blob.endswith(payload)


# --- Signature value -------------------------------------------------------------------------


def test_signature_repr_hides_bytes() -> None:
    sig = Signature(
        index=1,
        source="lookaside",
        location="https://s/a@sha256=1/signature-1",
        raw=b"\xa3SECRET-LOOKING-BYTES" * 100,
        format="simple-signing",
    )
    text = repr(sig)
    assert "SECRET" not in text
    assert "raw=<2100 bytes>" in text
    assert "index=1" in text and "source='lookaside'" in text
    assert sig.claims is None and sig.media_type == "" and sig.annotations == ()
    with pytest.raises(AttributeError):
        sig.index = 2  # type: ignore[misc]


# --- OpenPGP packets by hand -----------------------------------------------------------------


def claims_json(
    reference: str = "registry.example.com/a/b:1", digest: str = DIGEST, **optional: object
) -> bytes:
    doc: dict[str, object] = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "atomic container signature",
        }
    }
    if optional:
        doc["optional"] = optional
    return json.dumps(doc, separators=(",", ":")).encode()


def literal_body(data: bytes, name: bytes = b"") -> bytes:
    return b"b" + bytes([len(name)]) + name + b"\x00\x00\x00\x00" + data


def old_packet(tag: int, body: bytes, length_type: int) -> bytes:
    header = bytes([0x80 | (tag << 2) | length_type])
    if length_type == 3:
        return header + body
    size = (1, 2, 4)[length_type]
    return header + len(body).to_bytes(size, "big") + body


def new_length(n: int, form: str) -> bytes:
    if form == "one":
        assert n < 192
        return bytes([n])
    if form == "two":
        assert 192 <= n <= 8383
        n -= 192
        return bytes([(n >> 8) + 192, n & 0xFF])
    assert form == "five"
    return b"\xff" + n.to_bytes(4, "big")


def new_packet(tag: int, body: bytes, form: str) -> bytes:
    header = bytes([0xC0 | tag])
    if form != "partial":
        return header + new_length(len(body), form) + body
    # Partial body lengths: 512, 1024, 1, 2 ... bytes, then a final regular length.
    out = [header]
    rest = body
    for power in (9, 10, 0, 1):
        chunk, rest = rest[: 1 << power], rest[1 << power :]
        out.append(bytes([0xE0 | power]) + chunk)
    out.append(new_length(len(rest), "five") + rest)
    return b"".join(out)


ONE_PASS = (
    b"\x03\x00\x0a\x01" + b"\x01" * 8 + b"\x01"
)  # version, type, hash, pk algo, key id, last
SIG_BODY = b"\x04\x00\x01\x0a" + b"\x00" * 40  # not a valid signature; never looked at


def message(literal: bytes) -> bytes:
    return old_packet(4, ONE_PASS, 0) + literal + new_packet(2, SIG_BODY, "one")


EXPECTED = SimpleSigningClaims(
    docker_reference="r.io/a:1", manifest_digest="sha256:abc", type="atomic container signature"
)
SMALL = claims_json("r.io/a:1", "sha256:abc")  # < 192 bytes with the literal header
LARGE = claims_json(creator="x" * 3000)  # needs two-octet lengths and partial chunks
EXPECTED_LARGE = SimpleSigningClaims(
    docker_reference="registry.example.com/a/b:1",
    manifest_digest=DIGEST,
    type="atomic container signature",
    creator="x" * 3000,
)


@pytest.mark.parametrize("length_type", [0, 1, 2, 3])
def test_old_format_lengths(length_type: int) -> None:
    payload = SMALL if length_type == 0 else LARGE
    literal = old_packet(11, literal_body(payload, b"f.json"), length_type)
    blob = message(literal) if length_type != 3 else old_packet(4, ONE_PASS, 1) + literal
    expected = EXPECTED if length_type == 0 else EXPECTED_LARGE
    assert simple_signing_claims(blob) == expected


@pytest.mark.parametrize(("form", "payload"), [("one", SMALL), ("two", LARGE), ("five", LARGE)])
def test_new_format_lengths(form: str, payload: bytes) -> None:
    blob = message(new_packet(11, literal_body(payload), form))
    assert simple_signing_claims(blob) == (EXPECTED if payload is SMALL else EXPECTED_LARGE)


def test_new_format_partial_body_lengths() -> None:
    body = literal_body(LARGE)
    assert len(body) > 512 + 1024 + 3
    assert simple_signing_claims(message(new_packet(11, body, "partial"))) == EXPECTED_LARGE


def _zip(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush()


COMPRESSORS = {0: lambda d: d, 1: _zip, 2: zlib.compress, 3: bz2.compress}


# Hex text compresses to about half, so the compressed packets are big enough for partials.
NOISY = claims_json(creator="".join(hashlib.sha256(b"%d" % i).hexdigest() for i in range(100)))


@pytest.mark.parametrize("algorithm", [0, 1, 2, 3])
@pytest.mark.parametrize("outer", ["old-indeterminate", "old-4", "new-five", "new-partial"])
def test_compressed_data_packet(algorithm: int, outer: str) -> None:
    inner = message(new_packet(11, literal_body(NOISY), "two"))
    body = bytes([algorithm]) + COMPRESSORS[algorithm](inner)
    if outer == "old-indeterminate":
        blob = old_packet(8, body, 3)
    elif outer == "old-4":
        blob = old_packet(8, body, 2)
    elif outer == "new-five":
        blob = new_packet(8, body, "five")
    else:
        assert len(body) > 512 + 1024 + 3
        blob = new_packet(8, body, "partial")
    assert parse_signature_blob(blob, location="L")[0] == "simple-signing"
    claims = simple_signing_claims(blob)
    assert claims is not None
    assert claims.manifest_digest == DIGEST
    assert claims.creator == json.loads(NOISY)["optional"]["creator"]


def test_nested_compression_is_bounded() -> None:
    blob = message(new_packet(11, literal_body(SMALL), "one"))
    for _ in range(4):
        blob = old_packet(8, b"\x02" + zlib.compress(blob), 3)
    assert simple_signing_claims(blob) == EXPECTED
    for _ in range(3):
        blob = old_packet(8, b"\x02" + zlib.compress(blob), 3)
    assert simple_signing_claims(blob) is None


@pytest.mark.parametrize("algorithm", [1, 2, 3])
def test_decompression_bomb_is_refused(algorithm: int) -> None:
    literal = new_packet(11, literal_body(b" " * (MAX_CLAIMS_DECOMPRESSED + 10) + SMALL), "five")
    blob = old_packet(8, bytes([algorithm]) + COMPRESSORS[algorithm](literal), 3)
    assert len(blob) < 100_000
    start = time.monotonic()
    assert simple_signing_claims(blob) is None
    assert time.monotonic() - start < 5


def test_just_under_the_decompression_cap() -> None:
    padding = MAX_CLAIMS_DECOMPRESSED - len(SMALL) - 100
    literal = new_packet(11, literal_body(b" " * padding + SMALL), "five")
    blob = old_packet(8, b"\x02" + zlib.compress(literal), 3)
    assert simple_signing_claims(blob) == EXPECTED


@pytest.mark.parametrize(
    ("optional", "creator", "timestamp"),
    [
        ({"creator": "atomic 1.0", "timestamp": 1700000000}, "atomic 1.0", 1700000000),
        ({"timestamp": 1.7e9}, None, 1700000000),
        ({"timestamp": 1.5}, None, None),
        ({"timestamp": True}, None, None),
        ({"timestamp": "1"}, None, None),
        ({"creator": 5}, None, None),
        ({}, None, None),
    ],
)
def test_optional_claims(
    optional: dict[str, object], creator: str | None, timestamp: int | None
) -> None:
    blob = message(new_packet(11, literal_body(claims_json(**optional)), "five"))
    claims = simple_signing_claims(blob)
    assert claims is not None
    assert (claims.creator, claims.timestamp) == (creator, timestamp)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x00",
        b"\xa3",
        b"\xa3\x07",  # unknown compression algorithm
        b"\xa3\x01not deflate",
        b"\xa3\x02not zlib",
        b"\xa3\x03not bzip2",
        b"\x90\x0d\x03",  # truncated one-pass packet
        b"\xcb\xff\x00\x00",  # truncated five-octet length
        b"\xcb\xe9abc",  # partial chunk longer than the data
        b"\xcb\xc5",  # truncated two-octet length
        b"\x2c\x00",  # bit 7 clear: not a packet
        new_packet(11, b"b", "one"),  # literal shorter than its header
        new_packet(11, b"b\x09ab", "one"),
        new_packet(11, literal_body(b"not json"), "one"),
        new_packet(11, literal_body(b'{"critical":{}}'), "one"),
        new_packet(11, literal_body(b'{"critical":{"identity":{"docker-reference":1}}}'), "one"),
        new_packet(11, literal_body(b"[]"), "one"),
        new_packet(2, SIG_BODY, "one"),  # a detached signature: no claims
        new_packet(18, b"\x01encrypted", "one") + new_packet(11, literal_body(SMALL), "one"),
        new_packet(4, ONE_PASS, "one") * 100 + new_packet(11, literal_body(SMALL), "one"),
    ],
)
def test_malformed_messages_give_none(blob: bytes) -> None:
    assert simple_signing_claims(blob) is None


def test_marker_and_signature_packets_before_the_literal_are_skipped() -> None:
    blob = (
        new_packet(10, b"PGP", "one")
        + new_packet(2, SIG_BODY, "one")
        + new_packet(11, literal_body(SMALL), "one")
    )
    assert simple_signing_claims(blob) == EXPECTED


@given(st.binary(max_size=400))
def test_any_bytes_give_none_or_claims_quickly(data: bytes) -> None:
    start = time.monotonic()
    result = simple_signing_claims(data)
    assert result is None or isinstance(result, SimpleSigningClaims)
    assert time.monotonic() - start < 1


_VALID = old_packet(8, b"\x01" + _zip(message(new_packet(11, literal_body(SMALL), "one"))), 3)


@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=6))
def test_mutated_messages_never_raise(edits: list[tuple[int, int]]) -> None:
    blob = bytearray(_VALID)
    for pos, value in edits:
        blob[pos] = value
    result = simple_signing_claims(bytes(blob))
    if not edits:
        assert result == EXPECTED
    assert result is None or isinstance(result, SimpleSigningClaims)


# --- real gpg output -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpg() -> Iterator[tuple[str, dict[str, str]]]:
    """``(gpg binary, env)`` with a throwaway key in a temporary GNUPGHOME."""
    binary = shutil.which("gpg")
    if binary is None:
        pytest.fail("gpg is required for the signature tests: install gnupg (make test does)")
    home = tempfile.mkdtemp(prefix="gpg")  # short: gpg-agent's socket path is length-limited
    env = {**os.environ, "GNUPGHOME": home}
    try:
        subprocess.run(
            [
                *(binary, "--batch", "--passphrase", ""),
                *("--quick-gen-key", "test@example.com", "default", "default", "never"),
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield binary, env
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None:
            subprocess.run([gpgconf, "--kill", "gpg-agent"], env=env, check=False, timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def gpg_sign(gpg: tuple[str, dict[str, str]], payload: bytes, *options: str) -> bytes:
    binary, env = gpg
    result = subprocess.run(
        [binary, "--batch", "--local-user", "test@example.com", *options, "--sign"],
        input=payload,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return result.stdout


GPG_PAYLOAD = claims_json(creator="atomic 2.0.0", timestamp=1700000000)
GPG_EXPECTED = SimpleSigningClaims(
    docker_reference="registry.example.com/a/b:1",
    manifest_digest=DIGEST,
    type="atomic container signature",
    creator="atomic 2.0.0",
    timestamp=1700000000,
)


@pytest.mark.parametrize(
    ("options", "first_byte"),
    [
        ((), 0xA3),  # compressed (ZIP by default), old format, indeterminate length
        (("--compress-algo", "none"), 0x90),
        (("-z", "0"), 0x90),
        (("--compress-algo", "zlib"), 0xA3),
        (("--compress-algo", "bzip2"), 0xA3),
    ],
)
def test_gpg_signed_payload(
    gpg: tuple[str, dict[str, str]], options: tuple[str, ...], first_byte: int
) -> None:
    blob = gpg_sign(gpg, GPG_PAYLOAD, *options)
    assert blob[0] == first_byte
    assert parse_signature_blob(blob, location="L") == ("simple-signing", blob)
    assert simple_signing_claims(blob) == GPG_EXPECTED
    prefixed = b"\x00simple-signing\n" + blob
    assert parse_signature_blob(prefixed, location="L") == ("simple-signing", blob)


@pytest.mark.parametrize("options", [(), ("-z", "0")])
def test_gpg_large_payload_uses_partial_lengths(
    gpg: tuple[str, dict[str, str]], options: tuple[str, ...]
) -> None:
    payload = claims_json(creator="y" * 20000, timestamp=1)
    blob = gpg_sign(gpg, payload, *options)
    if options:
        assert blob[0] == 0x90  # old-format one-pass signature with a one-byte length
        literal_at = 2 + blob[1]
        assert blob[literal_at] == 0xCB  # new-format literal data packet
        assert 0xE0 <= blob[literal_at + 1] < 0xFF  # a partial body length
    claims = simple_signing_claims(blob)
    assert claims is not None
    assert claims.creator == "y" * 20000 and claims.manifest_digest == DIGEST


def test_gpg_armored_and_detached(gpg: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    armored = gpg_sign(gpg, GPG_PAYLOAD, "--armor")
    with pytest.raises(RemoteProtocolError, match="starting with binary 0x2d"):
        parse_signature_blob(armored, location="L")
    binary, env = gpg
    detached = subprocess.run(
        [binary, "--batch", "--detach-sign"],
        input=GPG_PAYLOAD,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    assert parse_signature_blob(detached, location="L")[0] == "simple-signing"
    assert simple_signing_claims(detached) is None
