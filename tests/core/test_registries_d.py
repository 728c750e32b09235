"""registries.d: lookaside URLs (Go's vectors), scope search and merge errors, URL safety."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.config.registries_d import (
    RegistriesD,
    RegistriesDFile,
    Section,
    file_url,
    lookaside_file_path,
    lookaside_url,
    merge_registries_d,
    parse_registries_d_file,
)
from sansio_registry.digest import Digest
from sansio_registry.errors import ConfigError, LocalProtocolError
from sansio_registry.reference import ImageRef

HEX = "817a12c32a39bbe394944ba49de563e085f1d3c5266eb8e9723256bc4448680e"
DIGEST = Digest("sha256", HEX)
D = f"sha256={HEX}"
DEFAULT_DIR = "file:///builtin/default"

# Vectors from containers/image 5.23.1, verbatim.
YAML_19_8 = b"""
default-docker:
  lookaside: https://default.example/sigs
  lookaside-staging: file:///staging
docker:
  registry.example.com:
    lookaside: https://lookaside.example.com/base/
  registry.example.com/team:
    sigstore: http://old.example.com/sigstore
  registry.example.com/team/app:v1:
    lookaside: file:///var/lib/sigs
  registry.example.com/empty:
    lookaside-staging: file:///only/staging
  "*.example.org":
    lookaside: https://wild.example.org/s
  docker.io/library:
    lookaside: https://docker-lib.example/s?x=1
