"""Header values the core reads itself: Content-Length and HTTP dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.errors import RemoteProtocolError
from sansio_registry.http import Headers, content_length, parse_http_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("0", 0), ("2000", 2000), (" 17\t", 17), ("007", 7)],
)
def test_content_length(value: str | None, expected: int | None) -> None:
    headers = Headers.of([] if value is None else [("Content-Length", value)])
    assert content_length(headers) == expected


@pytest.mark.parametrize("value", ["", "\u00b2", "\u0661\u0662", "1 2", "-1", "+1", "0x10", "1e3"])
def test_content_length_other_than_ascii_digits_is_a_protocol_error(value: str) -> None:
    with pytest.raises(RemoteProtocolError, match="invalid Content-Length"):
        content_length(Headers.of([("Content-Length", value)]))


@given(st.text(max_size=12))
def test_content_length_is_an_int_or_our_error(value: str) -> None:
    try:
        length = content_length(Headers.of([("Content-Length", value)]))
    except RemoteProtocolError:
        assert not value.strip(" \t").isascii() or not value.strip(" \t").isdigit()
    else:
        assert length == int(value.strip(" \t"))


def test_parse_http_date() -> None:
    expected = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == expected
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == expected
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == expected
    assert parse_http_date("Sunday, 06-Nov-68 08:49:37 GMT") == expected.replace(year=2068)
    assert parse_http_date("06 Nov 1994") is None
    assert parse_http_date("") is None
