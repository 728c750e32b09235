"""registries.d (lookaside signature storage configuration) and lookaside URLs.

The files are containers-registries.d(5); the search is docs/behaviour.md#lookaside-storage.

Pure: the shell (``trio_backend.registries_d_files``) lists and reads the ``*.yaml`` files and
hands their bytes here. Scope search, merge errors and the URL shape follow containers/image
5.23.1 ``docker/registries_d.go``, including two quirks kept on purpose so that our URLs are the
ones skopeo writes and reads: a section without a value for the wanted mode makes the search go
on to the next scope, and a base ending in ``/`` gives ``//`` before the repository path.

URLs are rebuilt the way Go's ``net/url`` does (the base path is unescaped, extended, and
escaped again), but unlike Go we refuse anything that could make the result leave the base:
``.``/``..`` path segments, a reference path outside the reference grammar, opaque bases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote

import msgspec
import msgspec.yaml

from sansio_registry.digest import ALGORITHMS, Digest
from sansio_registry.errors import ConfigError, LocalProtocolError
from sansio_registry.quoting import quote
from sansio_registry.reference import ImageRef

__all__ = [
    "SYSTEM_REGISTRIES_D",
    "USER_REGISTRIES_D",
    "SYSTEM_LOOKASIDE_DIR",
    "USER_LOOKASIDE_DIR",
    "Section",
    "RegistriesDFile",
    "RegistriesD",
    "parse_registries_d_file",
    "merge_registries_d",
    "lookaside_url",
    "lookaside_file_path",
    "file_url",
    "redact_url",
]

#: The system registries.d directory (used when the per-user one does not exist).
SYSTEM_REGISTRIES_D: Final = "/etc/containers/registries.d"
#: The per-user directory, relative to ``$HOME``; when it exists it *replaces* the system one.
USER_REGISTRIES_D: Final = ".config/containers/registries.d"
#: Built-in lookaside directory for euid 0.
SYSTEM_LOOKASIDE_DIR: Final = "/var/lib/containers/sigstore"
#: Built-in lookaside directory for other users, relative to ``$HOME``.
USER_LOOKASIDE_DIR: Final = ".local/share/containers/sigstore"

_ERR_PREFIX: Final = "Error parsing signature storage configuration"


# --- the YAML document ----------------------------------------------------------------------


class Section(msgspec.Struct, frozen=True, rename="kebab"):
    """One ``default-docker`` or ``docker.<scope>`` mapping; unknown keys are ignored (as Go).

    ``sigstore``/``sigstore-staging`` are the old names of ``lookaside``/``lookaside-staging``.
    An empty string counts as "not set", as in Go.
    """

    lookaside: str | None = None
    lookaside_staging: str | None = None
    sigstore: str | None = None
    sigstore_staging: str | None = None
    use_sigstore_attachments: bool | None = None

    def top_level(self, *, write: bool) -> str | None:
        """The URL for the mode, or None (Go's ``registryNamespace.signatureTopLevel``)."""
        candidates = (
            (self.lookaside_staging, self.sigstore_staging, self.lookaside, self.sigstore)
            if write
            else (self.lookaside, self.sigstore)
        )
        for value in candidates:
            if value:
                return value
        return None


class _FileDoc(msgspec.Struct, rename="kebab"):
    default_docker: Section | None = None
    docker: dict[str, Section | None] | None = None


_FILE_TYPE: Final = _FileDoc | None


# --- public values --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistriesDFile:
    """One parsed ``*.yaml`` file; ``path`` names it in merge errors."""

    path: str
    default_docker: Section | None = None
    docker: Mapping[str, Section] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegistriesD:
    """The merged registries.d; ``RegistriesD()`` is "no configuration" (built-in default only)."""

    default_docker: Section | None = None
    docker: Mapping[str, Section] = field(default_factory=dict)

    def _sections(self, ref: ImageRef) -> Iterator[Section]:
        """Sections in search order: identity, namespaces (incl. wildcards), default-docker."""
        for scope in (str(ref), *ref.policy_namespaces()):
            section = self.docker.get(scope)
            if section is not None:
                yield section
        if self.default_docker is not None:
            yield self.default_docker

    def lookaside_base(self, ref: ImageRef, *, write: bool, default_dir: str) -> str:
        """The configured lookaside URL for ``ref`` (its registry-side *physical* reference).

        The first scope with a value for the mode wins; a matching section without one does not
        stop the search (Go behaviour; the man page says otherwise). ``default_dir`` is the
        built-in ``file://`` URL the shell computed for the current user.
        """
        for section in self._sections(ref):
            value = section.top_level(write=write)
            if value is not None:
                return value
        return default_dir

    def use_sigstore_attachments(self, ref: ImageRef) -> bool:
        """``use-sigstore-attachments`` from the first scope that sets it; default False."""
        for section in self._sections(ref):
            if section.use_sigstore_attachments is not None:
                return section.use_sigstore_attachments
        return False


def parse_registries_d_file(data: bytes, *, path: str) -> RegistriesDFile:
    """Decode one registries.d file (an empty file is an empty configuration)."""
    try:
        doc = msgspec.yaml.decode(data, type=_FILE_TYPE)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"parsing {path}: {exc}") from None
    except Exception as exc:  # pyyaml may raise other errors (e.g. RecursionError) on odd input
        raise ConfigError(f"parsing {path}: {exc}") from None
    if doc is None:
        return RegistriesDFile(path=path)
    # Go's map values are structs, so ``scope: null`` is an empty section (it still counts for
    # the duplicate check and stops nothing in the search).
    docker = {k: v if v is not None else Section() for k, v in (doc.docker or {}).items()}
    return RegistriesDFile(path=path, default_docker=doc.default_docker, docker=docker)


