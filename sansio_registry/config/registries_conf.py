"""registries.conf (v2, with v1 conversion): parsing, drop-in merge, matching, pull sources.

Pure: the shell reads the files (``trio_backend.config_files``) and hands their bytes here.
Behaviour and error texts follow containers/image 5.23.1 ``pkg/sysregistriesv2``
(containers-registries.conf(5), docs/behaviour.md#registry-configuration),
except that mirror locations get their trailing ``/`` stripped as upstream does (see
:func:`_validate_registries`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec

from sansio_registry.errors import ConfigError, InvalidReference, RegistryBlocked
from sansio_registry.quoting import quote
from sansio_registry.reference import ImageRef, is_valid_domain

__all__ = [
    "AUTH_FILE_HELPER",
    "SYSTEM_REGISTRIES_CONF",
    "SYSTEM_REGISTRIES_CONF_DIR",
    "Mirror",
    "Registry",
    "PullSource",
    "RegistriesConfFile",
    "RegistriesConf",
    "RegistriesConfLocations",
    "parse_registries_conf",
    "merge_registries_conf",
    "registries_conf_locations",
    "user_registries_conf_path",
    "ref_matching_prefix",
]

#: The pseudo credential helper meaning "look in the auth.json files" (containers-auth.json(5)).
AUTH_FILE_HELPER: Final = "containers-auth.json"
SYSTEM_REGISTRIES_CONF: Final = "/etc/containers/registries.conf"
SYSTEM_REGISTRIES_CONF_DIR: Final = "/etc/containers/registries.conf.d"
_USER_REGISTRIES_CONF: Final = ".config/containers/registries.conf"
_USER_REGISTRIES_CONF_DIR: Final = ".config/containers/registries.conf.d"

_PULL_FROM_MIRROR_ALL: Final = "all"
_PULL_FROM_MIRROR_DIGEST_ONLY: Final = "digest-only"
_PULL_FROM_MIRROR_TAG_ONLY: Final = "tag-only"
_SHORT_NAME_MODES: Final = frozenset({"disabled", "enforcing", "permissive"})
_DEFAULT_SHORT_NAME_MODE: Final = "permissive"


# --- the TOML document ----------------------------------------------------------------------


class _MirrorToml(msgspec.Struct, rename="kebab"):
    location: str = ""
    insecure: bool = False
    pull_from_mirror: str = ""


class _RegistryToml(msgspec.Struct, rename="kebab"):
    prefix: str = ""
    location: str = ""
    insecure: bool = False
    blocked: bool = False
    pull_from_mirror: str = ""
    mirror_by_digest_only: bool = False
    mirrors: list[_MirrorToml] = msgspec.field(default_factory=list, name="mirror")


class _V1List(msgspec.Struct):
    registries: list[str] | None = None


class _V1Tables(msgspec.Struct):
    search: _V1List = msgspec.field(default_factory=_V1List)
    insecure: _V1List = msgspec.field(default_factory=_V1List)
    block: _V1List = msgspec.field(default_factory=_V1List)


class _RegistriesToml(msgspec.Struct, rename="kebab"):
    """Both formats at once, as Go decodes them; unknown keys are ignored (Go only logs them)."""

    registry: list[_RegistryToml] | None = None
    unqualified_search_registries: list[str] | None = None
    credential_helpers: list[str] | None = None
    short_name_mode: str = ""
    # Short-name aliases do not affect fully-qualified docker references; they are decoded
    # only so that "v1 and v2 mixed" is detected as Go does.
    aliases: dict[str, str] | None = None
    # v1: [registries.search] / [registries.insecure] / [registries.block]
    registries: _V1Tables | None = None


# --- public values --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mirror:
    """One ``[[registry.mirror]]`` table (location already without trailing ``/``)."""

    location: str
    insecure: bool = False
    pull_from_mirror: str = ""


@dataclass(frozen=True, slots=True)
class Registry:
    """One ``[[registry]]`` entry after validation and normalisation."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True, slots=True)
class PullSource:
    """One place to try: the physical reference and whether TLS/plain-HTTP rules are relaxed."""

    ref: ImageRef
    insecure: bool
    is_mirror: bool


