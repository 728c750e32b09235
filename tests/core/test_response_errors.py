"""Registry error decoding and texts, checked against vectors from containers/image 5.23.1."""

from __future__ import annotations

import json
from dataclasses import dataclass

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.error_details import CodedError, UnexpectedBody, decode_error_details
from sansio_registry.errors import (
    DEFAULT_MESSAGES,
    BlobUnknown,
    Denied,
    ErrorDetail,
    ManifestUnknown,
    NameUnknown,
    NotFound,
    RegistryResponseError,
    ServerError,
    TooManyRequests,
    Unauthorized,
)
from sansio_registry.http import STATUS_TEXT, Headers, Response, status_text
from sansio_registry.response_errors import is_manifest_unknown, registry_error, simple_error

BLOB = "Error fetching blob"
AUTH = "unable to retrieve auth token: invalid username/password: "


def resp(
    status: int, body: bytes | str = b"", *headers: tuple[str, str], reason: str = ""
) -> Response:
    raw = body.encode() if isinstance(body, str) else body
    return Response(status=status, headers=Headers.of(headers), body=raw, reason=reason)


def reg(r: Response, context: str = "") -> RegistryResponseError:
    return registry_error(r, method="GET", url="/v2/ns/app/manifests/v1", context=context)


def simple(r: Response, context: str | None = BLOB) -> RegistryResponseError:
    return simple_error(r, method="GET", url="/v2/ns/app/blobs/sha256:x", context=context)


@dataclass(frozen=True)
class Row:
    """One row of Go's vectors, with the classifications stated around it."""

    name: str
    response: Response
    registry_text: str
    simple_text: str
    registry_cls: type[RegistryResponseError]
    simple_cls: type[RegistryResponseError]
    unknown_5231: bool = False  # the manifest-unknown rule of 5.23.1
    unknown_upstream: bool = False  # the broader upstream rule


HTML = "<html><body>Not found: this is a long body that goes beyond fifty characters</body></html>"
INVALID_TOKEN = (
    'Bearer realm="https://auth.example/token",error="invalid_token",'
    'error_description="token expired"'
)
INSUFFICIENT = 'Bearer realm="https://auth.example/token",error="insufficient_scope"'
DOCKER_IO = (
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
    'scope="repository:library/nonexistent:pull",error="insufficient_scope"'
)
DOCKER_IO_BODY = json.dumps(
    {
        "errors": [
            {
                "code": "UNAUTHORIZED",
                "message": "authentication required",
                "detail": [
                    {
                        "Type": "repository",
                        "Class": "",
                        "Name": "library/nonexistent",
                        "Action": "pull",
                    }
                ],
            }
        ]
    }
)


S404 = f"{BLOB}: invalid status code from registry 404 (Not Found)"

