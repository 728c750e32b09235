"""Digest parsing, DigestVerifier and manifest digests (vectors from containers/image)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sansio_registry.digest import (
    Digest,
    DigestVerifier,
    ManifestDigestError,
    manifest_digest,
)
from sansio_registry.errors import (
    DigestMismatch,
    LocalProtocolError,
    RemoteProtocolError,
    SizeMismatch,
)

HEX64 = "817a12c32a39bbe394944ba49de563e085f1d3c5266eb8e9723256bc4448680e"
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def b64url(data: bytes | str, *, pad: bool = False) -> str:
    raw = data.encode() if isinstance(data, str) else data
    text = base64.urlsafe_b64encode(raw).decode()
    return text if pad else text.rstrip("=")


# ------------------------------------------------------------------------------------------
# Digest


@pytest.mark.parametrize(
    ("text", "algorithm", "hex_"),
    [
        (f"sha256:{HEX64}", "sha256", HEX64),
        ("sha384:" + "a" * 96, "sha384", "a" * 96),
        ("sha512:" + "0123456789abcdef" * 8, "sha512", "0123456789abcdef" * 8),
    ],
)
def test_parse_valid(text: str, algorithm: str, hex_: str) -> None:
    d = Digest.parse(text)
    assert (d.algorithm, d.hex) == (algorithm, hex_)
    assert str(d) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid checksum digest format"),
        ("sha256", "invalid checksum digest format"),
        (":" + HEX64, "invalid checksum digest format"),
        ("sha256:", "invalid checksum digest format"),
        ("sha256:" + HEX64.upper(), "invalid checksum digest format"),
        ("sha256:" + "g" * 64, "invalid checksum digest format"),
        ("sha256:" + HEX64[:-1], "invalid checksum digest length"),
        ("sha256:" + HEX64 + "0", "invalid checksum digest length"),
        ("sha256:" + HEX64 + "\n", "invalid checksum digest length"),
        ("sha384:" + HEX64, "invalid checksum digest length"),
        ("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported digest algorithm"),
        ("foo+bar:abc", "unsupported digest algorithm"),
        ("Sha256:" + HEX64, "invalid checksum digest format"),
        ("foo:ab/c", "invalid checksum digest format"),
        ("sha256:" + HEX64 + ":x", "invalid checksum digest length"),
    ],
)
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(LocalProtocolError) as local:
        Digest.parse(text)
    assert str(local.value) == message
    with pytest.raises(RemoteProtocolError) as remote:
        Digest.parse(text, remote=True)
    assert str(remote.value) == message
    assert not isinstance(remote.value, LocalProtocolError)


def test_constructor_validates() -> None:
    with pytest.raises(LocalProtocolError, match="length"):
        Digest("sha256", "abc")
    with pytest.raises(LocalProtocolError, match="unsupported"):
        Digest.of(b"", "md5")


def test_of() -> None:
    assert str(Digest.of(b"")) == EMPTY_SHA256
    assert Digest.of(b"x", "sha512").hex == hashlib.sha512(b"x").hexdigest()


@given(st.binary(), st.sampled_from(["sha256", "sha384", "sha512"]))
def test_of_parse_round_trip(data: bytes, algorithm: str) -> None:
    d = Digest.of(data, algorithm)
    assert Digest.parse(str(d)) == d
    assert d.hex == hashlib.new(algorithm, data).hexdigest()


@given(st.text())
def test_parse_any_text_gives_digest_or_our_error(text: str) -> None:
    try:
        d = Digest.parse(text)
    except LocalProtocolError:
        return
    assert str(d) == text


# ------------------------------------------------------------------------------------------
# DigestVerifier


def test_verifier_accepts_matching_bytes() -> None:
    v = DigestVerifier(Digest.of(b"hello world"), 11)
    v.update(b"hello ")
    v.update(memoryview(b"world"))
    assert v.bytes_seen == 11
    assert v.current() == Digest.of(b"hello world")
    v.finish()


def test_verifier_digest_mismatch() -> None:
    v = DigestVerifier(Digest.of(b"hello"), what="blob X")
    v.update(b"hellO")
    with pytest.raises(DigestMismatch) as exc:
        v.finish()
    assert exc.value.expected == str(Digest.of(b"hello"))
    assert exc.value.actual == str(Digest.of(b"hellO"))
    assert "blob X" in str(exc.value)


def test_verifier_short_size() -> None:
    v = DigestVerifier(Digest.of(b"hello"), 6)
    v.update(b"hello")
    with pytest.raises(SizeMismatch) as exc:
        v.finish()
    assert (exc.value.expected, exc.value.actual) == (6, 5)


def test_verifier_too_many_bytes_fails_early() -> None:
    v = DigestVerifier(Digest.of(b"hello"), 5)
    v.update(b"hel")
    with pytest.raises(SizeMismatch):
        v.update(b"lo!")
    with pytest.raises(LocalProtocolError):
        v.update(b"")


def test_verifier_misuse() -> None:
    v = DigestVerifier(Digest.of(b""))
    v.finish()
    with pytest.raises(LocalProtocolError):
        v.finish()
    with pytest.raises(LocalProtocolError):
        v.update(b"x")
    with pytest.raises(LocalProtocolError):
        DigestVerifier(Digest.of(b""), -1)


def test_verifier_copy_is_independent() -> None:
    v = DigestVerifier(Digest.of(b"abcdef"), 6)
    v.update(b"abc")
    snapshot = v.copy()
    v.update(b"xyz")
    with pytest.raises(DigestMismatch):
        v.finish()
    assert snapshot.bytes_seen == 3
    snapshot.update(b"def")
    snapshot.finish()


def _verdict(v: DigestVerifier, chunks: list[bytes]) -> str:
    try:
        for chunk in chunks:
            v.update(chunk)
        v.finish()
    except SizeMismatch:
        return "size"
    except DigestMismatch:
        return "digest"
    return "ok"


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    chunks, last = [], 0
    for p in [*points, len(data)]:
        chunks.append(data[last:p])
        last = p
    return chunks


@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=10),
    expected_data=st.one_of(st.none(), st.binary(max_size=20)),
    size_delta=st.one_of(st.none(), st.integers(min_value=-3, max_value=3)),
    algorithm=st.sampled_from(["sha256", "sha512"]),
)
def test_verifier_chunking_invariance(
    data: bytes,
    cuts: list[int],
    expected_data: bytes | None,
    size_delta: int | None,
    algorithm: str,
) -> None:
    expected = Digest.of(data if expected_data is None else expected_data, algorithm)
    size = None if size_delta is None else max(0, len(data) + size_delta)
    whole = _verdict(DigestVerifier(expected, size), [data])
    chunked = _verdict(DigestVerifier(expected, size), _split(data, cuts))
    bytewise = _verdict(DigestVerifier(expected, size), [bytes([b]) for b in data])
    assert whole == chunked == bytewise
    # And the verdict is the right one.
    if size is not None and size != len(data):
        assert whole == "size"
    elif expected != Digest.of(data, algorithm):
        assert whole == "digest"
    else:
        assert whole == "ok"


# ------------------------------------------------------------------------------------------
# Manifest digests: vectors from containers/image 5.23.1

MINIMAL_SIGNED = (
    b'{"schemaVersion":1,"name":"a","tag":"t","signatures":[{"header":{"alg":"ES256"},'
    b'"signature":"AAAA","protected":"eyJmb3JtYXRMZW5ndGgiOjM5LCJmb3JtYXRUYWlsIjoiZlEiLCJ0aW1l'
    b'IjoiMjAyMC0wMS0wMVQwMDowMDowMFoifQ"}]}'
)

LIBTRUST_SIGNED = rb"""{
   "schemaVersion": 1,
   "name": "library/hello",
   "tag": "latest",
   "architecture": "amd64",
   "fsLayers": [
      {
         "blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
      }
   ],
   "history": [
      {
         "v1Compatibility": "{\"id\":\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\"}"
      }
   ],
   "signatures": [
      {
         "header": {
            "jwk": {
               "crv": "P-256",
               "kid": "RISR:S47K:OUBD:AHDX:RTI3:WUCY:DES7:RQGZ:UXWR:X2BO:DY6U:DPLX",
               "kty": "EC",
               "x": "tMgwlPJ1oyQ5_0ti8nATVzeqmSuNVt2tUdttx9uMt0I",
               "y": "K2tnld73geJYkmwx7aEI1N8EXeBo7uc_cZOh8Ab4TpY"
            },
            "alg": "ES256"
         },
         "signature": "0kN1Vwg54nBq2MC0L5dkhO470i2WAiG-5ghWS88_8UOuWKkpLHvIOHH4WydasY5IgcvaOB4ayJeRIAI73s-Ejw",
         "protected": "eyJmb3JtYXRMZW5ndGgiOjM3OCwiZm9ybWF0VGFpbCI6IkNuMCIsInRpbWUiOiIyMDI2LTExLTI4VDA1OjE2OjQzWiJ9"
      }
   ]
}"""  # noqa: E501

LIBTRUST_DIGEST = "sha256:905b3164d80e55cb277ce9c33ff22e01658352eb38cef3203802ef32a7eb2234"

OCI_MANIFEST_246 = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
    b'{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a'
    b'1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}'
)


def test_minimal_signed_schema1() -> None:
    protected = json.loads(
        base64.urlsafe_b64decode(MINIMAL_SIGNED.split(b'"protected":"')[1][:-4] + b"==")
    )
    assert protected == {"formatLength": 39, "formatTail": "fQ", "time": "2020-01-01T00:00:00Z"}
    payload = b'{"schemaVersion":1,"name":"a","tag":"t"}'
    assert MINIMAL_SIGNED[:39] + b"}" == payload
    expected = "sha256:cb5af70325dc287bd960539c4c012c2a7a8cb3f91887a76bd29a2a1e15bddc1b"
    assert str(manifest_digest(MINIMAL_SIGNED)) == expected
    assert str(Digest.of(payload)) == expected


def test_real_libtrust_signed_schema1() -> None:
    assert not LIBTRUST_SIGNED.endswith(b"\n")
    assert str(manifest_digest(LIBTRUST_SIGNED)) == LIBTRUST_DIGEST
    # The unsigned payload: the same text without the signatures block.
    cut = LIBTRUST_SIGNED.index(b',\n   "signatures"')
    payload = LIBTRUST_SIGNED[:cut] + b"\n}"
    assert len(payload) == 380
    assert payload.endswith(b"   ]\n}")
    assert str(Digest.of(payload)) == LIBTRUST_DIGEST
    # The unsigned document is itself unsigned schema1: digested as its bytes.
    assert str(manifest_digest(payload)) == LIBTRUST_DIGEST
    # Not sha256 of the signed bytes.
    assert Digest.of(LIBTRUST_SIGNED) != manifest_digest(LIBTRUST_SIGNED)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"schemaVersion":1,"name":"a","signatures":[]}', EMPTY_SHA256),
        (
            b'{"schemaVersion":1,"name":"a","signatures":null}',
            "sha256:1a59778c8eccc1c67e797bdb1b1ab53ed06fb098c9f3150f9d93a7e9c1623eaa",
        ),
        (
            OCI_MANIFEST_246,
            "sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268",
        ),
        (b"not json", str(Digest.of(b"not json"))),
        (b"", EMPTY_SHA256),
    ],
)
def test_digest_vectors(body: bytes, expected: str) -> None:
    assert str(manifest_digest(body)) == expected


def test_escaped_signatures_key_still_signs() -> None:
    """A JSON escape in the key is seen once decoded: the empty list signs the empty payload."""
    body = b'{"schemaVersion":1,"name":"a","s\\u0069gnatures":[]}'
    assert str(manifest_digest(body)) == EMPTY_SHA256


@pytest.mark.parametrize(
    "key",
    [
        b"SIGNATURES",  # Go matches keys in any letter case
        "\u017fignatures".encode(),  # the long s folds to "s"
        b"\\u0053\\u0049gnatures",  # escaped capitals
    ],
)
def test_signatures_key_in_another_case_is_guessed_signed(key: bytes) -> None:
    """Such a document is guessed signed schema1, but libtrust reads only ``signatures``."""
    with pytest.raises(ManifestDigestError, match="missing signature key"):
        manifest_digest(b'{"schemaVersion":1,"name":"a","' + key + b'":[]}')


def test_oci_manifest_is_246_bytes_and_plain_sha256() -> None:
    assert len(OCI_MANIFEST_246) == 246
    assert manifest_digest(OCI_MANIFEST_246) == Digest.of(OCI_MANIFEST_246)


def signed(
    *sigs: dict[str, object], body_prefix: str = '{"schemaVersion":1,"name":"a","tag":"t"'
) -> bytes:
    return (body_prefix + ',"signatures":' + json.dumps(list(sigs)) + "}").encode()


def sig(protected: object, **header: object) -> dict[str, object]:
    text = protected if isinstance(protected, str) else b64url(json.dumps(protected))
    return {"header": {"alg": "ES256", **header}, "signature": "AAAA", "protected": text}


GOOD = {"formatLength": 39, "formatTail": "fQ"}
PAYLOAD_DIGEST = "sha256:cb5af70325dc287bd960539c4c012c2a7a8cb3f91887a76bd29a2a1e15bddc1b"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"schemaVersion":1,"name":"a","signatures":"x"}',
            "error unmarshalling signatures: ",
        ),
        (
            signed(sig(GOOD, jwk={"kty": "bogus"})),
            'error unmarshalling public key: JWK Public Key type not supported: "bogus"',
        ),
        (signed(sig({"formatTail": "fQ"})), "missing formatted length"),
        (signed(sig({"formatLength": 9999, "formatTail": "fQ"})), "invalid format length"),
        (signed(sig({"formatLength": 39})), "missing formatted tail"),
        (signed(sig({"formatLength": "39", "formatTail": "fQ"})), "missing formatted length"),
        (signed(sig({"formatLength": 39, "formatTail": 5})), "missing formatted tail"),
        (
            signed(sig(GOOD), sig({"formatLength": 38, "formatTail": "fQ"})),
            "conflicting format length",
        ),
        (
            signed(sig(GOOD), sig({"formatLength": 39, "formatTail": "fX0"})),
            "conflicting format tail",
        ),
        (signed(sig("A")), "base64 decode error: illegal base64url string"),
        (signed(sig("A*==")), "base64 decode error: illegal base64 data at input byte"),
        (signed(sig({"formatLength": 39, "formatTail": "A"})), "base64 decode error on tail: "),
        (signed(sig(b64url("[1]"))), "error unmarshalling protected header: "),
        (signed(sig(b64url("{"))), "error unmarshalling protected header: "),
        (signed(sig("")), "error unmarshalling protected header: not JSON"),
        (signed({"protected": 5}), "error unmarshalling signatures: "),
        (signed({"header": {"x5c": [1]}}), "error unmarshalling signatures: "),
        (
            signed(sig(GOOD, jwk=None)),
            'error unmarshalling public key: JWK Public Key type: "kty"',
        ),
        (
            signed(sig(GOOD, jwk={"kty": 1})),
            'error unmarshalling public key: JWK Public Key type: "kty" value must be a string',
        ),
        (signed(sig(GOOD, jwk="k")), "error unmarshalling public key: decoding JWK"),
        (signed(sig({"formatLength": -1, "formatTail": "fQ"})), "invalid format length"),
        (b'{"schemaVersion":1,"Signatures":[]}', "missing signature key"),
    ],
)
def test_digest_errors(body: bytes, message: str) -> None:
    with pytest.raises(ManifestDigestError) as exc:
        manifest_digest(body)
    assert str(exc.value).startswith(message)
    assert isinstance(exc.value, RemoteProtocolError)


def test_jwk_ec_and_rsa_are_accepted_lightly() -> None:
    # Only the key type is checked, not the key material (docs/behaviour.md#manifest-digests).
    assert str(manifest_digest(signed(sig(GOOD, jwk={"kty": "EC"})))) == PAYLOAD_DIGEST
    assert str(manifest_digest(signed(sig(GOOD, jwk={"kty": "RSA"})))) == PAYLOAD_DIGEST


@pytest.mark.parametrize(
    "protected",
    [
        b64url(json.dumps(GOOD)),
        b64url(json.dumps(GOOD), pad=True),
        " \n".join(
            b64url(json.dumps(GOOD))[i : i + 5] for i in range(0, len(b64url(json.dumps(GOOD))), 5)
        ),
        b64url(json.dumps({"formatLength": 39.7, "formatTail": "fQ=="})),
    ],
)
def test_protected_header_encodings(protected: str) -> None:
    assert str(manifest_digest(signed(sig(protected)))) == PAYLOAD_DIGEST


def test_several_agreeing_signatures() -> None:
    body = signed(sig(GOOD), sig(GOOD, jwk={"kty": "EC"}))
    assert str(manifest_digest(body)) == PAYLOAD_DIGEST


def test_zero_length_first_signature_does_not_conflict() -> None:
    # libtrust treats a zero formatLength / empty tail seen so far as "not set yet".
    body = signed(sig({"formatLength": 0, "formatTail": ""}), sig(GOOD))
    assert str(manifest_digest(body)) == PAYLOAD_DIGEST


def test_mediatype_wins_over_signatures() -> None:
    body = (
        b'{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        b'"signatures":"x"}'
    )
    assert manifest_digest(body) == Digest.of(body)


# ------------------------------------------------------------------------------------------
# Properties: never anything but our error types

#: JSON values (no NaN or infinity: json.dumps writes those as non-JSON words).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "protected",
                    "header",
                    "jwk",
                    "kty",
                    "alg",
                    "x5c",
                    "signature",
                    "formatLength",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def _sha256(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


#: Documents with no ``signatures`` member: JSON objects of every schema version, and any bytes.
unsigned_bodies = st.binary(max_size=400) | st.builds(
    lambda version, extra: json.dumps({"schemaVersion": version, **extra}).encode(),
    st.sampled_from([1, 2, "1", None]),
    st.dictionaries(st.sampled_from(["name", "tag", "mediaType", "fsLayers", "x"]), json_values),
)


@given(unsigned_bodies)
def test_manifest_digest_of_anything_unsigned_is_sha256_of_its_bytes(body: bytes) -> None:
    """Only a signed schema1 document is digested over less than its bytes."""
    assume(b"ignatur" not in body.lower())  # no "signatures" member, in any letter case
    assert manifest_digest(body) == _sha256(body)


@given(json_values)
def test_manifest_digest_any_signatures_value(value: object) -> None:
    """``null`` means unsigned; ``[]`` signs the empty payload; anything else here is unusable.

    Usable signatures need a protected header holding formatLength and formatTail (libtrust);
    these values never have one.
    """
    try:
        text, is_json = json.dumps(value, allow_nan=False), True
    except ValueError:  # Infinity: Python writes it, JSON has no such literal
        text, is_json = json.dumps(value), False
    body = ('{"schemaVersion":1,"name":"a","signatures":' + text + "}").encode()
    if value is None or not is_json:
        assert manifest_digest(body) == _sha256(body)
    elif value == []:
        assert manifest_digest(body) == _sha256(b"")
    else:
        with pytest.raises(ManifestDigestError):
            manifest_digest(body)


@given(
    st.dictionaries(
        st.sampled_from(["formatLength", "formatTail", "time"]),
        st.none() | st.integers(-5, 500) | st.floats() | st.text(max_size=6),
    ),
    st.one_of(st.none(), json_values),
)
def test_manifest_digest_any_protected_header(header: dict[str, object], jwk: object) -> None:
    extra = {} if jwk is None else {"jwk": jwk}
    try:
        protected = b64url(json.dumps(header))
    except ValueError:
        return
    body = signed(sig(protected, **extra))
    try:
        d = manifest_digest(body)
    except ManifestDigestError:
        return
    # Usable: the payload is the first formatLength bytes plus the decoded formatTail.
    length, tail = header["formatLength"], header["formatTail"]
    assert isinstance(length, int | float)
    assert isinstance(tail, str)
    payload = body[: int(length)] + base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))
    assert d == _sha256(payload)


@pytest.mark.parametrize(
    "key",
    [
        "s\u0131gnatures".encode(),  # dotless i: Go does not fold it to "i"
        "s\u0130gnatures".encode(),  # dotted capital I: not a simple fold of "i" either
    ],
)
def test_keys_that_only_look_like_signatures_are_plain_sha256(key: bytes) -> None:
    body = b'{"schemaVersion":1,"name":"a","' + key + b'":[]}'
    assert str(manifest_digest(body)) == "sha256:" + hashlib.sha256(body).hexdigest()
