"""Read auth.json / docker config files from disk for the pure lookup in the core.

See containers-auth.json(5) and docs/behaviour.md#credentials.

Synchronous on purpose: a handful of small files read once at start-up. Missing files are
skipped; a file that exists but does not parse is kept as an :class:`AuthFile` carrying the
error, so the lookup fails only if it gets that far (as containers/image does).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from sansio_registry.config.auth_json import (
    AuthFile,
    auth_file_locations,
    lookup_credentials,
    parse_auth_file,
    validate_auth_key,
)
from sansio_registry.credentials import Credentials
from sansio_registry.errors import ConfigError

__all__ = ["load_auth_files", "load_credentials"]


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """The given mapping as is; else the process environment, with HOME from passwd if unset."""
    if env is not None:
        return dict(env)
    merged = dict(os.environ)
    if not merged.get("HOME"):
        # No HOME and no passwd entry: the home-relative paths are left out.
        with contextlib.suppress(RuntimeError, KeyError):
            merged["HOME"] = str(Path.home())
    return merged


def load_auth_files(
    *, authfile: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[AuthFile, ...]:
    """Every existing auth file, parsed, in lookup order.

    ``authfile`` (or else ``$REGISTRY_AUTH_FILE``, as in skopeo) replaces the first location.
    """
    environ = _environment(env)
    explicit = authfile or environ.get("REGISTRY_AUTH_FILE") or None
    files: list[AuthFile] = []
    for path, legacy in auth_file_locations(environ, uid=os.getuid(), explicit=explicit):
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            files.append(AuthFile(path, legacy, error=f'reading JSON file "{path}": {reason}'))
            continue
        try:
            files.append(parse_auth_file(data, path=path, legacy=legacy))
        except ConfigError as exc:
            files.append(AuthFile(path, legacy, error=str(exc)))
    return tuple(files)


def load_credentials(
    name: str, *, authfile: str | None = None, env: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials the auth files hold for ``name`` (``host[:port]/path``), or ``None``."""
    validate_auth_key(name)
    return lookup_credentials(load_auth_files(authfile=authfile, env=env), name)