def merge_registries_d(files: Sequence[RegistriesDFile]) -> RegistriesD:
    """Merge files in the given order; a scope (or ``default-docker``) may appear only once."""
    default: Section | None = None
    default_from = ""
    docker: dict[str, Section] = {}
    docker_from: dict[str, str] = {}
    for f in files:
        if f.default_docker is not None:
            if default is not None:
                raise ConfigError(
                    f'{_ERR_PREFIX}: "default-docker" defined both in "{default_from}" '
                    f'and "{f.path}"'
                )
            default, default_from = f.default_docker, f.path
        for scope, section in f.docker.items():
            if scope in docker:
                raise ConfigError(
                    f'{_ERR_PREFIX}: "docker" namespace "{scope}" defined both in '
                    f'"{docker_from[scope]}" and "{f.path}"'
                )
            docker[scope] = section
            docker_from[scope] = f.path
    return RegistriesD(default_docker=default, docker=docker)


# --- URLs (a small re-creation of the parts of Go's net/url used here) ----------------------

_HEX: Final = "0123456789ABCDEF"
# Bytes Go's escape(s, encodePath) leaves alone: unreserved plus $&+,/:;=@
_PATH_SAFE: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~$&+,/:;=@"
)
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_BAD_ESCAPE_RE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
# The reference grammar's path (docs/behaviour.md#references): no empty, "." or ".."
# segment can match it.
_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REF_PATH_RE: Final = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_LOWER_HEX_RE: Final = re.compile(r"[0-9a-f]+")
_USERINFO_PASSWORD_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@?#:]*):[^/@?#]*@")


def redact_url(url: str) -> str:
    """Hide a password in ``scheme://user:password@host`` (Go's ``URL.Redacted`` style)."""
    return _USERINFO_PASSWORD_RE.sub(r"\1:xxxxx@", url)


@dataclass(frozen=True, slots=True)
class _URL:
    """A parsed URL: raw (still escaped) parts, ``None`` for an absent part."""

    scheme: str
    authority: str | None
    path: str  # unescaped
    query: str | None
    fragment: str | None

    def render(self, path: str) -> str:
        """Go's ``URL.String`` with ``path`` (unescaped) instead of ours."""
        out = []
        if self.scheme:
            out.append(self.scheme + ":")
        if self.scheme or self.authority:
            out.append("//" + (self.authority or ""))
        out.append(_escape_path(path))
        if self.query is not None:
            out.append("?" + self.query)
        if self.fragment is not None:
            out.append("#" + self.fragment)
        return "".join(out)


def _escape_path(path: str) -> str:
    """Go's ``escape(path, encodePath)``: UTF-8 bytes, upper-case ``%XX``."""
    out = []
    for byte in path.encode("utf-8", "surrogateescape"):
        if byte in _PATH_SAFE:
            out.append(chr(byte))
        else:
            out.append("%" + _HEX[byte >> 4] + _HEX[byte & 15])
    return "".join(out)


def _unescape(text: str) -> str:
    """Go's ``unescape``: every ``%`` must start a two-digit hex escape."""
    bad = _BAD_ESCAPE_RE.search(text)
    if bad is not None:
        raise ValueError(f"invalid URL escape {quote(text[bad.start() : bad.start() + 3])}")
    return unquote(text, errors="surrogateescape")


