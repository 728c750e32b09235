"""The public surface is ``__all__``: every name there exists, and every public name is there."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import types
import typing

import pytest

import sansio_registry
import trio_backend
from sansio_registry.flow import Flow


def _public(module: types.ModuleType) -> set[str]:
    """Public names ``dir()`` shows (exports are imported lazily: ``vars()`` lacks them)."""
    return {
        name
        for name in dir(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), types.ModuleType)
    }


def test_core_all_matches_public_names() -> None:
    assert set(sansio_registry.__all__) == _public(sansio_registry)
    assert len(sansio_registry.__all__) == len(set(sansio_registry.__all__))


def test_backend_all_matches_public_names() -> None:
    assert set(trio_backend.__all__) == _public(trio_backend)


@pytest.mark.parametrize("package", ["sansio_registry", "trio_backend"])
def test_every_exported_name_imports_in_a_fresh_interpreter(package: str) -> None:
    """``from package import name`` works for each name of ``__all__`` (lazy exports)."""
    program = (
        f"import {package}\n"
        f"for name in {package}.__all__:\n"
        f"    exec(f'from {package} import {{name}}')\n"
        f"print(len({package}.__all__))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert int(done.stdout) == len(importlib.import_module(package).__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        sansio_registry.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_importing_the_core_imports_no_operation_module() -> None:
    """The package's own import is lean: modules load when a name from them is used."""
    program = (
        "import sys, sansio_registry\n"
        "print(sorted(m for m in sys.modules if m.startswith('sansio_registry.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "['sansio_registry.lazy_exports']"


def test_every_error_is_a_registry_client_error() -> None:
    for name in sansio_registry.__all__:
        value = getattr(sansio_registry, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, sansio_registry.RegistryClientError), name


def _core_modules() -> list[types.ModuleType]:
    """Every module of the core (``testing`` is a separate toolkit for backends)."""
    names = [
        info.name
        for info in pkgutil.walk_packages(sansio_registry.__path__, "sansio_registry.")
        if not info.name.startswith("sansio_registry.testing")
    ]
    return [importlib.import_module(name) for name in names]


def _public_names(module: types.ModuleType) -> list[str]:
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return list(declared)
    return [name for name in vars(module) if not name.startswith("_")]


def test_every_public_error_of_every_core_module_is_exported() -> None:
    found = set()
    for module in _core_modules():
        for name in _public_names(module):
            value = getattr(module, name)
            if (
                isinstance(value, type)
                and issubclass(value, sansio_registry.RegistryClientError)
                and value.__module__ == module.__name__
            ):
                found.add(name)
                assert getattr(sansio_registry, name, None) is value, f"{module.__name__}.{name}"
    # the walk does find errors outside errors.py (a broken walk would pass vacuously)
    assert {"ExternalBlobUnavailable", "NoMatchingPlatform", "ManifestDigestError"} <= found


def test_every_public_flow_function_is_exported() -> None:
    found = set()
    for module in _core_modules():
        for name in _public_names(module):
            value = getattr(module, name)
            if not inspect.isfunction(value) or value.__module__ != module.__name__:
                continue
            returns = typing.get_type_hints(value).get("return")
            if typing.get_origin(returns) is Flow:
                found.add(name)
                assert getattr(sansio_registry, name, None) is value, f"{module.__name__}.{name}"
    assert {"open_blob", "list_signatures", "list_tags", "delete_image"} <= found


def test_the_session_offers_every_exported_operation() -> None:
    operations = {
        name
        for name in sansio_registry.__all__
        if inspect.isfunction(getattr(sansio_registry, name))
        and typing.get_origin(typing.get_type_hints(getattr(sansio_registry, name))["return"])
        is Flow
    }
    assert operations <= set(dir(sansio_registry.RegistrySession))


def test_the_client_imports_no_deletion_or_signature_module() -> None:
    """Inspecting needs neither: they load on the first deletion or signature call."""
    program = "import sys, trio_backend.client\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    loaded = set(done.stdout.split())
    assert "trio_backend.client" in loaded
    unused = {"sansio_registry.flows.delete", "sansio_registry.flows.signatures"}
    assert loaded.isdisjoint({*unused, "sansio_registry.signature"})