ROWS = [
    Row(
        "manifest-unknown-with-detail",
        resp(
            404,
            '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown",'
            '"detail":{"Tag":"x"}}]}',
        ),
        "manifest unknown: manifest unknown",
        S404,
        ManifestUnknown,
        ManifestUnknown,
        True,
        True,
    ),
    Row(
        "manifest-unknown-no-detail",
        resp(404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'),
        "manifest unknown",
        S404,
        ManifestUnknown,
        ManifestUnknown,
        True,
        True,
    ),
    Row(
        "manifest-unknown-custom-message",
        resp(404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"OCI manifest not found"}]}'),
        "manifest unknown: OCI manifest not found",
        S404,
        ManifestUnknown,
        ManifestUnknown,
        True,
        True,
    ),
    Row(
        "name-unknown-with-detail",
        resp(
            404,
            '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to '
            'registry","detail":{"name":"ns/app"}}]}',
        ),
        "name unknown: repository name not known to registry",
        S404,
        NameUnknown,
        NameUnknown,
    ),
    Row(
        "weird-code-not-found",
        resp(404, '{"errors":[{"code":"WEIRD_CODE","message":"Not Found"}]}'),
        "unknown: Not Found",
        S404,
        NotFound,
        NotFound,
        True,
        True,
    ),
    Row(
        "two-errors",
        resp(
            404,
            '{"errors":[{"code":"NAME_UNKNOWN","message":"a"},{"code":"DENIED","message":"b"}]}',
        ),
        "errors:\nname unknown: a\ndenied: b\n",
        S404,
        NameUnknown,
        NameUnknown,
    ),
    Row(
        "empty-errors-list",
        resp(404, '{"errors":[]}'),
        'StatusCode: 404, {"errors":[]}',
        S404,
        NotFound,
        NotFound,
        False,
        True,
    ),
    Row(
        "html-long",
        resp(404, HTML),
        "StatusCode: 404, <html><body>Not found: this is a long body that go...",
        S404,
        NotFound,
        NotFound,
        True,
        True,
    ),
    Row("empty-body", resp(404), "StatusCode: 404, ", S404, NotFound, NotFound, False, True),
    Row(
        "legacy-400",
        resp(400, '{"details":"legacy detail text"}'),
        "unknown: legacy detail text",
        f"{BLOB}: invalid status code from registry 400 (Bad Request)",
        RegistryResponseError,
        RegistryResponseError,
    ),
    Row(
        "legacy-401",
        resp(401, '{"details":"legacy detail text"}'),
        "unauthorized: legacy detail text",
        AUTH + "unauthorized: legacy detail text",
        Unauthorized,
        Unauthorized,
    ),
    Row(
        "html-401",
        resp(401, "<html>no</html>"),
        "unauthorized: authentication required",
        AUTH + "unauthorized: authentication required",
        Unauthorized,
        Unauthorized,
    ),
    Row(
        "invalid-token",
        resp(
            401,
            '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
            ("WWW-Authenticate", INVALID_TOKEN),
        ),
        "errors:\nunauthorized: token expired\nunauthorized\n",
        AUTH + "errors:\nunauthorized: token expired\nunauthorized\n",
        Unauthorized,
        Unauthorized,
    ),
    Row(
        "insufficient-scope-html",
        resp(401, "<html>x</html>", ("WWW-Authenticate", INSUFFICIENT)),
        "errors:\ndenied: requested access to the resource is denied\nerror parsing HTTP 401 "
        "response body: not JSON: "
        '"<html>x</html>"\n',
        AUTH
        + "errors:\ndenied: requested access to the resource is denied\nerror parsing HTTP 401 "
        "response body: not JSON: "
        '"<html>x</html>"\n',
        Denied,
        Unauthorized,
    ),
    Row(
        "toomanyrequests",
        resp(
            429,
            '{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate '
            'limit."}]}',
        ),
        "toomanyrequests: You have reached your pull rate limit.",
        "too many requests to registry",
        TooManyRequests,
        TooManyRequests,
    ),
    Row(
        "denied-default-message",
        resp(
            403,
            '{"errors":[{"code":"DENIED",'
            '"message":"requested access to the resource is denied"}]}',
        ),
        "denied",
        f"{BLOB}: invalid status code from registry 403 (Forbidden)",
        Denied,
        Denied,
    ),
    Row(
        "server-error",
        resp(500, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]} anything'),
        "received unexpected HTTP status: 500 Internal Server Error",
        f"{BLOB}: invalid status code from registry 500 (Internal Server Error)",
        ServerError,
        ServerError,
    ),
    Row(
        "redirect-without-location",
        resp(301, "moved"),
        "received unexpected HTTP status: 301 Moved Permanently",
        f"{BLOB}: invalid status code from registry 301 (Moved Permanently)",
        RegistryResponseError,
        RegistryResponseError,
    ),
    Row(
        "docker-io-nonexistent-repo",
        resp(401, DOCKER_IO_BODY, ("WWW-Authenticate", DOCKER_IO)),
        "errors:\ndenied: requested access to the resource is denied\n"
        "unauthorized: authentication required\n",
        AUTH + "errors:\ndenied: requested access to the resource is denied\n"
        "unauthorized: authentication required\n",
        Denied,
        Unauthorized,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_registry_wrapper_vectors(row: Row) -> None:
    exc = reg(row.response)
    assert str(exc) == row.registry_text
    assert type(exc) is row.registry_cls
    assert exc.status == row.response.status
    assert exc.method == "GET"


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_registry_wrapper_with_context(row: Row) -> None:
    context = "reading manifest v1 in 127.0.0.1:5000/ns/app"
    assert str(reg(row.response, context)) == f"{context}: {row.registry_text}"


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_simple_wrapper_vectors(row: Row) -> None:
    exc = simple(row.response)
    assert str(exc) == row.simple_text
    assert type(exc) is row.simple_cls
    assert exc.status == row.response.status


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_manifest_unknown_classification(row: Row) -> None:
    assert is_manifest_unknown(row.response, legacy=True) is row.unknown_5231
    assert is_manifest_unknown(row.response) is row.unknown_upstream
    # the exception the manifest flow raises classifies the same way
    exc = reg(row.response, "reading manifest v1 in h/ns/app")
    assert is_manifest_unknown(exc, legacy=True) is row.unknown_5231
    assert is_manifest_unknown(exc) is row.unknown_upstream


@pytest.mark.parametrize(
    ("body", "legacy", "upstream"),
    [
        ('{"errors":[{"code":"UNKNOWN","message":"Not Found"}]}', True, True),
        ('{"errors":[{"code":"UNKNOWN","message":"tag not found"}]}', False, True),
        ('{"errors":[{"code":"UNKNOWN","message":"artifact NOT FOUND here"}]}', False, True),
        ('{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}', False, False),
        ('{"errors":[{"code":"NAME_UNKNOWN","message":"Not Found"}]}', False, False),
        ('{"details":"Not Found"}', True, True),
        ("404 page not found", False, True),  # distribution's mux, text/plain
        ("Not found", True, True),
        (
            '{"errors":[{"code":"MANIFEST_UNKNOWN"},{"code":"NAME_UNKNOWN"}]}',
            True,
            True,
        ),  # first error decides
        ('{"errors":[{"code":"NAME_UNKNOWN"},{"code":"MANIFEST_UNKNOWN"}]}', False, False),
    ],
)
def test_manifest_unknown_extension(body: str, legacy: bool, upstream: bool) -> None:
    r = resp(404, body)
    assert is_manifest_unknown(r, legacy=True) is legacy
    assert is_manifest_unknown(r) is upstream


@pytest.mark.parametrize(
    "r",
    [
        resp(400, "Not found"),  # unexpected body, but not a 404
        resp(500, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'),  # 5xx: Go never decodes
        resp(503, "Not found"),
        resp(401, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', ("WWW-Authenticate", INSUFFICIENT)),
    ],
)
def test_manifest_unknown_negatives(r: Response) -> None:
    assert not is_manifest_unknown(r)
    assert not is_manifest_unknown(r, legacy=True)
    assert not is_manifest_unknown(reg(r))


def test_status_text_is_gos_table() -> None:
    assert status_text(416) == "Requested Range Not Satisfiable"
    assert status_text(413) == "Request Entity Too Large"
    assert status_text(414) == "Request URI Too Long"
    assert status_text(418) == "I'm a teapot"
    assert status_text(425) == "Too Early"
    assert status_text(103) == "Early Hints"
    assert status_text(308) == "Permanent Redirect"
    assert status_text(511) == "Network Authentication Required"
    assert status_text(299) == ""
    assert status_text(509) == ""
    assert len(STATUS_TEXT) == 62
    with pytest.raises(TypeError):
        STATUS_TEXT[999] = "x"  # type: ignore[index]


def test_simple_wrapper_unknown_status_and_no_context() -> None:
    assert str(simple(resp(599), None)) == "invalid status code from registry 599 ()"
    assert str(simple(resp(416), "")) == (
        "invalid status code from registry 416 (Requested Range Not Satisfiable)"
    )
    # 429 and 401 texts carry no context, as in Go
    assert str(simple(resp(429), "Error fetching blob")) == "too many requests to registry"


def test_simple_wrapper_class_from_body_code() -> None:
    body = '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}'
    exc = simple(resp(404, body))
    assert isinstance(exc, BlobUnknown)
    assert str(exc) == S404
    assert exc.errors == (ErrorDetail("BLOB_UNKNOWN", "blob unknown to registry"),)
    assert exc.code == "BLOB_UNKNOWN"


def test_registry_wrapper_fills_error_details() -> None:
    exc = reg(ROWS[0].response)
    assert exc.errors == (ErrorDetail("MANIFEST_UNKNOWN", "manifest unknown", '{"Tag":"x"}'),)
    assert exc.code == "MANIFEST_UNKNOWN"
    assert exc.message == "manifest unknown"
    exc = reg(ROWS[4].response)  # an unknown code string becomes UNKNOWN
    assert exc.errors == (ErrorDetail("UNKNOWN", "Not Found"),)
    exc = reg(ROWS[-1].response)  # header error first, then the body's
    assert [e.code for e in exc.errors] == ["DENIED", "UNAUTHORIZED"]
    assert exc.errors[1].detail is not None
    assert json.loads(exc.errors[1].detail)[0]["Name"] == "library/nonexistent"
    assert reg(resp(404, "<html>")).errors == ()


def test_detail_rendered_as_sorted_compact_json() -> None:
    body = '{"errors":[{"code":"DENIED","message":"m","detail":{"b": [1, 2], "a": null}}]}'
    assert reg(resp(403, body)).errors[0].detail == '{"a":null,"b":[1,2]}'


def test_server_error_keeps_body_errors_but_not_in_text() -> None:
    exc = reg(resp(500, '{"errors":[{"code":"UNKNOWN","message":"boom"}]}'))
    assert isinstance(exc, ServerError)
    assert str(exc) == "received unexpected HTTP status: 500 Internal Server Error"
    assert exc.errors == (ErrorDetail("UNKNOWN", "boom"),)


def test_status_line_uses_received_reason() -> None:
    assert str(reg(resp(502, reason="Upstream Broke"))) == (
        "received unexpected HTTP status: 502 Upstream Broke"
    )
    assert str(reg(resp(599))) == "received unexpected HTTP status: 599"


@pytest.mark.parametrize(
    ("body", "parse_error"),
    [
        (b"", "not JSON"),
        (b"   \n", "not JSON"),
        (b"<html>", "not JSON"),
        (b"404 page not found", "not JSON"),
        (b"Not Found", "not JSON"),
        (b"'x'", "not JSON"),
        (b'{"errors":', "not JSON"),
        (b'{"errors" 1}', "not JSON"),
        (b"{errors:1}", "not JSON"),
        (b'{"a":1 "b"}', "not JSON"),
        (b"[1 2]", "not JSON"),
        (b"[1,]", "not JSON"),
        (b"-", "not JSON"),
        (b"1.x", "not JSON"),
        (b"1e+", "not JSON"),
        (b"trux", "not JSON"),
        (b'"a\tb"', "not JSON"),
        (b'"\\x"', "not JSON"),
        (b'"\\u12G4"', "not JSON"),
        (b"\x00", "not JSON"),
        (b"\xc3\xa9", "not JSON"),
        (b"\x85", "not JSON"),
        (b'"abc', "not JSON"),
        (b"NaN", "not JSON"),
        (b'{"errors":[]} x', "not JSON"),
        (b"null", "no error details found in HTTP response body"),
        (b"{}", "no error details found in HTTP response body"),
        (b'{"errors":null}', "no error details found in HTTP response body"),
        (b'{"details":""}', "no error details found in HTTP response body"),
        (b'"x"', "expected a JSON object, found a string"),
        (b"[]", "expected a JSON object, found an array"),
        (b'{"errors":"x"}', '"errors" is a string, not an array'),
        (b'{"Errors":{}}', '"errors" is an object, not an array'),
        (b'{"errors":[1]}', '"errors"[0] is a number, not an object'),
        (b'{"errors":[null,true]}', '"errors"[1] is a boolean, not an object'),
        (b'{"errors":[{"code":5}]}', '"errors"[0].code is a number, not a string'),
        (
            b'{"errors":[{"code":"DENIED","message":[]}]}',
            '"errors"[0].message is an array, not a string',
        ),
    ],
)
def test_unexpected_body_parse_errors(body: bytes, parse_error: str) -> None:
    decoded = decode_error_details(resp(400, body))
    assert decoded.items == (UnexpectedBody(400, parse_error, body),)
    assert decoded.text.startswith(f"error parsing HTTP 400 response body: {parse_error}: ")


def test_unexpected_body_is_go_quoted() -> None:
    body = 'x "q" \\ \n\t\x7f é \u00a0 \U0001f600'.encode() + b"\xff"
    text = decode_error_details(resp(400, body)).text
    assert text == (
        "error parsing HTTP 400 response body: not JSON: "
        '"x \\"q\\" \\\\ \\n\\t\\x7f é \\u00a0 \U0001f600\\xff"'
    )


def test_unexpected_body_quote_is_bounded_and_says_so() -> None:
    body = b"<" + b"a" * 5000
    text = decode_error_details(resp(400, body)).text
    assert text.endswith('"... (body cut, 5001 bytes)')
    assert text.count("a") < 1100


def test_legacy_details_codes_by_status() -> None:
    body = '{"details":"slow down"}'
    assert str(reg(resp(429, body))) == "toomanyrequests: slow down"
    assert str(reg(resp(404, body))) == "unknown: slow down"
    # a details message equal to a default is not elided (Go's WithMessage)
    assert str(reg(resp(401, '{"details":"authentication required"}'))) == (
        "unauthorized: authentication required"
    )
    # a non-string details is ignored and the errors list used instead
    mixed = '{"details":5,"errors":[{"code":"DENIED","message":"no"}]}'
    assert str(reg(resp(403, mixed))) == "denied: no"
    # details wins over errors when both are there
    both = '{"details":"legacy","errors":[{"code":"DENIED","message":"no"}]}'
    assert str(reg(resp(403, both))) == "unknown: legacy"


def test_elision_rules() -> None:
    cases = {
        '{"errors":[{"code":"DENIED"}]}': "denied",
        '{"errors":[{"code":"DENIED","message":""}]}': "denied",
        '{"errors":[{"code":"DENIED","message":null}]}': "denied",
        '{"errors":[{"code":"DENIED","detail":null}]}': "denied",
        '{"errors":[{"code":"DENIED","detail":{}}]}': "denied: ",
        '{"errors":[{"code":"DENIED","message":"x","detail":1}]}': "denied: x",
        '{"errors":[{"code":"WEIRD"}]}': "unknown",
        '{"errors":[{"code":"WEIRD","message":"unknown error"}]}': "unknown",
        '{"errors":[{"message":"m"}]}': "unknown: m",
        '{"errors":[{}]}': "unknown",
        '{"errors":[null]}': "unknown",
        '{"errors":[{"code":"manifest_unknown"}]}': "unknown",  # codes are case-sensitive
    }
    for body, text in cases.items():
        assert str(reg(resp(404, body))) == text, body


def test_json_keys_match_case_insensitively_like_go() -> None:
    body = '{"Errors":[{"CODE":"MANIFEST_UNKNOWN","Message":"gone"}]}'
    exc = reg(resp(404, body))
    assert isinstance(exc, ManifestUnknown)
    assert str(exc) == "manifest unknown: gone"
    assert str(reg(resp(400, '{"DETAILS":"legacy"}'))) == "unknown: legacy"


def test_invalid_utf8_in_json_strings_is_replaced_like_go() -> None:
    body = b'{"errors":[{"code":"DENIED","message":"bad \xff byte"}]}'
    assert str(reg(resp(403, body))) == "denied: bad \ufffd byte"


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        # no error_description → the code's default message, never elided
        (
            [("WWW-Authenticate", 'Bearer realm="r",error="invalid_token"')],
            "errors:\nunauthorized: authentication required\nunauthorized\n",
        ),
        # an unknown bearer error is skipped; a later line is used
        (
            [
                ("WWW-Authenticate", 'Bearer realm="r",error="invalid_request"'),
                ("WWW-Authenticate", 'Bearer realm="r",error=insufficient_scope'),
            ],
            "errors:\ndenied: requested access to the resource is denied\nunauthorized\n",
        ),
        # only bearer challenges count
        ([("WWW-Authenticate", 'Basic realm="r",error="invalid_token"')], "unauthorized"),
        # Go's parser stops at an empty value, so error= after it is never seen
        ([("WWW-Authenticate", 'Bearer service="",error="invalid_token"')], "unauthorized"),
        # a leading space drops the line
        ([("WWW-Authenticate", ' Bearer error="invalid_token"')], "unauthorized"),
        # quoted escapes
        (
            [("WWW-Authenticate", 'bearer error="invalid_token",error_description="a\\"b"')],
            'errors:\nunauthorized: a"b\nunauthorized\n',
        ),
    ],
)
def test_401_challenges(headers: list[tuple[str, str]], text: str) -> None:
    body = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
    assert str(reg(resp(401, body, *headers))) == text


def test_challenges_only_read_on_401() -> None:
    r = resp(403, '{"errors":[{"code":"DENIED"}]}', ("WWW-Authenticate", INVALID_TOKEN))
    assert str(reg(r)) == "denied"
    assert decode_error_details(r).items == (CodedError("DENIED", "", None, short=True),)


def test_401_replacement_carries_body_as_detail() -> None:
    decoded = decode_error_details(resp(401, "<html>no</html>"))
    assert decoded.items == (
        CodedError("UNAUTHORIZED", "authentication required", '"<html>no</html>"'),
    )


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        (b"a" * 50, "a" * 50),
        (b"a" * 51, "a" * 50 + "..."),
        # "é" would straddle byte 50: cut before it, not in the middle
        (b"a" * 49 + "é".encode() + b"zz", "a" * 49 + "..."),
        # "€" (3 bytes) at 48..50
        (b"a" * 48 + "€".encode() + b"zz", "a" * 48 + "..."),
        # exactly fits
        (b"a" * 48 + "é".encode() + b"zz", "a" * 48 + "é..."),
        # invalid UTF-8 is replaced, never raised
        (b"\xff" * 60, "\ufffd" * 50 + "..."),
        (b"\x80" * 60, "\ufffd" * 50 + "..."),
    ],
)
def test_registry_excerpt_never_splits_utf8(body: bytes, excerpt: str) -> None:
    assert str(reg(resp(404, body))) == f"StatusCode: 404, {excerpt}"


