"""README's fault catalogue is what the suite's ``@pytest.mark.fault`` markers say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_fault_catalogue_is_not_stale() -> None:
    # A subprocess (from the checkout, which ``-m`` puts first on sys.path): collecting the
    # whole suite inside this session's pytest would not do.
    result = subprocess.run(
        [sys.executable, "-m", "tests.catalogue", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
