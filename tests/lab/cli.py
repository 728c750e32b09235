"""Run the ``sansio-registry`` command as a subprocess, hermetically and with timeouts.

A subprocess (not ``main()`` in-process) is what users run: it shows the real exit status, that
stderr is one line without a traceback, and start-up costs. Every run gets a throwaway HOME and
XDG dirs and an environment without the caller's ``REGISTRY_AUTH_FILE``,
``CONTAINERS_REGISTRIES_CONF`` or ``DOCKER_CONFIG``, so nothing from the machine leaks in.
Several runs can go at once (`run_cli_many`): the suite is CPU-bound on Python start-up.

This module only starts the command; it imports nothing from the product.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CLI_COMMAND",
    "CLIResult",
    "RunningCLI",
    "cli_env",
    "run_cli",
    "run_cli_many",
    "started_cli",
]


def _command() -> list[str]:
    script = Path(sys.executable).with_name("sansio-registry")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "trio_backend"]


#: ``.venv/bin/sansio-registry`` (same interpreter as the tests), else ``python -m trio_backend``.
CLI_COMMAND: tuple[str, ...] = tuple(_command())

#: Variables that would make a run depend on the machine; removed unless passed explicitly.
_SCRUBBED = (
    "REGISTRY_AUTH_FILE",
    "CONTAINERS_REGISTRIES_CONF",
    "DOCKER_CONFIG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
)


@dataclass(frozen=True, slots=True)
class CLIResult:
    """One finished run."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str
    elapsed: float

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def json(self) -> Any:
        return json.loads(self.stdout)

    def describe(self) -> str:
        """For assertion messages."""
        out = self.stdout[:400].decode(errors="replace")
        return (
            f"sansio-registry {' '.join(self.args)} -> {self.returncode} in {self.elapsed:.2f}s\n"
            f"stderr: {self.stderr.strip()}\nstdout: {out}"
        )


#: The checkout under test: first on the child's path, ahead of any (editable) install
#: pointing at another checkout.
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


def cli_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment minus machine-specific settings, rooted in ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    path = [_SOURCE_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(path),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_RUNTIME_DIR": str(home / "run"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    for key in ("XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"):
        Path(env[key]).mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(extra or {})
    return env


def run_cli_many(
    arg_lists: Sequence[Sequence[str]],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    preexec_fn: Callable[[], None] | None = None,
) -> list[CLIResult]:
    """Run ``sansio-registry ARGS`` for each argument list at the same time; results in order.

    ``env`` adds to (or overrides) the hermetic environment. A run still going after
    ``timeout`` seconds is killed and the test fails with `subprocess.TimeoutExpired`.
    ``preexec_fn`` runs in each child before the command (e.g. to set a resource limit).
    """
    with tempfile.TemporaryDirectory(prefix="lab-cli-") as home:
        environ = cli_env(Path(home), env)
        started: list[tuple[tuple[str, ...], float, subprocess.Popen[bytes]]] = []
        try:
            for args in arg_lists:
                argv = tuple(args)
                proc = subprocess.Popen(
                    [*CLI_COMMAND, *argv],
                    env=environ,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=home,
                    preexec_fn=preexec_fn,
                )
                started.append((argv, time.monotonic(), proc))
            deadline = time.monotonic() + timeout
            results: list[CLIResult] = []
            for argv, t0, proc in started:
                remaining = max(0.1, deadline - time.monotonic())
                out, err = proc.communicate(timeout=remaining)
                results.append(
                    CLIResult(
                        args=argv,
                        returncode=proc.returncode,
                        stdout=out,
                        stderr=err.decode(errors="replace"),
                        elapsed=time.monotonic() - t0,
                    )
                )
            return results
        finally:
            for _argv, _t0, proc in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    preexec_fn: Callable[[], None] | None = None,
) -> CLIResult:
    """Run ``sansio-registry ARGS`` once (see `run_cli_many`)."""
    return run_cli_many([args], env=env, timeout=timeout, preexec_fn=preexec_fn)[0]


@dataclass
class RunningCLI:
    """A run still going, for tests that act on it meanwhile (e.g. send it a signal)."""

    args: tuple[str, ...]
    process: subprocess.Popen[bytes]
    started: float

    def finish(self, timeout: float = 30.0) -> CLIResult:
        """Wait for the end (killed after ``timeout`` s, failing the test)."""
        out, err = self.process.communicate(timeout=timeout)
        return CLIResult(
            args=self.args,
            returncode=self.process.returncode,
            stdout=out,
            stderr=err.decode(errors="replace"),
            elapsed=time.monotonic() - self.started,
        )


@contextmanager
def started_cli(
    args: Sequence[str], *, env: Mapping[str, str] | None = None
) -> Iterator[RunningCLI]:
    """``sansio-registry ARGS`` started in the background; killed on exit if still running."""
    with tempfile.TemporaryDirectory(prefix="lab-cli-") as home:
        proc = subprocess.Popen(
            [*CLI_COMMAND, *args],
            env=cli_env(Path(home), env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=home,
        )
        try:
            yield RunningCLI(tuple(args), proc, time.monotonic())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
