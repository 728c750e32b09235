"""auth.json / docker config.json / legacy .dockercfg: parsing and credential lookup (SPEC §15).

Pure: the shell reads the files (in the order :func:`auth_file_locations` gives) and hands their
bytes to :func:`parse_auth_file`; :func:`lookup_credentials` then walks the parsed files the way
containers/image does. Credential helpers (``credHelpers``, ``docker-credential-*``) are not run:
a file that names a helper for the host contributes nothing, and the helper is recorded in
:attr:`AuthFile.helpers` so a front end can warn.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec

from sansio_registry.auth import Credentials
from sansio_registry.errors import ConfigError

__all__ = [
    "AuthConfigFile",
    "AuthEntry",
    "AuthFile",
    "auth_file_locations",
    "helpers_for",
    "lookup_credentials",
    "parse_auth_file",
    "validate_auth_key",
]


class AuthEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """One ``auths`` entry: ``auth`` = base64(``user:password``), optional identity token."""

    auth: str | None = None
    identitytoken: str | None = None

    def __repr__(self) -> str:
        # Both fields are secrets (base64 is not encryption).
        auth = "<set>" if self.auth else "''"
        token = "<set>" if self.identitytoken else "''"
        return f"AuthEntry(auth={auth}, identitytoken={token})"


class AuthConfigFile(msgspec.Struct, frozen=True):
    """The JSON shape of auth.json and docker's config.json (other keys are ignored)."""

    auths: dict[str, AuthEntry | None] | None = None
    credHelpers: dict[str, str | None] | None = None  # the wire name


# The legacy ~/.dockercfg is the bare ``auths`` map.
_LegacyFile = dict[str, AuthEntry | None] | None

_json_decoder: Final = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class AuthFile:
    """One parsed auth file, keys in file order.

    ``error`` is set (by a shell that read the file but could not parse it) to make the lookup
    fail when, and only when, it reaches this file, as Go does.
    """

    path: str
    legacy: bool = False
    auths: Mapping[str, AuthEntry] = field(default_factory=dict)
    helpers: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


def _go_fold(key: str) -> str:
    # Go's encoding/json matches struct fields case-insensitively (simple folding).
    return key.lower().replace("\u017f", "s")


def _fold_fields(obj: object, names: Sequence[str]) -> object:
    """Rename keys of a JSON object that Go would match to ``names``; drop the others."""
    if not isinstance(obj, dict):
        return obj
    wanted = {n.lower(): n for n in names}
    out: dict[str, object] = {}
    for k, v in obj.items():
        name = wanted.get(_go_fold(k))
        if name is not None:
            out[name] = v  # the last matching key wins, as in Go
    return out


def _fold_entries(obj: object) -> object:
    if not isinstance(obj, dict):
        return obj
    return {k: _fold_fields(v, ("auth", "identitytoken")) for k, v in obj.items()}


def parse_auth_file(data: bytes, *, path: str, legacy: bool = False) -> AuthFile:
    """Parse an auth file's bytes; malformed content is a ConfigError naming ``path``."""
    prefix = f'reading JSON file "{path}": unmarshaling JSON at "{path}"'
    try:
        try:
            doc = _json_decoder.decode(data)
        except UnicodeDecodeError:  # Go turns invalid UTF-8 in strings into U+FFFD
            doc = _json_decoder.decode(data.decode("utf-8", "replace").encode())
        if legacy:
            entries = msgspec.convert(_fold_entries(doc), type=_LegacyFile)
            helpers: dict[str, str | None] | None = None
        else:
            folded = _fold_fields(doc, ("auths", "credHelpers"))
            if isinstance(folded, dict) and "auths" in folded:
                folded["auths"] = _fold_entries(folded["auths"])
            wire = msgspec.convert(folded, type=AuthConfigFile | None)
            entries = wire.auths if wire is not None else None
            helpers = wire.credHelpers if wire is not None else None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{prefix}: {exc}") from None
    return AuthFile(
        path=path,
        legacy=legacy,
        auths={k: v if v is not None else AuthEntry() for k, v in (entries or {}).items()},
        helpers={k: v or "" for k, v in (helpers or {}).items()},
    )


