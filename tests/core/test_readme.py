"""The README's offline library example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_offline_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    offline = [b for b in _python_blocks() if "FakeNetwork" in b]
    assert len(offline) == 1
    exec(compile(offline[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", out)