def test_secrets_in_request_are_never_seen() -> None:
    # the wrappers take only the response; the response's own headers are not quoted either
    r = resp(404, "x", ("Set-Cookie", "session=SECRET"), ("Authorization", "Bearer SECRET"))
    for exc in (reg(r), simple(r)):
        assert "SECRET" not in str(exc)
        assert "SECRET" not in repr(exc)


# --- properties -------------------------------------------------------------------------------

MESSAGE_BOUND = 32 * 1024
header_values = st.text(max_size=200)
bearerish = st.builds(
    lambda err, desc: f'Bearer realm="r",error="{err}",error_description="{desc}"',
    st.sampled_from(["invalid_token", "insufficient_scope", "other", ""]),
    st.text(max_size=50),
)


@given(
    status=st.integers(400, 599),
    body=st.binary(max_size=400),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["WWW-Authenticate", "Content-Type", "X-Other"]),
            st.one_of(header_values, bearerish),
        ),
        max_size=4,
    ),
    reason=st.text(max_size=30),
    context=st.text(max_size=40),
)
def test_any_response_gives_our_error(
    status: int, body: bytes, headers: list[tuple[str, str]], reason: str, context: str
) -> None:
    r = resp(status, body, *headers, reason=reason)
    for exc in (reg(r, context), simple(r, context)):
        assert isinstance(exc, RegistryResponseError)
        assert exc.status == status
        assert len(str(exc)) <= MESSAGE_BOUND + len(context)
        assert all(isinstance(e, ErrorDetail) for e in exc.errors)
    assert isinstance(is_manifest_unknown(r), bool)
    assert isinstance(is_manifest_unknown(r, legacy=True), bool)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