"""

# (reference, modes, signature-N URL with {n} for the index), vectors from Go 5.23.1.
ROWS_19_8 = [
    (
        "registry.example.com/team/app:v1",
        ("read", "write"),
        f"file:///var/lib/sigs/team/app@{D}/signature-{{n}}",
    ),
    (
        "registry.example.com/team/app:v2",
        ("read", "write"),
        f"http://old.example.com/sigstore/team/app@{D}/signature-{{n}}",
    ),
    (
        f"registry.example.com/team/app@sha256:{HEX}",
        ("read",),
        f"http://old.example.com/sigstore/team/app@{D}/signature-{{n}}",
    ),
    (
        "registry.example.com/other/app:v1",
        ("read", "write"),
        f"https://lookaside.example.com/base//other/app@{D}/signature-{{n}}",
    ),
    (
        "registry.example.com/empty/x:1",
        ("read",),
        f"https://lookaside.example.com/base//empty/x@{D}/signature-{{n}}",
    ),
    (
        "registry.example.com/empty/x:1",
        ("write",),
        f"file:///only/staging/empty/x@{D}/signature-{{n}}",
    ),
    (
        "foo.bar.example.org/a/b:1",
        ("read", "write"),
        f"https://wild.example.org/s/a/b@{D}/signature-{{n}}",
    ),
    (
        "busybox:latest",
        ("read", "write"),
        f"https://docker-lib.example/s/library/busybox@{D}/signature-{{n}}?x=1",
    ),
    ("quay.io/a/b:1", ("read",), f"https://default.example/sigs/a/b@{D}/signature-{{n}}"),
    ("quay.io/a/b:1", ("write",), f"file:///staging/a/b@{D}/signature-{{n}}"),
]

CASES_19_8 = [
    pytest.param(ref, mode, expected, n, id=f"{ref}-{mode}-sig{n}")
    for ref, modes, expected in ROWS_19_8
    for mode in modes
    for n in (1, 2)
]


@pytest.fixture(scope="module")
def config_19_8() -> RegistriesD:
    return merge_registries_d([parse_registries_d_file(YAML_19_8, path="/d/default.yaml")])


@pytest.mark.parametrize(("ref", "mode", "expected", "n"), CASES_19_8)
def test_spec_19_8_lookaside_urls(
    config_19_8: RegistriesD, ref: str, mode: str, expected: str, n: int
) -> None:
    image = ImageRef.parse(ref)
    base = config_19_8.lookaside_base(image, write=mode == "write", default_dir=DEFAULT_DIR)
    assert lookaside_url(base, image, DIGEST, n) == expected.format(n=n)


def test_spec_19_8_sections_parsed(config_19_8: RegistriesD) -> None:
    assert config_19_8.default_docker == Section(
        lookaside="https://default.example/sigs", lookaside_staging="file:///staging"
    )
    assert config_19_8.docker["registry.example.com/team"] == Section(
        sigstore="http://old.example.com/sigstore"
    )
    assert set(config_19_8.docker) == {
        "registry.example.com",
        "registry.example.com/team",
        "registry.example.com/team/app:v1",
        "registry.example.com/empty",
        "*.example.org",
        "docker.io/library",
    }


# --- scope search ----------------------------------------------------------------------------


def test_empty_config_gives_the_builtin_default() -> None:
    ref = ImageRef.parse("quay.io/a/b:1")
    for write in (False, True):
        assert RegistriesD().lookaside_base(ref, write=write, default_dir=DEFAULT_DIR) == (
            DEFAULT_DIR
        )
    assert lookaside_url(DEFAULT_DIR, ref, DIGEST, 1) == (
        f"file:///builtin/default/a/b@{D}/signature-1"
    )
    assert RegistriesD().use_sigstore_attachments(ref) is False


def test_section_mode_precedence() -> None:
    full = Section(lookaside="L", lookaside_staging="LS", sigstore="S", sigstore_staging="SS")
    assert full.top_level(write=False) == "L"
    assert full.top_level(write=True) == "LS"
    assert Section(sigstore="S", sigstore_staging="SS").top_level(write=True) == "SS"
    assert Section(sigstore="S", sigstore_staging="SS").top_level(write=False) == "S"
    assert Section(lookaside="L", sigstore_staging="SS").top_level(write=True) == "SS"
    assert Section(lookaside="L", sigstore="S").top_level(write=True) == "L"
    assert Section(sigstore="S").top_level(write=True) == "S"
    # Empty strings are "not set", as in Go.
    assert Section(lookaside="", sigstore="S").top_level(write=False) == "S"
    assert Section(lookaside_staging="").top_level(write=True) is None
    assert Section().top_level(write=False) is None


def test_scope_order_identity_namespaces_wildcards_default() -> None:
    ref = ImageRef.parse("a.b.example.com:5000/x/y/z:t")
    scopes = [
        "a.b.example.com:5000/x/y/z:t",
        "a.b.example.com:5000/x/y/z",
        "a.b.example.com:5000/x/y",
        "a.b.example.com:5000/x",
        "a.b.example.com:5000",
        "*.b.example.com",
        "*.example.com",
        "*.com",
    ]
    docker = {scope: Section(lookaside=f"https://s/{i}") for i, scope in enumerate(scopes)}
    default = Section(lookaside="https://s/default")
    # Remove the most specific scope each time: the next one must win.
    for i in range(len(scopes)):
        config = RegistriesD(default_docker=default, docker=docker)
        assert config.lookaside_base(ref, write=False, default_dir=DEFAULT_DIR) == f"https://s/{i}"
        del docker[scopes[i]]
    config = RegistriesD(default_docker=default, docker=docker)
    assert config.lookaside_base(ref, write=False, default_dir=DEFAULT_DIR) == "https://s/default"
    assert RegistriesD().lookaside_base(ref, write=False, default_dir="file:///x") == "file:///x"


def test_digest_identity_scope() -> None:
    ref = ImageRef.parse(f"r.example/a@sha256:{HEX}")
    config = RegistriesD(
        docker={
            f"r.example/a@sha256:{HEX}": Section(lookaside="https://by-digest/"),
            "r.example/a": Section(lookaside="https://by-name/"),
        }
    )
    assert config.lookaside_base(ref, write=False, default_dir=DEFAULT_DIR) == "https://by-digest/"


def test_search_continues_past_a_section_without_the_mode() -> None:
    config = RegistriesD(
        default_docker=Section(lookaside="https://default/"),
        docker={
            "r.example/a": Section(lookaside_staging="file:///stage"),
            "r.example": Section(use_sigstore_attachments=True),
        },
    )
    ref = ImageRef.parse("r.example/a:1")
    assert config.lookaside_base(ref, write=False, default_dir=DEFAULT_DIR) == "https://default/"
    assert config.lookaside_base(ref, write=True, default_dir=DEFAULT_DIR) == "file:///stage"


def test_use_sigstore_attachments_first_explicit_value() -> None:
    ref = ImageRef.parse("r.example/team/app:1")
    config = RegistriesD(
        default_docker=Section(use_sigstore_attachments=True),
        docker={
            "r.example/team/app:1": Section(lookaside="https://x/"),  # no explicit value
            "r.example/team": Section(use_sigstore_attachments=False),
            "r.example": Section(use_sigstore_attachments=True),
        },
    )
    assert config.use_sigstore_attachments(ref) is False
    assert config.use_sigstore_attachments(ImageRef.parse("r.example/other:1")) is True
    assert config.use_sigstore_attachments(ImageRef.parse("quay.io/x:1")) is True
    assert (
        RegistriesD(docker=dict(config.docker)).use_sigstore_attachments(
            ImageRef.parse("quay.io/x:1")
        )
        is False
    )


# --- parsing ---------------------------------------------------------------------------------


def test_parse_all_keys_and_unknown_keys_tolerated() -> None:
    f = parse_registries_d_file(
        b"""
