"""``python -m benchmarks``: every comparison, one Markdown table (see ``benchmarks/run``).

Starts throwaway registries, seeds them, runs each comparison's contenders interleaved for
``--rounds`` rounds after a warm-up, prints the table and writes it with the machine's
description to ``benchmarks/results.md``. Registries, the token issuer and temporary
directories are removed on exit, also after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from benchmarks import readme
from benchmarks.context import Bench
from benchmarks.core import core
from benchmarks.inspection import batch_inspection, one_shot, start_up
from benchmarks.measure import ROOT, Runner
from benchmarks.pull import pull
from benchmarks.report import Row, machine_description, markdown_table
from benchmarks.scale import scale
from benchmarks.seed import seeded_registries
from tests.lab.skopeo import skopeo_env

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results.md"

CASES: dict[str, Callable[[Bench], list[Row]]] = {
    "batch": batch_inspection,
    "one-shot": one_shot,
    "start-up": start_up,
    "pull": lambda bench: pull(bench, bench.seeded.big, "64 MiB, 1 layer"),
    "pull-1g": lambda bench: (
        pull(bench, bench.seeded.huge, "1 GiB, 8 layers") if bench.seeded.huge else []
    ),
    "core": core,
    "scale": scale,
}


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="skip the 1 GiB pull (slow seeding)")
    parser.add_argument(
        "--only",
        default=",".join(CASES),
        help=f"comma-separated cases to run (default all: {','.join(CASES)})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the table (default benchmarks/results.md; '-' for nowhere)",
    )
    parser.add_argument("--timeout", type=float, default=180, help="per child process (s)")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def results_document(machine: list[str], table: str, args: argparse.Namespace) -> str:
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = f"benchmarks/run --rounds {args.rounds}"
    if args.quick:
        command += " --quick"
    if args.only != list(CASES):
        command += f" --only {','.join(args.only)}"
    lines = [
        "# Benchmark results",
        "",
        f"`{command}`, finished {started}.",
        "Medians of interleaved rounds after one warm-up round; `this / ours` above 1 means",
        "the contender took longer than the sansio-registry row it is compared with.",
        "",
        *(f"- {line}" for line in machine),
        "",
        table,
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    machine = machine_description(ROOT)
    for package in ("sansio_registry", "trio_backend"):
        compileall.compile_dir(ROOT / package, quiet=1)
    huge = "pull-1g" in args.only and not args.quick
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp_name,
        seeded_registries(
            batch="batch" in args.only, scale="scale" in args.only, huge=huge, log=_log
        ) as seeded,
    ):
        tmp = Path(tmp_name)
        home = tmp / "home"
        # Our console script then runs this checkout, whatever the venv's install points at.
        runner = Runner(home, skopeo_env(home, {"PYTHONPATH": str(ROOT)}), timeout=args.timeout)
        bench = Bench(seeded, runner, tmp, args.rounds, _log)
        for name in args.only:
            rows += CASES[name](bench)
    table = markdown_table(rows)
    print(table)
    if str(args.output) != "-":
        args.output.write_text(results_document(machine, table, args))
        _log(f"written to {args.output}")
        if args.output.resolve() == DEFAULT_OUTPUT:
            readme.sync()
            _log("README.md's performance table updated")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted: registries stopped, temporary files removed", file=sys.stderr)
        sys.exit(130)
