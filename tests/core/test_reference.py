"""Image reference parsing: containers/image 5.23.1 vectors plus generated round trips."""

from __future__ import annotations

import time

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sansio_registry.errors import InvalidReference, RegistryClientError
from sansio_registry.reference import ImageRef, is_valid_domain, parse_digest

HEX64 = "0123456789abcdef" * 4
HEX96 = "0123456789abcdef" * 6
SHA256 = f"sha256:{HEX64}"

# Vectors from containers/image 5.23.1: input → Name | Path | tag-or-digest | canonical
VALID = [
    ("busybox", "docker.io/library/busybox", "library/busybox", "latest",
     "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox", "library/busybox", "1.36",
     "docker.io/library/busybox:1.36"),
    ("docker.io/busybox", "docker.io/library/busybox", "library/busybox", "latest",
     "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox", "library/busybox", "latest",
     "docker.io/library/busybox:latest"),
    ("foo/bar", "docker.io/foo/bar", "foo/bar", "latest", "docker.io/foo/bar:latest"),
    ("localhost/foo", "localhost/foo", "foo", "latest", "localhost/foo:latest"),
    ("localhost:5000/foo/bar:tag", "localhost:5000/foo/bar", "foo/bar", "tag",
     "localhost:5000/foo/bar:tag"),
    ("registry-1.docker.io/busybox", "registry-1.docker.io/busybox", "busybox", "latest",
     "registry-1.docker.io/busybox:latest"),
    ("Example.COM/foo", "Example.COM/foo", "foo", "latest", "Example.COM/foo:latest"),
    ("my_host/foo", "docker.io/my_host/foo", "my_host/foo", "latest",
     "docker.io/my_host/foo:latest"),
    ("sha256:abc", "docker.io/library/sha256", "library/sha256", "abc",
     "docker.io/library/sha256:abc"),
    ("localhost:5000", "docker.io/library/localhost", "library/localhost", "5000",
     "docker.io/library/localhost:5000"),
    (f"example.com/ns/repo@{SHA256}", "example.com/ns/repo", "ns/repo", SHA256,
     f"example.com/ns/repo@{SHA256}"),
    (f"example.com/a@sha384:{HEX96}", "example.com/a", "a", f"sha384:{HEX96}",
     f"example.com/a@sha384:{HEX96}"),
    ("example.com/a:_tag", "example.com/a", "a", "_tag", "example.com/a:_tag"),
    ("1.2.3.4:5000/a", "1.2.3.4:5000/a", "a", "latest", "1.2.3.4:5000/a:latest"),
    # edge cases
    ("example.com/a__b", "example.com/a__b", "a__b", "latest", "example.com/a__b:latest"),
    ("example.com/a--b", "example.com/a--b", "a--b", "latest", "example.com/a--b:latest"),
    ("example.com/a.b", "example.com/a.b", "a.b", "latest", "example.com/a.b:latest"),
    ("example.com/repo:" + "t" * 128, "example.com/repo", "repo", "t" * 128,
     "example.com/repo:" + "t" * 128),
]  # fmt: skip

LOWER = "invalid reference format: repository name must be lowercase"
FORMAT = "invalid reference format"
BOTH = "Docker references with both a tag and digest are currently not supported"
ERRORS = [
    ("example.com/Foo", LOWER),
    ("UPPER/foo", LOWER),
    (f"example.com/a@SHA256:{HEX64}", LOWER),
    (f"busybox:tag@{SHA256}", BOTH),
    (HEX64, f"invalid repository name ({HEX64}), cannot specify 64-byte hexadecimal strings"),
    ("example.com/" + "a" * 250, "repository name must not be more than 255 characters"),
    ("example.com/repo:" + "t" * 129, FORMAT),
    ("example.com/a___b", FORMAT),
    ("example.com/a-", FORMAT),
    ("example.com/-a", FORMAT),
    ("example.com//a", FORMAT),
    ("example.com/a:tag:tag", FORMAT),
    ("[::1]:5000/foo", FORMAT),
    ("example.com/", FORMAT),
    ("", FORMAT),
    ("-bad.com/a", FORMAT),
    ("bad-.com/a", FORMAT),
    ("example.com/a:-tag", FORMAT),
    ("example.com/a:.tag", FORMAT),
    ("example.com/a@sha256:abc", FORMAT),
    (f"example.com/a@sha512:{HEX64}", "invalid checksum digest length"),
    ("example.com/a@md5:" + "0" * 32, "unsupported digest algorithm"),
    (f"example.com/a@sha256:{HEX64.upper()}", "invalid checksum digest format"),
    # edge cases and the Go order of checks
    ("//a", FORMAT),
    ("a-", FORMAT),
    ("-a", FORMAT),
    ("a___b", FORMAT),
    # the limit counts the implicit "docker.io/library/", as in Go
    ("a" * 240, "repository name must not be more than 255 characters"),
    # uppercase only visible to the grammar (domain not valid, lowercased it would be a path)
    ("A_B.c/foo", "repository name must be lowercase"),
    # a leading docker:// is the CLI's business
    ("docker://busybox", FORMAT),
    # trailing newline must not sneak past an end-of-string anchor
    ("busybox\n", FORMAT),
]  # fmt: skip

