"""The trio + h11 IO shell of sansio-registry: connection pool, driver, client and CLI."""

import typing

from sansio_registry.lazy_exports import lazy_exports as _lazy_exports

if typing.TYPE_CHECKING:
    from trio_backend.client import RegistryClient, open_client
    from trio_backend.proxy import ProxySettings
    from trio_backend.system_config import LoadedConfig, host_platform, load_config
    from trio_backend.timeouts import Timeouts
    from trio_backend.tls import TLSConfig

# Public name -> the module defining it. Imported on first use (PEP 562), so a program that
# needs three of these names does not pay for importing every module of the package.
_EXPORTS: dict[str, str] = {
    "RegistryClient": "trio_backend.client",
    "open_client": "trio_backend.client",
    "ProxySettings": "trio_backend.proxy",
    "LoadedConfig": "trio_backend.system_config",
    "host_platform": "trio_backend.system_config",
    "load_config": "trio_backend.system_config",
    "Timeouts": "trio_backend.timeouts",
    "TLSConfig": "trio_backend.tls",
}

__all__ = [
    "LoadedConfig",
    "ProxySettings",
    "RegistryClient",
    "TLSConfig",
    "Timeouts",
    "host_platform",
    "load_config",
    "open_client",
]


__getattr__, __dir__ = _lazy_exports(globals(), _EXPORTS, __all__)
