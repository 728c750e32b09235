"""The driver kit's h11 helpers: the bytes a request puts on the wire, heads, bounded bodies."""

from __future__ import annotations

import h11
import pytest

from sansio_registry.errors import BodyTooLarge
from sansio_registry.http import Headers, Request, ResponseHead
from sansio_registry_driverkit.h11_helpers import BoundedBody, h11_request, response_head


def _wire(request: Request) -> bytes:
    """What a fresh h11 client connection sends for ``request``'s head."""
    data = h11.Connection(h11.CLIENT).send(h11_request(request))
    assert data is not None
    return data


def test_a_get_is_sent_with_host_first_and_its_headers_in_order_with_repeats() -> None:
    headers = Headers.of([("Accept", "a/b"), ("Host", "evil.test"), ("Accept", "c/d")])
    request = Request(
        method="GET", url="https://reg.test:5000/v2/ns/app/tags/list?n=2", headers=headers
    )
    assert _wire(request) == (
        b"GET /v2/ns/app/tags/list?n=2 HTTP/1.1\r\n"
        b"Host: reg.test:5000\r\nAccept: a/b\r\nAccept: c/d\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("method", "body", "length"),
    [("PUT", b"", b"0"), ("POST", b"grant_type=x", b"12"), ("DELETE", b"ab", b"2")],
)
def test_a_body_or_a_method_that_carries_one_gets_a_content_length(
    method: str, body: bytes, length: bytes
) -> None:
    request = Request(method=method, url="http://reg.test/v2/x", body=body)
    assert _wire(request) == (
        method.encode()
        + b" /v2/x HTTP/1.1\r\nHost: reg.test\r\nContent-Length: "
        + length
        + b"\r\n\r\n"
    )


def test_a_head_keeps_status_reason_and_latin_1_values_and_is_stamped() -> None:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11_request(Request(method="GET", url="http://reg.test/v2/")))
    conn.receive_data(
        b'HTTP/1.1 401 Nope\r\nWWW-Authenticate: Basic realm="caf\xe9"\r\nX-A: 1\r\nX-A: 2\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    event = conn.next_event()
    assert isinstance(event, h11.Response)
    head = response_head(event, received_at=12.5)
    assert (head.status, head.reason, head.received_at) == (401, "Nope", 12.5)
    assert head.headers.get("www-authenticate") == 'Basic realm="café"'
    assert head.headers.get_all("X-A") == ("1", "2")


HEAD = ResponseHead(
    status=404, headers=Headers.of([("Content-Type", "text/plain")]), received_at=3.0
)


def _filled(limit: int, chunks: list[bytes]) -> BoundedBody:
    body = BoundedBody(limit)
    for chunk in chunks:
        assert not body.full  # a driver stops reading once it is
        body.add(chunk)
    return body


def test_a_body_of_exactly_the_limit_is_kept_whole() -> None:
    body = _filled(8, [b"0123", b"4567"])
    assert not body.full
    response = body.response(HEAD)
    assert (response.status, response.body, response.received_at) == (404, b"01234567", 3.0)
    assert response.headers == HEAD.headers


def test_one_byte_past_the_limit_is_too_large_unless_cut() -> None:
    body = _filled(8, [b"0123", b"45678"])
    assert body.full
    with pytest.raises(BodyTooLarge) as caught:
        body.response(HEAD)
    assert caught.value.limit == 8
    assert body.response(HEAD, cut=True).body == b"01234567"
