"""Reading registries.conf and its drop-ins from disk (containers-registries.conf(5)).

Synchronous on purpose: it runs once at start-up, before any trio task needs the result. All
decisions (which files, how to merge, what the errors say) live in the pure core
(:mod:`sansio_registry.config.registries_conf`); this module only touches the file system.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sansio_registry.config.registries_conf import (
    RegistriesConf,
    RegistriesConfFile,
    merge_registries_conf,
    parse_registries_conf,
    registries_conf_locations,
    user_registries_conf_path,
)
from sansio_registry.errors import ConfigError

__all__ = ["load_registries_conf"]

#: The environment variable naming a registries.conf to use instead of the defaults.
REGISTRIES_CONF_ENV = "CONTAINERS_REGISTRIES_CONF"


def _go_os_error(op: str, path: str, exc: OSError) -> str:
    """``open <path>: no such file or directory``, the way Go words a failed file operation."""
    reason = exc.strerror or str(exc)
    return f"{op} {path}: {reason[:1].lower()}{reason[1:]}"


def _exists(path: str) -> bool:
    try:
        Path(path).stat()
    except OSError:
        return False
    return True


def _read(path: str) -> bytes:
    with Path(path).open("rb") as f:
        return f.read()


def _drop_in_files(directory: str) -> list[str]:
    """``*.conf`` files directly inside ``directory``, in lexical order; missing dir = none."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        # Go walks a non-directory root as a single file.
        return [directory] if directory.endswith(".conf") else []
    except OSError as exc:
        raise ConfigError(
            f"reading registries.conf.d: {_go_os_error('open', directory, exc)}"
        ) from exc
    names = sorted(
        (e.name for e in entries if e.name.endswith(".conf") and not e.is_dir()),
        key=os.fsencode,
    )
    return [str(Path(directory) / name) for name in names]


def load_registries_conf(
    *,
    explicit_file: str | None = None,
    explicit_dir: str | None = None,
    env: Mapping[str, str] | None = None,
) -> RegistriesConf:
    """Load the effective registries.conf: main file, then drop-ins, merged.

    ``explicit_file`` wins over ``$CONTAINERS_REGISTRIES_CONF``; either must exist. Tests
    should pass both ``explicit_file`` and ``explicit_dir`` to be hermetic.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    home = environ.get("HOME") or None
    chosen_file = explicit_file or environ.get(REGISTRIES_CONF_ENV) or None
    user_file = user_registries_conf_path(home)
    locations = registries_conf_locations(
        home=home,
        explicit_file=chosen_file,
        explicit_dir=explicit_dir or None,
        user_file_exists=user_file is not None and _exists(user_file),
    )

    files: list[RegistriesConfFile] = []
    main = locations.main_file
    try:
        data: bytes | None = _read(main)
    except FileNotFoundError as exc:
        if locations.main_required:
            raise ConfigError(
                f'loading registries configuration "{main}": {_go_os_error("open", main, exc)}'
            ) from exc
        data = None
    except OSError as exc:
        raise ConfigError(
            f'loading registries configuration "{main}": {_go_os_error("open", main, exc)}'
        ) from exc
    if data is not None:
        files.append(parse_registries_conf(data, path=main))

    for directory in locations.drop_in_dirs:
        for path in _drop_in_files(directory):
            try:
                drop_in = _read(path)
            except OSError as exc:
                raise ConfigError(
                    f'loading drop-in registries configuration "{path}": '
                    f"{_go_os_error('open', path, exc)}"
                ) from exc
            files.append(parse_registries_conf(drop_in, path=path, drop_in=True))

    return merge_registries_conf(files, blocked_in=locations.blocked_in)
