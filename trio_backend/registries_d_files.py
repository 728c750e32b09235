"""Reading registries.d from disk and choosing the built-in lookaside directory.

See containers-registries.d(5) and docs/behaviour.md#lookaside-storage.

Synchronous on purpose, like :mod:`trio_backend.config_files`: it runs once at start-up. The
parsing, merge rules and error texts live in :mod:`sansio_registry.config.registries_d`.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from pathlib import Path

from sansio_registry.config.registries_d import (
    SYSTEM_LOOKASIDE_DIR,
    SYSTEM_REGISTRIES_D,
    USER_LOOKASIDE_DIR,
    USER_REGISTRIES_D,
    RegistriesD,
    RegistriesDFile,
    file_url,
    merge_registries_d,
    parse_registries_d_file,
)
from sansio_registry.errors import ConfigError

__all__ = ["load_registries_d", "registries_d_dir", "default_lookaside_dir"]

#: Set by rootless podman/buildah re-exec: the euid that decides the built-in lookaside.
ROOTLESS_UID_ENV = "_CONTAINERS_ROOTLESS_UID"


def _go_os_error(op: str, path: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{op} {path}: {reason[:1].lower()}{reason[1:]}"


def _home(environ: Mapping[str, str]) -> str:
    """``$HOME``, else the passwd entry (Go's ``homedir.Get``)."""
    home = environ.get("HOME")
    if home:
        return home
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return "/"


def registries_d_dir(explicit_dir: str | None, environ: Mapping[str, str]) -> str:
    """The explicit dir; else the per-user one if it exists (it replaces the system one)."""
    if explicit_dir:
        return explicit_dir
    user_dir = str(Path(_home(environ)) / USER_REGISTRIES_D)
    try:
        Path(user_dir).stat()
    except OSError:
        return SYSTEM_REGISTRIES_D
    return user_dir


def default_lookaside_dir(environ: Mapping[str, str], euid: int) -> str:
    """The built-in lookaside as a ``file://`` URL: system dir for root, else under $HOME."""
    if euid == 0:
        return file_url(SYSTEM_LOOKASIDE_DIR)
    return file_url(str(Path(_home(environ)) / USER_LOOKASIDE_DIR))


def _yaml_files(directory: str) -> list[str]:
    """Every ``*.yaml`` directly in ``directory``, sorted by name; a missing dir has none."""
    try:
        names = [entry.name for entry in os.scandir(directory)]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(_go_os_error("open", directory, exc)) from exc
    return [
        str(Path(directory) / n) for n in sorted(names, key=os.fsencode) if n.endswith(".yaml")
    ]


def load_registries_d(
    *,
    explicit_dir: str | None = None,
    env: Mapping[str, str] | None = None,
    euid: int | None = None,
) -> tuple[RegistriesD, str]:
    """The merged registries.d and the built-in lookaside URL for this user.

    ``euid`` defaults to ``$_CONTAINERS_ROOTLESS_UID`` if set (as Go's rootless helper), else
    the process's effective uid. An entry named ``*.yaml`` that cannot be read (e.g. a
    directory) is an error, as in Go.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if euid is None:
        rootless = environ.get(ROOTLESS_UID_ENV, "")
        try:
            euid = int(rootless) if rootless else os.geteuid()
        except ValueError:
            euid = 0  # Go's strconv.Atoi error is ignored, leaving 0
    directory = registries_d_dir(explicit_dir, environ)
    files: list[RegistriesDFile] = []
    for path in _yaml_files(directory):
        try:
            data = Path(path).read_bytes()
        except IsADirectoryError as exc:
            raise ConfigError(_go_os_error("read", path, exc)) from exc
        except OSError as exc:
            raise ConfigError(_go_os_error("open", path, exc)) from exc
        files.append(parse_registries_d_file(data, path=path))
    return merge_registries_d(files), default_lookaside_dir(environ, euid)
