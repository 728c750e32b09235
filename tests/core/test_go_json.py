"""JSON read with Go's matching rules: folded keys, last match wins, null semantics."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry import go_json


class Inner(msgspec.Struct):
    a: str = ""
    b: str = ""


class Outer(msgspec.Struct, rename="camel"):
    media_type: str = ""
    count: int = 0
    inner: Inner = msgspec.field(default_factory=Inner)
    items: list[str] | None = None
    extra: Any = None


def convert(text: str) -> Outer:
    return go_json.convert(go_json.loads(text.encode()), Outer)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"MEDIATYPE":"x"}', Outer(media_type="x")),
        ('{"mediaType":"x","MediaType":"y"}', Outer(media_type="y")),
        ('{"mediaType":"x","mediaType":null}', Outer(media_type="x")),  # null: no change
        ('{"items":["a"],"items":null}', Outer(items=None)),  # null empties a list
        ('{"extra":{"k":1,"k":2}}', Outer(extra={"k": 2.0})),  # any-typed numbers are floats
        ('{"inner":{"a":"1"},"Inner":{"b":"2"}}', Outer(inner=Inner(a="1", b="2"))),
        ('{"ITEM\u017f":["a"]}', Outer(items=["a"])),  # the long s folds to "s"
        ('{"items":[null,"a"]}', Outer(items=["", "a"])),
        ("null", Outer()),
        ('{"unknown":1e999}', Outer()),
    ],
)
def test_convert(text: str, expected: Outer) -> None:
    assert convert(text) == expected


@pytest.mark.parametrize(
    "text",
    ['{"count":1.0}', '{"count":"1"}', '{"inner":"x"}', '{"items":{}}', '{"extra":[1e999]}', "[]"],
)
def test_convert_type_errors(text: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        convert(text)


@pytest.mark.parametrize("raw", [b"", b"NaN", b"{", b'{"a":1} x', b"\xef\xbb\xbf{}"])
def test_loads_rejects_what_is_not_json(raw: bytes) -> None:
    with pytest.raises(ValueError, match=r"^not JSON"):
        go_json.loads(raw)


def test_loads_keeps_duplicates_in_order() -> None:
    tree = go_json.loads(b'{"a":1,"b":2,"a":3}')
    assert isinstance(tree, go_json.JSONObject)
    assert list(tree) == [("a", 1), ("b", 2), ("a", 3)]
    assert tree.last("a") == 3 and tree.last("A") is None


def test_invalid_utf8_inside_strings_reads_as_replacement_character() -> None:
    assert go_json.loads(b'"a\xffb"') == "a\ufffdb"
    assert go_json.loads(b'"\xe2\x82"') == "\ufffd\ufffd"  # one per byte, as Go does
    assert go_json.decode_any(b'{"k":"a\xffb"}') == {"k": "a\ufffdb"}
    with pytest.raises(msgspec.DecodeError):
        go_json.decode_any(b"\xff")


def test_fold_fields() -> None:
    members = [("Auth", "1"), ("x", "2"), ("AUTH", "3"), ("identityToken", "4")]
    assert go_json.fold_fields(members, ("auth", "identitytoken")) == {
        "auth": "3",
        "identitytoken": "4",
    }
    assert go_json.fold_key("\u212aind") == go_json.fold_key("kind")  # the Kelvin sign


@given(st.text(max_size=6))
def test_fold_key_matches_ascii_case_insensitively(key: str) -> None:
    if key.isascii():
        assert go_json.fold_key(key) == key.lower()
