"""Manifest documents: media types, Content-Type handling, type guessing, parsing, platforms.

SPEC §9 (the Accept list and Content-Type simplification), §10 (guessing a manifest's type from
its bytes, and the consumers' normalization) and §11 (choosing an instance of a manifest list or
OCI index). Guessing follows Go's ``encoding/json`` closely (case-insensitive keys, ``null`` as
"no change", type errors fail the guess) because the guess decides how a manifest is digested.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import msgspec

from sansio_registry.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "OCI_MANIFEST",
    "OCI_INDEX",
    "OCI_CONFIG",
    "DOCKER_SCHEMA2",
    "DOCKER_LIST",
    "DOCKER_CONFIG",
    "DOCKER_SCHEMA1_SIGNED",
    "DOCKER_SCHEMA1",
    "MANIFEST_ACCEPT",
    "LIST_MEDIA_TYPES",
    "SINGLE_MEDIA_TYPES",
    "KNOWN_MANIFEST_TYPES",
    "is_index_type",
    "parse_media_type",
    "simplify_content_type",
    "guess_media_type",
    "normalize_media_type",
    "Platform",
    "Descriptor",
    "ImageManifest",
    "ImageIndex",
    "FSLayer",
    "Schema1History",
    "Schema1Manifest",
    "ContainerConfig",
    "RootFS",
    "HistoryEntry",
    "ImageConfig",
    "parse_manifest",
    "parse_image_config",
    "NoMatchingPlatform",
    "WantedPlatform",
    "Candidate",
    "ARCH_VARIANTS",
    "wanted_platforms",
    "choose_instance",
    "go_arch",
    "go_os",
    "cpu_variant",
]

# --------------------------------------------------------------------------------------------
# Media types (SPEC §9, §10)

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
DOCKER_SCHEMA2: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_SCHEMA1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA1: Final = "application/vnd.docker.distribution.manifest.v1+json"

#: The ``Accept`` lines of a manifest GET, in the order Go sends them (SPEC §9).
MANIFEST_ACCEPT: Final[tuple[str, ...]] = (
    OCI_MANIFEST,
    DOCKER_SCHEMA2,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
    DOCKER_LIST,
    OCI_INDEX,
)

LIST_MEDIA_TYPES: Final = frozenset({DOCKER_LIST, OCI_INDEX})
SINGLE_MEDIA_TYPES: Final = frozenset(
    {OCI_MANIFEST, DOCKER_SCHEMA2, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1}
)
KNOWN_MANIFEST_TYPES: Final = LIST_MEDIA_TYPES | SINGLE_MEDIA_TYPES

# --------------------------------------------------------------------------------------------
# Content-Type (Go's mime.ParseMediaType, which simplifyContentType relies on)

# Go's unicode.IsSpace: ASCII/Latin-1 spaces plus the White_Space property.
_GO_SPACE: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_TSPECIALS: Final = frozenset('()<>@,;:\\"/[]?=')


def _go_trim_left(s: str) -> str:
    i = 0
    while i < len(s) and s[i] in _GO_SPACE:
        i += 1
    return s[i:]


def _go_trim(s: str) -> str:
    s = _go_trim_left(s)
    j = len(s)
    while j > 0 and s[j - 1] in _GO_SPACE:
        j -= 1
    return s[:j]


def _go_lower(s: str) -> str:
    # Go maps rune to rune; Python's "İ".lower() is two code points, Go's is "i".
    return "".join("i" if c == "\u0130" else c.lower() for c in s)


def _is_token_char(c: str) -> bool:
    return " " < c < "\x7f" and c not in _TSPECIALS


def _consume_token(v: str) -> tuple[str, str]:
    i = 0
    while i < len(v) and _is_token_char(v[i]):
        i += 1
    return v[:i], v[i:]


def _consume_value(v: str) -> tuple[str, str]:
    if not v:
        return "", ""
    if v[0] != '"':
        return _consume_token(v)
    out: list[str] = []
    i = 1
    while i < len(v):
        c = v[i]
        if c == '"':
            return "".join(out), v[i + 1 :]
        if c == "\\" and i + 1 < len(v) and v[i + 1] in _TSPECIALS:
            out.append(v[i + 1])
            i += 2
            continue
        if c in "\r\n":
            return "", v
        out.append(c)
        i += 1
    return "", v


def _consume_param(v: str) -> tuple[str, str, str]:
    rest = _go_trim_left(v)
    if not rest.startswith(";"):
        return "", "", v
    rest = _go_trim_left(rest[1:])
    param, rest = _consume_token(rest)
    param = _go_lower(param)
    if not param:
        return "", "", v
    rest = _go_trim_left(rest)
    if not rest.startswith("="):
        return "", "", v
    rest = _go_trim_left(rest[1:])
    value, rest2 = _consume_value(rest)
    if not value and rest2 == rest:
        return "", "", v
    return param, value, rest2


def _percent_unescape(s: str) -> str | None:
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "%":
            pair = s[i + 1 : i + 3]
            if len(pair) != 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
                return None
            out.append(int(pair, 16))
            i += 3
        else:
            out.extend(s[i].encode("utf-8"))
            i += 1
    return out.decode("utf-8", "replace")


def _decode_2231(v: str) -> str | None:
    parts = v.split("'", 2)
    if len(parts) != 3 or _go_lower(parts[0]) not in ("us-ascii", "utf-8"):
        return None
    return _percent_unescape(parts[2])


def parse_media_type(value: str) -> tuple[str, dict[str, str]] | None:
    """Go's ``mime.ParseMediaType``: ``(lowercased type, parameters)``, or None when invalid.

    Parameter names are lowercased; RFC 2231 ``name*`` / ``name*0`` forms are stitched like Go.
    """
    base = value.split(";", 1)[0]
    mediatype = _go_trim(_go_lower(base))
    typ, rest = _consume_token(mediatype)
    if not typ:
        return None
    if rest:
        if not rest.startswith("/"):
            return None
        sub, rest = _consume_token(rest[1:])
        if not sub or rest:
            return None
    params: dict[str, str] = {}
    continuation: dict[str, dict[str, str]] = {}
    v = value[len(base) :]
    while v:
        v = _go_trim_left(v)
        if not v:
            break
        key, val, rest = _consume_param(v)
        if not key:
            if _go_trim(rest) == ";":
                break  # trailing semicolons are tolerated
            return None
        pmap = params
        if "*" in key:
            pmap = continuation.setdefault(key.split("*", 1)[0], {})
        if key in pmap and pmap[key] != val:
            return None  # "mime: duplicate parameter name"
        pmap[key] = val
        v = rest
    for key, pieces in continuation.items():
        if key + "*" in pieces:
            dec = _decode_2231(pieces[key + "*"])
            if dec is not None:
                params[key] = dec
            continue
        buf: list[str] = []
        valid = False
        n = 0
        while True:
            simple = f"{key}*{n}"
            if simple in pieces:
                valid = True
                buf.append(pieces[simple])
            elif simple + "*" in pieces:
                valid = True
                piece = pieces[simple + "*"]
                dec = _decode_2231(piece) if n == 0 else _percent_unescape(piece)
                if dec is not None:
                    buf.append(dec)
            else:
                break
            n += 1
        if valid:
            params[key] = "".join(buf)
    return mediatype, params


def simplify_content_type(value: str | None) -> str:
    """The manifest MIME type a source reports: parameters dropped, lowercased (SPEC §9).

    Missing or unparsable (by Go's rules: ``text/plain;;``, ``garbage/``) → ``""``.
    """
    if not value:
        return ""
    parsed = parse_media_type(value)
    return "" if parsed is None else parsed[0]


# --------------------------------------------------------------------------------------------
# Go encoding/json emulation (enough for GuessMIMEType and libtrust's ParsePrettySignature)


class _GoJSONError(Exception):
    """Syntax or type error as Go's encoding/json would report it (message approximated)."""


class _Obj:
    """A JSON object as ordered pairs: Go assigns duplicate keys in order, so order matters."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        self.pairs = pairs

    def last(self, key: str) -> object:
        """Exact-key lookup, last occurrence wins (a Go map); ``_MISSING`` when absent."""
        found: object = _MISSING
        for k, v in self.pairs:
            if k == key:
                found = v
        return found


@dataclass(frozen=True, slots=True)
class _Num:
    """A JSON number kept as its literal: Go's target type decides how it parses."""

    text: str


@dataclass(frozen=True, slots=True)
class _Raw:
    """A ``json.RawMessage`` that was present (even as ``null``)."""

    value: object


class _Missing:
    __slots__ = ()


_MISSING: Final = _Missing()


def _reject_constant(name: str) -> object:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _go_parse(raw: bytes) -> object:
    """Parse JSON as Go does: UTF-8 with invalid bytes replaced, no NaN/Infinity, depth-bounded."""
    text = raw.decode("utf-8", "replace")
    if not text.strip(" \t\r\n"):
        raise _GoJSONError("unexpected end of JSON input")
    try:
        return json.loads(
            text,
            object_pairs_hook=_Obj,
            parse_int=_Num,
            parse_float=_Num,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise _GoJSONError(f"invalid JSON: {exc}") from None


def _fold_equal(key: str, name: str) -> bool:
    # Go's simple case folding for ASCII field names: Kelvin sign U+212A ~ k, long s U+017F ~ s.
    if len(key) != len(name):
        return False
    return all(a == b or a.casefold() == b.casefold() for a, b in zip(key, name, strict=True))


@dataclass(frozen=True, slots=True)
class _T:
    """A Go target type for the emulated decoder."""

    kind: str  # str int float any list map struct ptr raw bytes
    go: str  # Go type name, for error messages
    elem: _T | None = None
    fields: tuple[tuple[str, _T], ...] = ()


_STR: Final = _T("str", "string")
_INT: Final = _T("int", "int")
_INT64: Final = _T("int", "int64")
_ANY: Final = _T("any", "interface {}")
_RAW: Final = _T("raw", "json.RawMessage")
_BYTES: Final = _T("bytes", "[]uint8")
_STRS: Final = _T("list", "[]string", _STR)
_MAP_ANY: Final = _T("map", "map[string]interface {}", _ANY)
_MAP_STR: Final = _T("map", "map[string]string", _STR)


def _kind_word(value: object) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, _Num):
        return "number"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list):
        return "array"
    return "object"


