"""The core stays pure: its own import statements name no IO, clock, randomness or backend.

Reading the import statements (not ``sys.modules``) is the check DESIGN §1 asks for: harmless
stdlib helpers may import ``socket`` themselves; the core's own code may not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "sansio_registry"
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
    assert names == ["os.path", "trio"]
