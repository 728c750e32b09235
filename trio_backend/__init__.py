"""The trio + h11 IO shell of sansio-registry: connection pool, driver, client and CLI."""

from trio_backend.client import RegistryClient, open_client

__all__ = ["RegistryClient", "open_client"]
