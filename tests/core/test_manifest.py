"""Media types, Content-Type simplification, type guessing, parsing, platform choice.

Guessing and platform choice are checked against vectors from containers/image 5.23.1.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.errors import LocalProtocolError, RemoteProtocolError
from sansio_registry.manifest import (
    Descriptor,
    ImageIndex,
    ImageManifest,
    Platform,
    Schema1Manifest,
    parse_image_config,
    parse_manifest,
)
from sansio_registry.media_types import (
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA2,
    MANIFEST_ACCEPT,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    guess_media_type,
    is_index_type,
    normalize_media_type,
    simplify_content_type,
)
from sansio_registry.platform import (
    NoMatchingPlatform,
    WantedPlatform,
    choose_instance,
    wanted_platforms,
)

# ------------------------------------------------------------------------------------------
# Accept list and Content-Type


def test_accept_order() -> None:
    assert MANIFEST_ACCEPT == (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    )
    assert OCI_CONFIG == "application/vnd.oci.image.config.v1+json"
    assert DOCKER_CONFIG == "application/vnd.docker.container.image.v1+json"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
            "application/vnd.oci.image.manifest.v1+json",
        ),
        ("Application/JSON", "application/json"),
        (" application/json ", "application/json"),
        ("\tapplication/json;", "application/json"),
        ("text/plain;;", "text/plain"),  # parameters are not read, so not validated
        ('text/plain; a="x;y"', "text/plain"),
        ("garbage/", ""),
        ("/json", ""),
        ("json", ""),
        ("a/b/c", ""),
        ("a b/c", ""),
        ("text/pl\u00e4in", ""),
        ("\u00a0text/plain", ""),  # only HTTP whitespace (space, tab) is trimmed
        ("", ""),
        (None, ""),
    ],
)
def test_simplify_content_type(value: str | None, expected: str) -> None:
    assert simplify_content_type(value) == expected


@given(st.text(max_size=40))
def test_simplify_any_text(value: str) -> None:
    out = simplify_content_type(value)
    assert out == "" or simplify_content_type(out) == out
    assert out == out.lower() and ";" not in out and " " not in out


# ------------------------------------------------------------------------------------------
# Type guessing (vectors from containers/image 5.23.1)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}',
            DOCKER_SCHEMA2,
        ),
        (
            '{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"}}',
            OCI_MANIFEST,
        ),
        (
            '{"schemaVersion":2,"config":{"mediaType":'
            '"application/vnd.docker.container.image.v1+json"}}',
            DOCKER_SCHEMA2,
        ),
        (
            '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1'
            '+json","digest":"sha256:817a12c32a39bbe394944ba49de563e085f1d3c5266eb8e9723256bc444'
            '8680e","size":7}]}',
            OCI_INDEX,
        ),
        ('{"schemaVersion":2,"config":{"mediaType":"application/x-custom"}}', OCI_MANIFEST),
        ('{"schemaVersion":2}', OCI_MANIFEST),
        ('{"schemaVersion":3}', ""),
        ("not json", ""),
        ('{"mediaType":"application/vnd.oci.image.index.v1+json"}', OCI_INDEX),
        (
            '{"mediaType":"application/vnd.docker.distribution.manifest.v1+json",'
            '"schemaVersion":1}',
            DOCKER_SCHEMA1,
        ),
        # More guessing
        ('{"schemaVersion":1,"signatures":[]}', DOCKER_SCHEMA1_SIGNED),
        ('{"schemaVersion":1,"signatures":null}', DOCKER_SCHEMA1),
        ('{"schemaVersion":1,"signatures":0}', DOCKER_SCHEMA1_SIGNED),
        ('{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"}', DOCKER_LIST),
        ('{"mediaType":"application/vnd.oci.image.manifest.v1+json"}', OCI_MANIFEST),
        ('{"schemaVersion":2,"manifests":[]}', OCI_MANIFEST),
        ('{"schemaVersion":2,"manifests":[{}]}', OCI_INDEX),
        ('{"schemaVersion":2,"manifests":[null]}', OCI_INDEX),
        # Go's FIXME: the config media type comes back when both are present.
        ('{"schemaVersion":2,"config":{"mediaType":"x/y"},"manifests":[{}]}', "x/y"),
        ("{}", ""),
        ("null", ""),
        ("[]", ""),
        ('"x"', ""),
        ("", ""),
        # Go's encoding/json: case-insensitive keys, last one wins, null is "no change"
        ('{"SchemaVersion":1}', DOCKER_SCHEMA1),
        ('{"SCHEMAVERSION":2}', OCI_MANIFEST),
        ('{"\u017fchemaVersion":1}', DOCKER_SCHEMA1),
        ('{"schemaVersion":1,"schemaVersion":2}', OCI_MANIFEST),
        ('{"schemaVersion":1,"schemaVersion":null}', DOCKER_SCHEMA1),
        ('{"schemaVersion":1,"Signatures":[],"signatures":null}', DOCKER_SCHEMA1),
        (
            '{"schemaVersion":2,"config":{"mediaType":"' + OCI_CONFIG + '"},"config":{}}',
            OCI_MANIFEST,
        ),
        # Type errors fail the guess
        ('{"schemaVersion":1.0}', ""),
        ('{"schemaVersion":"1"}', ""),
        ('{"schemaVersion":1e0}', ""),
        ('{"schemaVersion":99999999999999999999}', ""),
        ('{"schemaVersion":1,"mediaType":5}', ""),
        ('{"schemaVersion":1,"signatures":[1e999]}', ""),
        ('{"schemaVersion":2,"config":"x"}', ""),
        ('{"schemaVersion":2,"config":{"mediaType":1}}', ""),
        ('{"schemaVersion":2,"manifests":{}}', ""),
        ('{"schemaVersion":2,"manifests":[{"size":"1"}]}', ""),
        ('{"schemaVersion":2,"manifests":[{"platform":{"os.features":"x"}}]}', ""),
        ('{"schemaVersion":2,"manifests":[{"data":"!!"}]}', ""),
        ('{"schemaVersion":2,"manifests":[{"data":"AAAA","annotations":{"a":null}}]}', OCI_INDEX),
        # Unknown fields are skipped without decoding
        ('{"schemaVersion":1,"other":1e999}', DOCKER_SCHEMA1),
        # Syntax Go rejects
        ('{"schemaVersion":NaN}', ""),
        ('\ufeff{"schemaVersion":1}', ""),
        ('{"schemaVersion":1} x', ""),
        ("[" * 5000 + "]" * 5000, ""),
    ],
)
def test_guess(body: str, expected: str) -> None:
    assert guess_media_type(body.encode()) == expected


def test_guess_invalid_utf8_inside_strings_is_tolerated() -> None:
    assert guess_media_type(b'{"schemaVersion":1,"name":"\xff"}') == DOCKER_SCHEMA1
    assert guess_media_type(b'{"schemaVersion":1}\xff') == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", DOCKER_SCHEMA1_SIGNED),
        ("application/json", DOCKER_SCHEMA1_SIGNED),
        ("text/plain", DOCKER_SCHEMA1_SIGNED),
        ("application/x-other", DOCKER_SCHEMA1_SIGNED),
        (DOCKER_SCHEMA1, DOCKER_SCHEMA1),
        (DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1_SIGNED),
        (OCI_MANIFEST, OCI_MANIFEST),
        (OCI_INDEX, OCI_INDEX),
        (DOCKER_SCHEMA2, DOCKER_SCHEMA2),
        (DOCKER_LIST, DOCKER_LIST),
    ],
)
def test_normalize(value: str, expected: str) -> None:
    assert normalize_media_type(value) == expected


def test_is_index_type() -> None:
    assert is_index_type(OCI_INDEX) and is_index_type(DOCKER_LIST)
    assert not is_index_type(OCI_MANIFEST) and not is_index_type("")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "schemaVersion",
                    "mediaType",
                    "signatures",
                    "config",
                    "manifests",
                    "layers",
                    "platform",
                    "size",
                    "digest",
                    "annotations",
                    "urls",
                    "data",
                    "fsLayers",
                    "history",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=15,
)


@given(st.binary(max_size=300))
def test_guess_any_bytes(body: bytes) -> None:
    assert isinstance(guess_media_type(body), str)


@given(json_values)
def test_guess_any_json(value: object) -> None:
    out = guess_media_type(json.dumps(value).encode())
    assert isinstance(out, str)


# ------------------------------------------------------------------------------------------
# Parsing documents

OCI_MANIFEST_BODY = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
    b'{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a'
    b'1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}'
)


def test_parse_oci_manifest() -> None:
    doc = parse_manifest(OCI_MANIFEST_BODY, OCI_MANIFEST)
    assert isinstance(doc, ImageManifest)
    assert doc.schema_version == 2
    assert doc.media_type == OCI_MANIFEST
    assert doc.config.media_type == OCI_CONFIG
    assert doc.config.size == 2
    assert doc.config.digest.startswith("sha256:44136fa3")
    assert doc.layers == ()


def test_parse_schema2_with_nulls_and_unknown_fields() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_SCHEMA2,
        "config": {"mediaType": DOCKER_CONFIG, "digest": "sha256:aa", "size": 7},
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": "sha256:bb",
                "size": 100,
                "urls": ["https://x.test/l"],
                "annotations": None,
                "extra": {"nested": True},
            }
        ],
        "annotations": None,
        "unknownTopLevel": [1, 2],
    }
    doc = parse_manifest(json.dumps(body).encode(), DOCKER_SCHEMA2)
    assert isinstance(doc, ImageManifest)
    assert doc.layers[0].urls == ("https://x.test/l",)
    assert doc.layers[0].annotations == {}
    assert doc.layers[0].size == 100


def test_parse_index_and_list() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {
                "mediaType": DOCKER_SCHEMA2,
                "digest": "sha256:11",
                "size": 5,
                "platform": {
                    "architecture": "arm",
                    "os": "linux",
                    "variant": "v6",
                    "os.version": "10.0",
                    "os.features": ["win32k"],
                    "features": ["sse4"],
                },
            },
            {"mediaType": DOCKER_SCHEMA2, "digest": "sha256:22", "size": 5, "platform": None},
        ],
    }
    for media_type in (DOCKER_LIST, OCI_INDEX):
        doc = parse_manifest(json.dumps(body).encode(), media_type)
        assert isinstance(doc, ImageIndex)
        p = doc.manifests[0].platform
        assert p == Platform(
            architecture="arm",
            os="linux",
            variant="v6",
            os_version="10.0",
            os_features=("win32k",),
            features=("sse4",),
        )
        assert doc.manifests[1].platform is None


LIBTRUST_PAYLOAD = rb"""{
   "schemaVersion": 1,
   "name": "library/hello",
   "tag": "latest",
   "architecture": "amd64",
   "fsLayers": [
      {
         "blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
      }
   ],
   "history": [
      {
         "v1Compatibility": "{\"id\":\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\"}"
      }
   ]
}"""  # noqa: E501


@pytest.mark.parametrize("media_type", [DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, "", "text/plain"])
def test_parse_schema1(media_type: str) -> None:
    doc = parse_manifest(LIBTRUST_PAYLOAD, media_type)
    assert isinstance(doc, Schema1Manifest)
    assert (doc.name, doc.tag, doc.architecture) == ("library/hello", "latest", "amd64")
    assert doc.fs_layers[0].blob_sum.startswith("sha256:a3ed95ca")
    assert json.loads(doc.history[0].v1_compatibility)["id"].startswith("e45a5af5")


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"not json", OCI_MANIFEST),
        (b"[]", OCI_MANIFEST),
        (b'{"layers":"x"}', OCI_MANIFEST),
        (b'{"schemaVersion":"2"}', DOCKER_SCHEMA2),
        (b'{"manifests":[{"size":1.5}]}', OCI_INDEX),
        (b'{"fsLayers":[{"blobSum":1}]}', DOCKER_SCHEMA1),
        (b"", ""),
        (b"[" * 100000, OCI_INDEX),
    ],
)
def test_parse_manifest_errors(body: bytes, media_type: str) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        parse_manifest(body, media_type)
    assert str(exc.value).startswith("parsing manifest: ")


@given(st.binary(max_size=300), st.sampled_from([OCI_MANIFEST, OCI_INDEX, DOCKER_SCHEMA1, ""]))
def test_parse_manifest_any_bytes(body: bytes, media_type: str) -> None:
    try:
        parse_manifest(body, media_type)
    except RemoteProtocolError as exc:
        assert str(exc).startswith("parsing manifest: ")


@given(json_values, st.sampled_from([OCI_MANIFEST, DOCKER_LIST, DOCKER_SCHEMA1_SIGNED]))
def test_parse_manifest_any_json(value: object, media_type: str) -> None:
    try:
        doc = parse_manifest(json.dumps(value).encode(), media_type)
    except RemoteProtocolError:
        return
    assert isinstance(doc, ImageManifest | ImageIndex | Schema1Manifest)


def test_parse_image_config() -> None:
    body = {
        "created": "2024-01-02T03:04:05.123456789Z",
        "author": "me",
        "architecture": "arm64",
        "variant": "v8",
        "os": "linux",
        "docker_version": "24.0.0",
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": ["sh"],
            "Entrypoint": None,
            "Labels": {"a": "b"},
            "WorkingDir": "/w",
            "ExposedPorts": {"80/tcp": {}},
            "User": "1000",
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:cc"]},
        "history": [{"created_by": "RUN x", "empty_layer": True}],
        "container_config": {"Hostname": "x"},
    }
    cfg = parse_image_config(json.dumps(body).encode())
    assert (cfg.architecture, cfg.variant, cfg.os) == ("arm64", "v8", "linux")
    assert cfg.created == "2024-01-02T03:04:05.123456789Z"
    assert cfg.config.env == ("PATH=/bin",)
    assert cfg.config.cmd == ("sh",)
    assert cfg.config.entrypoint == ()
    assert cfg.config.labels == {"a": "b"}
    assert cfg.config.working_dir == "/w"
    assert cfg.config.exposed_ports == {"80/tcp": {}}
    assert cfg.rootfs.diff_ids == ("sha256:cc",)
    assert cfg.history[0].empty_layer is True
    assert cfg.docker_version == "24.0.0"
    with pytest.raises(RemoteProtocolError, match=r"^parsing image config: "):
        parse_image_config(b'{"config":{"Env":"x"}}')


# ------------------------------------------------------------------------------------------
# Platform choice (vectors from containers/image 5.23.1)


@pytest.mark.parametrize(
    ("os", "arch", "variant", "chosen", "expected"),
    [
        ("linux", "amd64", None, True, [""]),
        ("linux", "amd64", None, False, [""]),
        ("linux", "arm64", None, True, ["", "v8"]),
        ("linux", "arm64", "v8", True, ["v8", ""]),
        ("linux", "arm", "v7", True, ["v7", "v6", "v5", ""]),
        ("linux", "arm", None, True, ["", "v8", "v7", "v6", "v5"]),
        ("linux", "arm", "v6", True, ["v6", "v5", ""]),
        ("linux", "ppc64le", "power9", True, ["power9", ""]),
        ("linux", "arm", "v9", True, ["v9", ""]),
    ],
)
def test_wanted_lists(
    os: str, arch: str, variant: str | None, chosen: bool, expected: list[str]
) -> None:
    got = wanted_platforms(os, arch, variant, arch_chosen_by_caller=chosen)
    assert got == tuple((os, arch, v) for v in expected)
    assert WantedPlatform(os, arch, variant, architecture_chosen=chosen).candidates() == got


def test_host_variant_only_when_architecture_not_chosen() -> None:
    host = wanted_platforms("linux", "arm", None, arch_chosen_by_caller=False, host_variant="v7")
    assert [v for _, _, v in host] == ["v7", "v6", "v5", ""]
    chosen = wanted_platforms("linux", "arm", None, arch_chosen_by_caller=True, host_variant="v7")
    assert [v for _, _, v in chosen] == ["", "v8", "v7", "v6", "v5"]
    caller = wanted_platforms("linux", "arm", "v6", arch_chosen_by_caller=False, host_variant="v7")
    assert [v for _, _, v in caller] == ["v6", "v5", ""]


def entry(digit: str, platform: Platform | None) -> Descriptor:
    return Descriptor(
        media_type=OCI_MANIFEST, digest="sha256:" + digit * 64, size=1, platform=platform
    )


OCI_ENTRIES = ImageIndex(
    schema_version=2,
    manifests=(
        entry("1", Platform(os="linux", architecture="arm", variant="v6")),
        entry("2", Platform(os="linux", architecture="arm64")),
        entry("3", None),
        entry("4", Platform(os="linux", architecture="amd64")),
    ),
)
DOCKER_ENTRIES = ImageIndex(
    schema_version=2,
    manifests=(
        entry("1", Platform(os="linux", architecture="arm", variant="v6")),
        entry("2", Platform(os="linux", architecture="arm64", variant="v8")),
    ),
)


@pytest.mark.parametrize(
    ("wanted", "digit"),
    [
        (WantedPlatform("linux", "amd64", architecture_chosen=True), "4"),
        (WantedPlatform("linux", "arm64", "v8", architecture_chosen=True), "2"),
        (WantedPlatform("linux", "arm", "v7", architecture_chosen=True), "1"),
        (WantedPlatform("linux", "s390x", architecture_chosen=True), "3"),
        (WantedPlatform("windows", "amd64", architecture_chosen=True), "3"),
    ],
)
def test_choose_from_oci_index(wanted: WantedPlatform, digit: str) -> None:
    assert choose_instance(OCI_ENTRIES, OCI_INDEX, wanted).digest == "sha256:" + digit * 64


@pytest.mark.parametrize(
    ("wanted", "digit"),
    [
        (WantedPlatform("linux", "arm64", architecture_chosen=True), "2"),
        (WantedPlatform("linux", "arm", "v7", architecture_chosen=True), "1"),
    ],
)
def test_choose_from_docker_list(wanted: WantedPlatform, digit: str) -> None:
    assert choose_instance(DOCKER_ENTRIES, DOCKER_LIST, wanted).digest == "sha256:" + digit * 64


def test_docker_list_no_match() -> None:
    wanted = WantedPlatform("linux", "amd64", architecture_chosen=True)
    with pytest.raises(NoMatchingPlatform) as exc:
        choose_instance(DOCKER_ENTRIES, DOCKER_LIST, wanted)
    assert (
        str(exc.value)
        == 'no image found in manifest list for architecture amd64, variant "", OS linux'
    )
    assert isinstance(exc.value, LocalProtocolError)


def test_oci_index_no_match_without_platformless_entry() -> None:
    index = ImageIndex(manifests=(entry("1", Platform(os="linux", architecture="arm")),))
    with pytest.raises(NoMatchingPlatform) as exc:
        choose_instance(index, OCI_INDEX, [("linux", "arm64", "v8"), ("linux", "arm64", "")])
    assert (
        str(exc.value)
        == 'no image found in image index for architecture arm64, variant "v8", OS linux'
    )


def test_matching_is_exact() -> None:
    # An entry with a variant does not match a wanted "" variant; os.version is ignored.
    index = ImageIndex(
        manifests=(
            entry("1", Platform(os="linux", architecture="amd64", variant="v2")),
            entry("2", Platform(os="linux", architecture="amd64", os_version="x")),
        )
    )
    assert choose_instance(index, DOCKER_LIST, [("linux", "amd64", "")]).digest.endswith("2" * 64)


def test_docker_list_entry_without_platform_never_matches() -> None:
    index = ImageIndex(manifests=(entry("1", None), entry("2", Platform())))
    with pytest.raises(NoMatchingPlatform):
        choose_instance(index, DOCKER_LIST, [("linux", "amd64", "")])
    # ...except for a nonsensical all-empty wanted platform, as in Go (zero platform struct).
    assert choose_instance(index, DOCKER_LIST, [("", "", "")]).digest.endswith("1" * 64)


def test_choose_instance_misuse() -> None:
    with pytest.raises(LocalProtocolError, match="Unimplemented manifest list MIME type"):
        choose_instance(OCI_ENTRIES, OCI_MANIFEST, [("linux", "amd64", "")])
    with pytest.raises(LocalProtocolError):
        choose_instance(OCI_ENTRIES, OCI_INDEX, [])


def test_variant_is_go_quoted() -> None:
    with pytest.raises(NoMatchingPlatform, match=r'variant "a\\"b\\n"'):
        choose_instance(DOCKER_ENTRIES, DOCKER_LIST, [("linux", "x", 'a"b\n')])