@dataclass(frozen=True, slots=True)
class RegistriesConfFile:
    """One parsed file: its entries (deduplicated, first wins, sorted by prefix) and globals.

    ``None`` for a global means "not set in this file", which matters for the drop-in merge.
    """

    path: str
    registries: tuple[Registry, ...] = ()
    unqualified_search_registries: tuple[str, ...] | None = None
    credential_helpers: tuple[str, ...] | None = None
    short_name_mode: str | None = None


@dataclass(frozen=True, slots=True)
class RegistriesConf:
    """The effective configuration; ``RegistriesConf()`` is "no configuration at all".

    ``blocked_in`` names the configuration sources in the "is blocked in" message.
    """

    registries: tuple[Registry, ...] = ()
    unqualified_search_registries: tuple[str, ...] = ()
    credential_helpers: tuple[str, ...] = (AUTH_FILE_HELPER,)
    short_name_mode: str = _DEFAULT_SHORT_NAME_MODE
    blocked_in: str = f"{SYSTEM_REGISTRIES_CONF} or {SYSTEM_REGISTRIES_CONF_DIR}"

    def find_registry(self, name: str) -> Registry | None:
        """The entry whose prefix matches ``name`` (a Name or a full reference string).

        The longest prefix *string* wins; ties keep the first in sorted order.
        """
        best: Registry | None = None
        best_len = 0
        for reg in self.registries:
            if ref_matching_prefix(name, reg.prefix) != -1 and len(reg.prefix) > best_len:
                best, best_len = reg, len(reg.prefix)
        return best

    def is_insecure(self, name: str) -> bool:
        """Whether the entry matching ``name`` is marked ``insecure``."""
        reg = self.find_registry(name)
        return reg is not None and reg.insecure

    def check_not_blocked(self, physical: ImageRef) -> None:
        """Refuse a physical reference whose registry entry is ``blocked``."""
        reg = self.find_registry(physical.name)
        if reg is not None and reg.blocked:
            raise RegistryBlocked(f"registry {reg.prefix} is blocked in {self.blocked_in}")

    def pull_sources(self, ref: ImageRef) -> tuple[PullSource, ...]:
        """Where to try ``ref``: the kept mirrors in file order, then the primary.

        See docs/behaviour.md#pull-sources-and-mirrors.

        A rewrite error aborts the whole pull: ``ConfigError("rewriting reference: ...")``.
        """
        reg = self.find_registry(ref.name)
        if reg is None:
            return (PullSource(ref=ref, insecure=False, is_mirror=False),)
        digested = ref.digest is not None
        kept: list[Mirror] = []
        if reg.mirror_by_digest_only:
            if digested:
                kept.extend(reg.mirrors)
        else:
            for mirror in reg.mirrors:
                if mirror.pull_from_mirror == _PULL_FROM_MIRROR_DIGEST_ONLY and not digested:
                    continue
                if mirror.pull_from_mirror == _PULL_FROM_MIRROR_TAG_ONLY and digested:
                    continue
                kept.append(mirror)
        sources = [
            PullSource(
                ref=_rewrite(ref, reg.prefix, mirror.location),
                insecure=mirror.insecure,
                is_mirror=True,
            )
            for mirror in kept
        ]
        sources.append(
            PullSource(
                ref=_rewrite(ref, reg.prefix, reg.location),
                insecure=reg.insecure,
                is_mirror=False,
            )
        )
        return tuple(sources)


# --- matching and rewriting -----------------------------------------------------------------


def ref_matching_prefix(ref: str, prefix: str) -> int:
    """Length of ``ref`` matched by ``prefix``, or -1 (Go's ``refMatchingPrefix``).

    A plain prefix must be followed by end, ``/``, ``:`` or ``@`` (so ``example.com`` also
    matches ``example.com:5000/x``, as in Go). ``*.d`` matches when the first
    ``.d`` has no ``/`` before it and is followed by end, ``/``, ``:`` or ``@``.
    """
    if prefix.startswith("*."):
        suffix = prefix[1:]
        index = ref.find(suffix)
        if index == -1 or "/" in ref[:index]:
            return -1
        index += len(suffix)
        if index == len(ref) or ref[index] in ":/@":
            return index
        return -1
    if ref == prefix:
        return len(prefix)
    if len(ref) > len(prefix) and ref.startswith(prefix) and ref[len(prefix)] in ":/@":
        return len(prefix)
    return -1


