"""The layers stay apart: the core imports no IO, and only tests use the test doubles.

Reading the import statements (not ``sys.modules``) is the check: harmless stdlib helpers may
import ``socket`` themselves; the core's own code may not. Drivers, examples and the driver kit
take what they need from ``sansio_registry_driverkit``, never from ``sansio_registry.testing``
(in-memory doubles for tests).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "sansio_registry"
BANNED = {
    "socket",
    "ssl",
    "asyncio",
    "anyio",
    "trio",
    "h11",
    "time",
    "random",
    "logging",
    "http.client",
    "urllib.request",
    "threading",
    "subprocess",
    "trio_backend",
    "sansio_registry_driverkit",
    "os",
    "pathlib",
    "io",
    "shutil",
    "tempfile",
    "select",
    "selectors",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


CORE_FILES = sorted(p for p in CORE.rglob("*.py") if "testing" not in p.relative_to(CORE).parts)


def test_core_has_modules() -> None:
    assert len(CORE_FILES) > 5


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_nothing_impure(path: Path) -> None:
    bad = [
        f"{path.name}:{line} imports {name}"
        for line, name in _imports(path)
        if name in BANNED or name.split(".")[0] in BANNED
    ]
    assert not bad, bad


def test_purity_check_catches_a_banned_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import os.path\nfrom trio import sleep\nfrom . import sibling\n")
    names = [name for _, name in _imports(sample)]
    assert names == ["os.path", "trio", "trio.sleep"]


DOUBLES = "sansio_registry.testing"
LAYERS = ("sansio_registry", "sansio_registry_driverkit", "trio_backend", "examples", "benchmarks")
#: Files allowed to use the doubles, and why (anything else must not).
DOUBLES_ALLOWED = {
    "benchmarks/core.py": "times the core alone against FakeNetwork, as a test would",
}
#: Everything but the test doubles themselves, the tests, and ``DOUBLES_ALLOWED``.
NOT_DOUBLES = sorted(
    p
    for top in LAYERS
    for p in (ROOT / top).rglob("*.py")
    if p.relative_to(ROOT).parts[:2] != ("sansio_registry", "testing")
    and p.relative_to(ROOT).as_posix() not in DOUBLES_ALLOWED
)


def _uses_doubles(path: Path) -> list[str]:
    return [
        f"{path.name}:{line} imports {name}"
        for line, name in _imports(path)
        if name == DOUBLES or name.startswith(DOUBLES + ".")
    ]


def test_every_layer_is_scanned() -> None:
    assert {p.relative_to(ROOT).parts[0] for p in NOT_DOUBLES} == set(LAYERS)
    assert ROOT / "trio_backend" / "driver.py" in NOT_DOUBLES
    assert ROOT / "examples" / "sync_driver.py" in NOT_DOUBLES


@pytest.mark.parametrize("path", NOT_DOUBLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_outside_the_tests_imports_the_test_doubles(path: Path) -> None:
    assert not _uses_doubles(path)


@pytest.mark.parametrize("name", sorted(DOUBLES_ALLOWED))
def test_each_allowance_is_still_needed(name: str) -> None:
    assert _uses_doubles(ROOT / name)


@pytest.mark.parametrize(
    "source",
    [
        "import sansio_registry.testing\n",
        "from sansio_registry import testing\n",
        "from sansio_registry.testing.fake import FakeRegistry\n",
    ],
)
def test_doubles_check_catches_every_spelling(tmp_path: Path, source: str) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(source)
    assert _uses_doubles(sample)
    sample.write_text("from sansio_registry.testing_notes import x\nimport sansio_registry\n")
    assert not _uses_doubles(sample)
