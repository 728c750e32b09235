"""auth.json / docker config.json / legacy .dockercfg: parsing and credential lookup.

The files are containers-auth.json(5); the search is docs/behaviour.md#credentials.

Pure: the shell reads the files (in the order :func:`auth_file_locations` gives) and hands their
bytes to :func:`parse_auth_file`. :func:`search_credentials` then walks registries.conf's
``credential-helpers`` and the parsed files the way containers/image does, and yields a
:class:`~sansio_registry.config.credential_helpers.HelperQuery` wherever a credential helper
must be asked (``credHelpers``, ``credsStore``, or a helper named in registries.conf); the
shell runs it and sends the answer back in. :func:`lookup_credentials` is the same search with
no helper run.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from sansio_registry import go_json
from sansio_registry.config.credential_helpers import DOCKER_HUB_SERVER, HelperQuery
from sansio_registry.config.registries_conf import AUTH_FILE_HELPER
from sansio_registry.credentials import Credentials
from sansio_registry.errors import ConfigError

__all__ = [
    "AuthConfigFile",
    "AuthEntry",
    "AuthFile",
    "answer_search",
    "auth_file_locations",
    "lookup_credentials",
    "parse_auth_file",
    "search_credentials",
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
    credHelpers: dict[str, str | None] | None = None  # the wire names
    credsStore: str | None = None


# The legacy ~/.dockercfg is the bare ``auths`` map.
_LegacyFile = dict[str, AuthEntry | None] | None


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
    #: ``credsStore``: the helper for every registry without its own (Docker CLI semantics).
    store: str = ""
    error: str | None = None


def _fold_fields(obj: object, names: Sequence[str]) -> object:
    """A JSON object's members Go would match to ``names``, renamed to them; else ``obj``."""
    return go_json.fold_fields(obj.items(), names) if isinstance(obj, dict) else obj


def _fold_entries(obj: object) -> object:
    if not isinstance(obj, dict):
        return obj
    return {k: _fold_fields(v, ("auth", "identitytoken")) for k, v in obj.items()}


def parse_auth_file(data: bytes, *, path: str, legacy: bool = False) -> AuthFile:
    """Parse an auth file's bytes; malformed content is a ConfigError naming ``path``."""
    prefix = f'reading JSON file "{path}": unmarshaling JSON at "{path}"'
    try:
        doc = go_json.decode_any(data)
        if legacy:
            entries = msgspec.convert(_fold_entries(doc), type=_LegacyFile)
            helpers: dict[str, str | None] | None = None
            store = None
        else:
            folded = _fold_fields(doc, ("auths", "credHelpers", "credsStore"))
            if isinstance(folded, dict) and "auths" in folded:
                folded["auths"] = _fold_entries(folded["auths"])
            wire = msgspec.convert(folded, type=AuthConfigFile | None)
            entries = wire.auths if wire is not None else None
            helpers = wire.credHelpers if wire is not None else None
            store = wire.credsStore if wire is not None else None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{prefix}: {exc}") from None
    return AuthFile(
        path=path,
        legacy=legacy,
        auths={k: v if v is not None else AuthEntry() for k, v in (entries or {}).items()},
        helpers={k: v or "" for k, v in (helpers or {}).items()},
        store=store or "",
    )


def auth_file_locations(
    env: Mapping[str, str],
    *,
    uid: int,
    explicit: str | None,
    explicit_legacy: str | None = None,
) -> tuple[tuple[str, bool], ...]:
    """The auth files to consult, in order, as ``(path, legacy_format)``.

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


def _find_in_auths(file: AuthFile, name: str, host: str) -> Credentials | None:
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


def _helper_in_file(file: AuthFile, host: str) -> HelperQuery | None:
    """The helper a file assigns to ``host``: its ``credHelpers`` entry, else ``credsStore``.

    The server asked for is the key that matched; Docker Hub's is the Docker CLI's
    ``https://index.docker.io/v1/`` unless the file keys it otherwise.
    """
    keys = [host]
    if _normalize_registry(host) == "index.docker.io":
        keys = ["docker.io", "index.docker.io", DOCKER_HUB_SERVER, "registry-1.docker.io"]
    for key in keys:
        if key in file.helpers:
            return HelperQuery(file.helpers[key], key)
    if file.store:
        server = DOCKER_HUB_SERVER if _normalize_registry(host) == "index.docker.io" else host
        return HelperQuery(file.store, server)
    return None


CredentialSearch = Generator[HelperQuery, Credentials | None, Credentials | None]


def search_credentials(
    files: Sequence[AuthFile],
    name: str,
    *,
    helpers: Sequence[str] = (AUTH_FILE_HELPER,),
) -> CredentialSearch:
    """Find the credentials for ``name`` (``host[:port]/path``, the physical name).

    A generator: each :class:`HelperQuery` it yields must be answered with ``send()`` (the
    credentials, or ``None`` when the helper has none); its return value is the result, or
    ``None`` for anonymous access. ``helpers`` is registries.conf's ``credential-helpers``,
    where ``containers-auth.json`` means the auth files: in each, the host's ``credHelpers``
    entry or else ``credsStore`` is asked, and only without either the ``auths`` entries are
    read. The first non-empty answer wins.
    """
    validate_auth_key(name)
    host = name.partition("/")[0]
    for helper in helpers:
        if helper != AUTH_FILE_HELPER:
            server = "docker.io" if _normalize_registry(host) == "index.docker.io" else host
            found = yield HelperQuery(helper, server)
            if found:
                return found
            continue
        for file in files:
            if file.error is not None:
                raise ConfigError(file.error)
            query = _helper_in_file(file, host)
            found = (yield query) if query is not None else _find_in_auths(file, name, host)
            if found:
                return found
    return None


def lookup_credentials(files: Sequence[AuthFile], name: str) -> Credentials | None:
    """The credentials the auth files' ``auths`` hold for ``name``, running no helper.

    Files are tried in order; in each, the most specific ``auths`` key wins, then any key
    that normalizes to the host. An entry that decodes to nothing (no ``:``, identity token
    alone) lets the search go on to the next file, as does a file that hands the host to a
    credential helper.
    """
    return answer_search(search_credentials(files, name), {})


def answer_search(
    search: CredentialSearch, answers: Mapping[HelperQuery, Credentials | None]
) -> Credentials | None:
    """Run ``search`` to its end, answering each helper query from ``answers`` (a query with
    no answer there counts as "nothing stored")."""
    try:
        query = next(search)
        while True:
            query = search.send(answers.get(query))
    except StopIteration as done:
        result: Credentials | None = done.value
        return result
