"""Turning measurements into the Markdown table: rows, units, ratios, importtime, the machine.

Pure functions over plain values (no timing here), so tests can check them on fixed input.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COLUMNS",
    "Row",
    "format_duration",
    "format_ratio",
    "format_count",
    "format_mib",
    "markdown_table",
    "median",
    "parse_importtime",
    "top_level_import_us",
    "machine_description",
]

COLUMNS = ("case", "contender", "median", "this / ours", "peak RSS", "details", "why")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table; ``why`` says why a contender beats ours."""

    case: str
    contender: str
    median: str
    ratio: str = ""
    rss: str = ""
    details: str = ""
    why: str = ""

    def cells(self) -> tuple[str, ...]:
        return (
            self.case,
            self.contender,
            self.median,
            self.ratio,
            self.rss,
            self.details,
            self.why,
        )


def median(values: Sequence[float]) -> float | None:
    """The median, or None when nothing was measured (a contender that failed)."""
    return statistics.median(values) if values else None


def format_duration(seconds: float | None) -> str:
    """Seconds in the unit that keeps three significant digits readable (s, ms or µs)."""
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} µs"


def format_ratio(value: float | None, base: float | None) -> str:
    """``value / base`` as ``1.23x``; above 1 the contender took longer than ours."""
    if value is None or base is None or base <= 0:
        return "-"
    return f"{value / base:.2f}x"


def format_count(value: float | None) -> str:
    """A median count (connections, tokens...), or ``-`` when none was reported."""
    return "-" if value is None else f"{value:g}"


def format_mib(kib: float | None) -> str:
    """A size given in KiB (what getrusage and ``/usr/bin/time %M`` report) as MiB."""
    return "-" if kib is None else f"{kib / 1024:.0f} MiB"


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Iterable[Row], columns: Sequence[str] = COLUMNS) -> str:
    """A GitHub-flavoured Markdown table, one line per row, cells escaped."""
    lines = [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in rows:
        cells = row.cells()
        if len(cells) != len(columns):
            raise ValueError(f"row has {len(cells)} cells, table has {len(columns)} columns")
        lines.append("| " + " | ".join(_escape(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def parse_importtime(text: str) -> dict[str, int]:
    """Top-level modules of ``python -X importtime`` output -> their cumulative microseconds.

    Lines read ``import time: <self us> | <cumulative us> | <indent><module>``, two spaces of
    indent per nesting level below the top; the header line and anything else is skipped. A
    module imported twice at top level (cannot happen in one run) would keep the last figure.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        _self_us, cumulative, name_field = parts
        if not cumulative.strip().isdigit():
            continue  # the header: "self [us] | cumulative | imported package"
        name = name_field.rstrip()
        if name.startswith(" ") and not name.startswith("  "):
            out[name.strip()] = int(cumulative)
    return out


def top_level_import_us(text: str) -> int:
    """Total import time of a run: the sum of its top-level modules' cumulative times."""
    return sum(parse_importtime(text).values())


def _output(cmd: Sequence[str]) -> str:
    """What ``cmd`` prints (stdout, else stderr), stripped; "" when it cannot run."""
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (proc.stdout or proc.stderr).decode(errors="replace").strip()


def _first_line(cmd: Sequence[str]) -> str:
    text = _output(cmd)
    return text.splitlines()[0] if text else "not available"


def _proc_field(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return "unknown"


def machine_description(root: Path) -> list[str]:
    """What a reader needs to weigh the figures: CPU, cores, RAM, load, versions, commit."""
    mem_kib = _proc_field("/proc/meminfo", "MemTotal").removesuffix(" kB")
    ram = f"{int(mem_kib) / 2**20:.1f} GiB" if mem_kib.isdigit() else "unknown"
    commit = _first_line(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"])
    if _output(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"]):
        commit += " (with uncommitted changes)"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"CPU: {_proc_field('/proc/cpuinfo', 'model name')}, {os.cpu_count()} cores",
        f"RAM: {ram}; load average at start: {load}",
        f"OS: {platform.platform()}",
        f"Python: {platform.python_version()} ({platform.python_implementation()})",
        f"skopeo: {_first_line(['skopeo', '--version'])}",
        f"registry: {_first_line(['docker-registry', '--version'])}",
        f"curl: {' '.join(_first_line(['curl', '--version']).split()[:2])}",
        f"git commit: {commit}",
    ]
