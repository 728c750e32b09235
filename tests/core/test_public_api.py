"""The public surface is ``__all__``: every name there exists, and every public name is there."""

from __future__ import annotations

import types

import sansio_registry
import trio_backend


def _public(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_core_all_matches_public_names() -> None:
    assert set(sansio_registry.__all__) == _public(sansio_registry)
    assert len(sansio_registry.__all__) == len(set(sansio_registry.__all__))


def test_backend_all_matches_public_names() -> None:
    assert set(trio_backend.__all__) == _public(trio_backend)


def test_every_error_is_a_registry_client_error() -> None:
    for name in sansio_registry.__all__:
        value = getattr(sansio_registry, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, sansio_registry.RegistryClientError), name