_INT_RE: Final = re.compile(r"-?[0-9]+")
_STD_B64_RE: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _go_float(num: _Num) -> float | None:
    value = float(num.text)
    return None if value in (float("inf"), float("-inf")) else value


class _Decoder:
    """Decode a parsed tree into Go-shaped Python values; raise the first type error."""

    def __init__(self, top: str) -> None:
        self.top = top

    def fail(self, value: object, t: _T, where: tuple[str, str] | None, word: str = "") -> None:
        what = word or _kind_word(value)
        if where is None:
            raise _GoJSONError(f"json: cannot unmarshal {what} into Go value of type {t.go}")
        struct, path = where
        raise _GoJSONError(
            f"json: cannot unmarshal {what} into Go struct field {struct}.{path} of type {t.go}"
        )

    def decode(
        self, value: object, t: _T, current: object, where: tuple[str, str] | None
    ) -> object:
        if value is None:
            # null: interface/map/pointer/slice/raw become nil (raw keeps "null"); else no-op.
            if t.kind == "raw":
                return _Raw(None)
            if t.kind in ("any", "map", "ptr", "list", "bytes"):
                return None
            return current
        kind = t.kind
        if kind == "raw":
            return _Raw(value)
        if kind == "any":
            return self.any(value, t, where)
        if kind == "str":
            if not isinstance(value, str):
                self.fail(value, t, where)
            return value
        if kind == "int":
            if not isinstance(value, _Num):
                self.fail(value, t, where)
                return current
            if not _INT_RE.fullmatch(value.text) or not -(2**63) <= int(value.text) < 2**63:
                self.fail(value, t, where, f"number {value.text}")
            return int(value.text)
        if kind == "bytes":
            if not isinstance(value, str):
                self.fail(value, t, where)
                return current
            clean = value.replace("\r", "").replace("\n", "")
            if not _STD_B64_RE.fullmatch(clean):
                raise _GoJSONError("illegal base64 data at input byte 0")
            return base64.b64decode(clean)
        if kind == "list":
            assert t.elem is not None
            if not isinstance(value, list):
                self.fail(value, t, where)
                return current
            old = current if isinstance(current, list) else []
            return [
                self.decode(item, t.elem, old[i] if i < len(old) else None, where)
                for i, item in enumerate(value)
            ]
        if kind == "map":
            assert t.elem is not None
            if not isinstance(value, _Obj):
                self.fail(value, t, where)
                return current
            out: dict[str, object] = dict(current) if isinstance(current, dict) else {}
            for k, v in value.pairs:
                out[k] = self.decode(v, t.elem, None, where)
            return out
        # struct / ptr
        if not isinstance(value, _Obj):
            self.fail(value, t, where)
            return current
        fields: dict[str, object] = dict(current) if isinstance(current, dict) else {}
        struct_name = t.go.lstrip("*").rsplit(".", 1)[-1]
        prefix = where[1] + "." if where is not None else ""
        for k, v in value.pairs:
            for name, ft in t.fields:
                if k == name or _fold_equal(k, name):
                    fields[name] = self.decode(
                        v, ft, fields.get(name), (struct_name, prefix + name)
                    )
                    break
        return fields

    def any(self, value: object, t: _T, where: tuple[str, str] | None) -> object:
        if isinstance(value, _Num):
            f = _go_float(value)
            if f is None:
                self.fail(value, _T("float", "float64"), where, f"number {value.text}")
            return f
        if isinstance(value, list):
            return [self.any(v, t, where) for v in value]
        if isinstance(value, _Obj):
            return {k: self.any(v, t, where) for k, v in value.pairs}
        return value


