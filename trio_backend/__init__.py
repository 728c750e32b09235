"""The trio + h11 IO shell of sansio-registry: connection pool, driver, client and CLI."""

from trio_backend.client import RegistryClient, open_client
from trio_backend.proxy import ProxySettings
from trio_backend.system_config import LoadedConfig, host_platform, load_config
from trio_backend.timeouts import Timeouts
from trio_backend.tls import TLSConfig

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