def auth_file_locations(
    env: Mapping[str, str],
    *,
    uid: int,
    explicit: str | None,
    explicit_legacy: str | None = None,
) -> tuple[tuple[str, bool], ...]:
    """The auth files to consult, in order, as ``(path, legacy_format)`` (SPEC §15).

    Paths under ``$HOME`` are left out when ``HOME`` is unset or empty (Go would read them
    relative to the working directory). A missing ``$XDG_RUNTIME_DIR`` directory needs no
    special case here: the file in it is missing too, and missing files are skipped.
    """
    out: list[tuple[str, bool]] = []
    if explicit:
        out.append((explicit, False))
    elif explicit_legacy:
        out.append((explicit_legacy, True))
    elif runtime_dir := env.get("XDG_RUNTIME_DIR", ""):
        out.append((posixpath.join(runtime_dir, "containers", "auth.json"), False))
    else:
        out.append((f"/run/containers/{uid}/auth.json", False))
    home = env.get("HOME", "")
    config_home = env.get("XDG_CONFIG_HOME", "") or (
        posixpath.join(home, ".config") if home else ""
    )
    if config_home:
        out.append((posixpath.join(config_home, "containers", "auth.json"), False))
    if docker_config := env.get("DOCKER_CONFIG", ""):
        out.append((posixpath.join(docker_config, "config.json"), False))
    elif home:
        out.append((posixpath.join(home, ".docker", "config.json"), False))
    if home:
        out.append((posixpath.join(home, ".dockercfg"), True))
    return tuple(out)


def validate_auth_key(key: str) -> None:
    """Reject lookup keys that are URLs or tagged/digested references (Go's ``validateKey``)."""
    if key.startswith(("http://", "https://")):
        raise ConfigError(f"key {key} contains http[s]:// prefix")
    if "@" in key:
        raise ConfigError(f"key {key} contains a '@' character")
    slash = key.find("/")
    if slash != -1 and ":" in key[slash + 1 :]:
        raise ConfigError(f"key {key} contains a ':' character after host[:port]")


def _keys_for(name: str) -> Iterable[str]:
    """``a/b/c``, ``a/b``, ``a``: most specific first."""
    while True:
        yield name
        slash = name.rfind("/")
        if slash == -1:
            return
        name = name[:slash]


def _normalize_registry(host: str) -> str:
    return "index.docker.io" if host in ("registry-1.docker.io", "docker.io") else host


def _normalize_key(key: str, legacy: bool) -> str:
    stripped = key.removeprefix("http://").removeprefix("https://")
    if legacy or stripped != key:
        stripped = stripped.partition("/")[0]
    return _normalize_registry(stripped)


def _decode_entry(file: AuthFile, key: str, entry: AuthEntry) -> Credentials | None:
    """Go's ``decodeDockerAuth``; ``None`` for entries without ``user:password``."""
    raw = (entry.auth or "").replace("\r", "").replace("\n", "")
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f'decoding the "auth" field of the credential entry "{key}" in {file.path}: '
            "illegal base64 data"
        ) from None
    text = decoded.decode(errors="surrogateescape")
    user, colon, password = text.partition(":")
    if not colon:
        return None  # Go skips it (with a warning unless empty), and the search goes on
    return Credentials(
        username=user,
        password=password.strip("\0"),
        identity_token=entry.identitytoken or "",
    )


def _find_in_file(file: AuthFile, name: str, host: str) -> Credentials | None:
    if file.error is not None:
        raise ConfigError(file.error)
    if host in file.helpers:
        return None  # credential helpers are not supported: nothing from this file
    keys = [host] if file.legacy else list(_keys_for(name))
    for key in keys:
        entry = file.auths.get(key)
        if entry is not None:
            return _decode_entry(file, key, entry)
    normalized = _normalize_registry(host)
    for key, entry in file.auths.items():
        if _normalize_key(key, file.legacy) == normalized:
            return _decode_entry(file, key, entry)
    return None


def lookup_credentials(files: Sequence[AuthFile], name: str) -> Credentials | None:
    """The credentials for ``name`` (``host[:port]/path``, the physical Name), or ``None``.

    Files are tried in order; in each, the most specific ``auths`` key wins, then any key
    that normalizes to the host. An entry that decodes to nothing (no ``:``, identity token
    alone) lets the search go on to the next file.
    """
    validate_auth_key(name)
    host = name.partition("/")[0]
    for file in files:
        creds = _find_in_file(file, name, host)
        if creds is not None and creds:
            return creds
    return None


def helpers_for(files: Sequence[AuthFile], name: str) -> tuple[tuple[str, str], ...]:
    """``(path, helper)`` for every file that names a credential helper for ``name``'s host.

    Those helpers are not run; a front end can warn that their credentials were not used.
    """
    host = name.partition("/")[0]
    return tuple((f.path, f.helpers[host]) for f in files if host in f.helpers)