future-top-level: 1
default-docker:
  sigstore: https://old/
  sigstore-staging: file:///old-staging
  use-sigstore-attachments: true
  something-new: [1, 2]
docker:
  r.example:
    lookaside: https://new/
    lookaside-staging: file:///new-staging
    use-sigstore-attachments: false
""",
        path="/d/a.yaml",
    )
    assert f == RegistriesDFile(
        path="/d/a.yaml",
        default_docker=Section(
            sigstore="https://old/",
            sigstore_staging="file:///old-staging",
            use_sigstore_attachments=True,
        ),
        docker={
            "r.example": Section(
                lookaside="https://new/",
                lookaside_staging="file:///new-staging",
                use_sigstore_attachments=False,
            )
        },
    )


@pytest.mark.parametrize("data", [b"", b"# only a comment\n", b"---\n", b"~\n"])
def test_empty_documents(data: bytes) -> None:
    assert parse_registries_d_file(data, path="p") == RegistriesDFile(path="p")


def test_null_sections() -> None:
    f = parse_registries_d_file(b"default-docker:\ndocker:\n  r.example:\n", path="p")
    assert f.default_docker is None  # a nil pointer in Go
    assert f.docker == {"r.example": Section()}  # a zero struct in Go: still "defined"


@pytest.mark.parametrize(
    "data",
    [
        b"- a\n- b\n",
        b"docker: 5\n",
        b"docker:\n  r.example: [1]\n",
        b"default-docker:\n  lookaside: [x]\n",
        b"default-docker:\n  use-sigstore-attachments: maybe\n",
        b"a: [\n",
        b"\tdocker: {}\n",
        b"\xff\xfe\x00",
    ],
)
def test_parse_errors_name_the_file(data: bytes) -> None:
    with pytest.raises(ConfigError) as info:
        parse_registries_d_file(data, path="/etc/containers/registries.d/x.yaml")
    assert str(info.value).startswith("parsing /etc/containers/registries.d/x.yaml: ")


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_parse_or_config_error(data: bytes) -> None:
    try:
        f = parse_registries_d_file(data, path="p")
    except ConfigError as exc:
        assert str(exc).startswith("parsing p: ")
    else:
        assert isinstance(f, RegistriesDFile)


# --- merging ---------------------------------------------------------------------------------


def test_merge_default_docker_twice() -> None:
    a = parse_registries_d_file(b"default-docker:\n  lookaside: https://a/\n", path="/d/a.yaml")
    b = parse_registries_d_file(b"docker:\n  r.example:\n    lookaside: https://b/\n", path="b")
    c = parse_registries_d_file(b"default-docker:\n  sigstore: https://c/\n", path="/d/c.yaml")
    with pytest.raises(ConfigError) as info:
        merge_registries_d([a, b, c])
    assert str(info.value) == (
        "Error parsing signature storage configuration: "
        '"default-docker" defined both in "/d/a.yaml" and "/d/c.yaml"'
    )


def test_merge_docker_namespace_twice() -> None:
    a = parse_registries_d_file(b"docker:\n  r.example/x:\n    lookaside: https://a/\n", path="A")
    b = parse_registries_d_file(b"docker:\n  other: {}\n  r.example/x:\n", path="B")
    with pytest.raises(ConfigError) as info:
        merge_registries_d([a, b])
    assert str(info.value) == (
        "Error parsing signature storage configuration: "
        '"docker" namespace "r.example/x" defined both in "A" and "B"'
    )


def test_merge_disjoint_files() -> None:
    a = parse_registries_d_file(b"default-docker:\n  lookaside: https://a/\n", path="A")
    b = parse_registries_d_file(b"docker:\n  r.example:\n    lookaside: https://b/\n", path="B")
    c = parse_registries_d_file(b"docker:\n  q.example:\n    sigstore: https://c/\n", path="C")
    merged = merge_registries_d([a, b, c])
    assert merged == RegistriesD(
        default_docker=Section(lookaside="https://a/"),
        docker={
            "r.example": Section(lookaside="https://b/"),
            "q.example": Section(sigstore="https://c/"),
        },
    )
    assert merge_registries_d([]) == RegistriesD()


# --- URL building ----------------------------------------------------------------------------

REF = ImageRef.parse("registry.example.com/team/app:v1")


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (
            "https://example.com/lookaside",
            f"https://example.com/lookaside/team/app@{D}/signature-3",
        ),
        ("https://example.com", f"https://example.com/team/app@{D}/signature-3"),
        ("https://example.com/", f"https://example.com//team/app@{D}/signature-3"),
        ("https://example.com/a?x=1&y", f"https://example.com/a/team/app@{D}/signature-3?x=1&y"),
        ("https://example.com/a?", f"https://example.com/a/team/app@{D}/signature-3?"),
        ("https://example.com/a#frag", f"https://example.com/a/team/app@{D}/signature-3#frag"),
        ("HTTPS://Example.com:8443/a", f"https://Example.com:8443/a/team/app@{D}/signature-3"),
        ("https://u:p@h/a", f"https://u:p@h/a/team/app@{D}/signature-3"),
        ("file:///var/sigs", f"file:///var/sigs/team/app@{D}/signature-3"),
        ("file:/var/sigs", f"file:///var/sigs/team/app@{D}/signature-3"),
        # Go unescapes the base path and escapes it again with its own rules.
        ("https://h/a%20b", f"https://h/a%20b/team/app@{D}/signature-3"),
        ("https://h/a b", f"https://h/a%20b/team/app@{D}/signature-3"),
        ("https://h/a!b", f"https://h/a%21b/team/app@{D}/signature-3"),
        ("https://h/%41", f"https://h/A/team/app@{D}/signature-3"),
        ("https://h/%3f", f"https://h/%3F/team/app@{D}/signature-3"),
        ("https://h/\u00e4", f"https://h/%C3%A4/team/app@{D}/signature-3"),
        ("https://h/a@b=c", f"https://h/a@b=c/team/app@{D}/signature-3"),
        # No scheme: Go builds the URL anyway; reading it later fails with "Unsupported scheme".
        ("/var/sigs", f"/var/sigs/team/app@{D}/signature-3"),
    ],
)
def test_lookaside_url_shapes(base: str, expected: str) -> None:
    assert lookaside_url(base, REF, DIGEST, 3) == expected


def test_lookaside_url_other_algorithms() -> None:
    d512 = Digest.of(b"x", "sha512")
    assert lookaside_url("https://h/s", REF, d512, 1) == (
        f"https://h/s/team/app@sha512={d512.hex}/signature-1"
    )


@pytest.mark.parametrize(
    ("base", "reason"),
    [
        ("https://h:abc/", 'parse "https://h:abc/": invalid port ":abc" after host'),
        ("https://h:\u00b2/", 'parse "https://h:\u00b2/": invalid port ":\u00b2" after host'),
        ("https://h/%zz", 'parse "https://h/%zz": invalid URL escape "%zz"'),
        ("https://h/a%2", 'parse "https://h/a%2": invalid URL escape "%2"'),
        (":nope", 'parse ":nope": missing protocol scheme'),
        ("https://h/a\nb", 'parse "https://h/a\\nb": net/url: invalid control character in URL'),
        ("a:b/c", 'parse "a:b/c": opaque URLs (without a path starting with /) are not supported'),
        ("1a:b/c", 'parse "1a:b/c": first path segment in URL cannot contain colon'),
        ("https://h/a/../b", 'parse "https://h/a/../b": path contains . or .. segments'),
        ("https://h/./b", 'parse "https://h/./b": path contains . or .. segments'),
        ("https://h/a/%2e%2e/b", 'parse "https://h/a/%2e%2e/b": path contains . or .. segments'),
        ("https://h/a/..", 'parse "https://h/a/..": path contains . or .. segments'),
    ],
)
def test_invalid_bases(base: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        lookaside_url(base, REF, DIGEST, 1)
    assert str(info.value) == f"Invalid signature storage URL {base}: {reason}"


def test_invalid_base_password_is_redacted() -> None:
    with pytest.raises(ConfigError) as info:
        lookaside_url("https://user:secret@h:bad/", REF, DIGEST, 1)
    assert "secret" not in str(info.value)
    assert "https://user:xxxxx@h:bad/" in str(info.value)


@pytest.mark.parametrize("index", [0, -1])
def test_index_must_be_positive(index: int) -> None:
    with pytest.raises(LocalProtocolError):
        lookaside_url("https://h/", REF, DIGEST, index)


@pytest.mark.parametrize(
    "path", ["../etc", "a/../../b", "a/./b", "a//b", "/abs", "a/", "a?b", "a#b", "a%2e", "A/b", ""]
)
def test_reference_paths_that_could_escape_are_refused(path: str) -> None:
    # ImageRef's constructor does not validate; only parse() does.
    ref = ImageRef(domain="r.example", path=path, tag="t")
    with pytest.raises(LocalProtocolError) as info:
        lookaside_url("file:///sigs", ref, DIGEST, 1)
    assert "Unexpected path elements in Docker reference" in str(info.value)


def test_tampered_digest_is_refused() -> None:
    bad = object.__new__(Digest)
    object.__setattr__(bad, "algorithm", "sha256")
    object.__setattr__(bad, "hex", "../../../../etc/passwd" + "0" * 42)
    with pytest.raises(LocalProtocolError):
        lookaside_url("file:///sigs", REF, bad, 1)


# --- file URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("file:///var/sigs/a@sha256=ab/signature-1", "/var/sigs/a@sha256=ab/signature-1"),
        ("file:///a%20b/c%3Fd", "/a b/c?d"),
        ("file://localhost/x", "/x"),
        ("file:/x", "/x"),
        ("file:///x?q=1", "/x"),
        ("FILE:///x", "/x"),
    ],
)
def test_lookaside_file_path(url: str, path: str) -> None:
    assert lookaside_file_path(url) == path


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://h/x", "Unsupported scheme when reading signature from https://h/x"),
        ("/just/a/path", "Unsupported scheme when reading signature from /just/a/path"),
        ("ftp://u:pw@h/x", "Unsupported scheme when reading signature from ftp://u:xxxxx@h/x"),
        ("file://other.host/x", "Unsupported host in file URL file://other.host/x"),
        ("file:///a%00b", "Invalid file URL file:///a%00b"),
        ("file:///%zz", 'Invalid signature storage URL file:///%zz: invalid URL escape "%zz"'),
    ],
)
def test_lookaside_file_path_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        lookaside_file_path(url)
    assert str(info.value) == message


def test_file_url_escapes_like_go() -> None:
    assert file_url("/var/lib/containers/sigstore") == "file:///var/lib/containers/sigstore"
    assert file_url("/home/a b/x") == "file:///home/a%20b/x"
    assert file_url("/h/\u00e9?#%") == "file:///h/%C3%A9%3F%23%25"


# --- properties ------------------------------------------------------------------------------

_COMPONENT = st.from_regex(
    r"[a-z0-9]{1,5}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,5}){0,2}", fullmatch=True
)
_REFS = st.builds(
    lambda host, parts, tag: ImageRef.parse(f"{host}/{'/'.join(parts)}:{tag}"),
    st.from_regex(r"[a-z0-9]{1,8}(?:\.[a-z0-9]{1,8}){1,3}(?::[0-9]{1,5})?", fullmatch=True),
    st.lists(_COMPONENT, min_size=1, max_size=4),
    st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,10}", fullmatch=True),
)
_DIGESTS = st.sampled_from(["sha256", "sha384", "sha512"]).flatmap(
    lambda algo: st.binary(max_size=8).map(lambda data: Digest.of(data, algo))
)
# Path segments already in Go's canonical escaped form (so the base text survives verbatim).
_SEGMENT = st.lists(
    st.from_regex(r"[A-Za-z0-9_~$&+,:;=@-]{1,4}\.?", fullmatch=True)
    | st.sampled_from(["%20", "%21", "%23", "%25", "%3F", "%C3%A4", "%7B"]),
    min_size=1,
    max_size=4,
).map("".join)


@st.composite
def _bases(draw: st.DrawFn) -> tuple[str, str, str | None]:
    scheme = draw(st.sampled_from(["http", "https", "file"]))
    netloc = (
        ""
        if scheme == "file"
        else draw(
            st.from_regex(r"[a-z0-9]{1,8}(?:\.[a-z0-9]{1,8}){0,2}(?::[0-9]{1,5})?", fullmatch=True)
        )
    )
    segments = draw(st.lists(_SEGMENT, max_size=4))
    path = "".join("/" + s for s in segments) + draw(st.sampled_from(["", "/"]))
    query = draw(st.none() | st.from_regex(r"[A-Za-z0-9=&_.%-]{0,12}", fullmatch=True))
    prefix = f"{scheme}://{netloc}{path}"
    return prefix, (prefix + ("" if query is None else "?" + query)), query


def _decoded_segments_ok(path: str) -> bool:
    return all(seg not in (".", "..") for seg in path.split("/"))


@given(_bases(), _REFS, _DIGESTS, st.integers(min_value=1, max_value=10**6))
def test_url_never_escapes_the_base(
    base: tuple[str, str, str | None], ref: ImageRef, digest: Digest, index: int
) -> None:
    prefix, text, query = base
    url = lookaside_url(text, ref, digest, index)
    tail = f"/{ref.path}@{digest.algorithm}={digest.hex}/signature-{index}"
    assert url == prefix + tail + ("" if query is None else "?" + query)
    assert url.startswith(prefix)
    assert "/../" not in url and "/./" not in url
    split_url, split_base = urlsplit(url), urlsplit(text)
    assert (split_url.scheme, split_url.netloc) == (split_base.scheme, split_base.netloc)
    assert _decoded_segments_ok(split_url.path)


@given(st.text(max_size=60), _REFS, _DIGESTS)
def test_any_base_text_gives_a_url_or_config_error(text: str, ref: ImageRef, d: Digest) -> None:
    try:
        url = lookaside_url(text, ref, d, 1)
    except ConfigError as exc:
        assert str(exc).startswith("Invalid signature storage URL ")
    else:
        path = url.split("#", 1)[0].split("?", 1)[0]
        assert path.endswith(f"/{ref.path}@{d.algorithm}={d.hex}/signature-1")
        assert "/../" not in path and "/./" not in path


@given(
    st.lists(
        st.text(
            st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
            min_size=1,
            max_size=6,
        ).filter(lambda s: s not in (".", "..")),
        min_size=1,
        max_size=4,
    ),
    _REFS,
    _DIGESTS,
)
def test_file_round_trip(segments: list[str], ref: ImageRef, digest: Digest) -> None:
    directory = "/" + "/".join(segments)
    url = lookaside_url(file_url(directory), ref, digest, 2)
    assert lookaside_file_path(url) == (
        f"{directory}/{ref.path}@{digest.algorithm}={digest.hex}/signature-2"
    )
