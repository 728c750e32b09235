"""The trio + h11 IO shell of sansio-registry: connection pool, driver, client and CLI."""

from trio_backend.client import RegistryClient, open_client
from trio_backend.timeouts import Timeouts

__all__ = ["RegistryClient", "Timeouts", "open_client"]
