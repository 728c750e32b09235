"""429 Retry-After delays (vectors from containers/image 5.23.1) and ``Link`` pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.http import parse_http_date
from sansio_registry.retry import parse_link_next, retry_after_delay

NOW = datetime(2024, 3, 10, 12, 0, 0, tzinfo=UTC)
PAST = "Sun, 10 Mar 2024 11:59:00 GMT"
FALLBACK = 2.0
CAP = 60.0


# Go's vectors: Retry-After → delay before the cap (fallback 2 s), then the cap of 60 s.
VECTORS = [
    ("", 2.0, 2.0),
    (None, 2.0, 2.0),
    ("5", 5.0, 5.0),
    ("0", 0.0, 0.0),
    ("-3", -3.0, -3.0),
    ("abc", 2.0, 2.0),
    (PAST, 2.0, 2.0),
    ("120", 120.0, 60.0),
]


@pytest.mark.parametrize(("header", "before_cap", "capped"), VECTORS)
def test_retry_after_vectors(header: str | None, before_cap: float, capped: float) -> None:
    assert retry_after_delay(header, fallback=FALLBACK, now_http_date=NOW) == before_cap
    got = retry_after_delay(header, fallback=FALLBACK, now_http_date=NOW, cap=CAP)
    assert got == capped
    assert isinstance(got, float)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Sun, 10 Mar 2024 12:00:30 GMT", 30.0),  # RFC 1123
        ("sun, 10 mar 2024 12:00:30 GMT", 30.0),  # Go matches names case-insensitively
        ("Sunday, 10-Mar-24 12:01:00 GMT", 60.0),  # RFC 850
        ("Sun Mar 10 12:00:05 2024", 5.0),  # asctime
        ("Sun Mar  1 12:00:05 2024", 2.0),  # asctime, space-padded day, in the past
        ("Sun, 10 Mar 2024 12:00:00 GMT", 2.0),  # now is not in the future
        ("Sun, 10 Mar 2024 12:00:30 +0000", 2.0),  # not one of Go's layouts
        ("Sun, 31 Feb 2024 12:00:30 GMT", 2.0),  # no such day
        ("Sun, 10 Mar 2024 25:00:30 GMT", 2.0),
        ("+7", 7.0),  # strconv.ParseInt accepts a sign
        (" 7 ", 7.0),  # header values arrive trimmed
        ("7.5", 2.0),
        ("1_000", 2.0),
        ("٣", 2.0),  # non-ASCII digits are not digits for Go
        ("9223372036854775807", 9223372036854775807.0),
        ("9223372036854775808", 2.0),  # out of int64 range
    ],
)
def test_retry_after_forms(header: str, expected: float) -> None:
    assert retry_after_delay(header, fallback=2.0, now_http_date=NOW) == expected


def test_retry_after_date_needs_a_reference_time() -> None:
    future = "Sun, 10 Mar 2024 12:00:30 GMT"
    assert retry_after_delay(future, fallback=4.0, now_http_date=None) == 4.0
    naive_now = NOW.replace(tzinfo=None)
    assert retry_after_delay(future, fallback=4.0, now_http_date=naive_now) == 30.0
    other_zone = NOW.astimezone(timezone(timedelta(hours=5)))
    assert retry_after_delay(future, fallback=4.0, now_http_date=other_zone) == 30.0


@given(st.text(max_size=60), st.floats(0, 120))
def test_retry_after_never_raises(header: str, fallback: float) -> None:
    delay = retry_after_delay(header, fallback=fallback, now_http_date=NOW, cap=CAP)
    assert delay <= CAP


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2099, 12, 31)))
def test_http_date_round_trip(when: datetime) -> None:
    when = when.replace(microsecond=0, tzinfo=UTC)
    assert parse_http_date(format_datetime(when, usegmt=True)) == when
    header = format_datetime(when, usegmt=True)
    expected = (when - NOW).total_seconds()
    got = retry_after_delay(header, fallback=-1.0, now_http_date=NOW)
    assert got == (expected if expected > 0 else -1.0)


# --- Link ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # distribution's own form (relative, quoted rel), as _catalog sends it
        ('</v2/_catalog?last=b&n=2>; rel="next"', "/v2/_catalog?last=b&n=2"),
        # absolute: only path and query are used
        (
            '<https://other.example:8443/v2/ns/app/tags/list?n=100&last=v9>; rel="next"',
            "/v2/ns/app/tags/list?n=100&last=v9",
        ),
        ("<http://r.example/v2/a/tags/list>; rel=next", "/v2/a/tags/list"),
        ('</v2/a/tags/list?n=1#frag>; rel="next"', "/v2/a/tags/list?n=1"),
        # several links; the next one is chosen by rel, in any case, among several rels
        (
            '</v2/a/tags/list?last=a>; rel="prev", </v2/a/tags/list?last=c>; rel="Next last"',
            "/v2/a/tags/list?last=c",
        ),
        # other params, quoted commas and semicolons
        (
            '</p?x=1>; title="a, b; c"; rel="next"',
            "/p?x=1",
        ),
        ('</first>; rel="next", </second>; rel="next"', "/first"),
        ("  </v2/x> ;rel=next", "/v2/x"),
        # the first rel parameter counts (RFC 8288)
        ('</v2/x>; rel="prev"; rel="next"', None),
        ('</v2/x>; rel="prev"', None),
        ("</v2/x>", None),  # 5.23.1 would follow it; without rel=next it is not "next"
        (None, None),
        ("", None),
        ("garbage", None),
        ("<unterminated; rel=next", None),
        ('<v2/relative>; rel="next"', None),  # not absolute-path: cannot be used safely
        ('<?last=a>; rel="next"', None),
        ('<http://[::1/x>; rel="next"', None),  # urlsplit error
        ('</a b>; rel="next"', None),  # not usable in a request line
        ('</caf\u00e9>; rel="next"', None),
        ('</v2/%2Fx?q=%20>; rel="next"', "/v2/%2Fx?q=%20"),  # kept raw, not decoded
    ],
)
def test_parse_link_next(header: str | None, expected: str | None) -> None:
    assert parse_link_next(header) == expected


@given(st.text(max_size=120))
def test_parse_link_next_never_raises(header: str) -> None:
    result = parse_link_next(header)
    assert result is None or (result.startswith("/") and " " not in result)


@given(
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=1, max_size=9),
        max_size=4,
    ),
    st.dictionaries(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=5),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", max_size=5),
        max_size=3,
    ),
    st.booleans(),
)
def test_parse_link_next_round_trip(
    segments: list[str], query: dict[str, str], absolute: bool
) -> None:
    path = "/" + "/".join(segments)
    target = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    url = f"https://registry.example:5000{target}" if absolute else target
    header = f'<https://x.example/prev>; rel="prev", <{url}>; rel="next"'
    assert parse_link_next(header) == target
