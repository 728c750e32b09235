"""auth.json parsing, file locations and credential lookup (vectors from containers/image)."""

from __future__ import annotations

import base64

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.auth import Credentials
from sansio_registry.config.auth_json import (
    AuthEntry,
    AuthFile,
    auth_file_locations,
    lookup_credentials,
    parse_auth_file,
    validate_auth_key,
)
from sansio_registry.errors import ConfigError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# The auth.json of containers/image 5.23.1's lookup vectors, written out.
AUTH_JSON = msgspec.json.encode(
    {
        "auths": {
            "example.com": {"auth": b64("root:rootpw")},
            "example.com/team": {"auth": b64("team:teampw")},
            "example.com/team/app": {"auth": b64("app:apppw")},
            "https://index.docker.io/v1/": {"auth": b64("hub:hubpw")},
            "quay.io": {"auth": b64("q:qpw"), "identitytoken": "IDTOKEN"},
            "tokenonly.example": {"identitytoken": "IDTOKEN"},
            "nocolon.example": {"auth": b64("justuser")},
            "nul.example": {"auth": b64("u:p\0\0")},
            "http://legacy.example/v1/": {"auth": b64("leg:legpw")},
        }
    }
)
FILE = parse_auth_file(AUTH_JSON, path="/run/containers/0/auth.json")

LOOKUP_ROWS: list[tuple[str, Credentials | None]] = [
    ("example.com/team/app", Credentials("app", "apppw")),
    ("example.com/team/app2", Credentials("team", "teampw")),
    ("example.com/other", Credentials("root", "rootpw")),
    ("example.com", Credentials("root", "rootpw")),
    ("docker.io/library/busybox", Credentials("hub", "hubpw")),
    ("quay.io/a/b", Credentials("q", "qpw", identity_token="IDTOKEN")),
    ("tokenonly.example/x", None),
    ("nocolon.example/x", None),
    ("nul.example/x", Credentials("u", "p")),
    ("legacy.example/x", Credentials("leg", "legpw")),
    ("example.com:5000/x", None),
]