def _go_unmarshal(tree: object, t: _T) -> object:
    """``json.Unmarshal(data, &v)`` of an already parsed document into a zero ``v``."""
    return _Decoder(t.go).decode(tree, t, None, None)


_GUESS_META: Final = _T(
    "struct",
    "struct",
    fields=(("mediaType", _STR), ("schemaVersion", _INT), ("signatures", _ANY)),
)
_GUESS_CONFIG: Final = _T(
    "struct",
    "struct",
    fields=(("config", _T("struct", "struct", fields=(("mediaType", _STR),))),),
)
_GO_PLATFORM: Final = _T(
    "ptr",
    "*v1.Platform",
    fields=(
        ("architecture", _STR),
        ("os", _STR),
        ("os.version", _STR),
        ("os.features", _STRS),
        ("variant", _STR),
    ),
)
# image-spec v1.1.0-rc2's Descriptor, as vendored by containers/image 5.23.1.
_GO_DESCRIPTOR: Final = _T(
    "struct",
    "v1.Descriptor",
    fields=(
        ("mediaType", _STR),
        ("digest", _T("str", "digest.Digest")),
        ("size", _INT64),
        ("urls", _STRS),
        ("annotations", _MAP_STR),
        ("data", _BYTES),
        ("platform", _GO_PLATFORM),
        ("artifactType", _STR),
    ),
)
_GUESS_INDEX: Final = _T(
    "struct",
    "struct",
    fields=(("manifests", _T("list", "[]v1.Descriptor", _GO_DESCRIPTOR)),),
)