def _parse_url(raw: str) -> _URL:
    """Go's ``url.Parse`` for the cases a lookaside base can take (errors are Go's texts)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise ValueError("net/url: invalid control character in URL")
    rest, hash_, fragment = raw.partition("#")
    if hash_:
        _unescape(fragment)  # validated as Go does, kept raw
    scheme = ""
    colon = rest.find(":")
    if colon == 0:
        raise ValueError("missing protocol scheme")
    if colon > 0 and _SCHEME_RE.fullmatch(rest[:colon]):
        scheme, rest = rest[:colon].lower(), rest[colon + 1 :]
    rest, qmark, query = rest.partition("?")
    if scheme and not rest.startswith("/"):
        # Go keeps this as an opaque URL and then ignores every path we append; refuse it.
        raise ValueError("opaque URLs (without a path starting with /) are not supported")
    if not scheme and ":" in rest.split("/", 1)[0]:
        raise ValueError("first path segment in URL cannot contain colon")
    authority: str | None = None
    if rest.startswith("//") and (scheme or not rest.startswith("///")):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        _check_authority(authority)
    return _URL(
        scheme=scheme,
        authority=authority,
        path=_unescape(rest),
        query=query if qmark else None,
        fragment=fragment if hash_ else None,
    )


def _check_authority(authority: str) -> None:
    """The host checks of Go's ``parseAuthority``/``parseHost`` that matter for us."""
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        end = host.find("]")
        if end == -1:
            raise ValueError("missing ']' in host")
        port = host[end + 1 :]
        if port and not port.startswith(":"):
            raise ValueError(f"invalid port {quote(port)} after host")
    else:
        port = host[host.rfind(":") :] if ":" in host else ""
    if port and not (port[1:].isascii() and port[1:].isdigit()) and port != ":":
        raise ValueError(f"invalid port {quote(port)} after host")
    _unescape(authority)
    if any(c in " <>\"'`{}|\\^" for c in host):
        bad = next(c for c in host if c in " <>\"'`{}|\\^")
        raise ValueError(f"invalid character {quote(bad)} in host name")


def _has_dot_segment(path: str) -> bool:
    return any(seg in (".", "..") for seg in path.split("/"))


def lookaside_url(base: str, ref: ImageRef, digest: Digest, index: int) -> str:
    """The URL of signature ``index`` (1-based) of ``digest`` under ``base``.

    ``<base path>/<ref.path>@<algo>=<hex>/signature-<index>``, the base's query (and fragment)
    kept after the path; the registry host is not part of it. A base ending in ``/`` gives
    ``//`` as in Go. Raises :class:`ConfigError` for a bad base and
    :class:`LocalProtocolError` for a reference path or digest that could escape the base.
    """
    if index < 1:
        raise LocalProtocolError(f"invalid signature index {index!r}, must be >= 1")
    if _REF_PATH_RE.fullmatch(ref.path) is None:
        raise LocalProtocolError(
            f"Unexpected path elements in Docker reference {ref} for signature storage"
        )
    if (
        ALGORITHMS.get(digest.algorithm) != len(digest.hex)
        or _LOWER_HEX_RE.fullmatch(digest.hex) is None
    ):
        raise LocalProtocolError(f"invalid digest {digest.algorithm}:{digest.hex}")
    try:
        url = _parse_url(base)
        if _has_dot_segment(url.path):
            raise ValueError("path contains . or .. segments")
    except ValueError as exc:
        # Go's url.Error text: parse "<url>": <reason>
        reason = f"parse {quote(redact_url(base))}: {exc}"
        raise ConfigError(f"Invalid signature storage URL {redact_url(base)}: {reason}") from None
    path = f"{url.path}/{ref.path}@{digest.algorithm}={digest.hex}/signature-{index}"
    return url.render(path)


def lookaside_file_path(url: str) -> str:
    """The local path of a ``file:`` lookaside URL (percent-decoded, as Go's ``URL.Path``).

    Other schemes raise :class:`ConfigError` with Go's reading error text. Unlike Go we refuse
    a host other than ``localhost`` (Go silently ignores it) and NUL bytes.
    """
    try:
        parsed = _parse_url(url)
    except ValueError as exc:
        raise ConfigError(f"Invalid signature storage URL {redact_url(url)}: {exc}") from None
    if parsed.scheme != "file":
        raise ConfigError(f"Unsupported scheme when reading signature from {redact_url(url)}")
    if parsed.authority not in (None, "", "localhost"):
        raise ConfigError(f"Unsupported host in file URL {redact_url(url)}")
    if "\x00" in parsed.path or not parsed.path.startswith("/"):
        raise ConfigError(f"Invalid file URL {redact_url(url)}")
    return parsed.path


def file_url(path: str) -> str:
    """``file://`` + escaped absolute ``path`` (Go's ``url.URL{Scheme: "file", Path: p}``)."""
    return "file://" + _escape_path(path)