def _rewrite(ref: ImageRef, prefix: str, location: str) -> ImageRef:
    """Replace the matched prefix of the canonical string by ``location`` and re-parse."""
    text = str(ref)
    matched = ref_matching_prefix(text, prefix)
    if matched == -1:  # cannot happen: the entry was found by this prefix
        raise ConfigError(f"invalid prefix '{prefix}' for reference '{text}'")
    if location == "":
        # Only a wildcard prefix may have an empty location (validated at parse time).
        return ref
    candidate = location + text[matched:]
    try:
        rewritten = ImageRef.parse(candidate)
    except InvalidReference as exc:
        raise ConfigError(f"rewriting reference: {exc}") from exc
    if str(rewritten) != candidate:
        raise ConfigError("rewriting reference: repository name must be canonical")
    return rewritten


# --- parsing one file -----------------------------------------------------------------------


def _parse_location(value: str) -> str:
    trimmed = value.rstrip("/")
    if trimmed.startswith(("http://", "https://")):
        raise ConfigError(f"invalid location '{value}': URI schemes are not supported")
    return trimmed


def _v1_nonempty(v1: _V1Tables | None) -> bool:
    return v1 is not None and any(bool(t.registries) for t in (v1.search, v1.insecure, v1.block))


def _v2_nonempty(doc: _RegistriesToml) -> bool:
    return bool(
        doc.registry
        or doc.unqualified_search_registries
        or doc.credential_helpers
        or doc.short_name_mode
        or doc.aliases
    )


def _convert_v1(v1: _V1Tables) -> tuple[list[_RegistryToml], list[str] | None]:
    """v1 ``block``/``insecure`` lists become entries (prefix = location), first-seen order."""
    entries: dict[str, _RegistryToml] = {}

    def entry(location: str) -> _RegistryToml:
        loc = _parse_location(location)
        if loc not in entries:
            entries[loc] = _RegistryToml(prefix=loc, location=loc)
        return entries[loc]

    for location in v1.block.registries or ():
        entry(location).blocked = True
    for location in v1.insecure.registries or ():
        entry(location).insecure = True
    return list(entries.values()), v1.search.registries