@pytest.mark.parametrize(("name", "expected"), LOOKUP_ROWS)
def test_lookup_vectors(name: str, expected: Credentials | None) -> None:
    assert lookup_credentials([FILE], name) == expected


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("https://example.com", "key https://example.com contains http[s]:// prefix"),
        ("http://example.com/x", "key http://example.com/x contains http[s]:// prefix"),
        ("example.com/a@sha256:abc", "key example.com/a@sha256:abc contains a '@' character"),
        ("example.com/a:tag", "key example.com/a:tag contains a ':' character after host[:port]"),
    ],
)
def test_invalid_keys(key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        lookup_credentials([FILE], key)
    assert str(info.value) == message


@pytest.mark.parametrize("key", ["localhost:5000", "localhost:5000/foo", "example.com"])
def test_valid_keys(key: str) -> None:
    validate_auth_key(key)


def file_of(auths: dict[str, object], path: str = "/f.json", **extra: object) -> AuthFile:
    return parse_auth_file(msgspec.json.encode({"auths": auths, **extra}), path=path)


def test_empty_entries_let_the_search_go_on_to_the_next_file() -> None:
    first = file_of(
        {
            "a.example/x": {"auth": b64("justuser")},  # most specific matches, decodes empty
            "a.example": {"auth": b64("same:file")},  # not reached: the file is done
            "b.example": {"identitytoken": "ONLY"},
            "c.example": {},
        },
        "/1.json",
    )
    second = file_of(
        {"a.example": {"auth": b64("u2:p2")}, "b.example": {"auth": b64("u3:p3")}}, "/2.json"
    )
    assert lookup_credentials([first, second], "a.example/x") == Credentials("u2", "p2")
    assert lookup_credentials([first, second], "b.example/y") == Credentials("u3", "p3")
    assert lookup_credentials([first], "c.example") is None


def test_first_file_with_credentials_wins_over_more_specific_later_file() -> None:
    first = file_of({"example.com": {"auth": b64("one:1")}})
    second = file_of({"example.com/team/app": {"auth": b64("two:2")}})
    assert lookup_credentials([first, second], "example.com/team/app") == Credentials("one", "1")


def test_exact_keys_beat_normalized_keys() -> None:
    f = file_of(
        {"https://index.docker.io/v1/": {"auth": b64("url:1")}, "docker.io": {"auth": b64("h:2")}}
    )
    assert lookup_credentials([f], "docker.io/library/x") == Credentials("h", "2")
    g = file_of({"registry-1.docker.io": {"auth": b64("r:3")}})
    assert lookup_credentials([g], "docker.io/library/x") == Credentials("r", "3")


def test_invalid_base64_is_an_error_naming_the_file_but_not_the_secret() -> None:
    f = file_of({"example.com": {"auth": "!!!notbase64"}}, "/home/u/.docker/config.json")
    with pytest.raises(ConfigError) as info:
        lookup_credentials([f], "example.com/x")
    assert "/home/u/.docker/config.json" in str(info.value)
    assert "notbase64" not in str(info.value)


def test_base64_with_newlines_is_accepted_like_go() -> None:
    encoded = b64("user:password")
    f = file_of({"example.com": {"auth": encoded[:4] + "\r\n" + encoded[4:]}})
    assert lookup_credentials([f], "example.com") == Credentials("user", "password")


def test_password_may_contain_colons_and_is_nul_trimmed_both_ends() -> None:
    f = file_of({"example.com": {"auth": b64("u:\0a:b\0")}})
    assert lookup_credentials([f], "example.com") == Credentials("u", "a:b")


def test_lookup_without_helpers_skips_files_that_name_one() -> None:
    first = file_of(
        {"example.com": {"auth": b64("ignored:pw")}},
        "/1.json",
        credHelpers={"example.com": "secretservice"},
    )
    second = file_of({"example.com": {"auth": b64("u:p")}}, "/2.json")
    assert first.helpers == {"example.com": "secretservice"}
    assert lookup_credentials([first, second], "example.com/app") == Credentials("u", "p")
    assert lookup_credentials([first], "example.com/app") is None


def test_legacy_dockercfg_format() -> None:
    legacy = parse_auth_file(
        msgspec.json.encode(
            {
                "https://index.docker.io/v1/": {"auth": b64("hub:pw")},
                "example.com/team": {"auth": b64("t:pw")},
            }
        ),
        path="/home/u/.dockercfg",
        legacy=True,
    )
    assert legacy.legacy
    assert lookup_credentials([legacy], "docker.io/library/x") == Credentials("hub", "pw")
    # legacy files only know hosts: every key is cut to its host when normalized
    assert lookup_credentials([legacy], "example.com/other") == Credentials("t", "pw")


def test_json_keys_match_case_insensitively_like_go() -> None:
    f = parse_auth_file(
        b'{"AUTHS":{"example.com":{"Auth":"%s","IdentityToken":"ID"}},"credhelpers":{"h":"x"}}'
        % b64("u:p").encode(),
        path="/f",
    )
    assert lookup_credentials([f], "example.com") == Credentials("u", "p", identity_token="ID")
    assert f.helpers == {"h": "x"}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'{"auths":[]}',
        b'{"auths":{"a":{"auth":5}}}',
        b'{"auths":{"a":"str"}}',
        b'{"credHelpers":{"a":1}}',
        b"\xef\xbb\xbf{}",
    ],
)
def test_bad_files_are_config_errors_naming_the_file(data: bytes) -> None:
    with pytest.raises(ConfigError) as info:
        parse_auth_file(data, path="/etc/bad auth.json")
    assert str(info.value).startswith(
        'reading JSON file "/etc/bad auth.json": unmarshaling JSON at "/etc/bad auth.json": '
    )


@pytest.mark.parametrize(
    "data", [b"null", b"{}", b'{"auths":null}', b'{"auths":{"a":null}}', b'{"other":1}']
)
def test_empty_but_valid_files(data: bytes) -> None:
    f = parse_auth_file(data, path="/f")
    assert lookup_credentials([f], "b.example/x") is None


def test_null_entry_is_an_empty_entry() -> None:
    f = parse_auth_file(b'{"auths":{"a.example":null}}', path="/f")
    assert f.auths == {"a.example": AuthEntry()}