NAMESPACES = [
    ("busybox:latest", ("docker.io/library/busybox", "docker.io/library", "docker.io", "*.io")),
    ("localhost:5000/foo/bar:tag", ("localhost:5000/foo/bar", "localhost:5000/foo",
                                    "localhost:5000")),
    ("example.com:8443/ns/repo", ("example.com:8443/ns/repo", "example.com:8443/ns",
                                  "example.com:8443", "*.com")),
    ("a.b.c.example.com/ns/repo:t", ("a.b.c.example.com/ns/repo", "a.b.c.example.com/ns",
                                     "a.b.c.example.com", "*.b.c.example.com", "*.c.example.com",
                                     "*.example.com", "*.com")),
    ("registry-1.docker.io/busybox", ("registry-1.docker.io/busybox", "registry-1.docker.io",
                                      "*.docker.io", "*.io")),
]  # fmt: skip


@pytest.mark.parametrize(("text", "name", "path", "tag_or_digest", "canonical"), VALID)
def test_valid_vectors(
    text: str, name: str, path: str, tag_or_digest: str, canonical: str
) -> None:
    ref = ImageRef.parse(text)
    assert ref.name == name
    assert ref.path == path
    assert ref.domain + "/" + ref.path == name
    assert ref.tag_or_digest == tag_or_digest
    assert str(ref) == canonical
    if tag_or_digest.startswith(("sha256:", "sha384:")):
        assert (ref.tag, ref.digest) == (None, tag_or_digest)
    else:
        assert (ref.tag, ref.digest) == (tag_or_digest, None)
    assert ImageRef.parse(str(ref)) == ref


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_vectors(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as info:
        ImageRef.parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "expected"), NAMESPACES)
def test_policy_namespaces(text: str, expected: tuple[str, ...]) -> None:
    assert ImageRef.parse(text).policy_namespaces() == expected


def test_name_length_limit_is_inclusive() -> None:
    ok = "example.com/" + "a" * (255 - len("example.com/"))
    assert ImageRef.parse(ok).name == ok
    with pytest.raises(InvalidReference):
        ImageRef.parse(ok + "a")


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("busybox", "registry-1.docker.io"),
        ("docker.io/x/y", "registry-1.docker.io"),
        ("registry-1.docker.io/busybox", "registry-1.docker.io"),
        ("Example.COM:5000/foo", "Example.COM:5000"),
        ("localhost/foo", "localhost"),
    ],
)
def test_connection_host(text: str, host: str) -> None:
    assert ImageRef.parse(text).connection_host == host


@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("busybox", "busybox:latest"),
        ("docker.io/library/busybox:1", "busybox:1"),
        ("docker.io/library/a/b:1", "library/a/b:1"),
        ("foo/bar", "foo/bar:latest"),
        (f"quay.io/a/b@{SHA256}", f"quay.io/a/b@{SHA256}"),
        ("localhost:5000/library/x", "localhost:5000/library/x:latest"),
    ],
)
def test_familiar(text: str, familiar: str) -> None:
    assert ImageRef.parse(text).familiar == familiar


def test_with_digest_and_with_tag() -> None:
    ref = ImageRef.parse("example.com/ns/app:v1")
    pinned = ref.with_digest(SHA256)
    assert pinned.tag is None
    assert str(pinned) == f"example.com/ns/app@{SHA256}"
    assert str(pinned.with_tag("v2")) == "example.com/ns/app:v2"
    assert pinned.with_tag("v2").digest is None
    with pytest.raises(InvalidReference, match=r"^invalid digest format$"):
        ref.with_digest("sha256:abc")
    with pytest.raises(InvalidReference, match=r"^invalid checksum digest length$"):
        ref.with_digest(f"sha512:{HEX64}")
    with pytest.raises(InvalidReference, match=r"^invalid tag format$"):
        ref.with_tag(".bad")
    with pytest.raises(InvalidReference, match=r"^invalid tag format$"):
        ref.with_tag("t" * 129)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SHA256, ("sha256", HEX64)),
        (f"sha384:{HEX96}", ("sha384", HEX96)),
        ("sha512:" + "a" * 128, ("sha512", "a" * 128)),
    ],
)
def test_parse_digest_ok(text: str, expected: tuple[str, str]) -> None:
    assert parse_digest(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sha256:" + "a" * 63, "invalid checksum digest length"),
        ("sha384:" + "a" * 64, "invalid checksum digest length"),
        ("sha256:" + "g" * 64, "invalid checksum digest format"),
        ("sha256:" + "A" * 64, "invalid checksum digest format"),
        ("md5:" + "a" * 32, "unsupported digest algorithm"),
        ("MD5:" + "a" * 32, "invalid checksum digest format"),
        ("sha256", "invalid checksum digest format"),
        (":abc", "invalid checksum digest format"),
        ("sha256:", "invalid checksum digest format"),
        ("", "invalid checksum digest format"),
    ],
)
def test_parse_digest_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_digest(text)
    assert str(info.value) == message


