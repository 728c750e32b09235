"""What every comparison shares: the seeded registries, the child runner, rounds, and how
a comparison's samples become table rows."""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.measure import Contender, Runner, Samples, interleave
from benchmarks.report import Row, format_duration, format_mib, format_ratio
from benchmarks.seed import Seeded

__all__ = ["Spec", "Bench", "rows_of", "sha256_digest", "fresh"]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fresh(directory: Path) -> Path:
    """``directory``, removed first if a previous run left it."""
    shutil.rmtree(directory, ignore_errors=True)
    return directory


@dataclass(frozen=True, slots=True)
class Spec:
    """A contender in a comparison: ``base`` names the row its ratio is taken against."""

    name: str
    run: Contender
    base: str | None = None
    details: Callable[[Samples], str] = field(default=lambda _: "")
    #: The measured reason, shown in the "why" column when this contender beats its base
    #: (a loss of ours is never a bare number in the table).
    why_faster: str = ""


@dataclass(slots=True)
class Bench:
    seeded: Seeded
    runner: Runner
    tmp: Path
    rounds: int
    log: Callable[[str], None]

    @property
    def cli(self) -> list[str]:
        """Our command as a user runs it: the console script of the venv, else ``-m``."""
        script = Path(sys.executable).parent / "sansio-registry"
        return [str(script)] if script.exists() else [sys.executable, "-m", "trio_backend"]

    def measure(
        self, case: str, specs: Sequence[Spec], rounds: int | None = None
    ) -> dict[str, Samples]:
        """Interleave the contenders' runs (see `interleave`)."""
        self.log(f"{case}:")
        return interleave(
            {spec.name: spec.run for spec in specs}, rounds or self.rounds, log=self.log
        )

    def compare(self, case: str, specs: Sequence[Spec], rounds: int | None = None) -> list[Row]:
        """Measure, then one row per contender: median, ratio to its base, peak RSS."""
        return rows_of(case, specs, self.measure(case, specs, rounds))


def rows_of(case: str, specs: Sequence[Spec], results: dict[str, Samples]) -> list[Row]:
    rows = []
    for spec in specs:
        samples = results[spec.name]
        if samples.error is not None:
            rows.append(Row(case, spec.name, "failed", details=samples.error))
            continue
        base = results[spec.base].wall if spec.base in results else None
        beats_base = base is not None and samples.wall is not None and samples.wall < base
        rows.append(
            Row(
                case,
                spec.name,
                format_duration(samples.wall),
                format_ratio(samples.wall, base) if spec.base else "",
                format_mib(samples.rss_kib),
                spec.details(samples),
                spec.why_faster if beats_base else "",
            )
        )
    return rows