def _validate_registries(raw: Sequence[_RegistryToml]) -> tuple[Registry, ...]:
    """Go's ``postProcessRegistries`` for the entries: normalise, check, dedupe, sort."""
    entries: list[Registry] = []
    for reg in raw:
        location = _parse_location(reg.location)
        if reg.prefix == "":
            if location == "":
                raise ConfigError("invalid condition: both location and prefix are unset")
            prefix = location
        else:
            prefix = _parse_location(reg.prefix)
            if not prefix.startswith("*.") and location == "":
                raise ConfigError(
                    "invalid condition: location is unset and prefix is not in the format: "
                    "*.example.com"
                )
        if reg.pull_from_mirror != "":
            raise ConfigError(
                f"pull-from-mirror must not be set for a non-mirror registry {quote(prefix)}"
            )
        mirrors: list[Mirror] = []
        for mir in reg.mirrors:
            # Go 5.23.1 trims a copy and keeps the trailing "/", which breaks every rewrite
            # through that mirror; like upstream we keep the trimmed value
            # (docs/behaviour.md#deliberate-differences).
            mir_location = _parse_location(mir.location)
            if mir_location == "":
                raise ConfigError("invalid condition: mirror location is unset")
            if reg.mirror_by_digest_only and mir.pull_from_mirror != "":
                raise ConfigError(
                    "cannot set mirror usage mirror-by-digest-only for the registry "
                    f"({quote(prefix)}) and pull-from-mirror for per-mirror "
                    f"({quote(mir.location)}) at the same time"
                )
            if mir.pull_from_mirror not in (
                "",
                _PULL_FROM_MIRROR_ALL,
                _PULL_FROM_MIRROR_DIGEST_ONLY,
                _PULL_FROM_MIRROR_TAG_ONLY,
            ):
                raise ConfigError(
                    f"unsupported pull-from-mirror value {quote(mir.pull_from_mirror)} "
                    f"for mirror {quote(mir.location)}"
                )
            mirrors.append(Mirror(mir_location, mir.insecure, mir.pull_from_mirror))
        entries.append(
            Registry(
                prefix=prefix,
                location=location,
                insecure=reg.insecure,
                blocked=reg.blocked,
                mirror_by_digest_only=reg.mirror_by_digest_only,
                mirrors=tuple(mirrors),
            )
        )

    # The same registry (by location, or prefix when the location is empty) must agree on
    # insecure/blocked; checked within one file, in file order, as Go does.
    by_key: dict[str, list[Registry]] = {}
    for reg_entry in entries:
        by_key.setdefault(reg_entry.location or reg_entry.prefix, []).append(reg_entry)
    for reg_entry in entries:
        for other in by_key[reg_entry.location or reg_entry.prefix]:
            if reg_entry.insecure != other.insecure:
                raise ConfigError(
                    f"registry '{reg_entry.location}' is defined multiple times with "
                    "conflicting 'insecure' setting"
                )
            if reg_entry.blocked != other.blocked:
                raise ConfigError(
                    f"registry '{reg_entry.location}' is defined multiple times with "
                    "conflicting 'blocked' setting"
                )

    unique: dict[str, Registry] = {}
    for reg_entry in entries:
        unique.setdefault(reg_entry.prefix, reg_entry)  # within a file the first entry wins
    return tuple(unique[p] for p in sorted(unique))


