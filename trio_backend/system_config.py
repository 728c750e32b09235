"""The CLI's configuration in one call: registries.conf, auth files, registries.d, certs.d.

``ClientConfig()`` reads nothing; :func:`load_config` reads what skopeo would (the same
files, the same environment variables, the host's platform) and is what the CLI itself calls::

    config, tls = load_config()
    async with open_client(config, tls=tls) as client:
        ...

Synchronous on purpose, like the loaders it calls: it runs once at start-up.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from sansio_registry.client_config import ClientConfig
from sansio_registry.credentials import Credentials
from sansio_registry.platform import WantedPlatform
from sansio_registry.retry_policy import RetryPolicy
from trio_backend.auth_files import load_auth_files
from trio_backend.config_files import load_registries_conf
from trio_backend.platform_detection import cpu_variant, go_arch, go_os
from trio_backend.registries_d_files import load_registries_d
from trio_backend.tls import TLSConfig

__all__ = ["LoadedConfig", "host_platform", "load_config"]


class LoadedConfig(NamedTuple):
    """What :func:`load_config` found: the core's configuration and the certificate material."""

    config: ClientConfig
    tls: TLSConfig


def host_platform(
    *, os_name: str | None = None, architecture: str | None = None, variant: str | None = None
) -> WantedPlatform:
    """The platform images resolve to: this host's, or the overrides (``--override-*``)."""
    chosen_os = os_name or go_os(platform.system())
    chosen_arch = architecture or go_arch(platform.machine())
    host_variant = ""
    if architecture is None and chosen_arch in ("arm", "arm64"):
        # The host's variant counts only when the caller did not pick the architecture
        # (docs/behaviour.md#platform-choice).
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
        host_variant = cpu_variant(chosen_os, chosen_arch, cpuinfo)
    return WantedPlatform(
        os=chosen_os,
        architecture=chosen_arch,
        variant=variant,
        architecture_chosen=architecture is not None,
        host_variant=host_variant,
    )


def load_config(
    *,
    registries_conf: str | None = None,
    registries_d: str | None = None,
    authfile: str | None = None,
    cert_dir: str | None = None,
    credentials: Credentials | None = None,
    use_auth_files: bool = True,
    tls_verify: bool | None = None,
    platform: WantedPlatform | None = None,
    env: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> LoadedConfig:
    """Read the configuration skopeo would use; every argument is one of the CLI's flags.

    Args:
        registries_conf: a registries.conf to use (``--registries-conf``); default
            ``$CONTAINERS_REGISTRIES_CONF``, then the per-user and system files, plus drop-ins.
        registries_d: a registries.d directory (``--registries.d``).
        authfile: an auth.json (``--authfile``); default ``$REGISTRY_AUTH_FILE``, then the
            usual places.
        cert_dir: one certs directory for every host (``--cert-dir``); default certs.d.
        credentials: explicit credentials (``--creds``, ``--registry-token``).
        use_auth_files: ``False`` reads no auth file (``--no-creds``).
        tls_verify: ``None`` follows registries.conf (``--tls-verify``).
        platform: default :func:`host_platform` (``--override-os`` …).
        env: the environment to read (default ``os.environ``, with ``HOME`` from the
            password database when unset).
        retry: the retry policy (``--retry-times``, ``--retry-delay``); default
            :class:`RetryPolicy`. Its ``jitter_seed``, when unset, comes from ``os.urandom``
            so that clients retrying at once spread apart.

    Raises:
        ConfigError: a file exists but is wrong.
    """
    registries = load_registries_conf(explicit_file=registries_conf, env=env)
    auth_files = load_auth_files(authfile=authfile, env=env) if use_auth_files else ()
    parsed_d, lookaside_default = load_registries_d(explicit_dir=registries_d, env=env)
    config = ClientConfig(
        registries=registries,
        registries_d=parsed_d,
        lookaside_default=lookaside_default,
        credentials=credentials,
        auth_files=auth_files,
        use_auth_files=use_auth_files,
        tls_verify=tls_verify,
        platform=platform if platform is not None else host_platform(),
        retry=_seeded(retry or RetryPolicy()),
    )
    return LoadedConfig(config=config, tls=TLSConfig(cert_dir=cert_dir))


def _seeded(policy: RetryPolicy) -> RetryPolicy:
    """``policy`` with a random jitter seed unless it has one (the core has no randomness)."""
    if policy.jitter_seed is not None:
        return policy
    return dataclasses.replace(policy, jitter_seed=int.from_bytes(os.urandom(8), "big"))