def test_broken_file_fails_only_when_reached() -> None:
    good = file_of({"example.com": {"auth": b64("u:p")}})
    broken = AuthFile("/broken.json", error='reading JSON file "/broken.json": bad')
    assert lookup_credentials([good, broken], "example.com") == Credentials("u", "p")
    with pytest.raises(ConfigError, match=r"broken\.json"):
        lookup_credentials([good, broken], "other.example")


def test_auth_entry_repr_hides_secrets() -> None:
    entry = AuthEntry(auth=b64("user:hunter2"), identitytoken="REFRESH")
    assert b64("user:hunter2") not in repr(entry) and "REFRESH" not in repr(entry)
    assert "hunter2" not in repr(FILE) and b64("root:rootpw") not in repr(FILE)


# --------------------------------------------------------------------------------------------
# File locations (containers-auth.json(5) order)

ENV = {"HOME": "/home/u"}


def test_default_locations() -> None:
    assert auth_file_locations(ENV, uid=1000, explicit=None) == (
        ("/run/containers/1000/auth.json", False),
        ("/home/u/.config/containers/auth.json", False),
        ("/home/u/.docker/config.json", False),
        ("/home/u/.dockercfg", True),
    )


def test_locations_from_environment() -> None:
    env = {
        "HOME": "/home/u",
        "XDG_RUNTIME_DIR": "/run/user/1000",
        "XDG_CONFIG_HOME": "/cfg",
        "DOCKER_CONFIG": "/dock",
    }
    assert auth_file_locations(env, uid=1000, explicit=None) == (
        ("/run/user/1000/containers/auth.json", False),
        ("/cfg/containers/auth.json", False),
        ("/dock/config.json", False),
        ("/home/u/.dockercfg", True),
    )


def test_explicit_file_replaces_the_first_location() -> None:
    env = {"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"}
    got = auth_file_locations(env, uid=0, explicit="/tmp/a.json")
    assert got[0] == ("/tmp/a.json", False)
    assert got[1:] == auth_file_locations(env, uid=0, explicit=None)[1:]
    legacy = auth_file_locations(env, uid=0, explicit=None, explicit_legacy="/tmp/old.cfg")
    assert legacy[0] == ("/tmp/old.cfg", True)


def test_no_home_leaves_out_home_paths() -> None:
    assert auth_file_locations({}, uid=5, explicit=None) == (
        ("/run/containers/5/auth.json", False),
    )


# --------------------------------------------------------------------------------------------
# Properties


@given(st.binary())
def test_any_bytes_parse_or_config_error(data: bytes) -> None:
    for legacy in (False, True):
        try:
            got = parse_auth_file(data, path="/f", legacy=legacy)
        except ConfigError as exc:
            assert '"/f"' in str(exc)
        else:
            assert got.path == "/f" and got.legacy is legacy


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
entries = st.dictionaries(
    st.sampled_from(["auth", "identitytoken", "AUTH", "x"]),
    st.one_of(
        st.none(), st.text(max_size=12), st.integers(), st.builds(b64, st.text(max_size=12))
    ),
    max_size=3,
)
names = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda host, path: f"{host}/{path}" if path else host,
        st.sampled_from(["example.com", "docker.io", "localhost:5000", "quay.io"]),
        st.sampled_from(["", "a", "a/b", "a/b/c"]),
    ),
)
file_keys = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["example.com", "example.com/a", "https://example.com/v1/", "docker.io", "localhost:5000"]
    ),
)


@given(st.dictionaries(file_keys, st.one_of(st.none(), entries, json_values), max_size=5), names)
def test_any_file_and_name_give_credentials_none_or_config_error(
    auths: dict[str, object], name: str
) -> None:
    try:
        f = parse_auth_file(msgspec.json.encode({"auths": auths}), path="/f")
        got = lookup_credentials([f], name)
    except ConfigError:
        return
    assert got is None or (isinstance(got, Credentials) and bool(got))


def test_invalid_utf8_in_a_file_is_replaced_like_go() -> None:
    f = parse_auth_file(b'{"auths":{"ex\xffample.com":{}}}', path="/f")
    assert list(f.auths) == ["ex\ufffdample.com"]
