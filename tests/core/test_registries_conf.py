"""registries.conf: Go's vectors, validation errors, drop-in merge, file locations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.config.registries_conf import (
    AUTH_FILE_HELPER,
    Mirror,
    PullSource,
    RegistriesConf,
    RegistriesConfFile,
    Registry,
    merge_registries_conf,
    parse_registries_conf,
    ref_matching_prefix,
    registries_conf_locations,
)
from sansio_registry.errors import ConfigError, RegistryBlocked
from sansio_registry.reference import ImageRef

D = "sha256:" + "0123456789abcdef" * 4

# Vectors from containers/image 5.23.1, verbatim.
CONFIG_19_6 = b"""
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror-a.example.com/dockerhub"
[[registry.mirror]]
location = "mirror-b.example.com:5000"
insecure = true
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "mirror-c.example.com"
pull-from-mirror = "tag-only"

[[registry]]
prefix = "example.com/team"
location = "internal.example.net/mirrored/team"
mirror-by-digest-only = true
[[registry.mirror]]
location = "cache.example.net/team"

[[registry]]
location = "example.com"
insecure = true

[[registry]]
prefix = "*.redirect.example.org"
location = "central.example.org/all"
[[registry.mirror]]
location = "m.example.org"

[[registry]]
location = "blocked.example.com"
blocked = true
[[registry.mirror]]
location = "unblocked-mirror.example.com"
"""

# reference → [(physical reference, insecure, is_mirror), ...] in try order
SOURCES_19_6 = [
    ("docker.io/library/busybox:latest", [
        ("mirror-a.example.com/dockerhub/library/busybox:latest", False, True),
        ("mirror-c.example.com/library/busybox:latest", False, True),
        ("docker.io/library/busybox:latest", False, False),
    ]),
    (f"docker.io/library/busybox@{D}", [
        (f"mirror-a.example.com/dockerhub/library/busybox@{D}", False, True),
        (f"mirror-b.example.com:5000/library/busybox@{D}", True, True),
        (f"docker.io/library/busybox@{D}", False, False),
    ]),
    ("example.com/team/app:v1", [
        ("internal.example.net/mirrored/team/app:v1", False, False),
    ]),
    (f"example.com/team/app@{D}", [
        (f"cache.example.net/team/app@{D}", False, True),
        (f"internal.example.net/mirrored/team/app@{D}", False, False),
    ]),
    ("example.com/other/app:v1", [("example.com/other/app:v1", True, False)]),
    ("example.com:5000/other/app:v1", [("example.com:5000/other/app:v1", True, False)]),
    ("a.b.redirect.example.org/x/y:1", [
        ("m.example.org/x/y:1", False, True),
        ("central.example.org/all/x/y:1", False, False),
    ]),
    ("blocked.example.com/x:1", [
        ("unblocked-mirror.example.com/x:1", False, True),
        ("blocked.example.com/x:1", False, False),
    ]),
    ("quay.io/x/y:1", [("quay.io/x/y:1", False, False)]),
]  # fmt: skip

# Go's prefix matching vectors: (ref string, prefix, matched length or -1)
PREFIX_MATCHES = [
    ("example.com/foo:tag", "example.com", 11),
    ("example.com/foobar:tag", "example.com/foo", -1),
    ("example.com:5000/foo:tag", "example.com", 11),
    ("a.example.com/foo:tag", "*.example.com", 13),
    ("example.com/foo:tag", "*.example.com", -1),
    ("a.b.example.com:5000/foo:tag", "*.example.com", 15),
    ("a.example.com.evil.org/foo:tag", "*.example.com", -1),
    ("evil.org/x.example.com/foo:tag", "*.example.com", -1),
    # more boundaries
    ("example.com", "example.com", 11),
    ("example.com@x", "example.com", 11),
    ("example.comx/foo", "example.com", -1),
    ("exam", "example.com", -1),
    ("a.example.com", "*.example.com", 13),
    ("a.example.com@x", "*.example.com", 13),
]


def conf_of(text: str | bytes, path: str = "/etc/containers/registries.conf") -> RegistriesConf:
    data = text.encode() if isinstance(text, str) else text
    return merge_registries_conf([parse_registries_conf(data, path=path)])


def sources(conf: RegistriesConf, ref: str) -> list[tuple[str, bool, bool]]:
    return [(str(s.ref), s.insecure, s.is_mirror) for s in conf.pull_sources(ImageRef.parse(ref))]


@pytest.mark.parametrize(("ref", "expected"), SOURCES_19_6)
def test_pull_sources_19_6(ref: str, expected: list[tuple[str, bool, bool]]) -> None:
    assert sources(conf_of(CONFIG_19_6), ref) == expected


def test_blocked_primary_19_6() -> None:
    conf = conf_of(CONFIG_19_6, path="/etc/r.conf")
    primary, *_ = reversed(conf.pull_sources(ImageRef.parse("blocked.example.com/x:1")))
    with pytest.raises(RegistryBlocked) as info:
        conf.check_not_blocked(primary.ref)
    assert str(info.value) == "registry blocked.example.com is blocked in /etc/r.conf"
    conf.check_not_blocked(ImageRef.parse("unblocked-mirror.example.com/x:1"))
    conf.check_not_blocked(ImageRef.parse("quay.io/x/y:1"))


def test_blocked_message_uses_locations_text() -> None:
    loc = registries_conf_locations(home="/home/u", explicit_file=None, explicit_dir=None)
    conf = merge_registries_conf(
        [
            parse_registries_conf(
                b'[[registry]]\nlocation = "b.example"\nblocked = true\n', path="x"
            )
        ],
        blocked_in=loc.blocked_in,
    )
    with pytest.raises(RegistryBlocked) as info:
        conf.check_not_blocked(ImageRef.parse("b.example/x"))
    assert str(info.value) == (
        "registry b.example is blocked in /etc/containers/registries.conf or "
        "/home/u/.config/containers/registries.conf.d"
    )


@pytest.mark.parametrize(("ref", "prefix", "length"), PREFIX_MATCHES)
def test_prefix_matching(ref: str, prefix: str, length: int) -> None:
    assert ref_matching_prefix(ref, prefix) == length


def test_find_registry_longest_prefix_string_wins() -> None:
    conf = conf_of(CONFIG_19_6)
    reg = conf.find_registry("example.com/team/app")
    assert reg is not None and reg.prefix == "example.com/team"
    reg = conf.find_registry("example.com/teamx/app")
    assert reg is not None and reg.prefix == "example.com"
    assert conf.find_registry("redirect.example.org/x") is None
    assert conf.find_registry("quay.io/x") is None
    assert conf.is_insecure("example.com:5000/x")
    assert not conf.is_insecure("docker.io/library/busybox")


def test_find_registry_tie_keeps_first_in_sorted_order() -> None:
    conf = conf_of(
        '[[registry]]\nprefix = "a.b.com"\nlocation = "first.example"\n'
        '[[registry]]\nprefix = "*.b.com"\nlocation = "wild.example"\n'
    )
    reg = conf.find_registry("a.b.com/x")
    assert reg is not None and reg.prefix == "*.b.com"  # "*" sorts before "a"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("docker.io", "rewriting reference: repository name must be canonical"),
        ("docker.io/library", None),
        (
            "mirror.local/UP",
            "rewriting reference: invalid reference format: repository name must be lowercase",
        ),
    ],
)
def test_rewrite_vectors(location: str, expected: str | None) -> None:
    conf = conf_of(f'[[registry]]\nprefix = "example.com"\nlocation = "{location}"\n')
    ref = ImageRef.parse("example.com/busybox:1")
    if expected is None:
        assert sources(conf, "example.com/busybox:1") == [
            ("docker.io/library/busybox:1", False, False)
        ]
    else:
        with pytest.raises(ConfigError) as info:
            conf.pull_sources(ref)
        assert str(info.value) == expected


def test_rewrite_error_in_a_mirror_aborts_everything() -> None:
    conf = conf_of(
        '[[registry]]\nlocation = "example.com"\n[[registry.mirror]]\nlocation = "m.example/UP"\n'
    )
    with pytest.raises(ConfigError, match=r"^rewriting reference: "):
        conf.pull_sources(ImageRef.parse("example.com/x:1"))


def test_port_carries_over_through_prefix_match() -> None:
    conf = conf_of(
        '[[registry]]\nprefix = "portcase.example.com"\nlocation = "other.example.net"\n'
    )
    assert sources(conf, "portcase.example.com:5000/x:1") == [
        ("other.example.net:5000/x:1", False, False)
    ]


def test_mirror_trailing_slash_is_stripped() -> None:
    # 5.23.1 fails with "rewriting reference: invalid reference format";
    # we strip it, as upstream does.
    conf = conf_of(
        '[[registry]]\nlocation = "docker.io"\n'
        '[[registry.mirror]]\nlocation = "mirror-a.example.com/dockerhub/"\n'
    )
    assert conf.registries[0].mirrors == (Mirror("mirror-a.example.com/dockerhub"),)
    assert sources(conf, "busybox")[0] == (
        "mirror-a.example.com/dockerhub/library/busybox:latest",
        False,
        True,
    )


def test_wildcard_with_empty_location_keeps_reference() -> None:
    conf = conf_of(
        '[[registry]]\nprefix = "*.example.com"\ninsecure = true\n'
        '[[registry.mirror]]\nlocation = "m.example.net/ns"\n'
    )
    assert sources(conf, "a.example.com/x/y:1") == [
        ("m.example.net/ns/x/y:1", False, True),
        ("a.example.com/x/y:1", True, False),
    ]


def test_pull_from_mirror_all_and_digest_only_on_registry() -> None:
    conf = conf_of(
        '[[registry]]\nlocation = "r.example"\n'
        '[[registry.mirror]]\nlocation = "m1.example"\npull-from-mirror = "all"\n'
    )
    assert len(conf.pull_sources(ImageRef.parse("r.example/x:1"))) == 2
    assert len(conf.pull_sources(ImageRef.parse(f"r.example/x@{D}"))) == 2


def test_no_configuration_at_all() -> None:
    conf = RegistriesConf()
    ref = ImageRef.parse("busybox")
    assert conf.pull_sources(ref) == (PullSource(ref=ref, insecure=False, is_mirror=False),)
    assert conf.credential_helpers == (AUTH_FILE_HELPER,)
    assert conf.find_registry("docker.io/library/busybox") is None
    conf.check_not_blocked(ref)
    assert merge_registries_conf([]) == RegistriesConf(blocked_in="")


# --- per-file validation --------------------------------------------------------------------

P = "/etc/containers/registries.conf"
PREFIX = f'loading registries configuration "{P}": '

INVALID = [
    ('[[registry]]\nlocation = "https://example.com"\n',
     "invalid location 'https://example.com': URI schemes are not supported"),
    ('[[registry]]\nprefix = "http://example.com/"\nlocation = "example.com"\n',
     "invalid location 'http://example.com/': URI schemes are not supported"),
    ('[[registry]]\ninsecure = true\n', "invalid condition: both location and prefix are unset"),
    ('[[registry]]\nprefix = "example.com"\n',
     "invalid condition: location is unset and prefix is not in the format: *.example.com"),
    ('[[registry]]\nprefix = "*.example.com/ns"\nlocation = "x.example"\n',
     'Wildcarded prefix should be in the format: *.example.com. Current prefix '
     '"*.example.com/ns" is incorrectly formatted'),
    ('[[registry]]\nprefix = "*.example.com:5000"\nlocation = "x.example"\n',
     'Wildcarded prefix should be in the format: *.example.com. Current prefix '
     '"*.example.com:5000" is incorrectly formatted'),
    ('[[registry]]\nlocation = "r.example"\n[[registry.mirror]]\ninsecure = true\n',
     "invalid condition: mirror location is unset"),
    ('[[registry]]\nlocation = "r.example"\n[[registry.mirror]]\nlocation = "/"\n',
     "invalid condition: mirror location is unset"),
    ('[[registry]]\nlocation = "r.example"\n[[registry.mirror]]\nlocation = "m.example"\n'
     'pull-from-mirror = "sometimes"\n',
     'unsupported pull-from-mirror value "sometimes" for mirror "m.example"'),
    ('[[registry]]\nlocation = "r.example"\npull-from-mirror = "all"\n',
     'pull-from-mirror must not be set for a non-mirror registry "r.example"'),
    ('[[registry]]\nlocation = "r.example"\nmirror-by-digest-only = true\n'
     '[[registry.mirror]]\nlocation = "m.example"\npull-from-mirror = "tag-only"\n',
     'cannot set mirror usage mirror-by-digest-only for the registry ("r.example") and '
     'pull-from-mirror for per-mirror ("m.example") at the same time'),
    ('[[registry]]\nprefix = "a.example"\nlocation = "r.example"\n'
     '[[registry]]\nprefix = "b.example"\nlocation = "r.example"\ninsecure = true\n',
     "registry 'r.example' is defined multiple times with conflicting 'insecure' setting"),
    ('[[registry]]\nprefix = "a.example"\nlocation = "r.example"\n'
     '[[registry]]\nprefix = "b.example"\nlocation = "r.example/"\nblocked = true\n',
     "registry 'r.example' is defined multiple times with conflicting 'blocked' setting"),
    ('unqualified-search-registries = ["docker.io", "quay.io/ns"]\n',
     'Invalid unqualified-search-registries entry "quay.io/ns"'),
    ('unqualified-search-registries = ["https://quay.io"]\n',
     "invalid location 'https://quay.io': URI schemes are not supported"),
    ('short-name-mode = "sometimes"\n', 'invalid short-name mode: "sometimes"'),
    ('unqualified-search-registries = ["docker.io"]\n'
     '[registries.search]\nregistries = ["quay.io"]\n',
     "mixing sysregistry v1/v2 is not supported"),
    ('[aliases]\n"x" = "quay.io/x"\n[registries.block]\nregistries = ["quay.io"]\n',
     "mixing sysregistry v1/v2 is not supported"),
    ('[registries.insecure]\nregistries = ["https://bad.example"]\n',
     "invalid location 'https://bad.example': URI schemes are not supported"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_validation_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_registries_conf(text.encode(), path=P)
    assert str(info.value) == PREFIX + message


@pytest.mark.parametrize(
    "data",
    [
        b"[[registry]\n",
        b'[[registry]]\nlocation = "a"\nlocation = "b"\n',
        b'[[registry]]\ninsecure = "yes"\nlocation = "a"\n',
        b"registry = 5\n",
        b"\xff\xfe",
        b'credential-helpers = "pass"\n',
    ],
)
def test_syntax_and_type_errors_name_the_file(data: bytes) -> None:
    with pytest.raises(ConfigError) as info:
        parse_registries_conf(data, path=P)
    assert str(info.value).startswith(PREFIX)


def test_drop_in_must_be_v2_and_is_named_as_drop_in() -> None:
    with pytest.raises(ConfigError) as info:
        parse_registries_conf(
            b'[registries.search]\nregistries = ["quay.io"]\n', path="/d/1.conf", drop_in=True
        )
    assert str(info.value) == (
        'loading drop-in registries configuration "/d/1.conf": '
        "registry must be in v2 format but is in v1"
    )


def test_v1_tables_are_converted() -> None:
    parsed = parse_registries_conf(
        b'[registries.search]\nregistries = ["docker.io", "quay.io"]\n'
        b'[registries.insecure]\nregistries = ["insecure.example.com/"]\n'
        b'[registries.block]\nregistries = ["blocked.example.com", "insecure.example.com"]\n',
        path=P,
    )
    assert parsed.registries == (
        Registry(prefix="blocked.example.com", location="blocked.example.com", blocked=True),
        Registry(
            prefix="insecure.example.com",
            location="insecure.example.com",
            insecure=True,
            blocked=True,
        ),
    )
    assert parsed.unqualified_search_registries == ("docker.io", "quay.io")


def test_empty_v1_tables_do_not_count_as_v1() -> None:
    parsed = parse_registries_conf(
        b'[registries.search]\nregistries = []\n[[registry]]\nlocation = "a.example"\n', path=P
    )
    assert [r.prefix for r in parsed.registries] == ["a.example"]


def test_unknown_keys_are_tolerated_and_fields_normalised() -> None:
    parsed = parse_registries_conf(
        b'some-future-key = 1\nshort-name-mode = "enforcing"\n'
        b'[aliases]\n"fedora" = "registry.fedoraproject.org/fedora"\n'
        b'[[registry]]\nprefix = "z.example/ns/"\nlocation = "r.example/"\nfuture = true\n'
        b'[[registry]]\nlocation = "a.example"\n'
        b'[[registry]]\nprefix = "z.example/ns"\nlocation = "second.example"\n',
        path=P,
    )
    # sorted by prefix; within one file the first entry for a prefix wins
    assert parsed.registries == (
        Registry(prefix="a.example", location="a.example"),
        Registry(prefix="z.example/ns", location="r.example"),
    )
    assert parsed.unqualified_search_registries is None
    assert parsed.credential_helpers is None
    assert parsed.short_name_mode == "enforcing"


# --- drop-in merge -------------------------------------------------------------------------


def test_drop_in_merge_rules() -> None:
    main = parse_registries_conf(
        b'unqualified-search-registries = ["docker.io"]\n'
        b'credential-helpers = ["pass"]\n'
        b'short-name-mode = "enforcing"\n'
        b'[[registry]]\nprefix = "b.example"\nlocation = "b.example"\n'
        b'[[registry.mirror]]\nlocation = "mirror.example"\n'
        b'[[registry]]\nlocation = "keep.example"\ninsecure = true\n',
        path="/main.conf",
    )
    first = parse_registries_conf(
        b"credential-helpers = []\n"
        b'[[registry]]\nprefix = "b.example"\nlocation = "replaced.example"\n'
        b'[[registry]]\nlocation = "a.example"\n',
        path="/d/10.conf",
        drop_in=True,
    )
    second = parse_registries_conf(
        b'unqualified-search-registries = ["quay.io"]\n', path="/d/20.conf", drop_in=True
    )
    conf = merge_registries_conf([main, first, second])
    assert conf.registries == (
        Registry(prefix="a.example", location="a.example"),
        # replaced wholesale: the mirror of the main file is gone
        Registry(prefix="b.example", location="replaced.example"),
        Registry(prefix="keep.example", location="keep.example", insecure=True),
    )
    assert conf.unqualified_search_registries == ("quay.io",)
    # an explicitly empty list replaces; empty then means the default helper
    assert conf.credential_helpers == (AUTH_FILE_HELPER,)
    assert conf.short_name_mode == "enforcing"
    assert conf.blocked_in == "/main.conf or /d/10.conf or /d/20.conf"

    without_override = merge_registries_conf([main, second])
    assert without_override.credential_helpers == ("pass",)
    assert merge_registries_conf([second]).short_name_mode == "permissive"


def test_conflicts_are_checked_within_a_file_only() -> None:
    # Go checks insecure/blocked conflicts per file (postProcessRegistries), not across drop-ins.
    main = parse_registries_conf(b'[[registry]]\nlocation = "r.example"\n', path="/m")
    drop = parse_registries_conf(
        b'[[registry]]\nprefix = "other.example"\nlocation = "r.example"\ninsecure = true\n',
        path="/d/1.conf",
        drop_in=True,
    )
    conf = merge_registries_conf([main, drop])
    assert [r.prefix for r in conf.registries] == ["other.example", "r.example"]


# --- file locations -------------------------------------------------------------------------


def test_locations_default_system() -> None:
    loc = registries_conf_locations(home="/h", explicit_file=None, explicit_dir=None)
    assert loc.main_file == "/etc/containers/registries.conf"
    assert not loc.main_required
    assert loc.drop_in_dirs == (
        "/etc/containers/registries.conf.d",
        "/h/.config/containers/registries.conf.d",
    )
    assert loc.blocked_in == (
        "/etc/containers/registries.conf or /h/.config/containers/registries.conf.d"
    )


def test_locations_user_file_exists() -> None:
    loc = registries_conf_locations(
        home="/h", explicit_file=None, explicit_dir=None, user_file_exists=True
    )
    assert loc.main_file == "/h/.config/containers/registries.conf"
    assert not loc.main_required
    assert loc.drop_in_dirs == ("/h/.config/containers/registries.conf.d",)
    loc = registries_conf_locations(
        home="/h", explicit_file=None, explicit_dir="/x.d", user_file_exists=True
    )
    assert loc.drop_in_dirs == ("/x.d",)
    assert loc.blocked_in == "/h/.config/containers/registries.conf or /x.d"


def test_locations_explicit_file_still_reads_both_default_dirs() -> None:
    loc = registries_conf_locations(
        home="/h", explicit_file="/my.conf", explicit_dir=None, user_file_exists=True
    )
    assert (loc.main_file, loc.main_required) == ("/my.conf", True)
    assert loc.drop_in_dirs == (
        "/etc/containers/registries.conf.d",
        "/h/.config/containers/registries.conf.d",
    )


def test_locations_explicit_both_are_hermetic() -> None:
    loc = registries_conf_locations(home="/h", explicit_file="/my.conf", explicit_dir="/my.d")
    assert (loc.main_file, loc.main_required, loc.drop_in_dirs) == ("/my.conf", True, ("/my.d",))
    assert loc.blocked_in == "/my.conf or /my.d"


def test_locations_without_home() -> None:
    loc = registries_conf_locations(home=None, explicit_file=None, explicit_dir=None)
    assert loc.drop_in_dirs == ("/etc/containers/registries.conf.d",)
    assert loc.blocked_in == (
        "/etc/containers/registries.conf or /etc/containers/registries.conf.d"
    )


# --- properties ----------------------------------------------------------------------------


@given(st.binary(max_size=300))
def test_any_bytes_give_a_file_or_config_error(data: bytes) -> None:
    try:
        parsed = parse_registries_conf(data, path=P)
    except ConfigError as exc:
        assert str(exc).startswith(PREFIX)
        return
    assert isinstance(parsed, RegistriesConfFile)


_VALID_LOCATIONS = ["r.example", "r.example/ns", "m.example:5000", "docker.io", "x/", "a.b",
                    "docker.io/library"]  # fmt: skip
_BAD_LOCATIONS = ["", "UP.example/x", "https://h.example", "*.example"]
_loc = st.sampled_from(_VALID_LOCATIONS * 4 + _BAD_LOCATIONS)
_prefix = st.sampled_from(
    [""] * 8 + ["r.example", "*.example", "a.example/ns", "docker.io", "example", "*.b/x"]
)
_mirror_loc = st.sampled_from(["m.example", "m.example:5000/ns", "x/", "r.example/ns"] * 4
                              + ["UP.x", ""])  # fmt: skip
_pfm = st.sampled_from([""] * 6 + ["all", "digest-only", "tag-only"] * 2 + ["bogus"])


def _toml_str(s: str) -> str:
    return '"' + s + '"'


@st.composite
def toml_documents(draw: st.DrawFn) -> bytes:
    """Random but well-formed registries.conf documents over a small vocabulary."""
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        lines.append("[[registry]]")
        if prefix := draw(_prefix):
            lines.append(f"prefix = {_toml_str(prefix)}")
        if location := draw(_loc):
            lines.append(f"location = {_toml_str(location)}")
        for key in ("insecure", "blocked", "mirror-by-digest-only"):
            if draw(st.integers(0, 4)) == 0:
                lines.append(f"{key} = {str(draw(st.booleans())).lower()}")
        for _ in range(draw(st.integers(0, 2))):
            lines.append("[[registry.mirror]]")
            lines.append(f"location = {_toml_str(draw(_mirror_loc))}")
            if pfm := draw(_pfm):
                lines.append(f"pull-from-mirror = {_toml_str(pfm)}")
            if draw(st.booleans()):
                lines.append("insecure = true")
    return ("\n".join(lines) + "\n").encode()


_refs = st.sampled_from(
    ["r.example/x:1", f"r.example/ns/x@{D}", "a.b.example/y:2", "busybox", "m.example:5000/z",
     "a.example/ns/q:t", "example/x:1"]
)  # fmt: skip


@given(toml_documents(), _refs)
def test_generated_configs_give_sources_or_config_errors(data: bytes, ref_text: str) -> None:
    try:
        conf = merge_registries_conf([parse_registries_conf(data, path=P)])
    except ConfigError:
        return
    ref = ImageRef.parse(ref_text)
    try:
        found = conf.pull_sources(ref)
    except ConfigError as exc:
        assert str(exc).startswith("rewriting reference: ")
        return
    assert found, "there is always at least the primary"
    assert not found[-1].is_mirror
    assert all(s.is_mirror for s in found[:-1])
    reg = conf.find_registry(ref.name)
    if reg is None:
        assert found == (PullSource(ref=ref, insecure=False, is_mirror=False),)
    else:
        assert found[-1].insecure == reg.insecure
        assert len(found) <= len(reg.mirrors) + 1
    for source in found:
        assert (source.ref.digest is None) == (ref.digest is None)
        assert source.ref.tag_or_digest == ref.tag_or_digest


@given(
    st.text(alphabet="ab.:/@*x", max_size=20),
    st.text(alphabet="ab.:/@*x", max_size=12),
)
def test_prefix_match_is_a_real_prefix_or_wildcard(ref: str, prefix: str) -> None:
    n = ref_matching_prefix(ref, prefix)
    if n == -1:
        return
    assert n == len(ref) or ref[n] in ":/@"
    if prefix.startswith("*."):
        assert ref[:n].endswith(prefix[1:])
        assert "/" not in ref[: n - len(prefix) + 1]
    else:
        assert ref[:n] == prefix