def test_is_valid_domain() -> None:
    assert is_valid_domain("example.com:5000")
    assert is_valid_domain("localhost")
    assert not is_valid_domain("example.com/ns")
    assert not is_valid_domain("-a.com")
    assert not is_valid_domain("")


@pytest.mark.parametrize(
    "text",
    [
        "x/" + "a" * 20000 + "!",
        "a." * 10000 + "!/b",
        "x/" + "a-" * 10000 + "/",
        "x/" + "a.a_" * 10000,
        "x/a:" + "t" * 20000,
        "x/a@" + "a" * 20000,
        "A" * 20000 + "/" + "a" * 20000,
    ],
)
def test_hostile_input_is_fast(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(InvalidReference):
        ImageRef.parse(text)
    assert time.perf_counter() - start < 1.0


# --- properties -------------------------------------------------------------------------------

_alnum_lower = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_separator = st.sampled_from([".", "_", "__", "-", "--", "---"])
_component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    _alnum_lower,
    st.lists(st.tuples(_separator, _alnum_lower), max_size=3),
)
_dcomp = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
_domain = st.builds(
    lambda comps, port: ".".join(comps) + (f":{port}" if port is not None else ""),
    st.lists(_dcomp, min_size=1, max_size=4),
    st.none() | st.integers(min_value=0, max_value=99999),
)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digest = st.builds(
    lambda algo, data: f"{algo}:{data}",
    st.sampled_from(["sha256"]),
    st.text("0123456789abcdef", min_size=64, max_size=64),
) | st.builds(lambda h: f"sha512:{h}", st.text("0123456789abcdef", min_size=128, max_size=128))


@st.composite
def reference_texts(draw: st.DrawFn) -> str:
    """References drawn from the reference grammar (domain optional, tag/digest optional)."""
    domain = draw(st.none() | _domain | st.just("localhost"))
    path = "/".join(draw(st.lists(_component, min_size=1, max_size=4)))
    text = path if domain is None else f"{domain}/{path}"
    suffix = draw(st.sampled_from(["", "tag", "digest"]))
    if suffix == "tag":
        text += ":" + draw(_tag)
    elif suffix == "digest":
        text += "@" + draw(_digest)
    return text


@given(reference_texts())
def test_grammar_references_round_trip(text: str) -> None:
    try:
        ref = ImageRef.parse(text)
    except InvalidReference as exc:
        # Only the documented refusals may hit a grammar-valid string: the domain split rule
        # can move a first path component into the domain, and names can get too long.
        assert str(exc) in {
            "repository name must not be more than 255 characters",
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings",
            "invalid reference format",
            LOWER,
        }
        return
    canonical = str(ref)
    again = ImageRef.parse(canonical)
    assert again == ref
    assert str(again) == canonical
    assert (ref.tag is None) != (ref.digest is None)
    assert canonical.startswith(ref.name)
    assert ref.policy_namespaces()[0] == ref.name
    assert ref.policy_namespaces()[ref.name.count("/")] == ref.domain


@given(_domain, st.lists(_component, min_size=1, max_size=3), _tag)
def test_qualified_references_keep_their_parts(domain: str, comps: list[str], tag: str) -> None:
    assume("." in domain or ":" in domain)  # otherwise the Docker rule makes it a path
    path = "/".join(comps)
    text = f"{domain}/{path}:{tag}"
    assume(len(domain) + 1 + len(path) <= 255)
    ref = ImageRef.parse(text)
    expected_domain = "docker.io" if domain == "index.docker.io" else domain
    assert ref.domain == expected_domain
    if expected_domain != "docker.io" or "/" in path:
        assert ref.path == path
    assert ref.tag == tag
    assert str(ref) == f"{ref.name}:{tag}"


@given(st.text(max_size=80))
def test_any_text_gives_ref_or_invalid_reference(text: str) -> None:
    try:
        ref = ImageRef.parse(text)
    except RegistryClientError as exc:
        assert isinstance(exc, InvalidReference)
        return
    assert ImageRef.parse(str(ref)) == ref


@given(st.text(alphabet=st.sampled_from("aA0:/@._-sha256f"), max_size=60))
def test_reference_alphabet_soup_never_crashes(text: str) -> None:
    try:
        ref = ImageRef.parse(text)
    except InvalidReference:
        return
    assert ImageRef.parse(str(ref)) == ref


@given(st.text(max_size=140))
def test_parse_digest_never_crashes(text: str) -> None:
    try:
        algo, hexpart = parse_digest(text)
    except InvalidReference:
        return
    assert f"{algo}:{hexpart}" == text
