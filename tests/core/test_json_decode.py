"""Invalid UTF-8 in JSON is replaced as Go's encoding/json does, whichever msgspec is installed."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.config.registries_conf import parse_registries_conf
from sansio_registry.errors import ConfigError
from sansio_registry.json_decode import decode_json, replace_invalid_utf8

ANY: msgspec.json.Decoder[object] = msgspec.json.Decoder()


def go_decode_runes(data: bytes) -> str:
    """An oracle for Go's utf8.DecodeRune loop, written independently of the code under test.

    At each position take the shortest prefix of 1-4 bytes that strictly decodes to one
    character; if none does, the byte is invalid: U+FFFD, and move on by one byte.
    """
    out: list[str] = []
    i = 0
    while i < len(data):
        for n in range(1, 5):
            try:
                char = data[i : i + n].decode("utf-8", "strict")
            except UnicodeDecodeError:
                continue
            if len(char) == 1:
                out.append(char)
                i += n
                break
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'"a\xffb"', "a\ufffdb"),  # a lone invalid byte
        (b'"\xe2\x82A"', "\ufffd\ufffdA"),  # a truncated 3-byte sequence: one U+FFFD per byte
        (b'"\xed\xa0\x80"', "\ufffd\ufffd\ufffd"),  # an encoded surrogate is invalid UTF-8
        (b'"\xc0\xaf"', "\ufffd\ufffd"),  # an overlong encoding of "/"
        (b'"caf\xc3\xa9"', "caf\u00e9"),  # valid UTF-8 is untouched
    ],
)
def test_invalid_utf8_in_a_string_becomes_replacement_characters(
    raw: bytes, expected: str
) -> None:
    assert decode_json(ANY, raw) == expected


def test_invalid_utf8_outside_a_string_is_a_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_json(ANY, b'{"a": 1}\xff')


def test_malformed_json_is_a_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_json(ANY, b'{"a": ')


def test_a_wrong_shape_is_a_validation_error_even_after_repair() -> None:
    decoder = msgspec.json.Decoder(dict[str, int])
    with pytest.raises(msgspec.ValidationError):
        decode_json(decoder, b'{"a\xff": "x"}')


@given(st.binary(max_size=64))
def test_replacement_matches_go_decode_rune(data: bytes) -> None:
    assert replace_invalid_utf8(data) == go_decode_runes(data).encode("utf-8")


STRING_BYTES = st.binary(max_size=64).map(
    lambda b: bytes(x for x in b if x >= 0x20 and x not in b'"\\')  # no escapes, no quotes
)


@given(STRING_BYTES)
def test_any_bytes_inside_a_string_decode_like_go(data: bytes) -> None:
    assert decode_json(ANY, b'{"k": "' + data + b'"}') == {"k": go_decode_runes(data)}


@given(st.binary(max_size=64))
def test_any_document_decodes_or_fails_with_a_msgspec_error_only(data: bytes) -> None:
    with contextlib.suppress(msgspec.DecodeError):
        decode_json(ANY, data)


def test_registries_conf_with_invalid_utf8_is_a_config_error_naming_the_byte() -> None:
    with pytest.raises(ConfigError, match="invalid UTF-8 at byte 23"):
        parse_registries_conf(b'unqualified-search = ["\xff"]\n', path="/etc/containers/r.conf")
