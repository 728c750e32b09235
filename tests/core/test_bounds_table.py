"""README's "Bounds" table says what the code does: each row names a constant and its value."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_UNITS = {"": 1, "KiB": 1024, "MiB": 1024 * 1024}


def _rows() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    table = text.split("### Bounds", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([\w.]+)` \| ([^|]+) \|", table, re.M)


def _value(text: str) -> int:
    number, _, unit = text.strip().partition(" ")
    return int(number) * _UNITS[unit]


def _constant(name: str) -> object:
    qualified = name if name.startswith("trio_backend.") else f"sansio_registry.{name}"
    module, _, attribute = qualified.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def test_every_row_names_a_constant_with_that_value() -> None:
    rows = _rows()
    assert len(rows) >= 15
    assert {name: _value(value) for name, value in rows} == {
        name: _constant(name) for name, _ in rows
    }
