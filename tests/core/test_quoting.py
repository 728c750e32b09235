"""quote(): untrusted text in messages, on one line and showing what was sent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.quoting import quote


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\n\t\r\a\b\f\v", '"\\n\\t\\r\\a\\b\\f\\v"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("\u00a0\u2028", '"\\u00a0\\u2028"'),
        ("é \U0001f600", '"é \U0001f600"'),
        ("\U000e0001", '"\\U000e0001"'),
        (b"ok\xff", '"ok\\xff"'),
    ],
)
def test_quote(text: str | bytes, expected: str) -> None:
    assert quote(text) == expected


@given(st.text() | st.binary())
def test_quote_is_one_printable_line(text: str | bytes) -> None:
    quoted = quote(text)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert quoted.isprintable()