envelope_like = st.dictionaries(
    st.sampled_from(["errors", "Errors", "details", "code", "x"]),
    json_values
    | st.lists(
        st.dictionaries(
            st.sampled_from(["code", "message", "detail", "Code"]),
            json_values | st.sampled_from(sorted(DEFAULT_MESSAGES)),
            max_size=4,
        ),
        max_size=4,
    ),
    max_size=3,
)


@given(status=st.integers(400, 499), value=envelope_like | json_values)
def test_any_json_gives_our_error(status: int, value: object) -> None:
    body = json.dumps(value).encode()
    exc = reg(resp(status, body))
    assert isinstance(exc, RegistryResponseError)
    assert decode_error_details(resp(status, body)).items


entries = st.lists(
    st.tuples(
        st.sampled_from(sorted(DEFAULT_MESSAGES)),
        st.text(max_size=30),
        st.none() | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    ),
    min_size=1,
    max_size=5,
)


@given(status=st.sampled_from([400, 403, 404, 405, 409]), items=entries)
def test_error_list_round_trip(status: int, items: list[tuple[str, str, object]]) -> None:
    errors = []
    for code, message, detail in items:
        entry: dict[str, object] = {"code": code, "message": message}
        if detail is not None:
            entry["detail"] = detail
        errors.append(entry)
    exc = reg(resp(status, json.dumps({"errors": errors})))
    assert exc.errors == tuple(
        ErrorDetail(
            code,
            message,
            None if detail is None else msgspec.json.encode(detail, order="sorted").decode(),
        )
        for code, message, detail in items
    )
    lines = [
        code.lower().replace("_", " ")
        if detail is None and message in ("", DEFAULT_MESSAGES[code])
        else f"{code.lower().replace('_', ' ')}: {message}"
        for code, message, detail in items
    ]
    expected = lines[0] if len(lines) == 1 else "errors:\n" + "".join(f"{x}\n" for x in lines)
    assert str(exc) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"<" + b"x" * (1024 * 1024 - 1),
        json.dumps({"errors": [{"code": "DENIED", "message": "m" * 1_000_000}]}).encode(),
        json.dumps({"errors": [{"code": "DENIED", "message": "m"}] * 60_000}).encode(),
        json.dumps({"details": "d" * 1_000_000}).encode(),
        b'{"errors":[' + b"1," * 400_000 + b"x]",
        b"[" * 20_000,
        b"[" * 5_000 + b"]" * 5_000,
    ],
    ids=["html", "huge-message", "many-errors", "huge-details", "late-syntax", "deep", "deep-ok"],
)
def test_huge_bodies_give_bounded_messages(body: bytes) -> None:
    for status in (401, 404):
        r = resp(status, body, ("WWW-Authenticate", 'Bearer error="invalid_token"'))
        for exc in (reg(r), simple(r)):
            assert isinstance(exc, RegistryResponseError)
            assert len(str(exc)) <= MESSAGE_BOUND, len(str(exc))
        assert len(decode_error_details(r).text) <= MESSAGE_BOUND


def test_long_error_lists_are_cut_in_text_and_counted() -> None:
    body = json.dumps({"errors": [{"code": "DENIED", "message": "m"}] * 1500}).encode()
    decoded = decode_error_details(resp(403, body))
    assert len(decoded.items) == 1000
    assert decoded.omitted == 500
    lines = decoded.text.split("\n")
    assert lines[0] == "errors:"
    assert lines[1:17] == ["denied: m"] * 16
    assert lines[17] == "... and 1484 more errors"


def test_long_bodies_that_are_not_json() -> None:
    for body in (b" " * 1000 + b"<" + b"x" * 200_000, b"[" + b"1," * 100_000 + b"x]"):
        assert decode_error_details(resp(400, body)).items == (
            UnexpectedBody(400, "not JSON", body),
        )


def test_invalid_utf8_inside_strings_is_read_as_replacement_characters() -> None:
    # Go accepts invalid UTF-8 inside strings even in long bodies
    valid = json.dumps({"errors": [{"code": "DENIED", "message": "x" * 100_000}]}).encode()
    valid = valid.replace(b"xxxx", b"x\xffxx", 1)
    assert decode_error_details(resp(403, valid)).details[0].message.startswith("x\ufffdxx")