def _guess_tree(tree: object) -> str:
    """GuessMIMEType over a parsed document (SPEC §10)."""
    try:
        meta = _go_unmarshal(tree, _GUESS_META)
    except _GoJSONError:
        return ""
    if not isinstance(meta, dict):  # top-level null
        meta = {}
    media_type = meta.get("mediaType") or ""
    if media_type in (DOCKER_SCHEMA2, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX):
        assert isinstance(media_type, str)
        return media_type
    version = meta.get("schemaVersion") or 0
    if version == 1:
        return DOCKER_SCHEMA1_SIGNED if meta.get("signatures") is not None else DOCKER_SCHEMA1
    if version != 2:
        return ""
    try:
        conf = _go_unmarshal(tree, _GUESS_CONFIG)
    except _GoJSONError:
        return ""
    config_type = ""
    if isinstance(conf, dict) and isinstance(conf.get("config"), dict):
        config_type = str(conf["config"].get("mediaType") or "")
    if config_type == OCI_CONFIG:
        return OCI_MANIFEST
    if config_type == DOCKER_CONFIG:
        return DOCKER_SCHEMA2
    try:
        index = _go_unmarshal(tree, _GUESS_INDEX)
    except _GoJSONError:
        return ""
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if isinstance(manifests, list) and manifests:
        # Go's FIXME: a config media type is returned as if it were a manifest type.
        return config_type or OCI_INDEX
    return OCI_MANIFEST


