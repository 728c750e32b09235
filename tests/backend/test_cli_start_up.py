"""Starting the CLI loads configuration code only: the network stack loads with a command.

A deterministic stand-in for the start-up benchmark (``-X importtime``): which modules a fresh
interpreter has after ``import trio_backend.cli`` and after building the argument parser.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

#: Loaded when a command opens a client or runs a flow, never by the import alone.
NOT_AT_IMPORT = (
    "h11",
    "trio_backend.client",
    "trio_backend.pool",
    "trio_backend.http11",
    "trio_backend.proxy",
    "trio_backend.pull",
    "sansio_registry.auth",
    "sansio_registry.flow",
    "sansio_registry.flows",
    "sansio_registry.session",
    "sansio_registry.signature",
)


def _loaded_after(program: str) -> set[str]:
    code = f"import sys\n{program}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize("module", NOT_AT_IMPORT)
def test_importing_the_cli_does_not_load_the_network_stack(module: str) -> None:
    assert module not in _loaded_after("import trio_backend.cli")


def test_building_the_parser_does_not_read_the_package_metadata() -> None:
    """Only ``--version`` needs the installed distribution's version."""
    loaded = _loaded_after("from trio_backend.cli import build_parser\nbuild_parser()")
    assert "importlib.metadata" not in loaded
    assert "trio_backend.cli" in loaded