def _parse_document(data: bytes, *, path: str, drop_in: bool) -> RegistriesConfFile:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # TOML is UTF-8 only (and msgspec releases differ here)
        raise ConfigError(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        doc = msgspec.toml.decode(text, type=_RegistriesToml)
    except msgspec.MsgspecError as exc:
        raise ConfigError(str(exc)) from exc
    raw = list(doc.registry or ())
    unqualified = doc.unqualified_search_registries
    if _v1_nonempty(doc.registries):
        assert doc.registries is not None
        if drop_in:
            raise ConfigError("registry must be in v2 format but is in v1")
        if _v2_nonempty(doc):
            raise ConfigError("mixing sysregistry v1/v2 is not supported")
        raw, unqualified = _convert_v1(doc.registries)
    registries = _validate_registries(raw)
    search: tuple[str, ...] | None = None
    if unqualified is not None:
        checked: list[str] = []
        for entry in unqualified:
            host = _parse_location(entry)
            if not is_valid_domain(host):
                raise ConfigError(f"Invalid unqualified-search-registries entry {quote(host)}")
            checked.append(host)
        search = tuple(checked)
    mode: str | None = None
    if doc.short_name_mode:
        if doc.short_name_mode not in _SHORT_NAME_MODES:
            raise ConfigError(f"invalid short-name mode: {quote(doc.short_name_mode)}")
        mode = doc.short_name_mode
    for reg in registries:
        if reg.prefix.startswith("*.") and any(c in reg.prefix for c in "/@:"):
            raise ConfigError(
                "Wildcarded prefix should be in the format: *.example.com. "
                f"Current prefix {quote(reg.prefix)} is incorrectly formatted"
            )
    helpers = None if doc.credential_helpers is None else tuple(doc.credential_helpers)
    return RegistriesConfFile(
        path=path,
        registries=registries,
        unqualified_search_registries=search,
        credential_helpers=helpers,
        short_name_mode=mode,
    )


def parse_registries_conf(data: bytes, *, path: str, drop_in: bool = False) -> RegistriesConfFile:
    """Decode and validate one registries.conf file (containers-registries.conf(5)).

    Errors are :class:`ConfigError` with Go's wrapping: ``loading registries configuration
    "<path>": <text>``, or ``loading drop-in registries configuration "<path>": <text>`` for
    a drop-in (which must also be v2).
    """
    try:
        return _parse_document(data, path=path, drop_in=drop_in)
    except ConfigError as exc:
        what = "drop-in registries configuration" if drop_in else "registries configuration"
        raise ConfigError(f"loading {what} {quote(path)}: {exc}") from exc


# --- merging --------------------------------------------------------------------------------


def merge_registries_conf(
    files: Sequence[RegistriesConfFile], *, blocked_in: str | None = None
) -> RegistriesConf:
    """Fold the main file (first) and the drop-ins (in order) into one configuration.

    A later entry with the same prefix replaces the earlier one wholesale; the globals are
    replaced when a later file sets them; the result is sorted by prefix. ``blocked_in``
    defaults to the files' paths joined by `` or ``.
    """
    by_prefix: dict[str, Registry] = {}
    search: tuple[str, ...] = ()
    helpers: tuple[str, ...] = ()
    mode = _DEFAULT_SHORT_NAME_MODE
    for conf_file in files:
        for reg in conf_file.registries:
            by_prefix[reg.prefix] = reg
        if conf_file.unqualified_search_registries is not None:
            search = conf_file.unqualified_search_registries
        if conf_file.credential_helpers is not None:
            helpers = conf_file.credential_helpers
        if conf_file.short_name_mode is not None:
            mode = conf_file.short_name_mode
    if blocked_in is None:
        blocked_in = " or ".join(f.path for f in files)
    return RegistriesConf(
        registries=tuple(by_prefix[p] for p in sorted(by_prefix)),
        unqualified_search_registries=search,
        credential_helpers=helpers or (AUTH_FILE_HELPER,),
        short_name_mode=mode,
        blocked_in=blocked_in,
    )


# --- where the files are --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistriesConfLocations:
    """What the shell must read (docs/behaviour.md#registry-configuration).

    ``main_file`` must exist when ``main_required`` (an explicit path); otherwise a missing
    main file is an empty configuration. ``drop_in_dirs`` are listed in order (missing ones
    skipped); ``blocked_in`` is the text for "registry X is blocked in ...".
    """

    main_file: str
    main_required: bool
    drop_in_dirs: tuple[str, ...] = field(default=())
    blocked_in: str = ""


def user_registries_conf_path(home: str | None) -> str | None:
    """``$HOME/.config/containers/registries.conf``, or None without a home directory."""
    return posixpath.join(home, _USER_REGISTRIES_CONF) if home else None


def registries_conf_locations(
    *,
    home: str | None,
    explicit_file: str | None,
    explicit_dir: str | None,
    user_file_exists: bool = False,
) -> RegistriesConfLocations:
    """Choose the main file and drop-in dirs like Go's ``newConfigWrapper``.

    ``explicit_file`` is the caller's option or else ``$CONTAINERS_REGISTRIES_CONF``;
    ``user_file_exists`` tells whether :func:`user_registries_conf_path` exists (the shell
    checks). The "blocked in" text is ``<main file> or <user dir if used, else system dir>``.
    """
    user_file = user_registries_conf_path(home)
    user_dir = posixpath.join(home, _USER_REGISTRIES_CONF_DIR) if home else None
    if explicit_file:
        main, required = explicit_file, True
    elif user_file is not None and user_file_exists:
        assert user_dir is not None  # both exist exactly when there is a home directory
        only_dir = explicit_dir or user_dir
        return RegistriesConfLocations(
            main_file=user_file,
            main_required=False,
            drop_in_dirs=(only_dir,),
            blocked_in=f"{user_file} or {only_dir}",
        )
    else:
        main, required = SYSTEM_REGISTRIES_CONF, False
    dirs: tuple[str, ...]
    if explicit_dir:
        dirs = (explicit_dir,)
        shown = explicit_dir
    else:
        dirs = (SYSTEM_REGISTRIES_CONF_DIR,) + ((user_dir,) if user_dir else ())
        shown = user_dir or SYSTEM_REGISTRIES_CONF_DIR
    return RegistriesConfLocations(
        main_file=main, main_required=required, drop_in_dirs=dirs, blocked_in=f"{main} or {shown}"
    )