def is_index_type(media_type: str) -> bool:
    """Whether a media type is a manifest list / image index."""
    return media_type in LIST_MEDIA_TYPES


def guess_media_type(raw: bytes) -> str:
    """Guess a manifest's media type like Go's ``GuessMIMEType``; ``""`` if unknown."""
    try:
        tree = _go_parse(raw)
    except _GoJSONError:
        return ""
    return _guess_tree(tree)


def normalize_media_type(media_type: str) -> str:
    """Consumers' view (SPEC §10): known manifest types stay, anything else is signed schema1."""
    return media_type if media_type in KNOWN_MANIFEST_TYPES else DOCKER_SCHEMA1_SIGNED


# --------------------------------------------------------------------------------------------
# Documents (msgspec Structs; unknown fields ignored; JSON null treated as absent, as in Go)


class Platform(msgspec.Struct, frozen=True, kw_only=True):
    """The platform of a list/index entry (§11 ignores ``os.version`` and ``os.features``)."""

    architecture: str = ""
    os: str = ""
    os_version: str = msgspec.field(default="", name="os.version")
    os_features: tuple[str, ...] = msgspec.field(default=(), name="os.features")
    variant: str = ""
    features: tuple[str, ...] = ()  # Docker manifest lists only


class Descriptor(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A content descriptor; ``digest`` is left unparsed (check it with ``Digest.parse``)."""

    media_type: str = ""
    digest: str = ""
    size: int = 0
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str = ""


class ImageManifest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An OCI image manifest or a Docker schema2 manifest."""

    schema_version: int = 0
    media_type: str = ""
    artifact_type: str = ""
    config: Descriptor = msgspec.field(default_factory=Descriptor)
    layers: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class ImageIndex(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An OCI image index or a Docker manifest list (same shape for what we read)."""

    schema_version: int = 0
    media_type: str = ""
    artifact_type: str = ""
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class FSLayer(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One ``fsLayers`` entry of a schema1 manifest."""

    blob_sum: str = ""


class Schema1History(msgspec.Struct, frozen=True, kw_only=True):
    """One ``history`` entry of a schema1 manifest: a JSON string of the v1 image config."""

    v1_compatibility: str = msgspec.field(default="", name="v1Compatibility")


class Schema1Manifest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A Docker schema1 manifest, signed or not (signatures are not kept)."""

    schema_version: int = 0
    name: str = ""
    tag: str = ""
    architecture: str = ""
    fs_layers: tuple[FSLayer, ...] = ()
    history: tuple[Schema1History, ...] = ()


class ContainerConfig(msgspec.Struct, frozen=True, kw_only=True, rename="pascal"):
    """The ``config`` object of an image config (Docker's capitalized keys)."""

    user: str = ""
    exposed_ports: dict[str, object] = msgspec.field(default_factory=dict)
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    volumes: dict[str, object] = msgspec.field(default_factory=dict)
    working_dir: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    stop_signal: str = ""


class RootFS(msgspec.Struct, frozen=True, kw_only=True):
    """The layer chain of an image config."""

    type: str = ""
    diff_ids: tuple[str, ...] = ()


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One build step recorded in an image config."""

    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False


class ImageConfig(msgspec.Struct, frozen=True, kw_only=True):
    """An OCI / Docker image config: enough for a ``skopeo inspect``-like summary."""

    architecture: str = ""
    os: str = ""
    variant: str = ""
    os_version: str = msgspec.field(default="", name="os.version")
    os_features: tuple[str, ...] = msgspec.field(default=(), name="os.features")
    created: str = ""
    author: str = ""
    docker_version: str = ""
    config: ContainerConfig = msgspec.field(default_factory=ContainerConfig)
    rootfs: RootFS = msgspec.field(default_factory=RootFS)
    history: tuple[HistoryEntry, ...] = ()


_NO_PLATFORM: Final = Platform()
_ANY_DECODER: Final = msgspec.json.Decoder()


def _drop_nulls(value: object) -> object:
    """Remove ``null`` members of objects: Go leaves such fields at their zero value."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


_T_doc = TypeVar("_T_doc")


def _decode_document(raw: bytes, cls: type[_T_doc], what: str) -> _T_doc:
    try:
        tree = _ANY_DECODER.decode(raw.decode("utf-8", "replace"))
        return msgspec.convert(_drop_nulls(tree), cls)
    except (msgspec.DecodeError, RecursionError, ValueError, TypeError) as exc:
        raise RemoteProtocolError(f"parsing {what}: {exc}") from None


_DOCUMENT_TYPES: Final[
    dict[str, type[ImageManifest] | type[ImageIndex] | type[Schema1Manifest]]
] = {
    OCI_MANIFEST: ImageManifest,
    DOCKER_SCHEMA2: ImageManifest,
    OCI_INDEX: ImageIndex,
    DOCKER_LIST: ImageIndex,
    DOCKER_SCHEMA1_SIGNED: Schema1Manifest,
    DOCKER_SCHEMA1: Schema1Manifest,
}


def parse_manifest(raw: bytes, media_type: str) -> ImageManifest | ImageIndex | Schema1Manifest:
    """Parse a manifest by its normalized (SPEC §10) media type; RemoteProtocolError if bad."""
    cls = _DOCUMENT_TYPES[normalize_media_type(media_type)]
    return _decode_document(raw, cls, "manifest")


def parse_image_config(raw: bytes) -> ImageConfig:
    """Parse an image config blob (OCI or Docker)."""
    return _decode_document(raw, ImageConfig, "image config")


# --------------------------------------------------------------------------------------------
# Platform choice (SPEC §11)


class NoMatchingPlatform(LocalProtocolError):
    """No instance of a manifest list / index fits the wanted platforms."""


#: Variant compatibility chains, most to least capable (Go's ``compatibility`` table).
ARCH_VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    "arm": ("v8", "v7", "v6", "v5"),
    "arm64": ("v8",),
}

#: One candidate platform: ``(os, architecture, variant)``; variant ``""`` = entry without one.
Candidate = tuple[str, str, str]


def wanted_platforms(
    os: str,
    architecture: str,
    variant: str | None = None,
    *,
    arch_chosen_by_caller: bool,
    host_variant: str = "",
) -> tuple[Candidate, ...]:
    """The ordered candidates of SPEC §11.

    ``os`` and ``architecture`` are already resolved (caller's choice or host default);
    ``variant`` is the caller's choice; ``host_variant`` is what the shell detected for the host
    CPU (see :func:`cpu_variant`), used only when the caller chose neither the architecture nor
    a variant.
    """
    wanted = variant or ("" if arch_chosen_by_caller else host_variant)
    chain = ARCH_VARIANTS.get(architecture)
    variants: tuple[str, ...]
    if wanted:
        if chain is not None and wanted in chain:
            variants = (*chain[chain.index(wanted) :], "")
        else:
            variants = (wanted, "")
    else:
        variants = ("", *(chain or ()))
    return tuple((os, architecture, v) for v in variants)


@dataclass(frozen=True, slots=True)
class WantedPlatform:
    """The platform a caller wants from a manifest list (SPEC §11).

    ``os`` / ``architecture``: the caller's choice or the host's (resolved by the shell);
    ``variant``: the caller's choice or None; ``architecture_chosen``: whether the caller chose
    the architecture (then the host's variant is not used); ``host_variant``: detected by the
    shell for the host CPU.
    """

    os: str
    architecture: str
    variant: str | None = None
    architecture_chosen: bool = False
    host_variant: str = ""

    def candidates(self) -> tuple[Candidate, ...]:
        """The ordered list of acceptable ``(os, architecture, variant)`` triples."""
        return wanted_platforms(
            self.os,
            self.architecture,
            self.variant,
            arch_chosen_by_caller=self.architecture_chosen,
            host_variant=self.host_variant,
        )


def _go_quote(s: str) -> str:
    """Go's ``%q`` for the strings that can appear here."""
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escapes |= {"\v": "\\v", '"': '\\"', "\\": "\\\\"}
    out = []
    for c in s:
        if c in escapes:
            out.append(escapes[c])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def _matches(platform: Platform, candidate: Candidate) -> bool:
    # 5.23.1: exact equality of OS, architecture and variant; os.version/os.features ignored.
    return (platform.os, platform.architecture, platform.variant) == candidate


def choose_instance(
    index: ImageIndex, media_type: str, wanted: WantedPlatform | Sequence[Candidate]
) -> Descriptor:
    """Pick the instance for the first wanted platform that any entry matches (SPEC §11, 5.23.1).

    ``wanted`` is a :class:`WantedPlatform` (expanded with its fallbacks) or an explicit list of
    candidates. Docker lists: entries without a platform never match. OCI indexes: entries
    without a platform are skipped, and the first of them is the fallback when nothing matches.
    """
    candidates = wanted.candidates() if isinstance(wanted, WantedPlatform) else tuple(wanted)
    if not candidates:
        raise LocalProtocolError("no wanted platforms given")
    if media_type not in LIST_MEDIA_TYPES:
        raise LocalProtocolError(f"Unimplemented manifest list MIME type {media_type}")
    is_oci = media_type == OCI_INDEX
    for candidate in candidates:
        for d in index.manifests:
            platform = d.platform
            if platform is None:
                if is_oci:
                    continue
                platform = _NO_PLATFORM
            if _matches(platform, candidate):
                return d
    if is_oci:
        for d in index.manifests:
            if d.platform is None:
                return d
    os, architecture, variant = candidates[0]
    where = "image index" if is_oci else "manifest list"
    raise NoMatchingPlatform(
        f"no image found in {where} for architecture {architecture}, "
        f"variant {_go_quote(variant)}, OS {os}"
    )


_MACHINE_TO_GOARCH: Final[dict[str, str]] = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "x64": "amd64",
    "i386": "386",
    "i486": "386",
    "i586": "386",
    "i686": "386",
    "x86": "386",
    "aarch64": "arm64",
    "arm64": "arm64",
    "aarch64_be": "arm64be",
    "armv8l": "arm",
    "armv7l": "arm",
    "armv7": "arm",
    "armv6l": "arm",
    "armv5tel": "arm",
    "armv5tejl": "arm",
    "arm": "arm",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips": "mips",
    "mipsel": "mipsle",
    "mips64": "mips64",
    "mips64el": "mips64le",
    "loongarch64": "loong64",
}


def go_arch(machine: str) -> str:
    """Map ``platform.machine()`` to Go's GOARCH name (unknown names are lowercased as-is)."""
    m = machine.strip().lower()
    if m in _MACHINE_TO_GOARCH:
        return _MACHINE_TO_GOARCH[m]
    if m.startswith("armv"):
        return "arm"
    return m


def go_os(system: str) -> str:
    """Map ``platform.system()`` to Go's GOOS name."""
    return system.strip().lower()


_ARM_VARIANTS: Final[dict[str, str]] = {
    "8": "v8",
    "aarch64": "v8",
    "7": "v7",
    "7m": "v7",
    "?(12)": "v7",
    "?(13)": "v7",
    "?(14)": "v7",
    "?(15)": "v7",
    "?(16)": "v7",
    "?(17)": "v7",
    "6": "v6",
    "6tej": "v6",
    "5": "v5",
    "5t": "v5",
    "5te": "v5",
    "5tej": "v5",
    "4": "v4",
    "4t": "v4",
    "3": "v3",
}


def cpu_variant(os: str, architecture: str, cpuinfo: str) -> str:
    """The host CPU variant Go detects (SPEC §11), from the text of ``/proc/cpuinfo``.

    Only ARM has variants here; the first ``CPU architecture`` line (case-insensitive) counts.
    """
    if os == "windows" or architecture not in ("arm", "arm64"):
        return ""
    for line in cpuinfo.splitlines():
        parts = line.split(":")
        if len(parts) > 1 and parts[0].strip().lower() == "cpu architecture":
            return _ARM_VARIANTS.get(parts[1].strip().lower(), "")
    return ""
