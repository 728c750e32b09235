"""Running contenders: timed child processes (wall + peak RSS) and interleaved rounds.

Every child runs under a deadline, with a throwaway HOME (no user config or auth file leaks
in), from the repository root, and without ``PYTHONDONTWRITEBYTECODE`` (users' Pythons cache
bytecode; compiling our modules on every run would measure the workplace, not the product).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.report import median

__all__ = [
    "ROOT",
    "ContenderFailed",
    "Measurement",
    "Samples",
    "Contender",
    "Runner",
    "interleave",
]

ROOT = Path(__file__).resolve().parents[1]
TIME_BINARY = "/usr/bin/time"


class ContenderFailed(RuntimeError):
    """A contender exited non-zero, timed out, or produced output that fails its check."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One run: wall seconds, peak RSS in KiB (when known), the child's stdout and report."""

    wall: float
    rss_kib: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Samples:
    """Every measured run of one contender, or why it stopped being measured."""

    runs: list[Measurement] = field(default_factory=list)
    error: str | None = None

    @property
    def wall(self) -> float | None:
        return median([m.wall for m in self.runs])

    @property
    def rss_kib(self) -> float | None:
        return median([m.rss_kib for m in self.runs if m.rss_kib is not None])

    def info(self, key: str) -> float | None:
        """The median of a number the child reported (connections, tokens...)."""
        return median([float(m.info[key]) for m in self.runs if key in m.info])


Contender = Callable[[], Measurement]


def _children_cpu() -> float:
    """CPU seconds (user + system) of every child waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_server_cpu(contender: Contender, pid: int) -> Contender:
    """``contender``, its report also saying how much CPU the server ``pid`` spent on it."""

    def measured() -> Measurement:
        before = process_cpu(pid)
        done = contender()
        server = process_cpu(pid) - before
        return replace(done, info={**done.info, "server_cpu": server})

    return measured


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group (it leads its own session) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class Runner:
    """Starts child processes the same way for every contender."""

    def __init__(self, home: Path, env: Mapping[str, str], timeout: float) -> None:
        self.home = home
        self.env = dict(env)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.timeout = timeout
        self._use_time = Path(TIME_BINARY).exists()

    def run(self, cmd: Sequence[str], *, timeout: float | None = None) -> Measurement:
        """Run ``cmd`` once; wall time from fork to exit, peak RSS of the whole process tree.

        ``/usr/bin/time -f %M`` reports the largest resident set among the process and its
        waited-for descendants; without it, ``getrusage(RUSAGE_CHILDREN)`` gives a running
        maximum, so only a figure above the previous one is kept.
        """
        rss_file = self.home / "rss.txt"
        argv = list(cmd)
        if self._use_time:
            argv = [TIME_BINARY, "-f", "%M", "-o", str(rss_file), *argv]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        cpu_before = _children_cpu()
        t0 = time.perf_counter()
        # Its own session, so that a timeout or Ctrl-C ends the whole tree (``time`` would
        # otherwise leave its child running).
        with subprocess.Popen(
            argv,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ) as proc:
            try:
                stdout, stderr = proc.communicate(timeout=timeout or self.timeout)
            except subprocess.TimeoutExpired as exc:
                _kill_tree(proc)
                raise ContenderFailed(f"{cmd[0]} timed out after {exc.timeout} s") from None
            except BaseException:
                _kill_tree(proc)
                raise
        wall = time.perf_counter() - t0
        cpu = _children_cpu() - cpu_before
        if proc.returncode != 0:
            tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
            name = Path(cmd[0]).name
            raise ContenderFailed(f"{name} exited {proc.returncode}: {' / '.join(tail)}")
        rss: int | None = None
        if self._use_time:
            rss = int(rss_file.read_text().split()[-1])
        else:
            after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            rss = after if after > before else None
        info = {"cpu": cpu}
        return Measurement(wall=wall, rss_kib=rss, stdout=stdout, stderr=stderr, info=info)

    def python(self, module_args: Sequence[str], *, timeout: float | None = None) -> Measurement:
        """``python -m benchmarks.child ...``: the child's JSON report becomes ``info``, and
        its own ``elapsed`` (timed inside the process, start-up excluded) the wall time."""
        done = self.run([sys.executable, "-m", "benchmarks.child", *module_args], timeout=timeout)
        try:
            info = json.loads(done.stdout)
        except ValueError as exc:
            raise ContenderFailed(f"child printed no JSON report: {done.stdout[:200]!r}") from exc
        info["process_wall"] = done.wall
        info["cpu"] = done.info["cpu"]
        return Measurement(wall=float(info["elapsed"]), rss_kib=done.rss_kib, info=info)


def interleave(
    contenders: Mapping[str, Contender],
    rounds: int,
    *,
    warmup: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Samples]:
    """Run every contender once per round, the order rotating each round (A B C, B C A, ...).

    One unmeasured warm-up round first fills caches (page cache, bytecode, the registry's
    own) and runs each contender's output check. A contender that fails is reported with its
    error and left out of later rounds; the others go on.
    """
    results = {name: Samples() for name in contenders}
    order = list(contenders)

    def attempt(name: str, keep: bool) -> None:
        if results[name].error is not None:
            return
        try:
            measurement = contenders[name]()
        except ContenderFailed as exc:
            results[name].error = str(exc)
            log(f"  {name}: FAILED: {exc}")
            return
        if keep:
            results[name].runs.append(measurement)

    if warmup:
        for name in order:
            attempt(name, keep=False)
    for round_ in range(rounds):
        shift = round_ % len(order)
        for name in order[shift:] + order[:shift]:
            attempt(name, keep=True)
        log(f"  round {round_ + 1}/{rounds} done")
    return results
